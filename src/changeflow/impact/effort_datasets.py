"""How to backtest each public effort dataset of ``../shared/data/effort`` (``--all``).

One entry per file: the target column, the columns left out and why, the tokens that mean
"missing", and names for a file without a header row. Leaving out is never tuning: a column
is excluded only when it is an identifier or is known only *after* the project (its duration,
its productivity, a normalised effort) — using it would let the answer leak into the
question. The quirks are those of ``PROVENANCE.md`` beside the data.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Spec:
    file: str
    target: str
    exclude: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    names: tuple[str, ...] | None = None
    why: str = ""
    label: str = ""
    extra: dict = field(default_factory=dict)


SPECS: tuple[Spec, ...] = (
    Spec("dase_desharnais_1_1.arff", "Effort", ("Project", "Length"), missing=("-1",),
         label="Desharnais",
         why="Project is an id, Length (duration) is known afterwards; -1 codes missing "
             "(projects 38, 44, 66, 75)"),
    Spec("mandriv_albrecht.arff", "Effort", (), label="Albrecht",
         why="every column is a function-point count known beforehand"),
    Spec("dase_albretch.arff", "size", (), label="Albrecht (DASE copy)",
         why="labels swapped at source: 'size' holds the effort"),
    Spec("dase_kemerer.csv", "effort", (), label="Kemerer"),
    Spec("hemant0308_kemerer.csv", "EffortMM", ("Duration",), label="Kemerer (7 columns)",
         names=("Language", "Hardware", "Duration", "KSLOC", "AdjFP", "RAWFP", "EffortMM"),
         why="no header row at source; Duration is known afterwards"),
    Spec("dase_maxwell.arff", "effort_D", ("duration_D",), label="Maxwell",
         why="duration is known afterwards"),
    Spec("baldeep_maxwell.arff", "Effort", ("Duration",), label="Maxwell (62, numeric)",
         why="duration is known afterwards; project 1 missing at source"),
    Spec("dase_MaxwellDataset_DataSetMaxwellDevelopment.csv", "effort",
         ("id", "duration", "prod"), label="Maxwell (original CSV)",
         why="id; duration and productivity (size/effort) are known afterwards"),
    Spec("dase_china.arff", "Effort", ("Duration",), label="China",
         why="Duration is known afterwards (N_effort already dropped in this copy)"),
    Spec("dase_chinaOriginal.arff", "Effort",
         ("ID", "Duration", "N_effort", "PDR_AFP", "PDR_UFP", "NPDR_AFP", "NPDU_UFP"),
         label="China (19 columns)",
         why="ID; Duration, normalised effort and the productivity rates (effort/size) are "
             "known afterwards"),
    Spec("dase_coc81_1_1.arff", "actual", ("project_id",), label="COCOMO81",
         why="project_id is an id"),
    Spec("dase_nasa93.arff", "act_effort", ("recordnumber", "projectname"), label="NASA93",
         why="ids"),
    Spec("dase_kitchenham.arff", "Actual.effort", ("Actual.duration",), label="Kitchenham",
         why="duration is known afterwards (First.estimate is made beforehand and kept)"),
)  # fmt: skip

# Files in the folder that are not effort datasets to backtest.
NOT_DATASETS = {"srinivasan_fisher_1995_kemerer_cart_table.csv"}

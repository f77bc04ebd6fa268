"""Charts of the process metrics, as SVG or PNG: the trend per week or month (submitted,
approved, rejected, closed) and the cycle time per stage (median and 85th percentile).

Drawn like the simulation charts (``impact.charts``): matplotlib's Agg canvas without pyplot,
translated labels, the CJK font when one is installed (English labels otherwise).
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from changeflow.changes.workflow import State
from changeflow.impact.charts import FORMATS, draw

KINDS = ("trend", "cycle")
SERIES_COLOURS = {
    "submitted": "#4a6fa5", "approved": "#2e8b57", "rejected": "#d1495b", "closed": "#8c6bb1",
}  # fmt: skip

__all__ = ["FORMATS", "KINDS", "render"]


def render(metrics: dict[str, Any], *, kind: str, fmt: str) -> bytes:
    """The ``kind`` chart of ``metrics`` (``reports.metrics.project_metrics``) in ``fmt``."""
    if kind == "trend":
        return draw(fmt, lambda ax: _trend(ax, metrics["trend"]))
    return draw(fmt, lambda ax: _cycle(ax, metrics["cycle_time"]))


def _series_labels() -> dict[str, str]:
    return {
        "submitted": _("Submitted"), "approved": _("Approved"), "rejected": _("Rejected"),
        "closed": _("Closed"),
    }  # fmt: skip


def _trend(ax, trend: dict[str, Any]) -> None:
    points = trend["points"]
    labels = [p["start"] for p in points]
    x = range(len(points))
    names = _series_labels()
    width = 0.2
    for i, key in enumerate(("submitted", "approved", "rejected", "closed")):
        ax.bar([v + (i - 1.5) * width for v in x], [p[key] for p in points], width=width,
               color=SERIES_COLOURS[key], label=names[key])  # fmt: skip
    step = max(1, len(labels) // 12)
    ax.set_xticks(list(x)[::step], labels[::step], rotation=30, ha="right", fontsize=7)
    ax.set_ylabel(_("Change requests"))
    title = _("Per week") if trend["bucket"] == "week" else _("Per month")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left")


def _cycle(ax, cycle: dict[str, Any]) -> None:
    stages = [s for s, v in cycle["stages"].items() if v["n"]]
    labels = [str(State(s).label) for s in stages]
    y = range(len(stages))
    ax.barh([v + 0.2 for v in y], [cycle["stages"][s]["median"] for s in stages], height=0.4,
            color="#4a6fa5", label=_("Median"))  # fmt: skip
    ax.barh([v - 0.2 for v in y], [cycle["stages"][s]["p85"] for s in stages], height=0.4,
            color="#d1495b", alpha=0.7, label=_("85th percentile"))  # fmt: skip
    ax.set_yticks(list(y), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(_("Hours in the stage"))
    ax.set_title(_("Cycle time per stage"), fontsize=10)
    if stages:
        ax.legend(fontsize=8, loc="lower right")

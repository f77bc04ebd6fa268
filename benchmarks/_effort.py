"""Shared by the effort-dataset benchmarks (``analogy_variants``, ``choose_k``,
``feature_selection``): Django started on the default settings, where the public effort
datasets live, and their command line.

Import this before any ``changeflow`` model import.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
import django  # noqa: E402

django.setup()

from changeflow.impact import analogy, datasets  # noqa: E402
from changeflow.impact.effort_datasets import SPECS, Spec  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "effort"
if not DATA.exists():
    DATA = Path("/work/shared/data/effort")

FIVE = ("Desharnais", "Albrecht", "Kemerer", "Maxwell", "China")


def cases(spec: Spec) -> analogy.Cases:
    """The dataset of ``spec`` prepared for the analogy estimator."""
    data = datasets.load(DATA / spec.file, missing=spec.missing, names=spec.names)
    return analogy.prepare(data, spec.target, spec.exclude)


def arguments(args: list[str], variants: dict) -> tuple[list[Spec], list[str]]:
    """``[--only LABEL ...] [VARIANT ...]``: the datasets (the five by default) and the
    variants (all by default) to run."""
    only = set(FIVE)
    if "--only" in args:
        i = args.index("--only")
        only = {a for a in args[i + 1 :] if a not in variants}
        args = [a for a in args[:i] + args[i + 1 :] if a in variants or a not in only]
    chosen = [a for a in args if a in variants] or list(variants)
    return [s for s in SPECS if s.label in only], chosen

"""Requirements and baselines made through the services (so each has its audit trail)."""

from __future__ import annotations

import itertools

from changeflow.requirements import services

_seq = itertools.count(1)


def make_req(project, *, by, **fields):
    fields.setdefault("title", f"Requirement {next(_seq)}")
    fields.setdefault("text", "The user signs in with a password.")
    return services.requirement_create(user=by, project=project, **fields)


def make_baseline(project, *, by, name=None, description=""):
    name = name or f"B{next(_seq)}"
    return services.baseline_create(user=by, project=project, name=name, description=description)

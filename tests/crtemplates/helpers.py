"""Templates for the tests: a realistic one with a field of every kind."""

from __future__ import annotations

from changeflow.crtemplates import services

FIELDS = [
    {"key": "system", "label": "受影响系统 / Affected system", "kind": "text", "required": True},
    {"key": "details", "label": "Details", "kind": "long_text"},
    {"key": "users", "label": "Users affected", "kind": "number"},
    {"key": "deadline", "label": "Legal deadline", "kind": "date"},
    {"key": "regulator", "label": "Regulator", "kind": "choice", "choices": ["CSRC", "PBOC"]},
    {"key": "personal_data", "label": "Personal data?", "kind": "yes_no"},
]


def make_template(p, *, name="Regulatory change", project=None, **data):
    """A template of ACME by its project manager (of OTHER by the outsider, its manager)."""
    data.setdefault("fields", FIELDS)
    user = p.outsider if project == p.other_project else p.pm
    return services.template_create(
        user=user, project=project or p.project, data={"name": name, **data}
    )

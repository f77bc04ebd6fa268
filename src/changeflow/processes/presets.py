"""The built-in process templates: read-only, listed next to the saved ones, named and
described in the user's language. Each is a process document (``definitions``) that passes
its own checks and the board policy's (``tests/processes`` holds them to it)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from changeflow.comms.sla import DEFAULT_HOURS

NO_DELEGATION = dict.fromkeys(
    ("max_effort_hours", "max_cost", "max_schedule_days", "max_risk_exposure")
)


def _sla(factor: float) -> dict[str, dict[str, int]]:
    """The default service levels scaled by ``factor`` (whole hours, at least one)."""
    return {
        str(stage): {p: max(1, round(h * factor)) for p, h in hours.items()}
        for stage, hours in DEFAULT_HOURS.items()
    }


@dataclass(frozen=True)
class Preset:
    slug: str
    name: Promise
    description: Promise
    document: dict[str, Any]


PRESETS: tuple[Preset, ...] = (
    Preset(
        "standard",
        _("Standard"),
        _("The defaults: the default board (simple majority of the project manager, tech "
          "lead, QA and customer representative), no delegation, the default service levels, "
          "no periodic review."),
        {"version": 1, "board": None, "delegation": NO_DELEGATION, "sla": _sla(1),
         "review_schedule": "off"},
    ),
    Preset(
        "fixed-price",
        _("Fixed-price outsourcing"),
        _("A weighted board on which the customer representative's approval is required, "
          "tight delegation (a day's work), a weekly review and service levels half the "
          "defaults."),
        {
            "version": 1,
            "board": {
                "rule": "weighted", "threshold": "0.6", "quorum": None,
                "required_roles": ["customer_rep"], "veto_roles": [], "ratification_days": 3,
                "voters": {"project_manager": "2", "tech_lead": "1", "qa": "1",
                           "customer_rep": "3"},
            },
            "delegation": {"max_effort_hours": "8", "max_cost": "2000",
                           "max_schedule_days": "1", "max_risk_exposure": "1"},
            "sla": _sla(0.5),
            "review_schedule": "weekly",
        },
    ),
    Preset(
        "regulated",
        _("Regulated"),
        _("Unanimity of the board with a QA veto, no delegation (the board decides every "
          "change), emergencies ratified within two days, a monthly review."),
        {
            "version": 1,
            "board": {
                "rule": "unanimous", "threshold": None, "quorum": None,
                "required_roles": ["qa"], "veto_roles": ["qa"], "ratification_days": 2,
                "voters": {"project_manager": "1", "tech_lead": "1", "qa": "1",
                           "customer_rep": "1"},
            },
            "delegation": NO_DELEGATION,
            "sla": _sla(1),
            "review_schedule": "monthly",
        },
    ),
    Preset(
        "internal",
        _("Internal product team"),
        _("A simple majority of the team (no customer roles), generous delegation (a week's "
          "work), a monthly review."),
        {
            "version": 1,
            "board": {
                "rule": "majority", "threshold": None, "quorum": None, "required_roles": [],
                "veto_roles": [], "ratification_days": None,
                "voters": {"project_manager": "1", "tech_lead": "1", "qa": "1",
                           "developer": "1"},
            },
            "delegation": {"max_effort_hours": "40", "max_cost": "10000",
                           "max_schedule_days": "5", "max_risk_exposure": "2"},
            "sla": _sla(1),
            "review_schedule": "monthly",
        },
    ),
)  # fmt: skip

BY_SLUG = {preset.slug: preset for preset in PRESETS}

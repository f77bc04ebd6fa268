"""A process document as plain data (no ORM): what a process template holds, cleaned strictly.

A document is versioned JSON, ``{"version": 1, ...}``, with any of these parts (a part left out
is one the template says nothing about, and applying it leaves that part of a project alone):

- ``board``: null (the default board) or the board's policy: ``rule``, ``threshold``,
  ``quorum``, ``required_roles``, ``veto_roles``, ``ratification_days`` and ``voters``
  (role → weight: on apply, the project's members holding each role sit on the board with that
  weight). A template never names users.
- ``delegation``: the four thresholds under which the project manager decides alone.
- ``sla``: stage → priority → hours (missing cells are the defaults).
- ``review_schedule``: ``off``, ``weekly`` or ``monthly``.
- ``cr_templates``: CR form templates (name, description, type, priority, urgency, labels,
  scaffold, fields).

``clean_document`` returns the canonical form (numbers as decimal strings, full SLA table) or a
``ValidationError`` whose field names the path of the first problem, e.g. ``board.quorum``.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from changeflow.accounts.models import Role
from changeflow.ccb import policy
from changeflow.changes.models import ChangeType, Priority, Urgency
from changeflow.comms.sla import DEFAULT_HOURS, PRIORITIES, STAGES
from changeflow.core.errors import ValidationError
from changeflow.crtemplates import definitions as form_definitions
from changeflow.crtemplates.models import DESCRIPTION_MAX, NAME_MAX, SCAFFOLD_MAX
from changeflow.reports.models import ReviewFrequency

VERSION = 1
PARTS = ("board", "delegation", "sla", "review_schedule", "cr_templates")
BOARD_KEYS = (
    "rule", "threshold", "quorum", "required_roles", "veto_roles", "ratification_days", "voters",
)  # fmt: skip
# Roles that may sit on a board (a viewer changes nothing, so never votes).
BOARD_ROLES = tuple(r for r in Role.values if r != Role.VIEWER)
MAX_WEIGHT = Decimal("9999.99")
# digits of each delegation threshold (the project's columns), two decimal places each
DELEGATION_DIGITS = {
    "max_effort_hours": 10, "max_cost": 14, "max_schedule_days": 8, "max_risk_exposure": 5,
}  # fmt: skip
TEMPLATE_KEYS = (
    "name", "description", "type", "priority", "urgency", "labels", "scaffold", "fields",
)  # fmt: skip
FIELD_KEYS = ("key", "label", "kind", "required", "help", "choices")
MAX_TEMPLATES = 50
MAX_HOURS = 8760


def _bad(path: str, message: str) -> ValidationError:
    return ValidationError(_("The process document is invalid."), fields={path: [message]})


def _object(path: str, value: Any, allowed: tuple[str, ...]) -> Mapping[str, Any]:
    """``value`` if it is an object with only ``allowed`` keys; an unknown key is named by its
    own path (``board.chair``)."""
    if not isinstance(value, Mapping):
        raise _bad(path, _("An object is required."))
    unknown = sorted(str(k) for k in value if k not in allowed)
    if unknown:
        raise _bad(f"{path}.{unknown[0]}" if path else unknown[0], _("Unknown field."))
    return value


def _decimal(path: str, value: Any, *, digits: int, places: int) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise _bad(path, _("A number is required."))
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _bad(path, _("A number is required.")) from None
    if not number.is_finite():
        raise _bad(path, _("A number is required."))
    if number != number.quantize(Decimal(1).scaleb(-places)):
        raise _bad(path, _("At most %(n)d decimal places.") % {"n": places})
    if abs(number) >= Decimal(10) ** (digits - places):
        raise _bad(path, _("The number is too large."))
    return number


def number_text(value: Decimal | None) -> str | None:
    """A decimal as the document keeps it: a short string ("2", "0.6"), None kept."""
    if value is None:
        return None
    text = format(Decimal(value).normalize(), "f")
    return text


def _whole(path: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(path, _("A whole number from %(low)d to %(high)d.") % {"low": low, "high": high})
    return value


def _roles(path: str, value: Any) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list | tuple) or not all(isinstance(r, str) for r in value):
        raise _bad(path, _("A list of roles."))
    unknown = sorted({r for r in value if r not in BOARD_ROLES})
    if unknown:
        raise _bad(
            path,
            _("Unknown roles: %(roles)s. One of: %(valid)s")
            % {"roles": ", ".join(unknown), "valid": ", ".join(BOARD_ROLES)},
        )
    return sorted(set(value), key=BOARD_ROLES.index)


def clean_board(raw: Any) -> dict[str, Any] | None:
    """The ``board`` part cleaned (None: the default board)."""
    if raw is None:
        return None
    data = _object("board", raw, BOARD_KEYS)
    rule = data.get("rule", policy.RULES[0])
    if rule not in policy.RULES:
        raise _bad("board.rule", _("One of: %s") % ", ".join(policy.RULES))
    threshold = data.get("threshold")
    if threshold is not None:
        threshold = _decimal("board.threshold", threshold, digits=4, places=3)
    quorum = data.get("quorum")
    if quorum is not None:
        quorum = _whole("board.quorum", quorum, 1, 100)
    days = data.get("ratification_days")
    if days is not None:
        days = _whole("board.ratification_days", days, 1, 365)
    voters_raw = data.get("voters")
    if not isinstance(voters_raw, Mapping) or not voters_raw:
        raise _bad("board.voters", _("An object of role → weight, with at least one role."))
    voters: dict[str, str] = {}
    for role in sorted(voters_raw, key=lambda r: BOARD_ROLES.index(r) if r in BOARD_ROLES else 99):
        path = f"board.voters.{role}"
        if role not in BOARD_ROLES:
            raise _bad(path, _("Unknown role. One of: %s") % ", ".join(BOARD_ROLES))
        weight = _decimal(path, voters_raw[role], digits=6, places=2)
        if not Decimal(0) < weight <= MAX_WEIGHT:
            raise _bad(path, _("The weight must be greater than 0 and at most %s.") % MAX_WEIGHT)
        voters[role] = number_text(weight) or "1"
    required = _roles("board.required_roles", data.get("required_roles"))
    veto = _roles("board.veto_roles", data.get("veto_roles"))
    # The policy's own checks, one pretend member per voting role: a rule, threshold or role
    # that no board made from this template could ever satisfy is refused here already.
    found = policy.problems(
        members={role: role for role in voters}, rule=rule, threshold=threshold, quorum=None,
        required_roles=required, veto_roles=veto,
    )  # fmt: skip
    for name, (code, params) in found.items():
        raise _bad(f"board.{name}", problem_message(code, params))
    return {
        "rule": rule, "threshold": number_text(threshold), "quorum": quorum,
        "required_roles": required, "veto_roles": veto, "ratification_days": days,
        "voters": voters,
    }  # fmt: skip


def problem_message(code: str, params: dict[str, object]) -> str:
    """A problem of ``policy.problems`` worded for a template (roles, not members)."""
    from changeflow.ccb.services import policy_problem_message

    if code == "role_not_held":
        return _("No voting role of the board is %(roles)s: the policy could never be "
                 "satisfied.") % params  # fmt: skip
    return policy_problem_message(code, dict(params))


def clean_delegation(raw: Any) -> dict[str, str | None]:
    data = _object("delegation", raw, tuple(DELEGATION_DIGITS))
    cleaned: dict[str, str | None] = {}
    for name, digits in DELEGATION_DIGITS.items():
        value = data.get(name)
        if value in (None, ""):
            cleaned[name] = None
            continue
        number = _decimal(f"delegation.{name}", value, digits=digits, places=2)
        if number < 0 or (name == "max_risk_exposure" and number > 5):
            raise _bad(f"delegation.{name}", _("Out of range."))
        cleaned[name] = number_text(number)
    return cleaned


def clean_sla(raw: Any) -> dict[str, dict[str, int]]:
    data = _object("sla", raw, STAGES)
    table = {stage: dict(hours) for stage, hours in DEFAULT_HOURS.items()}
    for stage, row in data.items():
        cells = _object(f"sla.{stage}", row, PRIORITIES)
        for priority, hours in cells.items():
            table[stage][priority] = _whole(f"sla.{stage}.{priority}", hours, 1, MAX_HOURS)
    return {str(stage): table[stage] for stage in STAGES}


def clean_review_schedule(raw: Any) -> str:
    if raw not in ReviewFrequency.values:
        raise _bad("review_schedule", _("One of: %s") % ", ".join(ReviewFrequency.values))
    return str(raw)


def _text(path: str, value: Any, limit: int, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(path, _("A text is required."))
    value = value.strip()
    if "\x00" in value:
        raise _bad(path, _("Null characters are not allowed."))
    if required and not value:
        raise _bad(path, _("This field is required."))
    if len(value) > limit:
        raise _bad(path, _("At most %(n)d characters.") % {"n": limit})
    return value


def _choice(path: str, value: Any, choices: type) -> str:
    value = value or ""
    if value and value not in choices.values:  # type: ignore[attr-defined]
        raise _bad(path, _("Not one of the choices: %(v)s") % {"v": value})
    return str(value)


def clean_cr_template(path: str, raw: Any) -> dict[str, Any]:
    data = _object(path, raw, TEMPLATE_KEYS)
    labels = data.get("labels") or []
    if not isinstance(labels, list | tuple) or not all(isinstance(x, str) for x in labels):
        raise _bad(f"{path}.labels", _("A list of strings."))
    labels = sorted({x.strip() for x in labels if x.strip()})
    if len(labels) > 20 or any(len(x) > 50 or "\x00" in x for x in labels):
        raise _bad(f"{path}.labels", _("At most 20 labels of at most 50 characters."))
    scaffold = data.get("scaffold") or ""
    if not isinstance(scaffold, str):
        raise _bad(f"{path}.scaffold", _("A text is required."))
    if "\x00" in scaffold:
        raise _bad(f"{path}.scaffold", _("Null characters are not allowed."))
    if len(scaffold) > SCAFFOLD_MAX:
        raise _bad(f"{path}.scaffold", _("At most %(n)d characters.") % {"n": SCAFFOLD_MAX})
    raw_fields = data.get("fields")
    if isinstance(raw_fields, list | tuple):
        for i, item in enumerate(raw_fields):
            if isinstance(item, Mapping):
                _object(f"{path}.fields.{i}", item, FIELD_KEYS)
    try:
        fields = form_definitions.clean_definitions(raw_fields)
    except ValidationError as exc:
        message = "; ".join(exc.fields.get("fields", [str(exc.message)]))
        raise _bad(f"{path}.fields", message) from None
    return {
        "name": _text(f"{path}.name", data.get("name"), NAME_MAX, required=True),
        "description": _text(f"{path}.description", data.get("description"), DESCRIPTION_MAX),
        "type": _choice(f"{path}.type", data.get("type"), ChangeType),
        "priority": _choice(f"{path}.priority", data.get("priority"), Priority),
        "urgency": _choice(f"{path}.urgency", data.get("urgency"), Urgency),
        "labels": labels,
        "scaffold": scaffold.replace("\r\n", "\n"),
        "fields": fields,
    }


def clean_cr_templates(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list | tuple):
        raise _bad("cr_templates", _("A list of templates is required."))
    if len(raw) > MAX_TEMPLATES:
        raise _bad("cr_templates", _("At most %(n)d templates.") % {"n": MAX_TEMPLATES})
    cleaned = [clean_cr_template(f"cr_templates.{i}", item) for i, item in enumerate(raw)]
    seen: set[str] = set()
    for i, item in enumerate(cleaned):
        if item["name"] in seen:
            raise _bad(f"cr_templates.{i}.name", _("The name is used twice."))
        seen.add(item["name"])
    return cleaned


_CLEANERS = {
    "board": clean_board,
    "delegation": clean_delegation,
    "sla": clean_sla,
    "review_schedule": clean_review_schedule,
    "cr_templates": clean_cr_templates,
}


def clean_document(raw: Any, *, prefix: str = "") -> dict[str, Any]:
    """The document ``raw`` cleaned to its canonical form, or a 400 naming the first bad path
    (``board.quorum``; with ``prefix``, e.g. ``document.``, where the document is a field of a
    request)."""
    try:
        if not isinstance(raw, Mapping):
            raise _bad("document", _("An object is required."))
        unknown = sorted(str(k) for k in raw if k not in ("version", *PARTS))
        if unknown:
            raise _bad(unknown[0], _("Unknown part. The parts are: %s") % ", ".join(PARTS))
        version = raw.get("version")
        if version != VERSION or isinstance(version, bool):
            raise _bad("version", _("The document's version must be %d.") % VERSION)
        cleaned: dict[str, Any] = {"version": VERSION}
        for part in PARTS:
            if part in raw:
                cleaned[part] = _CLEANERS[part](raw[part])
    except ValidationError as exc:
        if not prefix:
            raise
        fields = {
            prefix.rstrip(".") if k == "document" else prefix + k: v
            for k, v in (exc.fields or {}).items()
        }
        raise ValidationError(exc.message, code=exc.code, fields=fields) from None
    return cleaned


def parts_of(document: Mapping[str, Any]) -> list[str]:
    """The parts a (clean) document holds, in their order."""
    return [p for p in PARTS if p in document]


def clean_parts(raw: Any, document: Mapping[str, Any]) -> list[str]:
    """Which parts to apply: ``raw`` (a list, or a comma-separated text; None: every part the
    document holds), each one the document holds."""
    if raw in (None, "", []):
        return parts_of(document)
    if isinstance(raw, str):
        raw = [p.strip() for p in raw.split(",") if p.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(p, str) for p in raw):
        raise _bad("parts", _("A list of parts."))
    unknown = sorted({p for p in raw if p not in PARTS})
    if unknown:
        raise _bad(
            "parts",
            _("Unknown parts: %(parts)s. One of: %(valid)s")
            % {"parts": ", ".join(unknown), "valid": ", ".join(PARTS)},
        )
    missing = [p for p in PARTS if p in raw and p not in document]
    if missing:
        raise _bad("parts", _("The template has no part %s.") % ", ".join(missing))
    return [p for p in PARTS if p in raw]

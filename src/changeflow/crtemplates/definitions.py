"""The custom fields of a CR form template, as plain data (no ORM): cleaning their definitions
and the values a change request gives them.

A definition is ``{"key", "label", "kind", "required", "help", "choices"}``; a change request
stores the definitions it was made with next to its values, so the values are always read
(and edited) against the definitions they were given under.

Values as stored (JSON): text and long text as strings, a number as a decimal string ("12.5",
exact, as money is elsewhere in the API), a date as ``YYYY-MM-DD``, a choice as one of its
choices, yes/no as true or false. An empty value is not stored.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from changeflow.core.errors import ValidationError

from .models import FieldKind

MAX_FIELDS = 30
KEY_MAX = 40
LABEL_MAX = 100
HELP_MAX = 500
MAX_CHOICES = 50
CHOICE_MAX = 100
TEXT_MAX = 500
LONG_TEXT_MAX = 10_000
NUMBER_LIMIT = Decimal(10) ** 15
# Refused in any text: PostgreSQL stores no NUL in a text or a JSON value (a database error).
NUL = "\x00"
KEY_RE = re.compile(r"^[a-z][a-z0-9_]*\Z")


def _bad(message: str) -> ValidationError:
    return ValidationError(_("The custom fields are invalid."), fields={"fields": [message]})


def _text(value: Any, limit: int, what: str, *, required: bool = False) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _bad(_("%(what)s must be a text.") % {"what": what})
    value = value.strip()
    if NUL in value:
        raise _bad(_("%(what)s: null characters are not allowed.") % {"what": what})
    if required and not value:
        raise _bad(_("%(what)s is required.") % {"what": what})
    if len(value) > limit:
        raise _bad(_("%(what)s: at most %(n)d characters.") % {"what": what, "n": limit})
    return value


def clean_definitions(raw: Any) -> list[dict[str, Any]]:
    """The definitions ``raw`` (a list of objects) cleaned, or a ValidationError on ``fields``
    naming the first problem (which field, and what)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list | tuple):
        raise _bad(_("A list of field definitions is required."))
    if len(raw) > MAX_FIELDS:
        raise _bad(_("At most %(n)d custom fields.") % {"n": MAX_FIELDS})
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, start=1):
        if not isinstance(item, Mapping):
            raise _bad(_("Field %(n)d: an object is required.") % {"n": number})
        unknown = sorted(set(item) - {"key", "label", "kind", "required", "help", "choices"})
        if unknown:
            raise _bad(
                _("Field %(n)d: unknown attributes: %(names)s")
                % {"n": number, "names": ", ".join(str(u) for u in unknown)}
            )
        what = _("Field %(n)d's key") % {"n": number}
        key = _text(item.get("key"), KEY_MAX, what, required=True)
        if not KEY_RE.match(key):
            raise _bad(
                _("Field %(n)d: the key %(key)s must start with a lower-case letter and hold only "
                  "lower-case letters, digits and underscores.") % {"n": number, "key": key}
            )  # fmt: skip
        if key in seen:
            raise _bad(_("The key %(key)s is used twice.") % {"key": key})
        seen.add(key)
        label = _text(item.get("label"), LABEL_MAX, _("The label of %(key)s") % {"key": key},
                      required=True)  # fmt: skip
        kind = item.get("kind")
        if kind not in FieldKind.values:
            raise _bad(
                _("%(key)s: unknown kind %(kind)s (one of %(kinds)s).")
                % {"key": key, "kind": kind, "kinds": ", ".join(FieldKind.values)}
            )
        required = item.get("required", False)
        if not isinstance(required, bool):
            raise _bad(_("%(key)s: required must be true or false.") % {"key": key})
        help_text = _text(item.get("help"), HELP_MAX, _("The help text of %(key)s") % {"key": key})
        choices = _choices(key, kind, item.get("choices"))
        cleaned.append(
            {"key": key, "label": label, "kind": kind, "required": required, "help": help_text,
             "choices": choices}
        )  # fmt: skip
    return cleaned


def _choices(key: str, kind: str, raw: Any) -> list[str]:
    if kind != FieldKind.CHOICE:
        if raw not in (None, [], ()):
            raise _bad(_("%(key)s: only a choice field has choices.") % {"key": key})
        return []
    if not isinstance(raw, list | tuple) or not all(isinstance(c, str) for c in raw):
        raise _bad(_("%(key)s: a choice field needs a list of choices.") % {"key": key})
    if any(NUL in c for c in raw):
        raise _bad(_("%(key)s: null characters are not allowed.") % {"key": key})
    choices = [c.strip() for c in raw if c.strip()]
    if not choices:
        raise _bad(_("%(key)s: a choice field needs at least one choice.") % {"key": key})
    if len(choices) > MAX_CHOICES or any(len(c) > CHOICE_MAX for c in choices):
        raise _bad(
            _("%(key)s: at most %(n)d choices of at most %(m)d characters.")
            % {"key": key, "n": MAX_CHOICES, "m": CHOICE_MAX}
        )
    if len(set(choices)) != len(choices):
        raise _bad(_("%(key)s: a choice is listed twice.") % {"key": key})
    return choices


# ------------------------------------------------------------------ values


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _value(defn: Mapping[str, Any], value: Any) -> Any:
    """One value cleaned to its stored form; ValueError with the message when it is wrong."""
    kind = defn["kind"]
    if isinstance(value, str) and NUL in value:
        raise ValueError(_("Null characters are not allowed."))
    if kind in (FieldKind.TEXT, FieldKind.LONG_TEXT):
        if not isinstance(value, str):
            raise ValueError(_("A text is required."))
        limit = TEXT_MAX if kind == FieldKind.TEXT else LONG_TEXT_MAX
        value = value.strip() if kind == FieldKind.TEXT else value.replace("\r\n", "\n").strip()
        if len(value) > limit:
            raise ValueError(_("At most %(n)d characters.") % {"n": limit})
        return value
    if kind == FieldKind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
            raise ValueError(_("A number is required."))
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise ValueError(_("A number is required.")) from None
        if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
            raise ValueError(_("A number is required."))
        text = format(number.normalize(), "f")
        return text if "." not in text else text.rstrip("0").rstrip(".")
    if kind == FieldKind.DATE:
        if isinstance(value, dt.datetime):
            raise ValueError(_("A date is required (YYYY-MM-DD)."))
        if isinstance(value, dt.date):
            return value.isoformat()
        try:
            parsed = parse_date(value.strip()) if isinstance(value, str) else None
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValueError(_("A date is required (YYYY-MM-DD)."))
        return parsed.isoformat()
    if kind == FieldKind.CHOICE:
        if not isinstance(value, str) or value.strip() not in defn["choices"]:
            raise ValueError(
                _("Not one of the choices: %(choices)s") % {"choices": ", ".join(defn["choices"])}
            )
        return value.strip()
    # yes/no
    if not isinstance(value, bool):
        raise ValueError(_("Yes or no (true or false) is required."))
    return value


def clean_values(definitions: list[dict[str, Any]], values: Any) -> dict[str, Any]:
    """``values`` (an object: key → value) cleaned against ``definitions``, in their order.

    Every problem is named on ``fields.<key>``: an unknown key, a value of the wrong kind, a
    choice not offered, a required field left empty. Empty values are left out."""
    if values is None:
        values = {}
    if not isinstance(values, Mapping):
        raise ValidationError(
            _("Some fields are invalid."), fields={"fields": [_("An object is required.")]}
        )
    errors: dict[str, list[str]] = {}
    known = {d["key"] for d in definitions}
    for key in values:
        if key not in known:
            errors[f"fields.{key}"] = [
                _("Unknown field %(key)s: the form has no such field.") % {"key": key}
            ]
    cleaned: dict[str, Any] = {}
    for defn in definitions:
        key = defn["key"]
        raw = values.get(key)
        if _empty(raw):
            if defn["required"]:
                errors[f"fields.{key}"] = [_("%(label)s is required.") % {"label": defn["label"]}]
            continue
        try:
            value = _value(defn, raw)
        except ValueError as exc:
            errors[f"fields.{key}"] = [f"{defn['label']}: {exc}"]
            continue
        if _empty(value) and defn["required"]:
            errors[f"fields.{key}"] = [_("%(label)s is required.") % {"label": defn["label"]}]
        elif not _empty(value):
            cleaned[key] = value
    if errors:
        raise ValidationError(_("Some custom fields are invalid."), fields=errors)
    return cleaned


def snapshot(definitions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a change request keeps of the definitions: a copy, never the template's list."""
    return [dict(d, choices=list(d.get("choices") or [])) for d in definitions]


def display(definitions: list[dict[str, Any]], values: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The fields as a page shows them: label, kind and the value (None when empty)."""
    return [
        {"key": d["key"], "label": d["label"], "kind": d["kind"], "value": values.get(d["key"])}
        for d in definitions
    ]

"""The words of a notification, in the active language, from its kind and its data.

Notifications store facts (keys, states, names), not sentences, so that the inbox shows each
reader their own language and an e-mail or a chat message is written in its recipient's.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext as _

from changeflow.changes.workflow import State

from .events import TEST_KIND
from .models import Kind
from .urlcheck import base_url


def _state(value: str | None) -> str:
    if not value:
        return ""
    try:
        return str(State(value).label)
    except ValueError:
        return value


def headline(kind: str, data: dict[str, Any], *, personal: bool = True) -> str:
    """One line saying what happened. ``personal``: addressed to one reader ("your vote")."""
    d = {
        "key": data.get("key") or data.get("project", ""),
        "title": data.get("title", ""),
        "actor": data.get("actor_name") or data.get("actor") or _("someone"),
        "from": _state(data.get("from")),
        "to": _state(data.get("state")),
        "project": data.get("project", ""),
    }
    if kind == Kind.CR_SUBMITTED:
        return _("%(actor)s submitted %(key)s: %(title)s") % d
    if kind == Kind.STATE_CHANGED:
        return _("%(key)s is now %(to)s (was %(from)s), by %(actor)s") % d
    if kind == Kind.ASSESSMENT_ADDED:
        return _("%(actor)s added an impact assessment to %(key)s") % d
    if kind == Kind.VOTE_NEEDED:
        if personal:
            return _("Your vote is needed on %(key)s: %(title)s") % d
        return _("%(key)s needs the board's vote: %(title)s") % d
    if kind == Kind.DECIDED:
        if data.get("ratification"):
            return _("%(key)s: the emergency change was %(outcome)s") % {
                **d,
                "outcome": _("ratified") if data["ratification"] == "ratified" else _("refused"),
            }
        return _("%(key)s was decided: %(to)s") % d
    if kind == Kind.COMMENTED:
        return _("%(actor)s commented on %(key)s") % d
    if kind == Kind.MENTIONED:
        return _("%(actor)s mentioned you on %(key)s") % d
    if kind == Kind.SLA_BREACHED:
        if not d["title"]:
            return _("SLA breached on %(key)s") % d
        return _("SLA breached on %(key)s: %(title)s") % d
    if kind == Kind.MEETING_REMINDER:
        return _("Meeting reminder: %(title)s") % d
    if kind == Kind.VOTES_RESET:
        return _("The votes on %(key)s were reset: please vote again") % d
    if kind == Kind.ASSIGNED:
        if personal:
            return _("%(actor)s assigned %(key)s to you: %(title)s") % d
        return _("%(actor)s assigned %(key)s: %(title)s") % d
    if kind == Kind.IMPROVEMENT_OVERDUE:
        return _("Improvement action %(key)s is overdue: %(title)s") % d
    if kind == Kind.IMPROVEMENT_DUE:
        return _("Improvement action %(key)s is due on %(due)s: %(title)s") % {
            **d,
            "due": data.get("due_date", ""),
        }
    if kind == Kind.RATED_LOW:
        return _("%(actor)s rated the outcome of %(key)s %(score)s of 5") % {
            **d,
            "score": data.get("score", "?"),
        }
    if kind == Kind.REPORT_READY:
        return _("Review report %(key)s is ready: %(title)s") % d
    if kind == Kind.ORDER_ISSUED:
        return _("Change order %(key)s was issued for your signature: %(title)s") % d
    if kind == Kind.ORDER_SIGNED:
        return _("%(actor)s signed change order %(key)s: %(title)s") % d
    if kind == Kind.ORDER_DECLINED:
        return _("%(actor)s declined change order %(key)s: %(title)s") % d
    if kind == Kind.DUPLICATE:
        if not data.get("duplicate_of"):  # of another project's CR (notifications.services)
            return _("%(actor)s closed %(key)s as a duplicate of another project's request") % d
        return _("%(actor)s closed %(key)s as a duplicate of %(original)s") % {
            **d,
            "original": data["duplicate_of"],
        }
    if kind == TEST_KIND:
        return _("Test message from changeflow for project %(project)s") % d
    return f"{kind}: {d['key']}"


def details(kind: str, data: dict[str, Any]) -> list[str]:
    """Further lines: the CR's title, the comment's first words, the reason given."""
    lines = []
    if data.get("title") and kind not in (Kind.VOTE_NEEDED, Kind.CR_SUBMITTED, TEST_KIND):
        lines.append(_("Title: %(title)s") % {"title": data["title"]})
    if data.get("excerpt"):
        lines.append(data["excerpt"])
    if data.get("reason"):
        lines.append(_("Reason: %(reason)s") % {"reason": data["reason"]})
    if data.get("voters"):
        lines.append(_("Votes needed from: %(names)s") % {"names": ", ".join(data["voters"])})
    return lines


def path(data: dict[str, Any]) -> str:
    """The page of the object a notification is about ('' when there is none)."""
    if data.get("key") and data.get("object_type") == "change_request":
        return reverse("cr-detail", kwargs={"key": data["key"]})
    if data.get("key") and data.get("object_type") == "improvement_action" and data.get("project"):
        return reverse("improvement-detail", kwargs={"key": data["project"], "akey": data["key"]})
    if data.get("object_type") == "review_report" and data.get("number") and data.get("project"):
        return reverse(
            "review-report-detail", kwargs={"key": data["project"], "number": data["number"]}
        )
    if data.get("object_type") == "change_order" and data.get("number") and data.get("project"):
        return reverse("order-detail", kwargs={"key": data["project"], "number": data["number"]})
    if data.get("project"):
        return reverse("project-detail", kwargs={"key": data["project"]})
    return ""


def link(data: dict[str, Any]) -> str:
    """The absolute address of that page, for e-mails and chat messages."""
    page = path(data)
    return base_url().rstrip("/") + page if page else ""


def language_or_default(language: str | None) -> str:
    codes = {code for code, _name in settings.LANGUAGES}
    return language if language in codes else settings.LANGUAGE_CODE

"""What waits on a user, across their projects ("My work", 我的工作台).

Each section is read with the owning app's selector, which applies ``core.access.restrict``
and that app's own rule of who is asked (who votes, estimates, signs, triages): this module
holds no permission logic of its own, only the shape shared by the page, the API and the CLI.

A section costs one query whatever the number of its items and projects (the CCB's pending
votes two, and one more reads the service levels of every listed CR at once).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db.models import QuerySet
from django.template.defaultfilters import floatformat
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from changeflow.accounts.models import User
from changeflow.ccb import decisions
from changeflow.changes import selectors as changes
from changeflow.changes.models import ChangeRequest, VotePurpose
from changeflow.changes.workflow import State
from changeflow.comms import sla
from changeflow.core.db.expressions import count_of
from changeflow.impact import selectors as impact
from changeflow.meetings import selectors as meetings
from changeflow.meetings.recurrence import occurrence_key
from changeflow.orders import selectors as orders
from changeflow.reports import selectors as reports


@dataclass(frozen=True)
class Item:
    """One thing waiting on the user: what it is, where it is done, and by when."""

    key: str  # the CR's, order's or action's key; an action item's CR key or "" when it has none
    title: str
    project: str  # the project's key
    project_name: str
    url: str  # the page where the work is done
    state: str = ""  # the item's state code in its own app
    detail: str = ""  # a short line: what is asked (a vote on a decision, round 2 ...)
    due: dt.date | None = None
    due_at: dt.datetime | None = None  # a service level's deadline, when the due date is one
    overdue: bool = False


@dataclass(frozen=True)
class Section:
    id: str
    title: Promise
    empty: Promise  # said when the page shows the section with nothing in it
    items: list[Item] = field(default_factory=list)  # the first LIMIT
    count: int = 0  # all of them

    @property
    def more(self) -> int:
        """How many the section holds beyond the items listed."""
        return max(0, self.count - len(self.items))


# The sections in the order the page shows them; ``id`` is the API's field name.
SECTIONS: tuple[tuple[str, Promise], ...] = (
    ("assigned", _("Change requests assigned to me")),
    ("votes", _("Waiting for my vote")),
    ("estimates", _("Estimates asked of me")),
    ("signatures", _("Change orders to sign")),
    ("meeting_actions", _("My meeting action items")),
    ("improvements", _("My improvement actions")),
    ("triage", _("Waiting for triage")),
    ("questions", _("Returned to me for information")),
    ("requests", _("My open requests")),
)
TITLES = dict(SECTIONS)
# Items listed per section (soonest first); the section's count says how many there are in all.
LIMIT = 50


def _cr_url(key: str, anchor: str = "") -> str:
    return reverse("cr-detail", args=[key]) + anchor


def _cr_item(cr: ChangeRequest, deadlines: dict[int, dt.datetime], now: dt.datetime, **kw) -> Item:
    """A CR as an item: due by its stage's service level, else by its desired date."""
    deadline = deadlines.get(cr.pk)
    due: dt.date | None
    if deadline is not None:
        due, overdue = timezone.localdate(deadline), deadline < now
    else:
        due = cr.desired_date
        overdue = bool(due and due < timezone.localdate(now))
    kw.setdefault("state", cr.state)
    kw.setdefault("detail", str(State(cr.state).label))
    return Item(
        key=cr.key, title=cr.title, project=cr.project.key, project_name=cr.project.name,
        url=_cr_url(cr.key), due=due, due_at=deadline, overdue=overdue, **kw,
    )  # fmt: skip


def _overdue_first(items: list[Item]) -> list[Item]:
    far = dt.date.max
    return sorted(items, key=lambda i: (not i.overdue, i.due or far))


def _queries(user: User) -> dict[str, QuerySet]:
    """Each section's queryset but the votes' (``decisions.pending_votes``), soonest first."""
    return {
        "assigned": changes.assigned_open(user=user),
        "estimates": impact.estimates_awaited(user=user),
        "signatures": orders.awaiting_signature(user=user),
        "meeting_actions": meetings.open_actions_of(user=user),
        "improvements": reports.open_improvements_of(user=user),
        "triage": changes.awaiting_triage(user=user),
        "questions": changes.returned_to_requester(user=user),
        "requests": changes.requested_open(user=user),
    }


# Sections that are not work waiting on the reader: they are on the page, not in the badge.
NOT_COUNTED = {"requests"}  # a customer's own open requests wait on the team


def counting_querysets(user: User) -> list[QuerySet]:
    """The querysets of every section that waits on the reader but the votes, for the
    navigation's badge: counted as subqueries of its one query, which counts the pending votes
    already (its own link)."""
    return [qs.order_by() for sid, qs in _queries(user).items() if sid not in NOT_COUNTED]


def _counts(user: User, queries: dict[str, QuerySet]) -> dict[str, int]:
    """How many items each section holds, in one query."""
    row = User.objects.filter(pk=user.pk).values_list(*(count_of(qs) for qs in queries.values()))
    return {sid: n or 0 for sid, n in zip(queries, row.get(), strict=True)}


def my_work(*, user: User, now: dt.datetime | None = None) -> list[Section]:
    """Every section of ``user``'s work, in page order (empty ones included): the first
    ``LIMIT`` items of each and how many it holds."""
    now = now or timezone.now()
    today = timezone.localdate(now)
    if not user.is_authenticated:
        return [Section(sid, title, _EMPTY) for sid, title in SECTIONS]
    queries = _queries(user)
    counts = _counts(user, queries)
    rows = {sid: list(qs[:LIMIT]) if counts[sid] else [] for sid, qs in queries.items()}
    votes = decisions.pending_votes(user=user)
    counts["votes"] = len(votes)
    votes = votes[:LIMIT]
    deadlines = sla.stage_deadlines([*rows["assigned"], *rows["triage"], *[v["cr"] for v in votes]])

    found: dict[str, list[Item]] = {
        # The oldest in their stage come first from the database; of those, the overdue first.
        "assigned": _overdue_first([_cr_item(cr, deadlines, now) for cr in rows["assigned"]]),
        "votes": [
            _cr_item(
                v["cr"],
                deadlines,
                now,
                detail=str(_("Ratification of an emergency approval"))
                if v["purpose"] == VotePurpose.RATIFICATION
                else str(_("Decision, round %(n)d") % {"n": v["round"]}),
            )  # fmt: skip
            for v in votes
        ],
        "estimates": [_estimate_item(r, today) for r in rows["estimates"]],
        "signatures": [_order_item(o, today) for o in rows["signatures"]],
        "meeting_actions": [_action_item(a, today) for a in rows["meeting_actions"]],
        "improvements": [_improvement_item(a, today) for a in rows["improvements"]],
        "triage": [_cr_item(cr, deadlines, now) for cr in rows["triage"]],
        "questions": [
            _cr_item(cr, {}, now, detail=str(_("Answer and submit again")))
            for cr in rows["questions"]
        ],
        "requests": [_cr_item(cr, {}, now) for cr in rows["requests"]],
    }
    return [Section(sid, title, _EMPTY, found[sid], counts[sid]) for sid, title in SECTIONS]


def _order_item(o: Any, today: dt.date) -> Item:
    return Item(
        key=o.key, title=o.change_request.title, project=o.project.key,
        project_name=o.project.name,
        url=reverse("order-detail", args=[o.project.key, o.number]), state=o.state,
        detail=str(_("Revision %(n)d, %(amount)s %(currency)s")
                   % {"n": o.revision, "amount": floatformat(o.amount, "2g"),
                      "currency": o.currency}),
        due=o.valid_until, overdue=bool(o.valid_until and o.valid_until < today),
    )  # fmt: skip


def _improvement_item(a: Any, today: dt.date) -> Item:
    return Item(
        key=a.key, title=a.title, project=a.project.key, project_name=a.project.name,
        url=reverse("improvement-detail", args=[a.project.key, a.key]), state=a.status,
        detail=str(a.get_status_display()), due=a.due_date, overdue=reports.is_overdue(a, today),
    )  # fmt: skip


_EMPTY = _("Nothing waits on you here.")


def _estimate_item(r: Any, today: dt.date) -> Item:
    cr = r.change_request
    return Item(
        key=cr.key, title=cr.title, project=cr.project.key, project_name=cr.project.name,
        url=_cr_url(cr.key, "#estimates"), state=cr.state,
        detail=str(_("Delphi round %(n)d") % {"n": r.number}),
        due=cr.desired_date, overdue=bool(cr.desired_date and cr.desired_date < today),
    )  # fmt: skip


def _action_item(a: Any, today: dt.date) -> Item:
    meeting = a.occurrence.meeting
    project = meeting.project
    url = reverse(
        "meeting-occurrence", args=[project.key, meeting.pk, occurrence_key(a.occurrence.starts_at)]
    )
    return Item(
        key=a.change_request.key if a.change_request_id else "", title=a.title,
        project=project.key, project_name=project.name, url=url,
        state="open", detail=meeting.title, due=a.due_date, overdue=a.due_date < today,
    )  # fmt: skip


def total(sections: list[Section]) -> int:
    """What waits on the user, as the top bar's badge counts it (not ``NOT_COUNTED``)."""
    return sum(s.count for s in sections if s.id not in NOT_COUNTED)

"""The demo's process review: improvement actions, a change budget and a history spread over
weeks.

Improvement actions: what the ACME team decided to change in its change process after reviewing
the demo's change requests — one in progress, one overdue, one done with its resolution, one
cancelled. Built through the services only.

Review reports: a weekly schedule, the last complete week's report (the schedule's) and one on
demand over the four weeks before (the project manager's).

Metrics: the demo is built in a second, so every CR would have entered and left each stage at
the same instant and the metrics would show cycle times of zero. As a real project's would, the
stage history (``StateChange``) of each demo CR is spread over the past twelve weeks with
typical stay lengths per stage, the CRs' dates following it; the requirements of the original
scope are dated before the period so that the volatility has a base. The audit log keeps the
real times of the demo's making (it is append-only).
"""

from __future__ import annotations

import datetime as dt
import random

from django.utils import timezone

from changeflow.accounts import services as accounts
from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest, StateChange
from changeflow.changes.workflow import FINAL_STATES, State

from . import actions, reviews
from .metrics import Period
from .models import ReportKind, ReviewFrequency


def _keys(crs: list[ChangeRequest], *states: str) -> list[str]:
    return [cr.key for cr in crs if cr.state in states][:2]


def _improvement_actions(
    project: Project, users: dict[str, User], crs: list[ChangeRequest]
) -> None:
    pm, tl = users["wang.lei"], users["chen.jing"]
    today = timezone.localdate()
    day = dt.timedelta(days=1)
    actions.improvement_create(
        user=pm, project=project, owner="chen.jing", due_date=today + 14 * day,
        title="影响分析模板增加接口清单 / Add an interface checklist to the impact template",
        problem="两个变更在评审时遗漏了对支付接口的影响，实施阶段才发现，导致返工。\n"
                "Two changes missed their effect on the payment interfaces until implementation.",
        description="- 在影响评估中列出受影响的外部接口\n- 评审前由技术负责人确认\n\n"
                    "*List the external interfaces touched; the tech lead confirms before review.*",
        change_requests=_keys(crs, State.IMPLEMENTING, State.VERIFYING),
    )  # fmt: skip
    overdue = actions.improvement_create(
        user=pm, project=project, owner="liu.yang", due_date=today - 5 * day,
        title="验收标准写入变更请求 / Acceptance criteria in every change request",
        problem="验证阶段多次因验收标准不明确被退回。\n"
                "Verification was rejected several times for unclear acceptance criteria.",
        description="在变更请求表单中增加“验收标准”必填说明，并在培训中讲解。",
        change_requests=_keys(crs, State.RETURNED),
    )  # fmt: skip
    actions.improvement_transition(user=users["liu.yang"], action=overdue, name="start")
    actions.improvement_update(user=users["liu.yang"], action=overdue, data={"progress": 40})
    done = actions.improvement_create(
        user=tl, project=project, owner="wang.lei", due_date=today - 10 * day,
        title="紧急变更 48 小时内追认 / Ratify emergency changes within 48 hours",
        problem="紧急变更事后追认平均拖延 6 天，审计时缺少决策记录。\n"
                "Emergency changes waited six days on average for the board's ratification.",
        description="CCB 周会固定议程增加“待追认紧急变更”，主席负责跟进。",
        change_requests=_keys(crs, State.IMPLEMENTING, State.CLOSED),
    )  # fmt: skip
    actions.improvement_transition(user=pm, action=done, name="start")
    actions.improvement_transition(
        user=pm, action=done, name="complete",
        resolution="CCB 周会议程模板已加入“待追认紧急变更”一项；近四周的紧急变更均在 48 小时内追认"
                   "（见会议纪要）。\nThe weekly CCB agenda now lists emergency changes awaiting "
                   "ratification; the last four weeks' were all ratified within 48 hours (see the "
                   "minutes).",
    )  # fmt: skip
    cancelled = actions.improvement_create(
        user=pm, project=project, owner="zhao.min", due_date=today + 30 * day,
        title="变更申请改用纸质签字 / Paper sign-off for change requests",
        problem="客户要求留存签字记录。 / The customer asked for signed records.",
    )  # fmt: skip
    actions.improvement_transition(
        user=pm, action=cancelled, name="cancel",
        comment="电子签名投票已满足客户的留痕要求。 / Signed votes already give the customer "
                "the record it asked for.",
    )  # fmt: skip


BUDGET = {"change_budget": "400000", "schedule_contingency_days": "160"}
WEEKS = 12
# Typical stays per stage in hours (low, high): the demo draws each stay between them.
STAY_HOURS: dict[str, tuple[int, int]] = {
    State.DRAFT: (1, 48),
    State.SUBMITTED: (2, 30),
    State.TRIAGED: (4, 60),
    State.ASSESSING: (16, 120),
    State.IN_REVIEW: (20, 140),
    State.APPROVED: (8, 72),
    State.IMPLEMENTING: (48, 300),
    State.VERIFYING: (8, 72),
    State.RETURNED: (24, 96),
    State.DEFERRED: (100, 300),
}


def _budget_and_history(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    accounts.project_update(user=users["wang.lei"], project=project, data=BUDGET)
    _spread_history(project)
    _date_the_record(project, users)
    _date_original_scope(project)


def _spread_history(project: Project) -> None:
    from changeflow.comms.models import SlaBreach

    now = timezone.now()
    rng = random.Random(20261207)  # the same demo every time
    # The finished CRs are the project's past, the open ones its present: the CR list, newest
    # first, opens on the work in hand, as a real project's does.
    crs = sorted(
        ChangeRequest.objects.filter(project=project),
        key=lambda cr: (cr.state not in FINAL_STATES, cr.number),
    )
    breached = set(
        SlaBreach.objects.filter(project=project).values_list("change_request_id", flat=True)
    )
    rows_by_cr: dict[int, list[StateChange]] = {}
    for row in StateChange.objects.filter(project=project).order_by("at", "id"):
        rows_by_cr.setdefault(row.change_request_id, []).append(row)
    changed: list[StateChange] = []
    for i, cr in enumerate(crs):
        rows = rows_by_cr.get(cr.pk, [])
        if not rows:
            continue
        # In that order: the first starts about twelve weeks ago, the last a few days ago.
        start = now - dt.timedelta(days=WEEKS * 7 * (1 - i / len(crs)) + 3)
        stays = [rng.uniform(*STAY_HOURS.get(row.from_state, (1, 24))) for row in rows[1:]]
        # A CR with an SLA breach stays where the breach found it: in its stage since then.
        end = cr.state_changed_at if cr.pk in breached else now
        if stays and start >= end - dt.timedelta(hours=sum(stays)):
            start = end - dt.timedelta(hours=sum(stays) + 1)
        room = (end - start).total_seconds() / 3600 - 1
        scale = min(1.0, room / sum(stays)) if stays else 1.0
        at = start
        rows[0].at = at
        for row, hours in zip(rows[1:], stays, strict=True):
            at += dt.timedelta(hours=hours * scale)
            row.at = at
        if cr.pk in breached and len(rows) > 1:
            rows[-1].at = end
        changed += rows
        closed = next((r.at for r in rows if r.to_state == State.CLOSED), None)
        ChangeRequest.objects.filter(pk=cr.pk).update(
            created_at=rows[0].at,
            state_changed_at=end if cr.pk in breached else rows[-1].at,
            updated_at=end if cr.pk in breached else rows[-1].at,
            closed_at=closed if cr.state == State.CLOSED else cr.closed_at,
            requested_at=timezone.localtime(rows[0].at).date(),
        )
    StateChange.objects.bulk_update(changed, ["at"])


def _date_the_record(project: Project, users: dict[str, User]) -> None:
    """The demo's CR events at the times its stage history now tells (``_spread_history``), so
    that a CR's history, comments, votes, assessments and links, and the notifications they
    made, read as the weeks the CR list and the metrics show, not the minute the demo took to
    build. Events between two state changes are spread evenly between them, those after the
    last one over the next two days (never past now); the set-up before the first CR comes a
    day before it. Only when the record holds nothing but the demo (loaded beside a site's real
    work, the demo leaves the record as it was) and the database lets it be re-written (not on
    PostgreSQL, where it is append-only): ``_record_is_the_demos``, ``core.audit.redate``."""
    from collections import defaultdict

    from changeflow.changes.links import LINK_EVENTS
    from changeflow.changes.models import (
        Attachment,
        ChangeRequestLink,
        Comment,
        ImpactAssessment,
        Vote,
    )
    from changeflow.core import audit
    from changeflow.core.models import AuditEvent

    if not _record_is_the_demos(project, users):
        return
    now = timezone.now()
    marks: dict[str, list[tuple[str, dt.datetime]]] = defaultdict(list)
    entries = StateChange.objects.filter(project=project).order_by("at", "id")
    for key, state, at in entries.values_list("change_request__key", "to_state", "at"):
        marks[key].append((state, at))
    by_cr: dict[str, list[AuditEvent]] = defaultdict(list)
    for event in AuditEvent.objects.filter(
        object_type="change_request", project=project.key
    ).order_by("seq"):
        by_cr[event.object_key].append(event)
    times: dict[int, dt.datetime] = {}
    for key, group in by_cr.items():
        times.update(_event_times(group, marks.get(key, []), now))
    if not times:
        return
    events = {e.seq: e for group in by_cr.values() for e in group}
    for seq, event in events.items():  # a link's two events, one in each CR: the later time
        mirror = event.action in LINK_EVENTS and event.object_key != _link_source(event)
        if mirror and {seq - 1, seq} <= times.keys() and events[seq - 1].action == event.action:
            times[seq - 1] = times[seq] = max(times[seq - 1], times[seq])
    first_cr = min(times)
    earliest = min(times.values()) - dt.timedelta(days=1)
    for i, seq in enumerate(
        AuditEvent.objects.filter(seq__lt=first_cr).order_by("seq").values_list("seq", flat=True)
    ):
        times[seq] = earliest + dt.timedelta(seconds=30 * i)
    afters: dict[int, dict] = {}
    for seq, event in events.items():
        if seq not in times:
            continue
        at, after = times[seq], event.after if isinstance(event.after, dict) else {}
        if after.get("comment") and event.action.startswith("cr."):  # a transition's comment
            Comment.objects.filter(
                change_request__key=event.object_key, body=after["comment"]
            ).update(created_at=at)
        elif event.action == "comment.created" and after.get("comment_id"):
            Comment.objects.filter(pk=after["comment_id"]).update(created_at=at)
        elif event.action == "attachment.created" and after.get("attachment_id"):
            Attachment.objects.filter(pk=after["attachment_id"]).update(created_at=at)
        elif event.action == "assessment.created" and after.get("version"):
            ImpactAssessment.objects.filter(
                change_request__key=event.object_key, version=after["version"]
            ).update(created_at=at)
        elif event.action in ("vote.cast", "vote.changed") and after.get("signer"):
            Vote.objects.filter(
                change_request__key=event.object_key, voter__username=after["signer"],
                purpose=after.get("purpose"), round=int(after.get("round") or 0),
            ).update(signed_at=at, created_at=at)  # fmt: skip
            afters[seq] = {**after, "signed_at": at.isoformat()}
        elif event.action == "cr.linked" and after.get("link"):
            ChangeRequestLink.objects.filter(pk=after["link"]).update(created_at=at)
    audit.redate(times, afters)


def _record_is_the_demos(project: Project, users: dict[str, User]) -> bool:
    """Whether the record may be dated: the site holds nothing but the demo (no other user, no
    other project), and the database lets its record be re-written at all (on PostgreSQL it is
    append-only, ``audit.append_only()``: there the demo's events keep the minute they were
    recorded, while its CRs and stage history tell the weeks)."""
    from changeflow.core import audit

    return not (
        audit.append_only()
        or User.objects.exclude(pk__in=[u.pk for u in users.values()]).exists()
        or Project.objects.exclude(pk=project.pk).exists()
    )


def date_the_notifications(project: Project, users: dict[str, User]) -> None:
    """The notifications the demo's events made (as its transaction committed) at the times
    of their events, which ``_date_the_record`` dated: the inbox, newest first, then reads as
    the weeks the demo tells. Only when the record was dated."""
    from changeflow.notifications.models import Notification

    if not _record_is_the_demos(project, users):
        return
    notes = list(Notification.objects.filter(project=project).select_related("event"))
    for note in notes:
        if note.event is None:
            continue
        note.created_at = note.event.at
        if note.read_at is not None:
            note.read_at = note.created_at + dt.timedelta(hours=2)
    Notification.objects.bulk_update(notes, ["created_at", "read_at"], batch_size=500)


def _link_source(event) -> str:
    data = event.after if event.action == "cr.linked" else event.before
    return str((data or {}).get("source", ""))


def _event_times(
    events: list, marks: list[tuple[str, dt.datetime]], now: dt.datetime
) -> dict[int, dt.datetime]:
    """The times of one CR's events (in order), from the times it entered each state
    (``marks``, in order): a state change at its mark, the rest spread between. Nothing when
    the two do not match."""
    anchors: dict[int, dt.datetime] = {}
    j = 0
    for i, event in enumerate(events):
        after = event.after if isinstance(event.after, dict) else {}
        before = event.before if isinstance(event.before, dict) else {}
        state = after.get("state")
        if event.action != "cr.created" and (not state or before.get("state") == state):
            continue
        k = j
        while k < len(marks) and marks[k][0] != state:
            k += 1
        if k == len(marks):
            return {}
        # A CR made and submitted at once entered "draft" first: its creation is that mark.
        anchors[i] = marks[0][1] if event.action == "cr.created" else marks[k][1]
        j = k + 1
    if not anchors or 0 not in anchors:
        return {}
    points = sorted(anchors)
    last = anchors[points[-1]]
    ends = [*(anchors[p] for p in points[1:]), min(now, last + dt.timedelta(days=2))]
    times: dict[int, dt.datetime] = {}
    for p, start, end, nxt in zip(points, (anchors[p] for p in points), ends,
                                  [*points[1:], len(events)], strict=True):  # fmt: skip
        times[events[p].seq] = start
        between = range(p + 1, nxt)
        step = (end - start) / (len(between) + 1)
        for n, i in enumerate(between, start=1):
            times[events[i].seq] = start + step * n
    return times


def _date_original_scope(project: Project) -> None:
    """The requirements but the last two were agreed before the period: their first versions
    are dated four months back (the later versions, the period's changes, keep their dates)."""
    from changeflow.requirements.models import Requirement, RequirementVersion

    agreed = timezone.now() - dt.timedelta(days=120)
    first = list(
        Requirement.objects.filter(project=project).order_by("number").values_list("pk", flat=True)
    )[:-2]
    Requirement.objects.filter(pk__in=first).update(created_at=agreed)
    RequirementVersion.objects.filter(requirement_id__in=first, version=1).update(created_at=agreed)


def _review_reports(project: Project, users: dict[str, User]) -> None:
    """A weekly review schedule, the last complete week's report as the schedule makes it, and
    an on-demand report over the four weeks before, asked for by the project manager."""
    pm = users["wang.lei"]
    reviews.schedule_set(user=pm, project=project, frequency=ReviewFrequency.WEEKLY)
    week = reviews.last_complete(ReportKind.WEEKLY, reviews.local_today())
    reviews.review_report_generate(user=None, project=project, kind=ReportKind.WEEKLY, period=week)
    four_weeks = Period(start=week.start - dt.timedelta(days=28), end=week.start)
    reviews.review_report_generate(
        user=pm, project=project, kind=ReportKind.ON_DEMAND, period=four_weeks
    )


def load_demo(project: Project, users: dict[str, User], crs: list[ChangeRequest]) -> None:
    _improvement_actions(project, users, crs)
    _budget_and_history(project, users, crs)  # dates the stage history
    _review_reports(project, users)  # of the dated history: last

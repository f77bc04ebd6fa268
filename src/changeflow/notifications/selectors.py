"""Reads: who must be told about an event, a user's inbox and preferences, a project's
webhooks and their deliveries (for the project's managers)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.accounts.selectors import project_get
from changeflow.core.access import CUSTOMER_ROLES
from changeflow.core.errors import NotFound
from changeflow.core.models import AuditEvent

from . import events
from .models import Channel, Kind, Notification, NotificationPreference, Watch, Webhook

# Who hears of what, besides explicit ``notify`` lists: (requester, watchers, assignee,
# board, managers). Vote-needed goes to the board; everyone else concerned hears the state.
_AUDIENCE: dict[str, set[str]] = {
    Kind.CR_SUBMITTED: {"managers", "watchers", "requester", "assignee"},
    Kind.STATE_CHANGED: {"requester", "watchers", "assignee"},
    Kind.ASSESSMENT_ADDED: {"requester", "watchers", "assignee", "managers"},
    Kind.VOTE_NEEDED: {"requester", "watchers", "assignee", "board"},
    Kind.DECIDED: {"requester", "watchers", "assignee", "board"},
    Kind.COMMENTED: {"requester", "watchers", "assignee"},
    Kind.RATED_LOW: {"managers", "assignee"},
    Kind.DUPLICATE: {"requester", "watchers", "assignee"},
}
# When one person is concerned several ways, the most pressing kind wins.
_RANK: dict[str, int] = {Kind.MENTIONED: 0, Kind.VOTE_NEEDED: 1}


@dataclass(frozen=True)
class Recipient:
    user: User
    kind: str
    role: str


def _pressing(current: str | None, new: str) -> str:
    if current is None:
        return new
    return new if _RANK.get(new, 9) < _RANK.get(current, 9) else current


def board_to_vote(cr) -> list[str]:
    """Board members eligible on ``cr`` who have not voted in the round open now."""
    from changeflow.changes import services as cr_services
    from changeflow.changes.models import Vote, VotePurpose

    purpose = cr_services.vote_purpose(cr)
    eligible = cr_services.board_eligible(cr)
    if purpose is None:
        return eligible
    rnd = cr.review_round if purpose == VotePurpose.DECISION else 1
    voted = set(
        Vote.objects.filter(
            change_request=cr, purpose=purpose, round=rnd, voided_at__isnull=True
        ).values_list("voter__username", flat=True)
    )
    return [u for u in eligible if u not in voted]


def recipients(event: AuditEvent, project: Project, cr=None) -> list[Recipient]:
    """Who must be told of ``event``, each with the kind they are told, in username order.

    Only active members of the project; never the actor — except a board member who must vote:
    requesting the review does not cast their vote, so they are asked like the others; never a
    customer role for an internal event. Someone who lost their membership gets nothing.
    """
    after: dict[str, Any] = event.after if isinstance(event.after, dict) else {}
    kind = events.kind_of(event.action, after)
    wanted: dict[str, str] = {}
    keep_actor = False
    explicit = after.get("notify")
    if isinstance(explicit, list) and kind is not None:
        for name in explicit:
            if isinstance(name, str):
                wanted[name] = _pressing(wanted.get(name), kind)
    if kind in _AUDIENCE and cr is not None:
        audience = _AUDIENCE[kind]
        concerned: list[str] = []
        if "requester" in audience and cr.requested_by_id:
            concerned.append(cr.requested_by.username)
        if "assignee" in audience and cr.assignee_id:
            concerned.append(cr.assignee.username)
        if "watchers" in audience:
            concerned += list(
                Watch.objects.filter(change_request=cr).values_list("user__username", flat=True)
            )
        if "managers" in audience:
            concerned += list(
                Membership.objects.filter(
                    project_id=project.pk, role__in=(Role.PROJECT_MANAGER, Role.TECH_LEAD)
                ).values_list("user__username", flat=True)
            )
        secondary = Kind.STATE_CHANGED if kind == Kind.VOTE_NEEDED else kind
        for name in concerned:
            wanted[name] = _pressing(wanted.get(name), secondary)
        if "board" in audience:
            voters = board_to_vote(cr) if kind == Kind.VOTE_NEEDED else cr_board(cr)
            for name in voters:
                wanted[name] = _pressing(wanted.get(name), kind)
            if kind == Kind.VOTE_NEEDED and event.actor in voters:
                keep_actor = True
    if kind == Kind.COMMENTED:
        for name in events.mentions(str(after.get("body", ""))):
            wanted[name] = Kind.MENTIONED
    if not keep_actor:
        wanted.pop(event.actor, None)
    if not wanted:
        return []
    rows = Membership.objects.filter(
        project_id=project.pk, user__is_active=True, user__username__in=list(wanted)
    ).select_related("user")
    out = []
    for m in rows:
        if event.internal and m.role in CUSTOMER_ROLES:
            continue
        out.append(Recipient(m.user, wanted[m.user.username], m.role))
    return sorted(out, key=lambda r: r.user.username)


def cr_board(cr) -> list[str]:
    from changeflow.changes import services as cr_services

    return cr_services.board_eligible(cr)


def preferences(user: User) -> dict[str, str]:
    """Every kind with the user's channel for it (their choice, else the default)."""
    chosen = dict(NotificationPreference.objects.filter(user=user).values_list("kind", "channel"))
    return {k: chosen.get(k, events.DEFAULTS[k]) for k in Kind.values}


def preferences_of(user_ids: list[int]) -> dict[tuple[int, str], str]:
    return {
        (uid, kind): channel
        for uid, kind, channel in NotificationPreference.objects.filter(
            user_id__in=user_ids
        ).values_list("user_id", "kind", "channel")
    }


def channel_for(prefs: dict[tuple[int, str], str], user_id: int, kind: str) -> str:
    return prefs.get((user_id, kind), events.DEFAULTS.get(kind, Channel.IN_APP))


def inbox(*, user: User, unread_only: bool = False) -> QuerySet[Notification]:
    """The user's own in-app notifications, newest first, from projects they still belong to."""
    qs = Notification.objects.filter(user=user, in_app=True)
    if not user.is_superuser:
        qs = qs.filter(project__memberships__user=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.select_related("project", "event").order_by("-created_at", "-id")


def unread_count(user: User) -> int:
    """One indexed COUNT for the top bar."""
    if not user.is_authenticated:
        return 0
    return inbox(user=user, unread_only=True).order_by().count()


def is_watching(*, user: User, cr) -> bool:
    return Watch.objects.filter(user=user, change_request=cr).exists()


def webhook_project(*, user: User, key: str) -> Project:
    """The project whose webhooks ``user`` manages: 404 outsiders, 403 other members."""
    return project_get(user=user, key=key, action="manage")


def webhook_list(*, user: User, project: Project) -> QuerySet[Webhook]:
    return Webhook.objects.filter(project=project).order_by("id")


def webhook_get(*, user: User, project: Project, pk: int | str) -> Webhook:
    try:
        return Webhook.objects.get(project=project, pk=int(pk))
    except (Webhook.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("No such webhook.")) from None


def delivery_list(*, webhook: Webhook) -> QuerySet:
    return webhook.deliveries.order_by("-created_at", "-id")

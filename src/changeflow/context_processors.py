"""The navigation bar's counts: unread notifications, the votes the reader owes and all
that waits on them ("My work"), and whether the reader is a member of any project (the user
menu's process templates)."""

from __future__ import annotations

from functools import cached_property

from django.http import HttpRequest


class Nav:
    """Read when a template first asks (``nav.unread``, ``nav.pending_votes``, ``nav.work``),
    every count in one query (each a subquery): pages that do not show the navigation (API,
    errors, htmx fragments) pay nothing, and no count is ever kept past the request, so none
    is stale."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @cached_property
    def _counts(self) -> tuple[int, int, int, int]:
        from changeflow.accounts.models import Membership, User
        from changeflow.ccb import decisions
        from changeflow.core.db.expressions import count_of
        from changeflow.notifications.selectors import inbox
        from changeflow.work.selectors import counting_querysets

        user = getattr(self._request, "user", None)
        if user is None or not user.is_authenticated:
            return 0, 0, 0, 0
        unread, pending, unsnapped, memberships, *work = (
            User.objects.filter(pk=user.pk)
            .values_list(
                count_of(inbox(user=user, unread_only=True)),
                count_of(decisions.awaiting_vote(user)),
                count_of(decisions.unsnapped(user)),
                count_of(Membership.objects.filter(user=user)),
                *(count_of(qs) for qs in counting_querysets(user)),
            )
            .get()
        )
        if unsnapped:  # rows from before snapshots: the snapshot is taken, as on the list
            pending += decisions.unsnapped_pending_count(user)
        pending = pending or 0
        return unread or 0, pending, memberships or 0, pending + sum(n or 0 for n in work)

    @property
    def unread(self) -> int:
        return self._counts[0]

    @property
    def pending_votes(self) -> int:
        return self._counts[1]

    @property
    def work(self) -> int:
        """Everything on the reader's "My work" page."""
        return self._counts[3]

    @property
    def sees_process_templates(self) -> bool:
        from changeflow.processes.selectors import may_see

        user = self._request.user
        return may_see(user, is_member=bool(self._counts[2])) if user.is_authenticated else False


def nav(request: HttpRequest) -> dict[str, object]:
    return {"nav": Nav(request)}

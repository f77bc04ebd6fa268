"""The count of votes waiting for the signed-in member, for the navigation bar."""

from __future__ import annotations

from functools import cached_property

from django.http import HttpRequest


class _Pending:
    """Computed only when a template asks (``ccb_pending_votes.count``): pages that do not
    show the navigation (API, errors) pay nothing."""

    def __init__(self, request: HttpRequest) -> None:
        self._request = request

    @cached_property
    def count(self) -> int:
        from .decisions import pending_vote_count

        user = getattr(self._request, "user", None)
        if user is None or not user.is_authenticated:
            return 0
        return pending_vote_count(user)


def pending_votes(request: HttpRequest) -> dict[str, object]:
    return {"ccb_pending_votes": _Pending(request)}

"""The guide's pages: open to everyone, signed in or not (they hold no project's data)."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.text import get_text_list
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from changeflow.accounts.models import Role
from changeflow.changes import workflow

from . import topics


def _steps() -> list[dict[str, object]]:
    """Who may take each step of a change request, and from which states, read from the
    workflow itself so that the guide cannot say otherwise than the code does."""
    states = {value: str(label) for value, label in workflow.State.choices}
    roles = {value: str(label) for value, label in Role.choices}
    rows: list[dict[str, object]] = []
    for action, t in workflow.TABLE.items():
        who: list[str]
        if t.board_only:
            who = [_("the board's votes")]
        else:
            who = [roles[r] for r in workflow.ROLES if r in t.roles]
            who += [_("the requester")] if t.requester_may else []
            who += [_("the board's chair")] if t.chair_may else []
        rows.append({
            "action": workflow.ACTION_LABELS[action],
            "sources": get_text_list([states[s] for s in workflow.State if s in t.sources],
                                     _("or")),
            "target": states[t.target] if t.target is not None else None,
            "who": get_text_list(who, _("or")),
            "decides": t.decides and not t.board_only,
        })  # fmt: skip
    return rows


@require_safe
def index(request: HttpRequest) -> HttpResponse:
    return render(request, "guide/index.html", {"topics": topics.TOPICS})


@require_safe
def topic(request: HttpRequest, slug: str) -> HttpResponse:
    found = topics.BY_SLUG.get(slug)
    if found is None:
        raise Http404
    context = {
        "topic": found,
        "text": topics.text(found),
        "topics": topics.TOPICS,
        "steps": _steps() if found.slug == "process" else None,
    }
    return render(request, "guide/topic.html", context)

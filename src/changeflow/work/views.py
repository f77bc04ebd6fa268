"""The "My work" page: what waits on the signed-in user, across their projects."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from changeflow.accounts.models import Membership
from changeflow.core.http import AuthenticatedHttpRequest

from . import selectors


@login_required
@require_safe
def my_work(request: AuthenticatedHttpRequest) -> HttpResponse:
    sections = selectors.my_work(user=request.user)
    return render(
        request,
        "work/my_work.html",
        {
            "sections": [s for s in sections if s.items],
            "total": selectors.total(sections),
            "member": Membership.objects.filter(user_id=request.user.pk).exists(),
        },
    )

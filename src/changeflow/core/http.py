"""Request types for views, so that the type checker knows what the middleware guarantees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest

if TYPE_CHECKING:
    from django_htmx.middleware import HtmxDetails

    from changeflow.accounts.models import User


class AuthenticatedHttpRequest(HttpRequest):
    """The request of a view behind ``@login_required``: ``user`` is a signed-in ``User``
    (never ``AnonymousUser``), and ``htmx`` is set by django-htmx's middleware.

    Only an annotation: Django still passes its own ``HttpRequest``."""

    user: User
    htmx: HtmxDetails

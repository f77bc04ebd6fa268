"""Helpers shared by the browser pages: mapping ``ApplicationError``s to answers and forms.

Pages call one service and catch ``ApplicationError``: a ``NotFound`` becomes Django's 404
(objects of other projects do not exist for the user), everything else becomes a message or
form errors rendered with the error's own status (403, 409, 412, 413, 422, 429), never a 500.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

from django import forms
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from changeflow.core.errors import ApplicationError, NotFound


def or_404[T](read: Callable[..., T], **kwargs: Any) -> T:
    """Call a selector; its ``NotFound`` becomes an HTTP 404."""
    try:
        return read(**kwargs)
    except NotFound:
        raise Http404() from None


def add_errors(form: forms.BaseForm | None, exc: ApplicationError) -> None:
    """Put an application error on ``form``: field messages on their fields, the rest on top."""
    if isinstance(exc, NotFound):
        raise Http404() from None
    if form is None:
        return
    form.add_error(None, str(exc.message))
    for name, messages in (exc.fields or {}).items():
        if isinstance(messages, str):
            messages = [messages]
        for message in messages:
            if name in form.fields and name not in form.errors:
                form.add_error(name, str(message))
            elif name not in form.fields:
                form.add_error(None, f"{name}: {message}")


def error_page(request: HttpRequest, exc: ApplicationError) -> HttpResponse:
    """A page saying what went wrong, with the error's status."""
    if isinstance(exc, NotFound):
        raise Http404() from None
    return render(request, "error.html", {"message": exc.message}, status=exc.status)


def form_status(form: forms.BaseForm) -> int:
    """The status of a page that shows ``form`` after a failed POST."""
    return 400 if form.errors else 200


def paged(request: HttpRequest, items: Any, size: int) -> tuple[Page, str]:
    """The page of ``items`` that ``?page=`` asks for, and the query string without it (for the
    pager's links)."""
    page = Paginator(items, size).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return page, query.urlencode()


def render_results(
    request: HttpRequest, template: str, context: dict[str, Any], *, invalid: bool = False
) -> HttpResponse:
    """A searchable list page, or only its ``#results`` partial for an HTMX request (the same
    URL works without JS); 400 when its filters are ``invalid``."""
    if getattr(request, "htmx", False) and not request.htmx.boosted:  # type: ignore[attr-defined]
        template += "#results"
    response = render(request, template, context, status=400 if invalid else 200)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ---------------------------------------------------------------- an import's staged file
# Between an import's preview and its confirmation the file waits in the default storage
# (MEDIA_ROOT or the bucket: the confirmation may reach another app process, on another machine)
# under ``imports/<token>``, the token random and kept in the user's session (with what the
# import needs again: its name, format …), so nobody else can confirm or read it. A token starts
# with the time it was made: a staged file older than STAGED_FOR is expired, and removed when
# anyone next stages one. ``session_key`` names the kind of import.

STAGING = "imports"
STAGED_FOR = 24 * 3600  # seconds


def _staging(token: str) -> str:
    return f"{STAGING}/{token}"


def _age(token: str, now: float) -> float | None:
    stamp = token.split("-", 1)[0]
    return now - int(stamp) if stamp.isdigit() else None


def _prune(now: float) -> None:
    """Remove the staged files nobody confirmed in time."""
    try:
        _folders, files = default_storage.listdir(STAGING)
    except FileNotFoundError:
        return
    for token in files:
        age = _age(token, now)
        if age is not None and age > STAGED_FOR:
            default_storage.delete(_staging(token))


def stage_upload(request: HttpRequest, session_key: str, raw: bytes, **meta: Any) -> str:
    """Keep ``raw`` (and ``meta``) for the confirmation; the token the form sends back. The
    user's previous file of this kind is removed."""
    old = (request.session.get(session_key) or {}).get("token")
    if old:
        default_storage.delete(_staging(old))
    now = time.time()
    _prune(now)
    token = f"{int(now)}-{secrets.token_urlsafe(24)}"
    default_storage.save(_staging(token), ContentFile(raw))
    request.session[session_key] = {"token": token, **meta}
    return token


def staged_upload(
    request: HttpRequest, session_key: str, token: str, project: str
) -> tuple[bytes, dict[str, Any]] | None:
    """The bytes and meta staged under ``token`` for ``project`` by this user, or None (none,
    another's, expired)."""
    staged = request.session.get(session_key) or {}
    if not token or staged.get("token") != token or staged.get("project") != project:
        return None
    age = _age(token, time.time())
    if age is None or age > STAGED_FOR:
        return None
    try:
        with default_storage.open(_staging(token), "rb") as handle:
            return handle.read(), staged
    except OSError:  # FileNotFoundError: removed meanwhile
        return None


def unstage_upload(request: HttpRequest, session_key: str) -> None:
    """Forget the staged file once imported."""
    staged = request.session.pop(session_key, None) or {}
    if staged.get("token"):
        default_storage.delete(_staging(staged["token"]))

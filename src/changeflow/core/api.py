"""API plumbing shared by every endpoint: pagination and the one error handler."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions as drf
from rest_framework.metadata import SimpleMetadata
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from .errors import ApplicationError


class Pagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class Metadata(SimpleMetadata):
    """The answer to OPTIONS: the view's name, description and media types, without DRF's
    "actions". Those are built from ``serializer_class`` and, for PUT, ``get_object()``, which
    most API views do not use (they validate with their own serializers, documented in the
    OpenAPI schema): OPTIONS on them was a 500 (an AssertionError)."""

    def determine_actions(self, request, view):
        return {}


def error_body(code: str, message, fields: dict | None = None) -> dict:
    return {"error": {"code": code, "message": str(message), "fields": fields or {}}}


def _flatten(detail) -> dict:
    """DRF's nested error detail as {field: [messages]} (nested paths joined with dots)."""
    out: dict[str, list[str]] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        elif isinstance(value, list) and value and not all(isinstance(v, str) for v in value):
            for i, v in enumerate(value):
                walk(f"{prefix}.{i}" if prefix else str(i), v)
        else:
            items = value if isinstance(value, list) else [value]
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in items)

    walk("", detail)
    return out


_DRF_CODES = {
    400: "invalid",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


def exception_handler(exc, context):
    """Map every expected error to ``{"error": {"code", "message", "fields"}}``."""
    # Imported here: ``rest_framework.views`` reads DEFAULT_METADATA_CLASS (this module's
    # ``Metadata``) while it loads, so importing it above was a circular import whenever DRF's
    # settings loaded this module first (``changeflow migrate``'s system checks did).
    from rest_framework.views import set_rollback

    from .storage import unavailable

    exc = unavailable(exc) or exc
    if isinstance(exc, ApplicationError):
        set_rollback()
        return Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
    if isinstance(exc, Http404):
        exc = drf.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = drf.PermissionDenied()
    if not isinstance(exc, drf.APIException):
        return None  # a real bug: let it be a 500 and be logged
    set_rollback()
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    status = exc.status_code
    if isinstance(exc, drf.ValidationError):
        fields = _flatten(exc.detail)
        return Response(
            error_body("invalid", _("Some fields are invalid."), fields), status=400,
            headers=headers,
        )  # fmt: skip
    if isinstance(exc, drf.ParseError):
        return Response(error_body("malformed", exc.detail), status=400)
    code = _DRF_CODES.get(status, getattr(exc, "default_code", "error"))
    return Response(error_body(code, exc.detail), status=status, headers=headers)

"""Typed application errors raised by services and selectors.

One handler (``core.api.exception_handler`` for the API, ``core.views`` helpers for pages) maps
them to HTTP answers, so a user mistake is never a 500.
"""

from __future__ import annotations

from typing import Any


class ApplicationError(Exception):
    """Base of every error a user can cause. ``code`` is stable, ``message`` is translated."""

    status = 400
    code = "invalid"

    def __init__(self, message: Any, *, code: str | None = None, fields: dict | None = None):
        super().__init__(str(message))
        self.message = message
        if code:
            self.code = code
        self.fields = fields or {}


class ValidationError(ApplicationError):
    status = 400
    code = "invalid"


class NotFound(ApplicationError):
    status = 404
    code = "not_found"


class PermissionDenied(ApplicationError):
    status = 403
    code = "forbidden"


class InvalidTransition(ApplicationError):
    """The action is not allowed from the object's current state, or someone moved first."""

    status = 409
    code = "conflict"


class Conflict(InvalidTransition):
    code = "conflict"


class StalePrecondition(ApplicationError):
    """An ``If-Match`` header named a version that is no longer current."""

    status = 412
    code = "precondition_failed"


class PreconditionFailed(ApplicationError):
    """A business precondition is not met (e.g. review requested without an assessment)."""

    status = 422
    code = "unprocessable"


class TooLarge(ApplicationError):
    status = 413
    code = "too_large"


class StorageUnavailable(ApplicationError):
    """The file storage (an object storage's bucket) does not answer: not the user's doing, and
    worth trying again later."""

    status = 503
    code = "storage_unavailable"


class DirectoryUnavailable(ApplicationError):
    """The organisation's directory (LDAP) cannot be asked, so its people cannot sign in now;
    local accounts still can."""

    status = 503
    code = "directory_unavailable"


class RateLimited(ApplicationError):
    status = 429
    code = "rate_limited"

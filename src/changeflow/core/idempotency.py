"""``Idempotency-Key`` for every API write, implemented once as a view mixin.

A client that sends ``Idempotency-Key: <key>`` with a POST, PUT, PATCH or DELETE gets, for
every repeat of the same request (same user, key, method, path and body) within 24 hours, the
first answer again, and nothing is changed a second time. Reusing a key for a different request
answers 422 ``idempotency_key_reused``.

Policy (documented in the OpenAPI description too):

- Only successful answers (2xx) are stored. A request that failed (4xx) changed nothing, so
  its key is released and the client may retry with the same key, e.g. after fixing the body.
- The key is claimed *before* the request runs, by inserting a placeholder row guarded by the
  ``(user, key)`` unique constraint: a concurrent repeat of a request still in flight answers
  409 ``idempotency_in_progress`` instead of running twice. A placeholder left behind by a
  crashed worker is reclaimed after ``IN_FLIGHT_TIMEOUT``.
- Anonymous requests (only the token endpoint) are never recorded: the answer is a secret.
- The body is fingerprinted after parsing (canonical JSON; for multipart the fields and each
  file's name, size and SHA-256), so that a different multipart boundary or JSON whitespace
  does not count as a different request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from .errors import Conflict, PreconditionFailed, ValidationError
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
TTL = dt.timedelta(hours=24)
IN_FLIGHT_TIMEOUT = dt.timedelta(minutes=2)
IN_FLIGHT = 0  # ``status`` of a claimed key whose request has not answered yet
REPLAYED_HEADER = "Idempotent-Replayed"
_KEPT_HEADERS = ("ETag", "Location", "Content-Type")


class _Replay(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, record: IdempotencyRecord):
        self.record = record


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= 255 and key.isascii() and key.isprintable()


def _file_fingerprint(upload) -> list[Any]:
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return [upload.name, upload.size, digest.hexdigest()]


def fingerprint(request) -> str:
    """SHA-256 of the method, path and parsed body of a DRF ``request``."""
    data = request.data  # a parse error propagates: the request fails as it would anyway
    if hasattr(data, "getlist"):
        # Files are fingerprinted by their content below. DRF's request.data holds them too,
        # and serialising an upload would iterate it, leaving the view an exhausted file.
        body: Any = {k: data.getlist(k) for k in sorted(data.keys()) if k not in request.FILES}
    else:
        body = data
    files = {k: [_file_fingerprint(f) for f in request.FILES.getlist(k)] for k in request.FILES}
    canonical = json.dumps(
        [request.method, request.path, body, files],
        cls=JSONEncoder,
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def _claim(request, key: str, digest: str) -> IdempotencyRecord:
    """Claim ``key`` for this request, or raise ``_Replay`` / an error when it is taken."""
    user = request.user
    now = timezone.now()
    # Forget this user's expired keys as we go, so the table holds about a day of keys.
    IdempotencyRecord.objects.filter(user=user, created_at__lt=now - TTL).delete()
    for _attempt in range(2):
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is not None:
            expired = record.created_at < now - TTL
            stuck = record.status == IN_FLIGHT and record.created_at < now - IN_FLIGHT_TIMEOUT
            if expired or stuck:
                IdempotencyRecord.objects.filter(pk=record.pk).delete()
                continue
            if record.body_sha256 != digest:
                raise PreconditionFailed(
                    _("This Idempotency-Key was used for a different request."),
                    code="idempotency_key_reused",
                    fields={HEADER: [_("Use a new key for a different request.")]},
                )
            if record.status == IN_FLIGHT:
                raise Conflict(
                    _("A request with this Idempotency-Key is still being processed."),
                    code="idempotency_in_progress",
                )
            raise _Replay(record)
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user=user,
                    key=key,
                    method=request.method,
                    path=request.path[:512],
                    body_sha256=digest,
                    status=IN_FLIGHT,
                    response=None,
                    headers={},
                )
        except IntegrityError:
            continue  # a concurrent request claimed it first: look again
    raise Conflict(
        _("A request with this Idempotency-Key is still being processed."),
        code="idempotency_in_progress",
    )


def _store(record: IdempotencyRecord, response) -> None:
    data = getattr(response, "data", None)
    body = json.dumps(data, cls=JSONEncoder, ensure_ascii=False) if data is not None else None
    headers = {h: response[h] for h in _KEPT_HEADERS if response.has_header(h)}
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=response.status_code, response=body, headers=headers
    )


def _release(record: IdempotencyRecord) -> None:
    IdempotencyRecord.objects.filter(pk=record.pk, status=IN_FLIGHT).delete()


def _replay_response(record: IdempotencyRecord) -> Response:
    headers = {k: v for k, v in record.headers.items() if k != "Content-Type"}
    headers[REPLAYED_HEADER] = "true"
    data = json.loads(record.response) if record.response is not None else None
    return Response(data, status=record.status, headers=headers)


class IdempotencyMixin:
    """Mix into every API view (before the DRF view class). Set ``idempotent = False`` on a
    view whose answers must never be stored (the token endpoint)."""

    idempotent = True
    _idempotency_record: IdempotencyRecord | None = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self._idempotency_record = None
        key = request.headers.get(HEADER)
        if (
            key is None
            or not self.idempotent
            or request.method not in UNSAFE_METHODS
            or not request.user.is_authenticated
            or not self._handles(request.method)
        ):
            return
        key = key.strip()
        if not _valid_key(key):
            raise ValidationError(
                _("The Idempotency-Key header is invalid."),
                fields={HEADER: [_("1 to 255 printable ASCII characters.")]},
            )
        self._idempotency_record = _claim(request, key, fingerprint(request))

    def _handles(self, method: str) -> bool:
        """Whether this view answers ``method`` (as DRF's dispatch decides): a method it does
        not is a 405 whatever the key, and nothing is claimed for it."""
        name = method.lower()
        return name in self.http_method_names and hasattr(self, name)  # type: ignore[attr-defined]

    def handle_exception(self, exc):
        if isinstance(exc, _Replay):
            return _replay_response(exc.record)
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            if 200 <= response.status_code < 300:
                _store(record, response)
            else:
                _release(record)
        return response

    def dispatch(self, request, *args, **kwargs):
        try:
            return super().dispatch(request, *args, **kwargs)
        except BaseException:
            # An unexpected error (a 500): release the key so that a retry can run.
            record, self._idempotency_record = self._idempotency_record, None
            if record is not None:
                _release(record)
            raise

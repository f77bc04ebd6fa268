"""The base of every API view (idempotency, parsers, body limits, pagination, schema helpers)
and the audit endpoints."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt
from django_filters import rest_framework as df
from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.exceptions import ParseError
from rest_framework.generics import GenericAPIView
from rest_framework.pagination import BasePagination
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from . import audit, selectors
from .api import Pagination
from .errors import (
    ApplicationError,
    NotFound,
    PermissionDenied,
    StalePrecondition,
    TooLarge,
    ValidationError,
)
from .idempotency import IdempotencyMixin
from .models import AuditEvent
from .validation import in_utc

# ---------------------------------------------------------------- plumbing


class ApiPagination(Pagination):
    """``?page=`` / ``?page_size=`` (max 200): a page or page size that is not a positive whole
    number is a 400 naming it (empty: not given); a page size above 200 is taken as 200."""

    def get_page_number(self, request, paginator):
        raw = request.query_params.get(self.page_query_param) or "1"
        if raw in self.last_page_strings:
            return raw
        return str(_positive_whole_number(self.page_query_param, raw, most=None))

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if not raw:
            return self.page_size
        return _positive_whole_number(self.page_size_query_param, raw, most=self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        try:
            return super().paginate_queryset(queryset, request, view)
        except DRFNotFound:
            raise DRFNotFound(_("There is no such page.")) from None

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"]["minimum"] = 1
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = _(
                    "Number of results per page, at most 200 (a larger one is 200)."
                )
        return parameters


def _positive_whole_number(name: str, raw: str, *, most: int | None) -> int:
    """``raw`` as a whole number from 1, at most ``most`` (a larger one is ``most``); without
    ``most``, nine digits at most. Anything else is a 400 naming ``name``."""
    digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
    if not digits or (most is None and len(digits) > 9):
        raise ValidationError(
            _("Some fields are invalid."),
            fields={name: [_("A positive whole number is required.")]},
        )
    return int(digits) if most is None or len(digits) <= 9 and int(digits) <= most else most


class FlagField(forms.NullBooleanField):
    """``true``/``1`` or ``false``/``0`` (any case), None when absent or empty; anything else is
    invalid (Django's NullBooleanField reads an unknown word as "absent": a typo such as
    ``?open=ture`` would silently list everything)."""

    def to_python(self, value):
        raw = "" if value is None else str(value).strip().lower()
        if raw == "":
            return None
        if raw in ("true", "1"):
            return True
        if raw in ("false", "0"):
            return False
        raise forms.ValidationError(_("true or false."), code="invalid")

    def validate(self, value):
        pass


class FlagFilter(df.BooleanFilter):
    """A true/false filter that refuses any other value (400 naming it)."""

    field_class = FlagField

    def __init__(self, *args, **kwargs):
        # A text widget, so that the raw value reaches to_python: django-filter's own widget
        # maps an unknown word to None before the field sees it.
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


def query_flag(request, name: str) -> bool:
    """A true/false query parameter read as ``FlagField`` reads it, false when absent or
    empty; anything else is a 400 naming it."""
    try:
        return bool(FlagField().to_python(request.query_params.get(name)))
    except forms.ValidationError as exc:
        raise ValidationError(
            _("Some fields are invalid."), fields={name: list(exc.messages)}
        ) from None


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    # The API's field "fields" shadows Serializer.fields (only documents the error schema).
    fields = serializers.DictField(  # type: ignore[assignment]
        child=serializers.ListField(child=serializers.CharField())
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


_ERROR_TEXT = {
    400: gettext_lazy("Malformed or invalid input; `fields` names the bad fields."),
    401: gettext_lazy("Not authenticated."),
    403: gettext_lazy("Authenticated but not allowed."),
    404: gettext_lazy("Not found, or not visible to you."),
    409: gettext_lazy("State conflict: not allowed from the current state."),
    412: gettext_lazy("`If-Match` names a version that is no longer current."),
    413: gettext_lazy("The upload is larger than the limit."),
    415: gettext_lazy("Unsupported content type."),
    422: gettext_lazy("A business precondition is not met, or an Idempotency-Key was reused."),
    429: gettext_lazy("Too many failed attempts."),
    503: gettext_lazy(
        "A service changeflow relies on (the directory, the object storage) does not answer; "
        "try again later."
    ),
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema responses for the given error statuses (401 is always included)."""
    wanted = sorted({401, *codes})
    return {c: OpenApiResponse(ErrorSerializer, description=_ERROR_TEXT[c]) for c in wanted}


IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    # What core.idempotency accepts: 1 to 255 printable ASCII characters; as in any header
    # value, none of them a space at either end.
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]([ -~]*[!-~])?$"},
    OpenApiParameter.HEADER,
    required=False,
    description=gettext_lazy(
        "Repeats of this request (same user, key and body) within 24 h return the first "
        "successful answer and change nothing. Failed requests are not stored. Reusing a key "
        "for a different request answers 422."
    ),
)

# A versioned object's optimistic lock, as headers: the ETag a read answers (``etag_header``)
# and the If-Match a write may send back.
IF_MATCH_PARAM = OpenApiParameter(
    "If-Match", OpenApiTypes.STR, OpenApiParameter.HEADER, required=False,
    description=gettext_lazy("The ETag you read; a stale one answers 412 and changes nothing."),
)  # fmt: skip


def etag_header(description, statuses: tuple[int, ...] = (200,)) -> OpenApiParameter:
    """The ETag header of the answers ``statuses``; ``description`` says whose version it is."""
    return OpenApiParameter(
        "ETag", OpenApiTypes.STR, OpenApiParameter.HEADER, response=list(statuses),
        description=description,
    )  # fmt: skip


class ApiView(IdempotencyMixin, GenericAPIView):
    """Base of every API view: JSON in, idempotent writes, bodies within the limits."""

    parser_classes = [JSONParser]
    # JSON only: the interactive documentation is /api/v1/docs/, not DRF's browsable API.
    renderer_classes = [JSONRenderer]
    # None on a view that answers a plain list (documented as an array, not a page).
    pagination_class: type[BasePagination] | None = ApiPagination
    max_body_bytes: int | None = None  # None: settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    def initial(self, request, *args, **kwargs):
        if any("\x00" in str(v) for v in kwargs.values()):
            # No key contains NUL, and PostgreSQL refuses it in a query: just "not found".
            raise NotFound(_("Not found."))
        self.check_body_size(request)
        super().initial(request, *args, **kwargs)

    def check_body_size(self, request) -> None:
        """Refuse a body over the limit before reading it (413, never a 400/500 from Django)."""
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = self.max_body_bytes or settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit and length > limit:
            raise TooLarge(
                _("The request body is larger than the limit of %(mb).1f MB.")
                % {"mb": limit / 1048576}
            )

    def handle_exception(self, exc):
        if isinstance(exc, RequestDataTooBig):
            exc = TooLarge(_("The request body is too large."))
        elif isinstance(exc, TooManyFieldsSent):
            exc = ValidationError(_("The request has too many fields."))
        elif isinstance(exc, RecursionError):  # JSON nested deeper than the parser can go
            exc = ParseError(_("The JSON is nested too deeply."))
        return super().handle_exception(exc)

    def get_validated(self, serializer_class, data=None, **kwargs):
        serializer = serializer_class(
            data=self.request.data if data is None else data,
            context=self.get_serializer_context(),
            **kwargs,
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginated(self, queryset, serializer_class, **context):
        page = self.paginate_queryset(queryset)
        ctx = {**self.get_serializer_context(), **context}
        return self.get_paginated_response(serializer_class(page, many=True, context=ctx).data)


# Multipart framing around an uploaded file: field headers and boundaries, well under this.
MULTIPART_OVERHEAD = 64 * 1024


class FileUploadView(ApiView):
    """An API view whose POST carries one file (multipart, field ``file``): the body may be
    as large as the file's own limit (``upload_max_bytes``) plus the multipart framing."""

    def upload_max_bytes(self) -> int:
        raise NotImplementedError

    def check_body_size(self, request) -> None:
        if request.method == "POST":
            self.max_body_bytes = self.upload_max_bytes() + MULTIPART_OVERHEAD
        super().check_body_size(request)

    def uploaded_file(self, request):
        """The POST's ``file``; a POST without it is a 400 naming the field."""
        upload = request.FILES.get("file")
        if upload is None:
            raise ValidationError(_("No file was sent."), fields={"file": [_("Required.")]})
        return upload

    def uploaded(self, request, serializer_class) -> dict:
        """The POST's fields validated by ``serializer_class`` (a ``StrictSerializer`` with a
        ``file`` field: any other field is a 400 naming it), the file checked first."""
        upload = self.uploaded_file(request)
        fields = {k: v for k, v in request.data.items() if k != "file"}
        return self.get_validated(serializer_class, data={**fields, "file": upload})


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """Any other path under /api/v1/: a JSON 404 in the error shape, not an HTML page.

    CSRF-exempt like every API view: it changes nothing, and otherwise a POST/PATCH/DELETE to
    an unknown API path from a client that sends a cookie got the web's HTML "Form expired"
    403 instead of this 404."""
    from django.http import JsonResponse

    from .api import error_body

    return JsonResponse(error_body("not_found", _("No such endpoint.")), status=404)


class StrictSerializer(serializers.Serializer):
    """A serializer that names unknown fields instead of ignoring them (typos are 400s)."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - {n for n, f in self.fields.items() if not f.read_only})
            if unknown:
                raise serializers.ValidationError(
                    {k: [_("Unknown field.")] for k in unknown}, code="unknown_field"
                )
        return super().to_internal_value(data)


def documented_as[F: serializers.Field](field_class: type[F], schema: dict) -> type[F]:
    """``field_class`` documented as ``schema`` in the OpenAPI document (say, an enum that a
    service checks), its validation unchanged. A subclass: DRF copies a serializer's fields
    from their arguments, which would drop an annotation made on a field instance."""
    return extend_schema_field(schema)(type(field_class.__name__, (field_class,), {}))


class StrictSerializerSchema(OpenApiSerializerExtension):
    """The schema says what ``StrictSerializer`` does: its request components (``...Request``,
    ``Patched...Request``) carry ``additionalProperties: false``, so that clients and the
    fuzzing know an unknown field is refused. Not its responses: the server may add fields."""

    target_class = StrictSerializer
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        # self.target: the subclass (target_class, the default's, would be StrictSerializer).
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
        return schema


# ---------------------------------------------------------------- audit


class AuditEventSerializer(serializers.ModelSerializer):
    redacted = serializers.SerializerMethodField(
        help_text=gettext_lazy(
            "True when before or after named a change request of a project you cannot see, "
            "now replaced by words saying so (the hash is the stored event's)."
        )
    )

    class Meta:
        model = AuditEvent
        fields = [
            "id", "seq", "at", "actor", "action", "object_type", "object_key", "project",
            "before", "after", "channel", "ip", "internal", "prev_hash", "hash", "redacted",
        ]  # fmt: skip
        read_only_fields = fields

    def get_redacted(self, event: AuditEvent) -> bool:
        return bool(getattr(event, "redacted", False))


class AuditFilter(df.FilterSet):
    project = df.CharFilter(help_text=gettext_lazy("Project key."))
    actor = df.CharFilter(help_text=gettext_lazy("Username (or `board`)."))
    object = df.CharFilter(help_text=gettext_lazy("Object key, e.g. `ACME-12`."))
    action = df.CharFilter(help_text=gettext_lazy("Event action, e.g. `cr.submitted`."))
    since = df.IsoDateTimeFilter(help_text=gettext_lazy("At or after (ISO 8601)."))
    until = df.IsoDateTimeFilter(help_text=gettext_lazy("Before (ISO 8601)."))
    ordering = df.ChoiceFilter(
        choices=[("seq", "seq"), ("-seq", "-seq")],
        help_text=gettext_lazy("`-seq` (newest first, the default) or `seq`."),
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []


def validated_filters(filterset_class, request) -> dict:
    filterset = filterset_class(request.query_params, queryset=filterset_class.Meta.model.objects)
    if not filterset.is_valid():
        fields = {k: [str(m) for m in v] for k, v in filterset.errors.items()}
        raise ValidationError(_("Some filters are invalid."), fields=fields)
    cleaned = {k: v for k, v in filterset.form.cleaned_data.items() if v not in (None, "", [])}
    for name, value in cleaned.items():
        if isinstance(value, dt.datetime) and timezone.is_aware(value):
            cleaned[name] = in_utc(value)
            if cleaned[name] is None:
                raise ValidationError(
                    _("Some filters are invalid."), fields={name: [_("Out of range.")]}
                )
    return cleaned


class AuditListView(ApiView):
    """The audit trail of the projects whose trail you may read (PM, tech lead, QA; site
    admins everything)."""

    filter_backends = [df.DjangoFilterBackend]
    filterset_class = AuditFilter
    queryset = AuditEvent.objects.none()
    serializer_class = AuditEventSerializer

    @extend_schema(
        operation_id="audit_list",
        responses={200: AuditEventSerializer(many=True), **errors(400, 403, 404)},
    )
    def get(self, request):
        filters = validated_filters(AuditFilter, request)
        qs = selectors.audit_list(user=request.user, filters=filters)
        page = selectors.redact_unseen(self.paginate_queryset(qs) or [], user=request.user)
        data = AuditEventSerializer(page, many=True, context=self.get_serializer_context()).data
        return self.get_paginated_response(data)


class AuditVerifySerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    events = serializers.IntegerField()
    head = serializers.CharField(help_text=gettext_lazy("SHA-256 hex of the last good event."))
    broken_id = serializers.IntegerField(required=False, help_text=gettext_lazy("When not ok."))
    broken_seq = serializers.IntegerField(required=False)
    reason = serializers.CharField(required=False)


class AuditVerifyView(ApiView):
    """Walk the whole hash chain (site admins and project managers of any project)."""

    @extend_schema(
        operation_id="audit_verify", responses={200: AuditVerifySerializer, **errors(403)}
    )
    def get(self, request):
        if not selectors.may_verify(request.user):
            raise PermissionDenied(_("Only site administrators and project managers may do this."))
        return Response(audit.verify().as_dict())


__all__ = ["ApiView", "ApplicationError", "StrictSerializer", "errors", "validated_filters"]


def versioned(data, version: int, code: int = 200) -> Response:
    """An object's representation with its version as the ETag, which ``If-Match`` sends back
    (see ``expected_version``)."""
    return Response(data, status=code, headers={"ETag": f'"{version}"'})


def expected_version(request, current: int, stale: str) -> int | None:
    """The version an ``If-Match`` header names (None when absent or ``*``), for a write that
    must not overwrite someone else's; ``StalePrecondition`` (412, message ``stale``) when the
    object has moved on. ETags are the object's version, weak or strong, quoted or not."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() == "*":
        return None
    tags = [t.strip().removeprefix("W/").strip('"') for t in raw.split(",")]
    if str(current) in tags:
        return current
    raise StalePrecondition(stale)


def document_shared_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: the answers that shared machinery gives for every
    operation that uses it, documented where the views' own ``errors(...)`` left them out.

    - ``Idempotency-Key`` (core.idempotency): a malformed key is a 400, a key reused for a
      different request a 422;
    - ``page`` / ``page_size`` (the paginator): not a positive whole number is a 400, a page
      past the end a 404.
    """
    error = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            names = {p.get("name") for p in operation.get("parameters", [])}
            codes = set()
            if "Idempotency-Key" in names:
                codes |= {400, 422}
            if "page" in names:
                codes |= {400, 404}
            for code in sorted(codes):
                operation["responses"].setdefault(
                    str(code),
                    {
                        "content": {"application/json": {"schema": error}},
                        "description": str(_ERROR_TEXT[code]),
                    },
                )
    return result


def lib_doc_excludes() -> list[type]:
    """drf-spectacular's GET_LIB_DOC_EXCLUDES: its own list (DRF's classes), and our base
    classes, whose docstrings are about them and not about what inherits them (an operation or
    component without a docstring of its own gets no description rather than theirs)."""
    from drf_spectacular.plumbing import get_lib_doc_excludes

    return [*get_lib_doc_excludes(), ApiView, StrictSerializer]

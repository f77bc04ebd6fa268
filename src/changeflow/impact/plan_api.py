"""API of project plans and Monte Carlo simulations. Thin: select, check the role with the
services' own rule (``plans.require_planner``) before the body is read, parse, one service."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, TypedDict

from django.core.exceptions import ImproperlyConfigured
from django.db.models import QuerySet
from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.response import Response

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project
from changeflow.changes import selectors as change_selectors
from changeflow.changes.models import ChangeRequest
from changeflow.changes.serializers import AssessmentSerializer
from changeflow.core.api_views import (
    IDEMPOTENCY_PARAM,
    ApiView,
    StrictSerializer,
    documented_as,
    errors,
)
from changeflow.core.errors import Conflict, NotFound, ValidationError

from . import charts, plan_io, plans
from .models import Calendar, RunStatus, SimulationRun

# ---------------------------------------------------------------- serializers


class _DecimalOptions(TypedDict):
    """Keyword arguments shared by the decimal fields (typed so ``**`` unpacking checks)."""

    max_digits: int
    decimal_places: int
    min_value: int
    coerce_to_string: bool


DAYS: _DecimalOptions = {
    "max_digits": 9,
    "decimal_places": 2,
    "min_value": 0,
    "coerce_to_string": False,
}
MONEY: _DecimalOptions = {
    "max_digits": 14,
    "decimal_places": 2,
    "min_value": 0,
    "coerce_to_string": False,
}


class DependsOnSerializer(serializers.Serializer):
    task = serializers.CharField(max_length=40)
    lag = serializers.DecimalField(required=False, default=Decimal(0), **DAYS)


class PlanTaskSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=40, help_text=gettext_lazy("The task's id."))
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    optimistic = serializers.DecimalField(help_text=gettext_lazy("Days."), **DAYS)
    most_likely = serializers.DecimalField(help_text=gettext_lazy("Days."), **DAYS)
    pessimistic = serializers.DecimalField(help_text=gettext_lazy("Days."), **DAYS)
    rate = serializers.DecimalField(
        required=False, default=Decimal(0), help_text=gettext_lazy("Cost per day."), **MONEY
    )
    fixed_cost = serializers.DecimalField(required=False, default=Decimal(0), **MONEY)
    depends_on = DependsOnSerializer(
        many=True, required=False, default=list,
        help_text=gettext_lazy("Finish-to-start predecessors with their lag in days."),
    )  # fmt: skip


class PlanNumberField(serializers.Field):
    """A figure of a plan (days or money): typed as a number, its range documented. The range
    and the rounding are the plan services' (``plan_io.number``: their messages name the task),
    so only a value that is no number at all is refused here (a numeric string is one, as in a
    plan file)."""

    def __init__(self, *, what: StrOrPromise, **kwargs):
        self.what = what
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if plan_io.as_decimal(data) is None:
            raise serializers.ValidationError(
                _("%(what)s: %(value)r is not a number") % {"what": self.what, "value": data}
            )
        return data

    def to_representation(self, value):
        return value


def _number_schema(limit: Decimal) -> dict:
    return {"type": "number", "minimum": 0, "maximum": float(limit)}


DaysField = documented_as(PlanNumberField, _number_schema(plan_io.MAX_DAYS))
MoneyField = documented_as(PlanNumberField, _number_schema(plan_io.MAX_MONEY))


class TaskLinkSerializer(StrictSerializer):
    """A finish-to-start link to a task of the plan, with the wait after it."""

    task = serializers.CharField(help_text=gettext_lazy("The task's id."))
    lag = DaysField(what=gettext_lazy("lag"), required=False, help_text=gettext_lazy(
        "Days, ≥ 0 (default 0)."))  # fmt: skip


_LINK_SCHEMA = {
    "oneOf": [
        {"type": "string"},
        {
            "type": "object",
            "properties": {"task": {"type": "string"}, "lag": _number_schema(plan_io.MAX_DAYS)},
            "required": ["task"],
            "additionalProperties": False,
        },
    ]
}


@extend_schema_field(_LINK_SCHEMA)
class TaskLinkField(serializers.Field):
    """A task's id, or ``{task, lag}`` (closed: an unknown key is named)."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            return data
        if not isinstance(data, dict):
            raise serializers.ValidationError(_('A task id, or an object {"task", "lag"}.'))
        link = TaskLinkSerializer(data=data)
        if not link.is_valid():
            raise serializers.ValidationError(link.errors)
        return dict(link.validated_data)

    def to_representation(self, value):
        return value


class TaskFiguresSerializer(StrictSerializer):
    """A task's three-point estimate and costs, as every task body sends them."""

    optimistic = DaysField(what=gettext_lazy("optimistic"), help_text=gettext_lazy("Days, ≥ 0."))
    most_likely = DaysField(
        what=gettext_lazy("most likely"), help_text=gettext_lazy("Days, ≥ optimistic.")
    )
    pessimistic = DaysField(
        what=gettext_lazy("pessimistic"), help_text=gettext_lazy("Days, ≥ most likely.")
    )
    rate = MoneyField(
        what=gettext_lazy("cost per day"),
        required=False,
        allow_null=True,
        help_text=gettext_lazy("Cost per day, ≥ 0 (default 0)."),
    )
    fixed_cost = MoneyField(
        what=gettext_lazy("fixed cost"),
        required=False,
        allow_null=True,
        help_text=gettext_lazy("A one-off cost, ≥ 0 (default 0)."),
    )


class PlanTaskWriteSerializer(TaskFiguresSerializer):
    """A task of a whole plan (``PUT .../plan/``) or of a change request's implementation."""

    key = serializers.CharField(
        allow_blank=True,
        trim_whitespace=False,
        help_text=gettext_lazy("The task's id, unique in the plan."),
    )
    name = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    depends_on = serializers.ListField(
        child=TaskLinkField(), required=False, max_length=plan_io.MAX_TASKS,
        help_text=gettext_lazy("Finish-to-start predecessors: ids, or {task, lag}."),
    )  # fmt: skip


class PlanMilestoneWriteSerializer(StrictSerializer):
    name = serializers.CharField(allow_blank=True)
    task = serializers.CharField(allow_blank=True, help_text=gettext_lazy(
        "The task whose finish meets the milestone."))  # fmt: skip
    target_date = serializers.DateField()


class TaskWriteSerializer(TaskFiguresSerializer):
    """The task's own fields (its dependencies are edited on their own)."""

    key = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class TaskPatchSerializer(TaskWriteSerializer):
    key = serializers.CharField(max_length=40, required=False)
    optimistic = DaysField(what=gettext_lazy("optimistic"), required=False)
    most_likely = DaysField(what=gettext_lazy("most likely"), required=False)
    pessimistic = DaysField(what=gettext_lazy("pessimistic"), required=False)


class DependencySerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    predecessor = serializers.CharField(max_length=40)
    successor = serializers.CharField(max_length=40)
    lag = serializers.DecimalField(required=False, default=Decimal(0), **DAYS)


class DependencyWriteSerializer(StrictSerializer):
    predecessor = serializers.CharField(max_length=40)
    successor = serializers.CharField(max_length=40)
    lag = DaysField(
        what=gettext_lazy("lag"),
        required=False,
        allow_null=True,
        help_text=gettext_lazy("Days, ≥ 0."),
    )


class MilestoneSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=200)
    task = serializers.CharField(max_length=40)
    target_date = serializers.DateField()


class MilestoneWriteSerializer(StrictSerializer):
    name = serializers.CharField(max_length=200)
    task = serializers.CharField(max_length=40)
    target_date = serializers.CharField(help_text=gettext_lazy("YYYY-MM-DD."))


class PlanSerializer(serializers.Serializer):
    project = serializers.CharField(read_only=True)
    start_date = serializers.DateField()
    calendar = serializers.ChoiceField(choices=Calendar.choices)
    currency = serializers.CharField(max_length=3)
    version = serializers.IntegerField(read_only=True)
    tasks = PlanTaskSerializer(many=True)
    dependencies = DependencySerializer(many=True, read_only=True)
    milestones = MilestoneSerializer(many=True)


class PlanWriteSerializer(StrictSerializer):
    """A whole plan: every task with its dependencies, and the milestones."""

    start_date = serializers.CharField(required=False, help_text=gettext_lazy("YYYY-MM-DD."))
    calendar = serializers.ChoiceField(choices=Calendar.choices, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    tasks: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=PlanTaskWriteSerializer(), max_length=plan_io.MAX_TASKS
    )
    milestones = PlanMilestoneWriteSerializer(many=True, required=False, default=list)


class PlanHeaderSerializer(StrictSerializer):
    start_date = serializers.CharField(required=False, help_text=gettext_lazy("YYYY-MM-DD."))
    calendar = serializers.ChoiceField(choices=Calendar.choices, required=False)
    currency = serializers.CharField(max_length=3, required=False)


class PlanImportSerializer(StrictSerializer):
    file = serializers.FileField(
        help_text=gettext_lazy("CSV or XLSX: id, name, optimistic, most_likely, pessimistic, "
                               "depends_on, rate, fixed_cost, milestone, target_date.")
    )  # fmt: skip
    start_date = serializers.CharField(required=False)
    calendar = serializers.ChoiceField(choices=Calendar.choices, required=False)
    currency = serializers.CharField(max_length=3, required=False)
    dry_run = serializers.BooleanField(required=False, default=False)


class PlanImportResultSerializer(serializers.Serializer):
    dry_run = serializers.BooleanField()
    tasks = serializers.IntegerField()
    dependencies = serializers.IntegerField()
    milestones = serializers.IntegerField()
    version = serializers.IntegerField(allow_null=True)


class ChangeTaskSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    optimistic = serializers.FloatField(min_value=0)
    most_likely = serializers.FloatField(min_value=0)
    pessimistic = serializers.FloatField(min_value=0)
    rate = serializers.FloatField(min_value=0, required=False)
    fixed_cost = serializers.FloatField(min_value=0, required=False)
    depends_on = DependsOnSerializer(many=True, required=False)


class AttachSerializer(serializers.Serializer):
    task = serializers.CharField(max_length=40)
    lag = serializers.FloatField(min_value=0, required=False)


class ChangePlanSerializer(serializers.Serializer):
    change_request = serializers.CharField(read_only=True)
    tasks = ChangeTaskSerializer(many=True)
    after = AttachSerializer(many=True)
    before = serializers.ListField(child=serializers.CharField(max_length=40))
    include_risks = serializers.BooleanField()
    risk_delays = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField(), min_length=3, max_length=3),
        help_text=gettext_lazy("Days [o, m, p] of delay per risk impact 1-5."),
    )
    default_risk_delays = serializers.DictField(
        child=serializers.ListField(child=serializers.FloatField()), read_only=True
    )


class ChangePlanWriteSerializer(StrictSerializer):
    tasks: serializers.ListSerializer[Any] = serializers.ListSerializer(
        child=PlanTaskWriteSerializer(), max_length=500
    )
    after = serializers.ListField(
        child=TaskLinkField(), required=False, default=list, max_length=500,
        help_text=gettext_lazy("Tasks of the plan the change starts after: ids, or {task, lag}."),
    )  # fmt: skip
    before = serializers.ListField(
        child=serializers.CharField(), required=False, default=list, max_length=500,
        help_text=gettext_lazy("Tasks of the plan that wait for the change."),
    )  # fmt: skip
    include_risks = serializers.BooleanField(required=False, default=True)
    risk_delays = serializers.DictField(required=False, default=dict)


class SimulateSerializer(StrictSerializer):
    iterations = serializers.JSONField(
        required=False,
        help_text=gettext_lazy("Default 10,000; over the configured maximum answers 422."),
    )
    seed = serializers.JSONField(
        required=False,
        help_text=gettext_lazy("The same seed repeats a run exactly; default: a fresh one."),
    )


class SimulationRunSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    project = serializers.CharField()
    change_request = serializers.CharField(allow_null=True)
    status = serializers.CharField(help_text=gettext_lazy("queued, running, done or failed."))
    progress = serializers.IntegerField(help_text=gettext_lazy("Percent."))
    background = serializers.BooleanField()
    iterations = serializers.IntegerField()
    seed = serializers.IntegerField()
    created_by = serializers.CharField()
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    error = serializers.CharField()
    result = serializers.JSONField(
        allow_null=True,
        help_text=gettext_lazy(
            "baseline / with_change: finish_days, finish_dates and cost (P50, P80, P95, mean); "
            "finish_shift_days, cost_shift, milestones (miss probabilities), criticality."
        ),
    )
    charts = serializers.DictField(child=serializers.CharField(), allow_null=True)


# ---------------------------------------------------------------- helpers


def _project(request, key: str) -> Project:
    project = account_selectors.project_get(user=request.user, key=key)
    plans.require_plans(request.user, project)
    return project


def _cr(request, key: str) -> ChangeRequest:
    """The change request, when the user may see its plan and simulations (else 404)."""
    cr = change_selectors.change_request_get(user=request.user, key=key)
    plans.require_plans(request.user, cr.project)
    return cr


def _plan(request, key: str):
    project = _project(request, key)
    return project, plans.plan_get(user=request.user, project=project)


def _run_body(request, run) -> dict:
    body = plans.run_data(run)
    if body["change_request"]:
        path = f"/api/v1/change-requests/{body['change_request']}/simulations/{run.pk}/"
    else:  # the plan alone
        path = f"/api/v1/projects/{body['project']}/plan/simulations/{run.pk}/"
    base = request.build_absolute_uri(path)
    body["url"] = base
    body["charts"] = (
        {
            f"{kind}_{fmt}": f"{base}chart.{fmt}?kind={kind}"
            for kind in charts.KINDS
            for fmt in charts.FORMATS
        }  # fmt: skip
        if run.status == RunStatus.DONE
        else None
    )
    return body


TASK_PARAM = OpenApiParameter("task", str, OpenApiParameter.PATH, description="Task id.")
ID_PARAM = OpenApiParameter("id", int, OpenApiParameter.PATH)
# A finished run's chart, of a change request's run or of the plan's own.
CHART_PARAMS = [
    ID_PARAM,
    OpenApiParameter("fmt", str, OpenApiParameter.PATH, enum=list(charts.FORMATS)),
    OpenApiParameter("kind", str, enum=list(charts.KINDS), description=gettext_lazy(
        "histogram (default) or scurve.")),
    OpenApiParameter("metric", str, enum=list(charts.METRICS), description=gettext_lazy(
        "finish (default) or cost.")),
]  # fmt: skip
CHART_RESPONSES: dict[Any, OpenApiResponse] = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY),
    (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY),
    **errors(400, 404, 409),
}
# The 202 of both simulate endpoints.
QUEUED_RESPONSE = OpenApiResponse(SimulationRunSerializer, description=gettext_lazy(
    "Large runs: queued; poll the run's `url` (header Location)."))  # fmt: skip


# ---------------------------------------------------------------- plan


class PlanView(ApiView):
    """A project's plan: members read it; project managers and tech leads replace or edit it."""

    queryset = Project.objects.none()  # types the path's `key` in the schema
    serializer_class = PlanSerializer

    @extend_schema(operation_id="project_plan_retrieve", responses={200: PlanSerializer,
                   **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        _project_, plan = _plan(request, key)
        return Response(PlanSerializer(plans.plan_data(plan)).data)

    @extend_schema(
        operation_id="project_plan_replace",
        request=PlanWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: PlanSerializer, **errors(400, 403, 404, 422)},
    )
    def put(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(PlanWriteSerializer)
        plan = plans.plan_set(user=request.user, project=project, data=dict(data))
        return Response(PlanSerializer(plans.plan_data(plan)).data)

    @extend_schema(
        operation_id="project_plan_update",
        request=PlanHeaderSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: PlanSerializer, **errors(400, 403, 404)},
    )
    def patch(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(PlanHeaderSerializer)
        plan = plans.plan_update(user=request.user, project=project, data=dict(data))
        return Response(PlanSerializer(plans.plan_data(plan)).data)


class PlanImportView(ApiView):
    """Import a whole plan from a CSV or XLSX file: all or nothing, every bad row named."""

    queryset = Project.objects.none()
    parser_classes = [MultiPartParser]

    @extend_schema(
        operation_id="project_plan_import",
        request={"multipart/form-data": PlanImportSerializer},
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: PlanImportResultSerializer, **errors(400, 403, 404, 413, 422)},
    )
    def post(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)  # before the body: 403, not 415
        data = self.get_validated(PlanImportSerializer)
        upload = data["file"]
        header = {k: data[k] for k in ("start_date", "calendar", "currency") if k in data}
        plan, clean = plans.plan_import(
            user=request.user, project=project, name=upload.name, content=upload.read(),
            header=header, dry_run=data["dry_run"],
        )  # fmt: skip
        return Response({
            "dry_run": data["dry_run"], "tasks": len(clean.tasks),
            "dependencies": sum(len(t.depends_on) for t in clean.tasks),
            "milestones": len(clean.milestones), "version": plan.version if plan else None,
        })  # fmt: skip


class PlanTaskListView(ApiView):
    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()
    serializer_class = PlanTaskSerializer

    @extend_schema(operation_id="project_plan_tasks_list",
                   responses={200: PlanTaskSerializer(many=True), **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        _p, plan = _plan(request, key)
        return Response(PlanTaskSerializer(plans.plan_data(plan)["tasks"], many=True).data)

    @extend_schema(
        operation_id="project_plan_tasks_create",
        request=TaskWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: PlanTaskSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(TaskWriteSerializer)
        task = plans.task_save(user=request.user, project=project, data=dict(data))
        return Response(plans.task_data(task, [], {}), status=status.HTTP_201_CREATED)


class PlanTaskDetailView(ApiView):
    queryset = Project.objects.none()
    serializer_class = PlanTaskSerializer

    def _task(self, request, key: str, task: str):
        project, plan = _plan(request, key)
        return project, plan, plans.task_get(plan=plan, key=task)

    @extend_schema(operation_id="project_plan_tasks_retrieve", parameters=[TASK_PARAM],
                   responses={200: PlanTaskSerializer, **errors(404)})  # fmt: skip
    def get(self, request, key: str, task: str):
        _p, plan, row = self._task(request, key, task)
        return Response(next(t for t in plans.plan_data(plan)["tasks"] if t["key"] == row.key))

    @extend_schema(
        operation_id="project_plan_tasks_update",
        request=TaskPatchSerializer,
        parameters=[TASK_PARAM, IDEMPOTENCY_PARAM],
        responses={200: PlanTaskSerializer, **errors(400, 403, 404)},
    )
    def patch(self, request, key: str, task: str):
        project, plan, row = self._task(request, key, task)
        plans.require_planner(request.user, project)
        data = self.get_validated(TaskPatchSerializer)
        row = plans.task_save(user=request.user, project=project, data=dict(data), task=row)
        return Response(next(t for t in plans.plan_data(plan)["tasks"] if t["key"] == row.key))

    @extend_schema(
        operation_id="project_plan_tasks_destroy",
        parameters=[TASK_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, key: str, task: str):
        project, _plan_, row = self._task(request, key, task)
        plans.task_delete(user=request.user, project=project, task=row)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanDependencyListView(ApiView):
    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()
    serializer_class = DependencySerializer

    @extend_schema(operation_id="project_plan_dependencies_list",
                   responses={200: DependencySerializer(many=True), **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        _p, plan = _plan(request, key)
        return Response(plans.plan_data(plan)["dependencies"])

    @extend_schema(
        operation_id="project_plan_dependencies_create",
        request=DependencyWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: DependencySerializer, **errors(400, 403, 404, 422)},
    )
    def post(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(DependencyWriteSerializer)
        dep = plans.dependency_create(user=request.user, project=project, **data)
        body = {"id": dep.pk, "predecessor": dep.predecessor.key, "successor": dep.successor.key,
                "lag": float(dep.lag)}  # fmt: skip
        return Response(body, status=status.HTTP_201_CREATED)


class PlanDependencyDetailView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_plan_dependencies_destroy",
        parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, key: str, id: int):
        project = _project(request, key)
        plans.dependency_delete(user=request.user, project=project, pk=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class PlanMilestoneListView(ApiView):
    # A whole, bounded list in one answer: documented as an array, without page parameters.
    pagination_class = None
    queryset = Project.objects.none()
    serializer_class = MilestoneSerializer

    @extend_schema(operation_id="project_plan_milestones_list",
                   responses={200: MilestoneSerializer(many=True), **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        _p, plan = _plan(request, key)
        return Response(MilestoneSerializer(plans.plan_data(plan)["milestones"], many=True).data)

    @extend_schema(
        operation_id="project_plan_milestones_create",
        request=MilestoneWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={201: MilestoneSerializer, **errors(400, 403, 404)},
    )
    def post(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(MilestoneWriteSerializer)
        ms = plans.milestone_create(user=request.user, project=project, **data)
        body = {"id": ms.pk, "name": ms.name, "task": ms.task.key, "target_date": ms.target_date}
        return Response(MilestoneSerializer(body).data, status=status.HTTP_201_CREATED)


class PlanMilestoneDetailView(ApiView):
    queryset = Project.objects.none()

    @extend_schema(
        operation_id="project_plan_milestones_destroy",
        parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
        responses={204: None, **errors(403, 404)},
    )
    def delete(self, request, key: str, id: int):
        project = _project(request, key)
        plans.milestone_delete(user=request.user, project=project, pk=id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------- change requests


class ChangePlanView(ApiView):
    """A change request's implementation tasks and where they attach in the project's plan."""

    queryset = ChangeRequest.objects.none()
    serializer_class = ChangePlanSerializer

    @extend_schema(operation_id="change_requests_change_plan_retrieve",
                   responses={200: ChangePlanSerializer, **errors(404)})  # fmt: skip
    def get(self, request, key: str):
        cr = _cr(request, key)
        return Response(plans.change_plan_data(cr))

    @extend_schema(
        operation_id="change_requests_change_plan_update",
        request=ChangePlanWriteSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={200: ChangePlanSerializer, **errors(400, 403, 404, 422)},
    )
    def put(self, request, key: str):
        cr = _cr(request, key)
        plans.require_planner(request.user, cr.project)
        data = self.get_validated(ChangePlanWriteSerializer)
        plans.change_plan_set(user=request.user, cr=cr, data=dict(data))
        return Response(plans.change_plan_data(cr))


class SimulateView(ApiView):
    """Run the Monte Carlo simulation of the project's plan without and with the change."""

    queryset = ChangeRequest.objects.none()
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="change_requests_simulate",
        request=SimulateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            200: OpenApiResponse(SimulationRunSerializer, description=gettext_lazy(
                "Small runs: computed at once.")),
            202: QUEUED_RESPONSE,
            **errors(400, 403, 404, 422),
        },
    )  # fmt: skip
    def post(self, request, key: str):
        cr = _cr(request, key)
        plans.require_planner(request.user, cr.project)
        data = self.get_validated(SimulateSerializer)
        run = plans.simulation_start(
            user=request.user, project=cr.project, cr=cr,
            iterations=data.get("iterations"), seed=data.get("seed"),
        )  # fmt: skip
        return _started(request, run)


class PlanSimulateView(ApiView):
    """Run the Monte Carlo simulation of the project's plan alone: its baseline forecast."""

    queryset = ChangeRequest.objects.none()
    parser_classes = [JSONParser]

    @extend_schema(
        operation_id="projects_plan_simulate",
        request=SimulateSerializer,
        parameters=[IDEMPOTENCY_PARAM],
        responses={
            200: OpenApiResponse(SimulationRunSerializer, description=gettext_lazy(
                "Small runs: computed at once. The result has the baseline only "
                "(with_change and the shifts are null).")),
            202: QUEUED_RESPONSE,
            **errors(400, 403, 404, 422),
        },
    )  # fmt: skip
    def post(self, request, key: str):
        project = _project(request, key)
        plans.require_planner(request.user, project)
        data = self.get_validated(SimulateSerializer)
        run = plans.simulation_start(
            user=request.user, project=project, cr=None,
            iterations=data.get("iterations"), seed=data.get("seed"),
        )  # fmt: skip
        return _started(request, run)


class PlanSimulationListView(ApiView):
    queryset = ChangeRequest.objects.none()
    serializer_class = SimulationRunSerializer

    @extend_schema(
        operation_id="projects_plan_simulations_list",
        responses={200: SimulationRunSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        project = _project(request, key)
        return _run_list(self, request, plans.plan_run_list(user=request.user, project=project))


class PlanSimulationDetailView(ApiView):
    queryset = ChangeRequest.objects.none()

    @extend_schema(operation_id="projects_plan_simulations_retrieve", parameters=[ID_PARAM],
                   responses={200: SimulationRunSerializer, **errors(404)})  # fmt: skip
    def get(self, request, key: str, id: int):
        project = _project(request, key)
        run = plans.plan_run_get(user=request.user, project=project, pk=id)
        return Response(_run_body(request, run))


def _started(request, run: SimulationRun) -> Response:
    """A started run: 200 with its result when computed at once, else 202 with its url."""
    body = _run_body(request, run)
    if run.background:
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": body["url"]})
    return Response(body)


def _run_list(view: ApiView, request, qs: QuerySet[SimulationRun]) -> Response:
    """The requested page of runs; ``ApiView`` always paginates (its paginator has a size)."""
    page = view.paginate_queryset(qs.select_related("project", "change_request", "created_by"))
    if page is None:
        raise ImproperlyConfigured("simulation lists need a paginator with a page size")
    return view.get_paginated_response([_run_body(request, r) for r in page])


class SimulationListView(ApiView):
    queryset = ChangeRequest.objects.none()
    serializer_class = SimulationRunSerializer

    @extend_schema(
        operation_id="change_requests_simulations_list",
        responses={200: SimulationRunSerializer(many=True), **errors(400, 404)},
    )
    def get(self, request, key: str):
        cr = _cr(request, key)
        return _run_list(self, request, plans.run_list(user=request.user, cr=cr))


class SimulationDetailView(ApiView):
    queryset = ChangeRequest.objects.none()

    @extend_schema(operation_id="change_requests_simulations_retrieve", parameters=[ID_PARAM],
                   responses={200: SimulationRunSerializer, **errors(404)})  # fmt: skip
    def get(self, request, key: str, id: int):
        cr = _cr(request, key)
        return Response(_run_body(request, plans.run_get(user=request.user, cr=cr, pk=id)))


class SimulationChartView(ApiView):
    """A finished run's histogram or S-curve, PNG or SVG."""

    queryset = ChangeRequest.objects.none()

    def perform_content_negotiation(self, request, force=False):
        return super().perform_content_negotiation(request, force=True)

    @extend_schema(
        operation_id="change_requests_simulations_chart",
        parameters=CHART_PARAMS,
        responses=CHART_RESPONSES,
    )
    def get(self, request, key: str, id: int, fmt: str):
        cr = _cr(request, key)
        run = plans.run_get(user=request.user, cr=cr, pk=id)
        return chart_response(run, fmt, request.query_params)


class PlanSimulationChartView(SimulationChartView):
    """A finished plan run's histogram or S-curve, PNG or SVG."""

    @extend_schema(
        operation_id="projects_plan_simulations_chart",
        parameters=CHART_PARAMS,
        responses=CHART_RESPONSES,
    )
    def get(self, request, key: str, id: int, fmt: str):
        project = _project(request, key)
        run = plans.plan_run_get(user=request.user, project=project, pk=id)
        return chart_response(run, fmt, request.query_params)


def chart_response(run, fmt: str, params) -> HttpResponse:
    """The chart of ``run`` (already permission-checked) in ``fmt``; shared with the page."""
    kind = params.get("kind") or "histogram"
    metric = params.get("metric") or "finish"
    fields = {}
    if fmt not in charts.FORMATS:
        fields["format"] = [_("png or svg.")]
    if kind not in charts.KINDS:
        fields["kind"] = [_("One of: %s") % ", ".join(charts.KINDS)]
    if metric not in charts.METRICS:
        fields["metric"] = [_("One of: %s") % ", ".join(charts.METRICS)]
    if fields:
        raise ValidationError(_("Some fields are invalid."), fields=fields)
    if run.status != RunStatus.DONE or not run.result:
        raise Conflict(_("The simulation has not finished."), code="not_ready")
    body = charts.render(run.result, kind=kind, fmt=fmt, metric=metric)
    response = HttpResponse(body, content_type=charts.FORMATS[fmt])
    response["Cache-Control"] = "private, max-age=300"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))  # labels are translated
    response["Content-Disposition"] = f'inline; filename="simulation-{run.pk}-{kind}.{fmt}"'
    return response


__all__ = ["NotFound", "chart_response"]


class SimulationAssessSerializer(StrictSerializer):
    level = serializers.ChoiceField(
        choices=[("P50", "P50"), ("P80", "P80"), ("P95", "P95")], required=False, default="P80",
        help_text=gettext_lazy("The percentile whose shift becomes the schedule and cost."),
    )  # fmt: skip


class SimulationAssessView(ApiView):
    """Record the next assessment version (method "simulation") from a finished run."""

    queryset = ChangeRequest.objects.none()

    @extend_schema(
        operation_id="change_requests_simulations_assess",
        request=SimulationAssessSerializer,
        parameters=[ID_PARAM, IDEMPOTENCY_PARAM],
        responses={201: AssessmentSerializer, **errors(400, 403, 404, 409, 422)},
    )
    def post(self, request, key: str, id: int):
        cr = _cr(request, key)
        run = plans.run_get(user=request.user, cr=cr, pk=id)
        data = self.get_validated(SimulationAssessSerializer)
        assessment = plans.assessment_from_run(
            user=request.user, cr=cr, run=run, level=data["level"]
        )
        assessment = change_selectors.assessment_list(user=request.user, cr=cr).get(
            pk=assessment.pk
        )
        return Response(AssessmentSerializer(assessment).data, status=status.HTTP_201_CREATED)

"""Pages for change requests: the list, the new-CR form, the detail page and its actions.

Thin: read through selectors (which apply the permission filter), call one service, render.
A service's ``ApplicationError`` is shown on the page with its own status; objects the user
may not see are 404. An action's page calls the service's own role check before it reads the
form (``_refused``): a refused role gets the same page whatever it posted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from changeflow.accounts import selectors as account_selectors
from changeflow.accounts.models import Project, Role
from changeflow.cases import services as cases
from changeflow.ccb import decisions as ccb_decisions
from changeflow.core.access import manages, may_write, role_in, sees_internal
from changeflow.core.errors import ApplicationError, NotFound, PermissionDenied
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.core.middleware import client_ip
from changeflow.core.selectors import redact_unseen
from changeflow.crtemplates import definitions as template_fields
from changeflow.crtemplates import forms as template_forms
from changeflow.crtemplates import selectors as template_selectors
from changeflow.impact.models import Dimension, RoundStatus
from changeflow.impact.plan_views import ChangePlanForm, simulation_panel
from changeflow.impact.services import EVENT_LABELS as IMPACT_EVENT_LABELS
from changeflow.requirements import changesets as cs
from changeflow.requirements import io as req_io
from changeflow.requirements.cr_selectors import cr_panel
from changeflow.requirements.models import Kind, Requirement, RequirementPriority, RequirementStatus
from changeflow.web import (
    add_errors,
    error_page,
    form_status,
    or_404,
    paged,
    render_results,
    stage_upload,
    staged_upload,
    unstage_upload,
)

from . import bulk, import_jobs, selectors, services, uploads, workflow
from . import io as cr_io
from .forms import (
    ActualsForm,
    AssessmentForm,
    AttachmentForm,
    ChangeRequestCreateForm,
    ChangeRequestEditForm,
    CommentForm,
    ImportForm,
    ListFilterForm,
    ResourceFormSet,
    RiskFormSet,
    TransitionForm,
    VoteForm,
)
from .link_views import links_panel
from .models import (
    AssessmentMethod,
    ChangeRequest,
    ChangeType,
    Channel,
    DecisionMode,
    LinkKind,
    Priority,
    Ratification,
    Urgency,
    VoteDecision,
    VotePurpose,
)
from .workflow import ACTION_LABELS, Action, State

PAGE_SIZE = 25
# Actions shown as a warning: they end or reverse something.
CAUTION_ACTIONS = {
    Action.RETURN,
    Action.REJECT,
    Action.WITHDRAW,
    Action.REJECT_VERIFICATION,
    Action.DEFER,
}
PRIMARY_ACTIONS = {
    Action.SUBMIT,
    Action.APPROVE,
    Action.VERIFY,
    Action.START_IMPLEMENTATION,
    Action.APPROVE_EMERGENCY,
}


# ------------------------------------------------------------------ list


@login_required
@require_http_methods(["GET", "POST"])
def cr_list(request: AuthenticatedHttpRequest, key: str | None = None) -> HttpResponse:
    """Visible CRs (of one project, or of all the user's projects) with filters and search.

    An HTMX request gets only the results partial; the same URL works without JS. A POST is
    the bulk bar's change of the selected CRs (``_bulk``), as the admin's changelist actions
    post to the list itself: its query string keeps the filters and the page to come back to.
    """
    project = or_404(account_selectors.project_get, user=request.user, key=key) if key else None
    if request.method == "POST":
        return _bulk(request, project)
    context, invalid = _list_context(request, project)
    return render_results(request, "changes/cr_list.html", context, invalid=invalid)


def _list_context(
    request: AuthenticatedHttpRequest, project: Project | None
) -> tuple[dict[str, Any], bool]:
    form, filters = _list_filters(request)
    if project:
        filters["project"] = project.key
    qs = selectors.change_request_list(user=request.user, filters=filters)
    page, query = paged(request, qs, PAGE_SIZE)
    context: dict[str, Any] = {
        "project": project,
        "form": form,
        "page": page,
        "query": query,
        "filtered": bool(set(filters) - {"project", "ordering"}),
        "can_create": project is not None and may_write(request.user, project),
        "can_manage": project is not None and manages(request.user, project),
    }
    if bulk.may_bulk(request.user, project):
        context["bulk"] = _bulk_choices(project)
    return context, bool(form.errors)


def _bulk_choices(project: Project | None) -> dict[str, Any]:
    """What the bulk bar offers: its operations (a workflow action is ``action:NAME``), the
    project's assignable members (any username on the all-projects list), priorities, types."""
    operations = [(k, v) for k, v in bulk.OPERATIONS.items() if k != bulk.ACTION]
    actions = [(f"action:{a}", ACTION_LABELS[Action(a)]) for a in bulk.BULK_ACTIONS]
    members = selectors.assignable_members(project=project) if project else None
    return {
        "operations": operations, "actions": actions, "members": members,
        "priorities": Priority.choices, "types": ChangeType.choices,
    }  # fmt: skip


def _bulk(request: AuthenticatedHttpRequest, project: Project | None) -> HttpResponse:
    """Apply the bulk bar's operation to the selected CRs, all or nothing; back to the same
    list (filters and page) with how many changed, or the list again (422) naming each refused
    CR with why, nothing changed."""
    try:
        bulk.require_bulk(request.user, project)  # before the body: a viewer's 403 whatever
    except ApplicationError as exc:
        return error_page(request, exc)
    data = request.POST.dict()
    if data.get("operation", "").startswith("action:"):
        data["operation"], data["action"] = "action", data["operation"].removeprefix("action:")
    keys = request.POST.getlist("keys")
    if request.POST.get("select_page"):
        keys += request.POST.getlist("page_keys")
    try:
        operation = bulk.BulkOperation.parse(data)
        changed = bulk.change_request_bulk(
            user=request.user, keys=keys, operation=operation, project=project
        )
    except bulk.BulkRefused as exc:
        return _bulk_refused(request, project, exc.refusals, str(exc.message), keys)
    except (NotFound, PermissionDenied) as exc:
        return error_page(request, exc)
    except ApplicationError as exc:  # no operation, no CR selected, too many
        problems = [str(m) for messages_ in exc.fields.values() for m in messages_]
        return _bulk_refused(request, project, {}, " ".join([str(exc.message), *problems]), keys,
                             status=exc.status)  # fmt: skip
    messages.success(
        request,
        ngettext("%(count)d change request updated", "%(count)d change requests updated",
                 len(changed)) % {"count": len(changed)},
    )  # fmt: skip
    return redirect(request.get_full_path())


def _bulk_refused(
    request: AuthenticatedHttpRequest, project: Project | None, refusals: dict[str, str],
    message: str, keys: list[str], status: int = 422,
) -> HttpResponse:  # fmt: skip
    context, _invalid = _list_context(request, project)
    context.update(
        bulk_message=message, bulk_refusals=sorted(refusals.items()),
        bulk_selected={k.strip().upper() for k in keys}, bulk_post=request.POST,
    )  # fmt: skip
    return render(request, "changes/cr_list.html", context, status=status)


def _list_filters(request: AuthenticatedHttpRequest) -> tuple[ListFilterForm, dict[str, Any]]:
    """The CR list's filter form and the filters it gives (a bad value is dropped)."""
    form = ListFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_bound:
        form.is_valid()
        filters = {k: v for k, v in form.cleaned_data.items() if v}
        if filters.get("state") == "open":  # every state but the final ones
            filters.pop("state")
            filters["open"] = True
    return form, filters


# ------------------------------------------------------------------ import and export


@login_required
@require_GET
def cr_export(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """The CRs the project's list shows with the same filters, as CSV or XLSX
    (``?format=``)."""
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    _form, filters = _list_filters(request)
    fmt = request.GET.get("format") or "csv"
    try:
        content, content_type, name = cr_io.change_requests_export(
            user=request.user, project=project, fmt=fmt, filters=filters
        )
    except ApplicationError as exc:
        return error_page(request, exc)
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response


_STAGED = "cr_import"  # the session's key of the file between preview and confirm


@login_required
@require_http_methods(["GET", "POST"])
def cr_import(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """Upload → preview (a dry run: what would be created, or every problem by row and
    column) → confirm. Between the two the file waits in the default storage under a random
    token kept in the user's session, so that nobody else can confirm (or read) it."""
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    try:
        services.require_manager(request.user, project)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = ImportForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"project": project, "form": form}
    status = 200
    if request.method == "POST" and request.POST.get("confirm"):
        found = staged_upload(request, _STAGED, request.POST.get("token", ""), project.key)
        if found is None:
            messages.error(request, _("That preview has expired; upload the file again."))
            return redirect("cr-import", key=project.key)
        raw, staged = found
        try:
            parsed = cr_io.parse(raw, filename=staged["filename"], fmt=staged["format"] or None)
            if import_jobs.in_background(parsed):
                job = import_jobs.import_job_create(
                    user=request.user, project=project, raw=raw, parsed=parsed,
                    filename=staged["filename"], fmt=staged["format"] or "",
                    submit=bool(staged.get("submit")),
                )  # fmt: skip
            else:
                report = cr_io.change_requests_import(
                    user=request.user, project=project, parsed=parsed,
                    filename=staged["filename"], submit=bool(staged.get("submit")),
                )  # fmt: skip
        except ApplicationError as exc:
            context["error"] = exc
            return render(request, "changes/cr_import.html", context, status=exc.status)
        unstage_upload(request, _STAGED)
        if import_jobs.in_background(parsed):
            return redirect("cr-import-job", key=project.key, id=job.pk)
        messages.success(request, _("Imported: %(created)d created, %(skipped)d skipped.") % report)
        return redirect("project-detail", key=project.key)
    if request.method == "POST":
        status = form_status(form)
        if form.is_valid():
            upload = form.cleaned_data["file"]
            fmt = form.cleaned_data["format"]
            try:
                raw = req_io.upload_bytes(upload)
                parsed = cr_io.parse(raw, filename=upload.name, fmt=fmt or None)
                report = cr_io.change_requests_import(
                    user=request.user, project=project, parsed=parsed, dry_run=True,
                    filename=upload.name,
                )  # fmt: skip
            except ApplicationError as exc:
                context["error"] = exc
                status = exc.status
            else:
                token = stage_upload(
                    request, _STAGED, raw, project=project.key, filename=upload.name,
                    format=fmt, submit=form.cleaned_data["submit"],
                )  # fmt: skip
                context.update(
                    report=report, token=token, filename=upload.name,
                    submit=form.cleaned_data["submit"],
                )  # fmt: skip
    if "report" not in context:
        context["jobs"] = import_jobs.import_job_list(user=request.user, project=project)
    return render(request, "changes/cr_import.html", context, status=status)


@login_required
@require_GET
def cr_import_job(request: AuthenticatedHttpRequest, key: str, id: int) -> HttpResponse:  # noqa: A002
    """A background import: its progress while it runs (the panel polls itself with HTMX),
    then what it did (created and skipped, the new CRs) or why it imported nothing."""
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    try:
        job = import_jobs.import_job_get(user=request.user, project=project, job_id=id)
    except ApplicationError as exc:
        return error_page(request, exc)
    context = {
        "project": project,
        "job": job,
        "progress": import_jobs.progress_of(job),
        "polling": job.state in import_jobs.OPEN_STATES,
    }
    template = "changes/cr_import_job.html"
    if getattr(request, "htmx", False) and not request.htmx.boosted:
        template += "#panel"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# ------------------------------------------------------------------ create


@login_required
@require_http_methods(["GET", "POST"])
def cr_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    project = or_404(account_selectors.project_get, user=request.user, key=key)
    if not may_write(request.user, project):
        return render(
            request,
            "error.html",
            {"message": _("Viewers cannot create change requests.")},
            status=403,
        )
    members = account_selectors.member_list(user=request.user, project=project)
    if not workflow.can_name_requester(
        role_in(request.user, project), is_admin=request.user.is_superuser
    ):
        members = members.none()  # the requester is the author: only "Me" to choose
    # The form template chosen (?template=<id>, kept in the URL the form posts to): its
    # defaults pre-fill the form and its fields are added to it.
    templates = list(template_selectors.template_list(user=request.user, project=project))
    wanted = request.GET.get("template", "")
    template = next((t for t in templates if str(t.pk) == wanted), None)
    if wanted and template is None and request.method == "GET":
        raise Http404(_("No such template."))
    initial: dict[str, Any] = {}
    if template is not None:
        initial = {
            "type": template.type, "priority": template.priority, "urgency": template.urgency,
            "labels": template.labels, "description": template.scaffold,
        }  # fmt: skip
    form = ChangeRequestCreateForm(request.POST or None, members=members, initial=initial)
    if template is not None:
        template_forms.add_custom_fields(form, template.fields)
    status = form_status(form) if request.method == "POST" else 200
    if request.method == "POST" and form.is_valid():
        data = {
            k: v for k, v in form.cleaned_data.items() if not k.startswith(template_forms.PREFIX)
        }
        data["requested_by"] = data["requested_by"] or None
        # An id that is no active template any more (archived meanwhile) is the service's 400.
        data["template"] = template.pk if template is not None else (wanted or None)
        data["fields"] = template_forms.custom_values(form)
        try:
            cr = services.change_request_create(user=request.user, project=project, **data)
        except ApplicationError as exc:
            add_errors(form, exc)
            status = exc.status
        else:
            messages.success(request, _("%(key)s was created.") % {"key": cr.key})
            return redirect("cr-detail", key=cr.key)
    context = {
        "form": form, "project": project, "templates": templates, "template": template,
        "custom_fields": template_forms.custom_bound_fields(form),
    }  # fmt: skip
    return render(request, "changes/cr_form.html", context, status=status)


# ------------------------------------------------------------------ detail

FIELD_LABELS: dict[str, Any] = {
    f.name: capfirst(f.verbose_name)  # "Type", like the other labels, not "type"
    for f in ChangeRequest._meta.get_fields()
    if hasattr(f, "verbose_name")
}
FIELD_LABELS.update(
    state=gettext_lazy("State"),
    ratification=gettext_lazy("Ratification"),
    decision_mode=gettext_lazy("Decided by"),
    decision=gettext_lazy("Vote"),
    purpose=gettext_lazy("Voting on"),
    version=gettext_lazy("Version"),
    method=gettext_lazy("Method"),
    effort_hours=gettext_lazy("Effort (hours)"),
    schedule_days=gettext_lazy("Schedule (days)"),
    cost=gettext_lazy("Cost"),
    currency=gettext_lazy("Currency"),
    filename=gettext_lazy("File"),
    size=gettext_lazy("Size (bytes)"),
    role=gettext_lazy("Role"),
    requested_by=gettext_lazy("Requester"),
    fields=gettext_lazy("Custom fields"),
    link=gettext_lazy("Link"),
    kind=gettext_lazy("Kind"),
    source=gettext_lazy("Linked from"),
    target=gettext_lazy("Linked to"),
    note=gettext_lazy("Note"),
    created_by=gettext_lazy("Created by"),
    created_at=gettext_lazy("Created"),
    duplicate_of=gettext_lazy("Duplicate of"),
)
# The fields of other apps' events in the CR's history - expert estimates, Delphi rounds, the
# change plan, service levels - named like the others rather than by their keys.
OTHER_EVENT_FIELD_LABELS: dict[str, Any] = {
    "effort": Dimension.EFFORT.label,
    "schedule": Dimension.SCHEDULE.label,
    "outcome": gettext_lazy("Status"),
    "disagree": gettext_lazy("Disagreement on"),
    "spread": gettext_lazy("Spread"),
    "next_round": gettext_lazy("Next round"),
    "tasks": ChangePlanForm.base_fields["tasks"].label,
    "after": ChangePlanForm.base_fields["after"].label,
    "before": ChangePlanForm.base_fields["before"].label,
    "include_risks": ChangePlanForm.base_fields["include_risks"].label,
    "stage": gettext_lazy("Stage"),
    "target_hours": gettext_lazy("Target (hours)"),
    "level": gettext_lazy("Level"),
}
# A CR field's own label wins.
FIELD_LABELS = (
    cs.EVENT_FIELD_LABELS | cases.EVENT_FIELD_LABELS | OTHER_EVENT_FIELD_LABELS | FIELD_LABELS
)
VALUE_CHOICES: dict[str, Any] = {
    "state": State,
    "type": ChangeType,
    "priority": Priority,
    "channel": Channel,
    "urgency": Urgency,
    "decision": VoteDecision,
    "decision_mode": DecisionMode,
    "ratification": Ratification,
    "method": AssessmentMethod,
    "purpose": VotePurpose,
    "role": Role,
    "op": cs.EditOp,
    "outcome": RoundStatus,
    "stage": State,
    "disagree": Dimension,
    "kind": LinkKind,
    **cases.EVENT_VALUE_CHOICES,
}
# Maps whose keys are codes: {"effort": 0.2, "schedule": 0.1}.
KEY_CHOICES: dict[str, Any] = {"spread": Dimension}
# A change-set edit's proposed values ({"title": ..., "kind": "functional"}): the requirement's
# fields by their labels, its codes by their choices' labels.
PROPOSED_LABELS: dict[str, Any] = {
    f.name: capfirst(f.verbose_name)
    for f in Requirement._meta.get_fields()
    if f.name in cs.FIELDS and hasattr(f, "verbose_name")
}
PROPOSED_CHOICES: dict[str, Any] = {
    "kind": Kind, "priority": RequirementPriority, "status": RequirementStatus,
}  # fmt: skip
EVENT_LABELS: dict[str, Any] = {
    "cr.created": gettext_lazy("created the change request"),
    "cr.updated": gettext_lazy("edited"),
    "cr.submit": gettext_lazy("submitted"),
    "cr.triage": gettext_lazy("triaged"),
    "cr.return": gettext_lazy("returned it to the requester"),
    "cr.start_assessment": gettext_lazy("started the assessment"),
    "cr.request_review": gettext_lazy("requested the board's review"),
    "cr.approve": gettext_lazy("approved (delegated authority)"),
    "cr.reject": gettext_lazy("rejected (delegated authority)"),
    "cr.defer": gettext_lazy("deferred (delegated authority)"),
    "cr.reopen": gettext_lazy("reopened"),
    "cr.approve_emergency": gettext_lazy("approved as an emergency"),
    "cr.start_implementation": gettext_lazy("started the implementation"),
    "cr.submit_verification": gettext_lazy("submitted it for verification"),
    "cr.verify": gettext_lazy("verified and closed"),
    "cr.reject_verification": gettext_lazy("rejected the verification"),
    "cr.withdraw": gettext_lazy("withdrew"),
    "cr.decided": gettext_lazy("decided by vote"),
    "cr.ratified": gettext_lazy("ratified the emergency approval"),
    "cr.ratification_refused": gettext_lazy("refused to ratify the emergency approval"),
    "comment.created": gettext_lazy("commented"),
    "attachment.created": gettext_lazy("attached a file"),
    "assessment.created": gettext_lazy("assessed the impact"),
    "vote.cast": gettext_lazy("voted"),
    "vote.changed": gettext_lazy("changed their vote"),
    "sla.breached": gettext_lazy("was over its service level"),
    "votes.reset": gettext_lazy("reset the board's votes"),
    "cr.linked": gettext_lazy("linked it to another change request"),
    "cr.unlinked": gettext_lazy("removed a link"),
    **IMPACT_EVENT_LABELS,
    **cs.EVENT_LABELS,
    **cases.EVENT_LABELS,
}
# Keys of an event's before/after that are shown otherwise or not at all.
_HIDDEN_KEYS = {
    "comment", "body", "tally", "signature", "signed_at", "comment_id", "attachment_id",
    "sha256", "key", "risks", "resources", "internal", "content_type", "round", "title",
    "description", "reason", "expected_benefit", "requested_by", "labels", "emergency",
    "requester_contact", "desired_date", "channel", "type", "priority", "urgency",
    "signer", "meaning", "notify", "voided", "voters", "delegation", "link",
    *cs.EVENT_HIDDEN_KEYS,
    *cases.EVENT_HIDDEN_KEYS,
}  # fmt: skip
# For cr.updated every field change is shown, long texts included.
_UPDATE_HIDDEN = {"tally", "signature", "signed_at", "notify"}


def _proposed(field: str, value: Any) -> str:
    """One proposed value of a change-set edit, a code by its choice's label."""
    choices = PROPOSED_CHOICES.get(field)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return "—" if value in (None, "") else str(value)


def _value(name: str, value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return ", ".join(_value(name, v) for v in value)
    if isinstance(value, dict):
        if set(value) == {"task", "lag"}:  # a change plan's "after": a plan task and its lag
            lag = float(value["lag"] or 0)
            return str(value["task"]) + (f"+{lag:g}" if lag else "")
        if name == "proposed":
            return ", ".join(
                f"{PROPOSED_LABELS.get(k, k)}: {_proposed(k, v)}" for k, v in value.items()
            )
        keys = KEY_CHOICES.get(name)
        return ", ".join(
            f"{keys(k).label if keys is not None and k in keys.values else k}: {_value('', v)}"
            for k, v in value.items()
        )
    choices = VALUE_CHOICES.get(name)
    if choices is not None and value in choices.values:
        return str(choices(value).label)
    return str(value)


def _timeline(events) -> list[dict[str, Any]]:
    """Audit events as timeline entries: who, when, what, and each field old → new."""
    entries = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        hidden = _UPDATE_HIDDEN if event.action == "cr.updated" else _HIDDEN_KEYS
        if event.action == "cr.created":
            names = ["state"]
        else:
            names = [n for n in dict.fromkeys([*before, *after]) if n not in hidden]
        changes = []
        for name in names:
            if name not in before and after.get(name) in (None, "", []):
                continue  # an empty value set where there was none says nothing
            label = FIELD_LABELS.get(name, name)
            new = _value(name, after.get(name)) if name in after else None
            old = _value(name, before.get(name)) if name in before else None
            changes.append({"label": label, "old": old, "new": new})
        tally = after.get("tally") or {}
        reset = event.action == "votes.reset"
        entries.append(
            {
                "event": event,
                "css": event.action.replace(".", "-").replace("_", "-"),
                "label": EVENT_LABELS.get(event.action, event.action),
                "actor": _("Change Control Board") if event.actor == "board" else event.actor,
                "changes": changes,
                "text": after.get("comment")
                or after.get("body")
                # The reason was recorded in the language of whoever reset the votes; one
                # the system gave (an English message of the catalogue) reads in the reader's.
                or (_(after["reason"]) if reset and after.get("reason") else ""),
                "internal": event.internal,
                "tally": {
                    VoteDecision(d).label: n for d, n in (tally.get("counts") or {}).items() if n
                },
            }
        )
    return entries


# Unmet preconditions not worth a hint: most CRs are not emergencies.
_QUIET_PRECONDITIONS = {"not_emergency"}


def _blocked_actions(ctx: workflow.Context) -> list[dict[str, Any]]:
    """Actions this user may take in this state but for an unmet precondition, and what is
    missing: without them a tech lead facing a CR with no type sees no "Triage" and no reason."""
    ctx = replace(ctx, has_comment=True)  # a comment comes with the action
    blocked, seen = [], set()
    for action in Action:
        denial = workflow.evaluate(action, ctx)
        if denial is None or denial.kind != "precondition" or denial.code in seen:
            continue
        if denial.code in _QUIET_PRECONDITIONS:
            continue
        seen.add(denial.code)
        blocked.append({"label": ACTION_LABELS[action], "reason": denial.message})
    return blocked


def _detail_context(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, **forms: Any
) -> dict[str, Any]:
    user = request.user
    # Read once, with its risks: the page shows it and the workflow's facts come from it.
    assessment = selectors.assessment_list(user=user, cr=cr).first()
    ctx = services.workflow_context(cr, user, assessment=assessment)
    actions = workflow.available_actions(ctx)
    transition_form = forms.get("transition_form") or TransitionForm()
    if not {Action.RETURN, Action.REJECT_VERIFICATION} & set(actions):
        # The comment is optional for every action offered: no "required to return" hint.
        transition_form.fields["comment"].help_text = ""
    role = ctx.role
    writer = may_write(user, cr.project)
    purpose = services.vote_purpose(cr)
    # The board panel reads the round's votes and who may vote: its tally is the page's.
    board_panel = ccb_decisions.cr_board_panel(user=user, cr=cr)
    tally = board_panel.get("board_tally") if purpose else None
    can_vote = bool(purpose and board_panel.get("board_can_vote"))
    can_assess = (user.is_superuser or role in (workflow.PM, workflow.TL)) and (
        cr.state in services.ASSESSABLE_STATES
    )
    return {
        "cr": cr,
        "role": role,
        "role_label": Role(role).label if role else "",
        "actions": [
            {
                "value": a.value,
                "label": ACTION_LABELS[a],
                "style": "primary"
                if a in PRIMARY_ACTIONS
                else "caution"
                if a in CAUTION_ACTIONS
                else "",
            }
            for a in actions
        ],
        "can_edit": workflow.can_edit(ctx),
        "can_record_actuals": workflow.can_record_actuals(ctx),
        "can_assess": can_assess,
        "can_comment": writer,
        "can_comment_internal": writer
        and (user.is_superuser or role not in workflow.CUSTOMER_ROLES),
        "can_attach": writer and cr.state not in workflow.FINAL_STATES,
        "assessment": assessment,
        "show_internal": sees_internal(user, cr.project),
        "risks": list(assessment.risks.all()) if assessment else [],
        "history": _timeline(redact_unseen(selectors.history(user=user, cr=cr), user=user)),
        "comments": selectors.comment_list(user=user, cr=cr),
        "attachments": selectors.attachment_list(user=user, cr=cr),
        "vote_purpose": VotePurpose(purpose).label if purpose else None,
        "tally": tally,
        "tally_counts": [
            (d.label, (tally.counts or {}).get(d.value, 0))
            for d in VoteDecision  # the order of the vote form's choices
        ]
        if tally
        else [],
        "can_vote": can_vote,
        "blocked_actions": _blocked_actions(ctx),
        "transition_form": transition_form,
        "comment_form": forms.get("comment_form") or CommentForm(),
        "attachment_form": forms.get("attachment_form") or AttachmentForm(),
        "vote_form": forms.get("vote_form") or VoteForm(),
        "actuals_form": forms.get("actuals_form") or ActualsForm.for_cr(cr),
        "error": forms.get("error"),
        "ratification_pending": cr.ratification == Ratification.PENDING,
        "simulation": simulation_panel(request, cr),
        "requirements_panel": cr_panel(user=user, cr=cr),
        "links": links_panel(user=user, cr=cr, can_withdraw=Action.WITHDRAW in actions),
        "custom_fields": template_fields.display(cr.field_definitions, cr.field_values),
        **board_panel,  # ccb/_cr_board.html
    }


def _detail(request, cr, *, status: int = 200, **forms) -> HttpResponse:
    return render(
        request, "changes/cr_detail.html", _detail_context(request, cr, **forms), status=status
    )


def _cr(request: HttpRequest, key: str) -> ChangeRequest:
    return or_404(selectors.change_request_get, user=request.user, key=key)


def _refused(
    request: AuthenticatedHttpRequest, cr: ChangeRequest, check: Callable[..., object], *args: Any
) -> HttpResponse | None:
    """The CR page with the refusal of ``check(*args)``, with its status (a 404 for NotFound);
    None when it passes. ``check`` is the service's own role check, called before the form is
    read: a refused role gets the same answer whatever it posted."""
    try:
        check(*args)
    except ApplicationError as exc:
        if isinstance(exc, NotFound):
            raise Http404() from None
        return _detail(request, cr, status=exc.status, error=exc.message)
    return None


@login_required
@require_GET
def cr_detail(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    return _detail(request, _cr(request, key))


@login_required
@require_POST
def cr_transition(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    # Which action decides who may take it; a viewer may take none.
    if refused := _refused(request, cr, services.require_member, request.user, cr.project):
        return refused
    form = TransitionForm(request.POST)
    if not form.is_valid():
        return _detail(request, cr, status=400, transition_form=form, error=_("Choose an action."))
    action = form.cleaned_data["action"]
    try:
        cr = services.change_request_transition(
            user=request.user, cr=cr, action=action, comment=form.cleaned_data["comment"]
        )
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, cr, status=exc.status, transition_form=form, error=exc.message)
    messages.success(
        request,
        _("%(key)s: %(action)s — now %(state)s.")
        % {"key": cr.key, "action": ACTION_LABELS[Action(action)], "state": cr.get_state_display()},
    )
    return redirect("cr-detail", key=cr.key)


@login_required
@require_http_methods(["GET", "POST"])
def cr_edit(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    ctx = services.workflow_context(cr, request.user)
    if not workflow.can_edit(ctx):
        return render(
            request,
            "error.html",
            {"message": _("You may not edit this change request now.")},
            status=403,
        )
    assignable = (
        selectors.assignable_members(project=cr.project) if workflow.can_assign(ctx) else None
    )
    form = ChangeRequestEditForm.for_cr(cr, request.POST or None, assignable=assignable)
    # Another form template (?template=<id>, or empty for the standard form; kept in the URL
    # the form posts to) replaces the custom fields by its own, with the values of the keys
    # both share. Otherwise the custom fields as the CR was made with them (not as its
    # template reads now).
    templates = list(template_selectors.template_list(user=request.user, project=cr.project))
    switch, template = "template" in request.GET, None
    if switch:
        wanted = request.GET["template"]
        template = next((t for t in templates if str(t.pk) == wanted), None)
        if wanted and template is None and request.method == "GET":
            raise Http404(_("No such template."))
        switch = (template.pk if template else wanted or None) != cr.template_id
    if switch:
        definitions = template_fields.snapshot(template.fields) if template else []
    else:
        definitions = cr.field_definitions
    template_forms.add_custom_fields(form, definitions, cr.field_values)
    status = 200
    if request.method == "POST":
        status = form_status(form) if not form.is_valid() else 200
        if form.is_valid():
            changed = form.changed_data
            data: dict[str, Any] = {
                n: form.cleaned_data[n]
                for n in changed
                if n != "version" and not n.startswith(template_forms.PREFIX)
            }
            if switch:
                # An id that is no active template any more is the service's 400.
                data["template"] = template.pk if template else request.GET["template"] or None
                data["fields"] = template_forms.custom_values(form)
            elif custom := template_forms.custom_values(form, changed):
                data["fields"] = custom
            try:
                services.change_request_update(
                    user=request.user,
                    cr=cr,
                    data=data,
                    expected_version=form.cleaned_data["version"],
                )
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                if data:
                    messages.success(request, _("Your changes were saved."))
                return redirect("cr-detail", key=cr.key)
    context = {
        "form": form, "cr": cr, "custom_fields": template_forms.custom_bound_fields(form),
        "templates": templates, "switch": switch, "template": template if switch else None,
    }  # fmt: skip
    return render(request, "changes/cr_edit.html", context, status=status)


@login_required
@require_POST
def cr_actuals(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    if refused := _refused(request, cr, services.require_member, request.user, cr.project):
        return refused
    form = ActualsForm.for_cr(cr, request.POST)
    if not form.is_valid():
        return _detail(request, cr, status=400, actuals_form=form)
    data = {n: form.cleaned_data[n] for n in form.changed_data if n != "version"}
    try:
        services.change_request_update(
            user=request.user, cr=cr, data=data, expected_version=form.cleaned_data["version"]
        )
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, cr, status=exc.status, actuals_form=form, error=exc.message)
    messages.success(request, _("The actuals were recorded."))
    return redirect("cr-detail", key=cr.key)


@login_required
@require_POST
def comment_create(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    if refused := _refused(request, cr, services.require_member, request.user, cr.project):
        return refused
    form = CommentForm(request.POST)
    if not form.is_valid():
        return _detail(request, cr, status=400, comment_form=form)
    try:
        services.comment_create(user=request.user, cr=cr, **form.cleaned_data)
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, cr, status=exc.status, comment_form=form)
    messages.success(request, _("Your comment was added."))
    return redirect("cr-detail", key=cr.key)


@login_required
@require_POST
def attachment_upload(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    if refused := _refused(request, cr, services.require_member, request.user, cr.project):
        return refused
    form = AttachmentForm(request.POST, request.FILES)
    if not form.is_valid():
        return _detail(request, cr, status=400, attachment_form=form)
    try:
        attachment = services.attachment_create(
            user=request.user, cr=cr, upload=form.cleaned_data["file"]
        )
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, cr, status=exc.status, attachment_form=form)
    messages.success(request, _("%(name)s was attached.") % {"name": attachment.filename})
    return redirect("cr-detail", key=cr.key)


@login_required
@require_GET
def attachment_download(request: AuthenticatedHttpRequest, key: str, pk: int) -> HttpResponseBase:
    """Serve an attachment to those who may see its CR, always as a download."""
    cr = _cr(request, key)
    attachment = or_404(selectors.attachment_get, user=request.user, cr=cr, pk=pk)
    try:
        return uploads.download(attachment)
    except NotFound:
        raise Http404() from None


@login_required
@require_POST
def vote(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    cr = _cr(request, key)
    if refused := _refused(request, cr, services.require_voter, request.user, cr):
        return refused
    form = VoteForm(request.POST)
    if not form.is_valid():
        return _detail(request, cr, status=400, vote_form=form)
    try:
        _vote, tally = services.vote_cast(
            user=request.user,
            cr=cr,
            decision=form.cleaned_data["decision"],
            password=form.cleaned_data["password"],
            comment=form.cleaned_data["comment"],
            ip=client_ip(request),
        )
    except ApplicationError as exc:
        add_errors(form, exc)
        return _detail(request, cr, status=exc.status, vote_form=form)
    messages.success(request, _("Your vote was signed and recorded."))
    if tally.verdict:
        messages.info(
            request,
            _("The board reached a verdict: %(v)s.") % {"v": _value("decision", tally.verdict)},
        )
    return redirect("cr-detail", key=cr.key)


# ------------------------------------------------------------------ assessment


def _assessment_initial(assessment, project):
    if assessment is None:
        return {"currency": project.currency, "method": AssessmentMethod.MANUAL}, [], []
    initial = {
        name: getattr(assessment, name)
        for name in ("method", "effort_hours", "schedule_days", "cost", "currency", "notes")
    }
    resources = [{"role": r.get("role"), "hours": r.get("hours")} for r in assessment.resources]
    risks = [
        {
            "description": r.description,
            "probability": r.probability,
            "impact": r.impact,
            "mitigation": r.mitigation,
            "owner": r.owner,
        }
        for r in assessment.risks.all()
    ]
    return initial, resources, risks


@login_required
@require_http_methods(["GET", "POST"])
def assessment(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    """The impact-assessment form; saving makes a new version, the current one."""
    cr = _cr(request, key)
    role = role_in(request.user, cr.project)
    if not (request.user.is_superuser or role in (workflow.PM, workflow.TL)):
        return render(
            request,
            "error.html",
            {"message": _("Only project managers and tech leads assess changes.")},
            status=403,
        )
    current = selectors.assessment_list(user=request.user, cr=cr).first()
    initial, resources, risks = _assessment_initial(current, cr.project)
    data = request.POST if request.method == "POST" else None
    form = AssessmentForm(data, initial=initial)
    resource_set = ResourceFormSet(data, initial=resources, prefix="resources")
    risk_set = RiskFormSet(data, initial=risks, prefix="risks")
    status = 200
    if request.method == "POST":
        valid = form.is_valid() & resource_set.is_valid() & risk_set.is_valid()
        status = 400
        if valid:
            rows = [f.cleaned_data for f in resource_set if f.cleaned_data.get("role")]
            risk_rows = [
                f.cleaned_data for f in risk_set if f.cleaned_data.get("description", "").strip()
            ]
            try:
                services.assessment_create(
                    user=request.user,
                    cr=cr,
                    resources=[{"role": r["role"], "hours": str(r["hours"])} for r in rows],
                    risks=[
                        {
                            "description": r["description"],
                            "probability": str(r["probability"]),
                            "impact": r["impact"],
                            "mitigation": r["mitigation"],
                            "owner": r["owner"],
                        }
                        for r in risk_rows
                    ],
                    **form.cleaned_data,
                )
            except ApplicationError as exc:
                add_errors(form, exc)
                status = exc.status
            else:
                messages.success(request, _("The impact assessment was saved."))
                return redirect("cr-detail", key=cr.key)
    return render(
        request,
        "changes/assessment_form.html",
        {
            "cr": cr,
            "form": form,
            "resource_set": resource_set,
            "risk_set": risk_set,
            "current": current,
        },
        status=status,
    )

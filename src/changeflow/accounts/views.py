"""Pages for signing in and out, the password, API tokens, projects and their members.

Thin: parse the form, read through a selector, call one service, render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from changeflow.core import ratelimit
from changeflow.core.errors import ApplicationError, RateLimited
from changeflow.core.http import AuthenticatedHttpRequest
from changeflow.core.middleware import client_ip
from changeflow.web import add_errors, error_page, form_status, or_404

from . import directory, selectors, services
from .backends import refusal
from .forms import (
    MemberForm,
    MemberRoleForm,
    PasswordChangeForm,
    ProjectCreateForm,
    ProjectSettingsForm,
    SignInForm,
    TokenCreateForm,
)

# ------------------------------------------------------------------ signing in and out


def _next_url(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse(settings.LOGIN_REDIRECT_URL)


@sensitive_post_parameters("password")
@csrf_protect
@never_cache
@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Sign in, with the same failure limit as the API's token endpoint."""
    if request.user.is_authenticated and request.method == "GET":
        return redirect(_next_url(request))
    form = SignInForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        username, ip = form.cleaned_data["username"], client_ip(request)
        try:
            ratelimit.check(username, ip)
        except RateLimited as exc:
            form.add_error(None, str(exc.message))
            status = exc.status
        else:
            user = authenticate(request, username=username, password=form.cleaned_data["password"])
            if user is not None:
                ratelimit.succeeded(username, ip)
                login(request, user)
                return redirect(_next_url(request))
            if refusal(request) == directory.Unavailable.reason:
                # Not the person's mistake: no failure counted against the name.
                form.add_error(None, directory.unavailable_message())
                status = 503
            else:
                ratelimit.failed(username, ip)
                form.add_error(None, _("The username or the password is wrong."))
                status = 400
    elif request.method == "POST":
        status = 400
    return render(
        request,
        "accounts/sign_in.html",
        {
            "form": form,
            "next": request.POST.get("next") or request.GET.get("next", ""),
            "directory": bool(directory.configured()),
        },
        status=status,
    )


@require_POST
def sign_out(request: HttpRequest) -> HttpResponse:
    logout(request)
    messages.success(request, _("You are signed out."))
    return redirect(settings.LOGOUT_REDIRECT_URL)


@sensitive_post_parameters()
@login_required
@require_http_methods(["GET", "POST"])
def password_change(request: AuthenticatedHttpRequest) -> HttpResponse:
    if directory.manages_password_of(request.user):
        # No form: the directory keeps this password (a POST is refused the same way).
        return render(
            request,
            "accounts/password_change.html",
            {"managed_by_directory": services.DIRECTORY_PASSWORD},
            status=409 if request.method == "POST" else 200,
        )
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ApplicationError as exc:
            add_errors(form, exc)
        else:
            update_session_auth_hash(request, request.user)
            messages.success(request, _("Your password was changed."))
            return redirect("password-change")
    return render(
        request, "accounts/password_change.html", {"form": form}, status=form_status(form)
    )


# ------------------------------------------------------------------ API tokens


@login_required
@require_http_methods(["GET", "POST"])
def token_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    """List the user's tokens; a POST creates one and shows it this once."""
    form = TokenCreateForm(request.POST or None)
    new_token = None
    if request.method == "POST" and form.is_valid():
        new_token = services.token_create(user=request.user, name=form.cleaned_data["name"])
        form = TokenCreateForm()
    response = render(
        request,
        "accounts/tokens.html",
        {
            "form": form,
            "new_token": new_token,
            "tokens": selectors.token_list(user=request.user),
        },
        status=form_status(form),
    )
    response["Cache-Control"] = "no-store"  # the new token is in this page
    return response


@login_required
@require_POST
def token_revoke(request: AuthenticatedHttpRequest, token_id: int) -> HttpResponse:
    try:
        services.token_revoke(user=request.user, token_id=token_id)
    except ApplicationError as exc:
        return error_page(request, exc)
    messages.success(request, _("The token was revoked."))
    return redirect("token-list")


# ------------------------------------------------------------------ projects


@require_safe
@login_required
def project_list(request: AuthenticatedHttpRequest) -> HttpResponse:
    return render(
        request,
        "accounts/project_list.html",
        {
            "projects": selectors.project_list(user=request.user),
            "can_create": request.user.is_superuser or request.user.is_staff,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: AuthenticatedHttpRequest) -> HttpResponse:
    if not (request.user.is_superuser or request.user.is_staff):
        return render(
            request,
            "error.html",
            {"message": _("Only site administrators may create projects.")},
            status=403,
        )
    from changeflow.processes import forms as process_forms
    from changeflow.processes import services as processes

    form = ProjectCreateForm(request.POST or None)
    form.fields["process"] = process_forms.start_field(request.user)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        source = process_forms.source_arguments(data.pop("process", ""))
        try:
            project, _result = processes.project_create(user=request.user, **data, **source)
        except ApplicationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("Project %(key)s was created.") % {"key": project.key})
            return redirect("project-detail", key=project.key)
    return render(request, "accounts/project_form.html", {"form": form}, status=form_status(form))


def _managed_project(request: HttpRequest, key: str):
    """The project if the user manages it; raises 404 for non-members, 403 for members."""
    return or_404(selectors.project_get, user=request.user, key=key, action="manage")


def _settings_page(request, project, *, form=None, member_form=None, status=200, error=None):
    members = selectors.member_list(user=request.user, project=project)
    return render(
        request,
        "accounts/project_settings.html",
        {
            "project": project,
            "form": form or ProjectSettingsForm.for_project(project),
            "member_form": member_form or MemberForm(),
            "members": [(m, MemberRoleForm(initial={"role": m.role})) for m in members],
            "error": error,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    try:
        project = _managed_project(request, key)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = ProjectSettingsForm.for_project(project, request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = {name: form.cleaned_data[name] for name in form.changed_data}
        try:
            services.project_update(user=request.user, project=project, data=data)
        except ApplicationError as exc:
            add_errors(form, exc)
        else:
            messages.success(request, _("The settings were saved."))
            return redirect("project-settings", key=project.key)
    return _settings_page(request, project, form=form, status=form_status(form))


@login_required
@require_POST
def member_add(request: AuthenticatedHttpRequest, key: str) -> HttpResponse:
    try:
        project = _managed_project(request, key)
    except ApplicationError as exc:
        return error_page(request, exc)
    form = MemberForm(request.POST)
    if form.is_valid():
        # "Add" never changes an existing member's role behind the manager's back.
        existing = (
            selectors.member_list(user=request.user, project=project)
            .filter(user__username=form.cleaned_data["username"])
            .first()
        )
        if existing is not None:
            form.add_error(
                "username",
                _("%(user)s is already a member (%(role)s); change the role in the list.")
                % {"user": existing.user.username, "role": existing.get_role_display()},
            )
            return _settings_page(request, project, member_form=form, status=409)
        try:
            services.membership_set(user=request.user, project=project, **form.cleaned_data)
        except ApplicationError as exc:
            add_errors(form, exc)
            return _settings_page(request, project, member_form=form, status=exc.status)
        messages.success(
            request, _("%(user)s is now a member.") % {"user": form.cleaned_data["username"]}
        )
        return redirect("project-settings", key=project.key)
    return _settings_page(request, project, member_form=form, status=400)


@login_required
@require_POST
def member_change(request: AuthenticatedHttpRequest, key: str, username: str) -> HttpResponse:
    try:
        project = _managed_project(request, key)
    except ApplicationError as exc:
        return error_page(request, exc)
    call: Callable[..., object]
    kwargs: dict[str, Any]
    if request.POST.get("remove"):
        call, kwargs = services.membership_remove, {}
        done = _("%(user)s was removed from the project.")
    else:
        form = MemberRoleForm(request.POST)
        if not form.is_valid():
            return _settings_page(request, project, status=400, error=_("Choose a valid role."))
        call, kwargs = services.membership_set, {"role": form.cleaned_data["role"]}
        done = _("The role of %(user)s was changed.")
    try:
        call(user=request.user, project=project, username=username, **kwargs)
    except ApplicationError as exc:
        if exc.status == 404:
            return error_page(request, exc)
        return _settings_page(request, project, status=exc.status, error=exc.message)
    messages.success(request, done % {"user": username})
    return redirect("project-settings", key=project.key)

"""Writes for users, projects, memberships and API tokens. Each writes its audit event."""

from __future__ import annotations

import hashlib
import secrets
from decimal import Decimal

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.core import audit
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.validation import full_clean

from .directory import Person
from .directory import manages_password_of as directory_manages_password_of
from .models import ApiToken, Membership, Organisation, Project, Role, User

# What the password page says to a directory user, and the refusal of a password change.
DIRECTORY_PASSWORD = gettext_lazy(
    "Your password is managed by your organisation's directory (LDAP / Active Directory): "
    "change it there, or ask your IT department."
)

PROJECT_SETTINGS = (
    "name",
    "description",
    "currency",
    "customer",
    "delegate_max_effort_hours",
    "delegate_max_cost",
    "delegate_max_schedule_days",
    "delegate_max_risk_exposure",
    "change_budget",
    "schedule_contingency_days",
)


def user_create(
    *,
    username: str,
    password: str | None,
    email: str = "",
    display_name: str = "",
    admin: bool = False,
    actor: User | None = None,
    directory_dn: str = "",
) -> User:
    """Create a user (a site admin when ``admin``); the password is validated. A directory
    user (``directory_dn``) has no local password."""
    user = User(
        username=username, email=email, display_name=display_name, directory_dn=directory_dn
    )
    user.is_superuser = user.is_staff = admin
    full_clean(user, exclude=["password"])
    if password:
        try:
            password_validation.validate_password(password, user)
        except DjangoValidationError as exc:
            raise ValidationError(
                _("The password is too weak."), fields={"password": exc.messages}
            ) from None
        user.set_password(password)
    else:
        user.set_unusable_password()
    with transaction.atomic():
        if User.objects.filter(username__iexact=username).exists():
            raise ValidationError(
                _("This username is taken."), fields={"username": [_("Already in use.")]}
            )
        user.save()
        audit.record(
            actor=actor or username,
            action="user.created",
            object_type="user",
            object_key=username,
            after={
                "username": username, "email": email, "admin": admin,
                **({"directory": directory_dn} if directory_dn else {}),
            },
        )  # fmt: skip
    return user


def _usable(person: Person) -> Person:
    """The entry with what a user row can hold: a name of 150 characters, and no e-mail
    rather than one that is not an address."""
    from dataclasses import replace

    from django.core.validators import validate_email

    email = person.email
    try:
        validate_email(email)
    except DjangoValidationError:
        email = ""
    return replace(person, display_name=person.display_name[:150], email=email[:254])


def directory_user_sync(*, person: Person, actor: User | None = None) -> tuple[User, bool]:
    """The changeflow user of a directory entry, created on first sight (no local password,
    no project), its name, e-mail and entry refreshed after. (user, created). Refuses a name
    that is a local account's: the directory never takes a local account over."""
    person = _usable(person)
    user = (
        User.objects.filter(directory_dn__iexact=person.dn).first()
        or User.objects.filter(username__iexact=person.username).first()
    )
    if user is None:
        try:
            created = user_create(
                username=person.username, password=None, email=person.email,
                display_name=person.display_name, actor=actor, directory_dn=person.dn,
            )  # fmt: skip
        except ValidationError:
            raced = User.objects.filter(username__iexact=person.username).first()
            if raced is None or raced.directory_dn != person.dn:
                raise
            return raced, False  # created by a concurrent first sign-in
        return created, True
    if not user.directory_dn:
        raise Conflict(
            _(
                "%s is a local account: it signs in with its changeflow password, not the "
                "directory's."
            )
            % user.username
        )
    fields = {
        "display_name": person.display_name, "email": person.email, "directory_dn": person.dn
    }  # fmt: skip
    before = {name: getattr(user, name) for name in fields if getattr(user, name) != fields[name]}
    if before:
        with transaction.atomic():
            for name in before:
                setattr(user, name, fields[name])
            user.save(update_fields=list(before))
            audit.record(
                actor=actor or user, action="user.updated", object_type="user",
                object_key=user.username, before=before,
                after={name: fields[name] for name in before},
            )  # fmt: skip
    return user, False


def password_change(*, user: User, old_password: str, new_password: str) -> None:
    if directory_manages_password_of(user):
        raise Conflict(DIRECTORY_PASSWORD)
    if not user.check_password(old_password):
        raise ValidationError(
            _("The current password is wrong."), fields={"old_password": [_("Wrong password.")]}
        )
    try:
        password_validation.validate_password(new_password, user)
    except DjangoValidationError as exc:
        raise ValidationError(
            _("The new password is too weak."), fields={"new_password": exc.messages}
        ) from None
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        audit.record(
            actor=user, action="user.password_changed", object_type="user",
            object_key=user.username,
        )  # fmt: skip


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def token_create(*, user: User, name: str = "") -> str:
    """Create an API token and return it; only its SHA-256 is kept."""
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        obj = ApiToken.objects.create(
            user=user, name=name[:100], prefix=token[:8], digest=_hash_token(token)
        )
        audit.record(
            actor=user, action="token.created", object_type="token",
            object_key=f"{obj.prefix}…", after={"name": obj.name},
        )  # fmt: skip
    return token


def token_authenticate(token: str) -> User | None:
    """The active user owning ``token``, or None."""
    row = (
        ApiToken.objects.select_related("user")
        .filter(digest=_hash_token(token), user__is_active=True)
        .only("id", "last_used_at", "user")
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: no write on every request.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def _organisation(name: str | None) -> Organisation | None:
    name = (name or "").strip()
    if not name:
        return None
    if len(name) > 200:
        raise ValidationError(
            _("Some fields are invalid."),
            fields={"customer": [_("At most 200 characters.")]},
        )
    org, _created = Organisation.objects.get_or_create(name=name)
    return org


def _can_create_projects(user: User) -> bool:
    return user.is_superuser or user.is_staff


def project_create(
    *, user: User, key: str, name: str, customer: str | None = None, description: str = ""
) -> Project:
    """Create a project; its creator becomes its project manager."""
    if not _can_create_projects(user):
        raise PermissionDenied(_("Only site administrators may create projects."))
    project = Project(key=key, name=name, description=description, created_by=user)
    full_clean(project, exclude=["customer", "created_by"])
    try:
        with transaction.atomic():
            project.customer = _organisation(customer)
            project.save()
            Membership.objects.create(project=project, user=user, role=Role.PROJECT_MANAGER)
            audit.record(
                actor=user, action="project.created", object_type="project", object_key=key,
                project=key,
                after={"key": key, "name": name, "customer": customer or "",
                       "description": description},
            )  # fmt: skip
    except IntegrityError:
        raise ValidationError(
            _("A project with this key exists."), fields={"key": [_("Already in use.")]}
        ) from None
    return project


def _display(value):
    if isinstance(value, Organisation):
        return value.name
    return value


def project_update(*, user: User, project: Project, data: dict) -> Project:
    """Change a project's settings (the caller has passed ``restrict(..., 'manage')``)."""
    unknown = set(data) - set(PROJECT_SETTINGS)
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in sorted(unknown)},
        )
    with transaction.atomic():
        fresh = Project.objects.select_for_update().get(pk=project.pk)
        before, after = {}, {}
        for name, value in data.items():
            if name == "customer":
                value = _organisation(value)
            old = getattr(fresh, name)
            if isinstance(old, Decimal) and value is not None:
                value = Decimal(str(value))
            if old != value:
                before[name], after[name] = _display(old), _display(value)
                setattr(fresh, name, value)
        full_clean(fresh, exclude=["customer", "created_by"])
        if after:
            fields = ["customer" if k == "customer" else k for k in after]
            fresh.save(update_fields=fields)
            audit.record(
                actor=user, action="project.updated", object_type="project",
                object_key=fresh.key, project=fresh.key, before=before, after=after,
            )  # fmt: skip
    return fresh


def membership_set(*, user: User, project: Project, username: str, role: str) -> Membership:
    """Add a member or change a member's role."""
    if role not in Role.values:
        raise ValidationError(
            _("Unknown role."), fields={"role": [_("One of: %s") % ", ".join(Role.values)]}
        )
    target = User.objects.filter(username=username, is_active=True).first()
    if target is None:
        raise ValidationError(_("Unknown user."), fields={"username": [_("No such user.")]})
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        membership = Membership.objects.filter(project=project, user=target).first()
        before = {"role": membership.role} if membership else {}
        if membership and membership.role == role:
            return membership
        if membership:
            _keep_a_manager(project, membership, new_role=role)
            membership.role = role
            membership.save(update_fields=["role"])
        else:
            membership = Membership.objects.create(project=project, user=target, role=role)
        audit.record(
            actor=user, action="member.role_set", object_type="membership",
            object_key=f"{project.key}:{username}", project=project.key,
            before=before, after={"role": role},
        )  # fmt: skip
    target.__dict__.pop("_role_cache", None)
    return membership


def _keep_a_manager(project: Project, membership: Membership, new_role: str | None) -> None:
    if membership.role != Role.PROJECT_MANAGER or new_role == Role.PROJECT_MANAGER:
        return
    others = Membership.objects.filter(project=project, role=Role.PROJECT_MANAGER).exclude(
        pk=membership.pk
    )
    if not others.exists():
        raise PreconditionFailed(
            _("A project needs at least one project manager."), code="last_manager"
        )


def membership_remove(*, user: User, project: Project, username: str) -> None:
    with transaction.atomic():
        Project.objects.select_for_update().filter(pk=project.pk).first()
        membership = (
            Membership.objects.filter(project=project, user__username=username)
            .select_related("user")
            .first()
        )
        if membership is None:
            raise NotFound(_("No such member."))
        _keep_a_manager(project, membership, new_role=None)
        from changeflow.ccb.services import removal_check  # ccb builds on accounts

        removal_check(project=project, username=username)
        membership.delete()
        audit.record(
            actor=user, action="member.removed", object_type="membership",
            object_key=f"{project.key}:{username}", project=project.key,
            before={"role": membership.role},
        )  # fmt: skip


def token_revoke(*, user: User, token_id: int) -> None:
    """Revoke one of ``user``'s own API tokens (another user's token is "not found")."""
    with transaction.atomic():
        token = ApiToken.objects.filter(pk=token_id, user=user).first()
        if token is None:
            raise NotFound(_("No such token."))
        key, name = f"{token.prefix}…", token.name
        token.delete()
        audit.record(
            actor=user, action="token.revoked", object_type="token", object_key=key,
            before={"name": name},
        )  # fmt: skip


# ------------------------------------------------------------------ signing in and out


def sign_in_recorded(*, user: User, via: str = "") -> None:
    """Audit a successful sign-in (the channel and address come from the request's origin;
    ``via`` "directory" when the organisation's directory checked the password)."""
    with transaction.atomic():
        audit.record(
            actor=user, action="user.signed_in", object_type="user", object_key=user.username,
            after={"via": via} if via else None,
        )  # fmt: skip


def sign_in_failed_recorded(*, username: str, via: str = "", reason: str = "") -> None:
    """Audit a refused sign-in: wrong password, unknown or inactive user. The name tried is
    kept (truncated), never the password; there is no actor, nobody having signed in. A
    refusal of the directory says so (``via``) and why (``reason``: not_found, wrong_password,
    not_in_group, unavailable...)."""
    with transaction.atomic():
        audit.record(
            actor="", action="user.sign_in_failed", object_type="user",
            object_key=(username or "")[:64],
            after={"via": via, "reason": reason} if via else None,
        )  # fmt: skip


def sign_out_recorded(*, user: User) -> None:
    with transaction.atomic():
        audit.record(
            actor=user, action="user.signed_out", object_type="user", object_key=user.username
        )

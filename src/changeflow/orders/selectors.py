"""Reads of change orders, permission-filtered: ``restrict`` (members of the project; others
404), and customer roles see only orders that were issued (a draft does not exist for them)."""

from __future__ import annotations

from django.db.models import F, QuerySet
from django.http import FileResponse
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, User
from changeflow.core import stored
from changeflow.core.access import CUSTOMER_ROLES, restrict, role_in
from changeflow.core.errors import NotFound

from .models import ChangeOrder, OrderState

FILE_TYPES = {"html": "text/html; charset=utf-8", "pdf": "application/pdf"}


def _visible(user: User, project: Project) -> QuerySet[ChangeOrder]:
    qs = restrict(ChangeOrder.objects, user).filter(project_id=project.pk)
    if not user.is_superuser and role_in(user, project) in CUSTOMER_ROLES:
        qs = qs.filter(issued_at__isnull=False)
    return qs


def order_list(*, user: User, project: Project, state: str | None = None) -> QuerySet[ChangeOrder]:
    """The project's orders, one row each (its live revision), newest first."""
    qs = _visible(user, project).exclude(state=OrderState.SUPERSEDED)
    if state:
        qs = qs.filter(state=state)
    return qs.select_related("change_request", "project").order_by("-number")


def awaiting_signature(*, user: User) -> QuerySet[ChangeOrder]:
    """Issued orders waiting for ``user``'s side to sign or decline: in the projects where
    they hold a customer role (who signs, as ``services.may_sign`` says), soonest to lapse
    first."""
    projects = Membership.objects.filter(user_id=user.pk, role__in=CUSTOMER_ROLES)
    return (
        restrict(ChangeOrder.objects, user)
        .filter(state=OrderState.ISSUED, project_id__in=projects.values("project_id"))
        .select_related("project", "change_request")
        .order_by(F("valid_until").asc(nulls_last=True), "issued_at", "id")
    )


def order_get(
    *, user: User, project: Project, number: int, revision: int | None = None
) -> ChangeOrder:
    """One order: the given revision, else the latest one ``user`` may see."""
    qs = _visible(user, project).filter(number=number)
    if revision is not None:
        qs = qs.filter(revision=revision)
    order = (
        qs.select_related(
            "change_request", "project", "created_by", "issued_by", "signed_by", "declined_by"
        )
        .order_by("-revision")
        .first()
    )
    if order is None:
        raise NotFound(_("No such change order."))
    return order


def revisions_of(*, user: User, order: ChangeOrder) -> list[ChangeOrder]:
    return list(
        _visible(user, order.project)
        .filter(number=order.number)
        .order_by("-revision")
        .only("id", "number", "revision", "state", "issued_at", "pdf_sha256", "key", "project")
    )


def orders_of_cr(*, user: User, cr) -> list[ChangeOrder]:
    """The orders of a CR that ``user`` sees (live revisions), for the CR page's panel."""
    return list(order_list(user=user, project=cr.project).filter(change_request_id=cr.pk))


def order_file(order: ChangeOrder, fmt: str) -> bytes:
    """The stored HTML or PDF of an issued order, checked against its SHA-256: missing is a
    NotFound, changed a Conflict (409) — never served, never signed."""
    if fmt not in FILE_TYPES or not order.issued_at:
        raise NotFound(_("No such file."))
    return stored.read_checked(
        getattr(order, f"{fmt}_file").name, getattr(order, f"{fmt}_sha256"),
        missing=_("The change order's file is missing."),
        changed=_("The stored file of %(order)s does not match its SHA-256.")
        % {"order": order.label},
    )  # fmt: skip


def file_response(order: ChangeOrder, fmt: str, content: bytes, suffix: str = "") -> FileResponse:
    """A download of an order's file, as an attachment (never shown as a page of the site)."""
    return stored.download(content, f"{order.key}-r{order.revision}{suffix}.{fmt}", FILE_TYPES[fmt])

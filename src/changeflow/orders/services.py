"""Every write to change orders (PRODUCT §6 "Change orders", §11 "customers … sign change
orders").

- **Who**: the project's managers (and site admins) create, edit, issue, revise and withdraw
  (``require_manager``); customer roles of the project (customer_rep, customer) sign or decline
  an issued revision (``require_customer``); the rest of the team reads.
- **States**: draft → issued → signed | declined | withdrawn; a draft may be withdrawn too.
  A new revision of an issued or declined order supersedes it at once (its customers can no
  longer sign the old terms) and starts as a draft with the same terms.
- **Issue**: only for a CR in review, approved, implementing or verifying (``ISSUABLE``): in
  review so that the customer signs while the board decides; implementing or verifying for an
  emergency change, whose order is signed afterwards as it is ratified. The document is
  rendered once, in the issuer's language, stored with its SHA-256; the revision's terms never
  change afterwards.
- **Sign**: the signer re-enters their password (the CCB vote's rule and rate limit: a wrong
  one records nothing), names themself, and signs a statement naming the order, its price and
  schedule delta; the signature keeps who, when, the address, the statement and the SHA-256 of
  the PDF they signed (read and checked at that moment: a changed file is refused, 409).
- **Billable**: a CR that has a change order is billable; it may not start implementation
  until its current order is signed (``implementation_blocked``, read by the CR workflow). An
  order withdrawn without a successor lifts that (the manager decided that the change is not
  billed; audited). Emergency changes are never held (they are ratified later).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes.models import ChangeRequest
from changeflow.changes.workflow import FINAL_STATES, State
from changeflow.core import audit, ratelimit
from changeflow.core.access import CUSTOMER_ROLES, manages, role_in
from changeflow.core.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    PreconditionFailed,
    ValidationError,
)
from changeflow.core.validation import invalid

from . import documents
from .models import TEXT_MAX, ChangeOrder, OrderState

ISSUABLE = frozenset({State.IN_REVIEW, State.APPROVED, State.IMPLEMENTING, State.VERIFYING})
EDITABLE = ("scope", "amount", "currency", "schedule_delta_days", "payment_terms", "valid_until")
FOLDER = "change-orders"
# The states in which an order still holds a CR back from implementation.
HOLDING = (OrderState.DRAFT, OrderState.ISSUED, OrderState.DECLINED)
MAX_AMOUNT = Decimal("999999999999.99")
MAX_DELTA_DAYS = 36500

_ROLE_PHRASES: dict[str, Any] = {
    Role.CUSTOMER_REP: gettext_lazy("as the customer representative"),
    Role.CUSTOMER: gettext_lazy("as the customer"),
}


# ------------------------------------------------------------------ permissions


def may_manage(user: User, project: Project) -> bool:
    return manages(user, project)


def require_manager(user: User, project: Project) -> None:
    """Project managers (and site admins) prepare, issue, revise and withdraw change orders."""
    if not may_manage(user, project):
        raise PermissionDenied(_("Only the project's managers prepare and issue change orders."))


def may_sign(user: User, project: Project) -> bool:
    return role_in(user, project) in CUSTOMER_ROLES


def require_customer(user: User, project: Project) -> None:
    """The customer's people of the project sign or decline (nobody signs for them)."""
    if not may_sign(user, project):
        raise PermissionDenied(_("Only the customer's representatives sign or decline orders."))


# ------------------------------------------------------------------ input


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    """The editable terms, checked; a ValidationError names every bad field."""
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name, value in data.items():
        if name not in EDITABLE:
            errors[name] = [_("Unknown field.")]
            continue
        if name in ("scope", "payment_terms"):
            text = str(value or "")
            if len(text) > TEXT_MAX:
                errors[name] = [_("Too long.")]
            out[name] = text
        elif name == "amount":
            try:
                amount = Decimal(str(value)).quantize(Decimal("0.01"))
            except (InvalidOperation, ValueError):
                errors[name] = [_("A number such as 1200.50 is required.")]
                continue
            if not amount.is_finite() or amount < 0 or amount > MAX_AMOUNT:
                errors[name] = [_("Between 0 and %s.") % MAX_AMOUNT]
            out[name] = amount
        elif name == "currency":
            code = str(value or "").strip().upper()
            if len(code) != 3 or not code.isascii() or not code.isalpha():
                errors[name] = [_("A three-letter ISO 4217 code such as CNY.")]
            out[name] = code
        elif name == "schedule_delta_days":
            try:
                days = int(str(value))
            except (TypeError, ValueError):
                errors[name] = [_("A whole number of days is required.")]
                continue
            if abs(days) > MAX_DELTA_DAYS:
                errors[name] = [_("At most %d days either way.") % MAX_DELTA_DAYS]
            out[name] = days
        elif name == "valid_until":
            if value in (None, ""):
                out[name] = None
            elif isinstance(value, dt.date):
                out[name] = value
            else:
                try:
                    out[name] = dt.date.fromisoformat(str(value))
                except ValueError:
                    errors[name] = [_("A date such as 2026-01-31 is required.")]
    if errors:
        raise ValidationError(_("Some fields are invalid."), fields=errors)
    return out


def _terms(order: ChangeOrder) -> dict[str, Any]:
    return {name: getattr(order, name) for name in EDITABLE}


def _lock_order(order: ChangeOrder) -> ChangeOrder:
    return (
        ChangeOrder.objects.select_for_update()
        .select_related("project", "change_request")
        .get(pk=order.pk)
    )


def _moved(order: ChangeOrder) -> InvalidTransition:
    return InvalidTransition(
        _("%(order)s is %(state)s now: not possible.")
        % {"order": order.label, "state": OrderState(order.state).label},
        code="invalid_transition",
    )


# ------------------------------------------------------------------ prefill


def prefill(cr: ChangeRequest) -> dict[str, Any]:
    """The terms a new order starts from: the cost and schedule of the CR's latest impact
    assessment (none: zero), its description as the scope."""
    from changeflow.changes.services import current_assessment

    a = current_assessment(cr)
    terms: dict[str, Any] = {
        "scope": cr.description,
        "amount": Decimal("0.00"),
        "currency": "CNY",
        "schedule_delta_days": 0,
        "payment_terms": "",
        "valid_until": timezone.localdate() + dt.timedelta(days=30),
    }
    if a is not None:
        if a.cost is not None:
            terms["amount"] = Decimal(a.cost).quantize(Decimal("0.01"))
        if a.currency:
            terms["currency"] = a.currency
        if a.schedule_days is not None:
            terms["schedule_delta_days"] = int(Decimal(a.schedule_days).to_integral_value())
    return terms


# ------------------------------------------------------------------ drafts


def change_order_create(
    *, user: User, cr: ChangeRequest, data: dict[str, Any] | None = None
) -> ChangeOrder:
    """A new order (revision 1, draft) for ``cr``, its terms prefilled from the CR's latest
    assessment and overridden by ``data``. A CR has one order at a time: one that is not
    withdrawn is revised, not doubled (409)."""
    project = cr.project
    require_manager(user, project)
    if cr.state in FINAL_STATES:
        raise InvalidTransition(
            _("%(key)s is closed: no change order can be made for it.") % {"key": cr.key},
            code="invalid_transition",
        )
    terms = {**prefill(cr), **_clean(data or {})}
    with transaction.atomic():
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        live = ChangeOrder.objects.filter(change_request=cr).exclude(
            state__in=(OrderState.WITHDRAWN, OrderState.SUPERSEDED)
        )
        existing = live.first()
        if existing is not None:
            raise Conflict(
                _("%(cr)s has change order %(order)s already: revise it instead.")
                % {"cr": cr.key, "order": existing.key},
                code="order_exists",
            )
        last = ChangeOrder.objects.filter(project_id=project.pk).aggregate(n=Max("number"))
        number = (last["n"] or 0) + 1
        order = ChangeOrder.objects.create(
            project=project, change_request=cr, number=number, revision=1,
            key=f"{project.key}-CO{number}", created_by=user, **terms,
        )  # fmt: skip
        audit.record(
            actor=user, action="change_order.created", object_type="change_order",
            object_key=order.key, project=project.key, internal=True,
            after={"change_request": cr.key, "revision": 1, **terms, "number": number},
        )  # fmt: skip
    return order


def change_order_update(
    *, user: User, order: ChangeOrder, data: dict[str, Any], expected_version: int | None = None
) -> ChangeOrder:
    """Edit a draft's terms, compare-and-set on ``version`` (stale: 409)."""
    require_manager(user, order.project)
    terms = _clean(data)
    with transaction.atomic():
        fresh = _lock_order(order)
        if fresh.state != OrderState.DRAFT:
            raise InvalidTransition(
                _("Only a draft is edited; an issued order is revised."), code="not_draft"
            )
        if expected_version is not None and fresh.version != expected_version:
            raise Conflict(
                _("The change order was changed since you read it (version %(v)s now).")
                % {"v": fresh.version},
                code="stale",
            )
        before = _terms(fresh)
        changed = {k: v for k, v in terms.items() if before.get(k) != v}
        if not changed:
            return fresh
        moved = ChangeOrder.objects.filter(pk=fresh.pk, version=fresh.version).update(
            **changed, version=F("version") + 1, updated_at=timezone.now()
        )
        if not moved:  # pragma: no cover - the row is locked
            raise Conflict(_("The change order was changed since you read it."), code="stale")
        audit.record(
            actor=user, action="change_order.updated", object_type="change_order",
            object_key=fresh.key, project=fresh.project.key, internal=True,
            before={k: before[k] for k in changed}, after={**changed, "revision": fresh.revision},
        )  # fmt: skip
    fresh.refresh_from_db()
    return fresh


# ------------------------------------------------------------------ issue


def _affected(cr: ChangeRequest) -> list[dict[str, str]]:
    from changeflow.requirements.models import AffectedRequirement

    rows = (
        AffectedRequirement.objects.filter(change_request=cr)
        .select_related("requirement")
        .order_by("requirement__key")
    )
    return [{"key": r.requirement.key, "title": r.requirement.title} for r in rows]


def _customers(project: Project) -> list[str]:
    return sorted(
        Membership.objects.filter(
            project_id=project.pk, role__in=CUSTOMER_ROLES, user__is_active=True
        ).values_list("user__username", flat=True)
    )


def _managers(project: Project) -> list[str]:
    return sorted(
        Membership.objects.filter(
            project_id=project.pk, role=Role.PROJECT_MANAGER, user__is_active=True
        ).values_list("user__username", flat=True)
    )


def change_order_issue(
    *, user: User, order: ChangeOrder, expected_version: int | None = None, language: str = ""
) -> ChangeOrder:
    """Issue a draft: render its document once (HTML and PDF, in ``language`` or the active
    one), store both with their SHA-256, tell the customer's people (``order.issued``)."""
    project = order.project
    require_manager(user, project)
    cr = ChangeRequest.objects.select_related("project").get(pk=order.change_request_id)
    if order.state != OrderState.DRAFT:
        raise _moved(order)
    if cr.state not in ISSUABLE:
        raise PreconditionFailed(
            _("A change order is issued once its CR is in review or approved (%(key)s is "
              "%(state)s).") % {"key": cr.key, "state": State(cr.state).label},
            code="cr_not_ready",
        )  # fmt: skip
    if order.valid_until is not None and order.valid_until < timezone.localdate():
        raise invalid("valid_until", _("The validity date has passed."))
    language = language or translation.get_language() or "en"
    now = timezone.now()
    content = {
        "cr": {"key": cr.key, "title": cr.title, "description": cr.description},
        "affected": _affected(cr),
        "project": {"key": project.key, "name": project.name},
        "issued_by": user.display_name or user.username,
    }
    with translation.override(language):
        files = documents.render(order, content, issued_at=now)
    saved: list[str] = []
    try:
        with transaction.atomic():
            fresh = _lock_order(order)
            if fresh.state != OrderState.DRAFT:
                raise _moved(fresh)
            if expected_version is not None and fresh.version != expected_version:
                raise Conflict(
                    _("The change order was changed since you read it (version %(v)s now).")
                    % {"v": fresh.version},
                    code="stale",
                )
            if _terms(fresh) != _terms(order):  # edited between the rendering and now
                raise Conflict(_("The change order was changed while it was issued."), code="stale")
            stem = f"{FOLDER}/{project.pk}/{fresh.key}-r{fresh.revision}"
            hashes: dict[str, str] = {}
            names: dict[str, str] = {}
            for ext in ("html", "pdf"):
                data: bytes = files[ext]
                names[ext] = default_storage.save(f"{stem}.{ext}", ContentFile(data))
                saved.append(names[ext])
                hashes[ext] = hashlib.sha256(data).hexdigest()
            ChangeOrder.objects.filter(pk=fresh.pk, state=OrderState.DRAFT).update(
                state=OrderState.ISSUED, issued_at=now, issued_by=user, language=language,
                content=content, html_file=names["html"], html_sha256=hashes["html"],
                pdf_file=names["pdf"], pdf_sha256=hashes["pdf"], version=F("version") + 1,
                updated_at=now,
            )  # fmt: skip
            audit.record(
                actor=user, action="change_order.issued", object_type="change_order",
                object_key=fresh.key, project=project.key,
                before={"state": OrderState.DRAFT},
                after={"state": OrderState.ISSUED, "revision": fresh.revision,
                       "number": fresh.number, "title": cr.title, "change_request": cr.key,
                       "amount": fresh.amount, "currency": fresh.currency,
                       "schedule_delta_days": fresh.schedule_delta_days,
                       "html_sha256": hashes["html"], "pdf_sha256": hashes["pdf"],
                       "notify": _customers(project)},
            )  # fmt: skip
    except BaseException:
        for name in saved:
            default_storage.delete(name)
        raise
    fresh.refresh_from_db()
    return fresh


# ------------------------------------------------------------------ revise, withdraw


def change_order_revise(*, user: User, order: ChangeOrder) -> ChangeOrder:
    """A new revision (a draft with the same terms) of an issued or declined order, which it
    supersedes at once."""
    require_manager(user, order.project)
    try:
        with transaction.atomic():
            fresh = _lock_order(order)
            if fresh.state not in (OrderState.ISSUED, OrderState.DECLINED):
                raise _moved(fresh)
            ChangeOrder.objects.filter(pk=fresh.pk).update(
                state=OrderState.SUPERSEDED, version=F("version") + 1, updated_at=timezone.now()
            )
            new = ChangeOrder.objects.create(
                project=fresh.project, change_request=fresh.change_request, number=fresh.number,
                revision=fresh.revision + 1, key=fresh.key, created_by=user, **_terms(fresh),
            )  # fmt: skip
            audit.record(
                actor=user, action="change_order.revised", object_type="change_order",
                object_key=fresh.key, project=fresh.project.key,
                before={"state": fresh.state, "revision": fresh.revision},
                after={"state": OrderState.SUPERSEDED, "revision": new.revision,
                       "number": fresh.number},
            )  # fmt: skip
    except IntegrityError:
        raise Conflict(
            _("Someone else revised this change order first."), code="conflict"
        ) from None
    return new


def change_order_withdraw(*, user: User, order: ChangeOrder, reason: str = "") -> ChangeOrder:
    """Withdraw a draft or an issued order (not a signed one: that is a contract)."""
    require_manager(user, order.project)
    if len(reason or "") > TEXT_MAX:
        raise invalid("reason", _("Too long."))
    with transaction.atomic():
        fresh = _lock_order(order)
        if fresh.state not in (OrderState.DRAFT, OrderState.ISSUED, OrderState.DECLINED):
            raise _moved(fresh)
        now = timezone.now()
        ChangeOrder.objects.filter(pk=fresh.pk).update(
            state=OrderState.WITHDRAWN, withdrawn_at=now, withdrawn_by=user,
            version=F("version") + 1, updated_at=now,
        )  # fmt: skip
        audit.record(
            actor=user, action="change_order.withdrawn", object_type="change_order",
            object_key=fresh.key, project=fresh.project.key,
            internal=fresh.issued_at is None,  # a draft never existed for the customer
            before={"state": fresh.state},
            after={"state": OrderState.WITHDRAWN, "revision": fresh.revision,
                   "reason": reason or ""},
        )  # fmt: skip
    fresh.refresh_from_db()
    return fresh


# ------------------------------------------------------------------ sign, decline


def signature_statement(order: ChangeOrder, *, signer_name: str, role: str) -> str:
    """What the signer agrees to, in their language: the order, its revision, its price and
    schedule delta, and in which capacity."""
    phrase = _ROLE_PHRASES.get(role) or gettext_lazy("as the customer")
    return _(
        "I, %(name)s, accept change order %(key)s revision %(rev)s for change request %(cr)s "
        "at a price of %(amount)s %(currency)s and a schedule change of %(days)s days %(as)s."
    ) % {
        "name": signer_name, "key": order.key, "rev": order.revision,
        "cr": order.change_request.key, "amount": f"{order.amount:,.2f}",
        "currency": order.currency, "days": order.schedule_delta_days, "as": str(phrase),
    }  # fmt: skip


def _check_password(user: User, password: str, ip: str) -> None:
    ratelimit.check(user.username, ip)
    if not password or not user.check_password(password):
        ratelimit.failed(user.username, ip)
        raise PermissionDenied(
            _("The password is wrong: the change order was not signed."),
            code="invalid_signature", fields={"password": [_("Wrong password.")]},
        )  # fmt: skip
    ratelimit.succeeded(user.username, ip)


def change_order_sign(
    *, user: User, order: ChangeOrder, password: str, signer_name: str, ip: str = ""
) -> ChangeOrder:
    """Sign an issued order with the signer's password re-entered (nothing is recorded when it
    is wrong). The statement signed and the SHA-256 of the PDF (checked now) are kept."""
    from .selectors import order_file

    require_customer(user, order.project)
    signer_name = " ".join((signer_name or "").split())
    if not signer_name:
        raise invalid("signer_name", _("Write your name as you sign."))
    if len(signer_name) > 200:
        raise invalid("signer_name", _("Too long."))
    _check_password(user, password, ip)
    with transaction.atomic():
        fresh = _lock_order(order)
        if fresh.state != OrderState.ISSUED:
            raise _moved(fresh)
        if fresh.valid_until is not None and fresh.valid_until < timezone.localdate():
            raise PreconditionFailed(
                _("%(order)s was valid until %(day)s: ask for a new revision.")
                % {"order": fresh.label, "day": fresh.valid_until},
                code="expired",
            )
        order_file(fresh, "pdf")  # the PDF as issued, or a 409: nobody signs a changed file
        role = role_in(user, fresh.project) or ""
        statement = signature_statement(fresh, signer_name=signer_name, role=role)
        now = timezone.now()
        ChangeOrder.objects.filter(pk=fresh.pk, state=OrderState.ISSUED).update(
            state=OrderState.SIGNED, signed_at=now, signed_by=user, signer_name=signer_name,
            signature_ip=ip or None, signature_statement=statement,
            signed_pdf_sha256=fresh.pdf_sha256, version=F("version") + 1, updated_at=now,
        )  # fmt: skip
        audit.record(
            actor=user, action="change_order.signed", object_type="change_order",
            object_key=fresh.key, project=fresh.project.key, before={"state": OrderState.ISSUED},
            after={"state": OrderState.SIGNED, "revision": fresh.revision,
                   "number": fresh.number, "title": fresh.change_request.title,
                   "change_request": fresh.change_request.key, "signature": "password re-entered",
                   "signer": user.username, "signer_name": signer_name, "role": role,
                   "statement": statement, "pdf_sha256": fresh.pdf_sha256, "signed_at": now,
                   "notify": _managers(fresh.project)},
        )  # fmt: skip
    fresh.refresh_from_db()
    return fresh


def change_order_decline(*, user: User, order: ChangeOrder, reason: str) -> ChangeOrder:
    """Decline an issued order, saying why (the managers are told and may revise it)."""
    require_customer(user, order.project)
    reason = (reason or "").strip()
    if not reason:
        raise invalid("reason", _("Say why the order is declined."))
    if len(reason) > TEXT_MAX:
        raise invalid("reason", _("Too long."))
    with transaction.atomic():
        fresh = _lock_order(order)
        if fresh.state != OrderState.ISSUED:
            raise _moved(fresh)
        now = timezone.now()
        ChangeOrder.objects.filter(pk=fresh.pk, state=OrderState.ISSUED).update(
            state=OrderState.DECLINED, declined_at=now, declined_by=user, decline_reason=reason,
            version=F("version") + 1, updated_at=now,
        )  # fmt: skip
        audit.record(
            actor=user, action="change_order.declined", object_type="change_order",
            object_key=fresh.key, project=fresh.project.key, before={"state": OrderState.ISSUED},
            after={"state": OrderState.DECLINED, "revision": fresh.revision,
                   "number": fresh.number, "title": fresh.change_request.title,
                   "change_request": fresh.change_request.key, "reason": reason,
                   "notify": _managers(fresh.project)},
        )  # fmt: skip
    fresh.refresh_from_db()
    return fresh


# ------------------------------------------------------------------ the implementation guard


def implementation_blocked(cr: ChangeRequest) -> bool:
    """Whether ``cr`` is billable and its current change order is not signed yet: its latest
    revision is a draft, issued or declined. No order, or one withdrawn: not held."""
    current = (
        ChangeOrder.objects.filter(change_request_id=cr.pk)
        .order_by("-number", "-revision")
        .values_list("state", flat=True)
        .first()
    )
    return current in HOLDING


def available_actions(*, user: User, order: ChangeOrder) -> list[str]:
    """What ``user`` may do with ``order`` now (the pages' buttons, the API's hint)."""
    out: list[str] = []
    if may_manage(user, order.project):
        if order.state == OrderState.DRAFT:
            out += ["edit", "issue"]
        if order.state in (OrderState.ISSUED, OrderState.DECLINED):
            out.append("revise")
        if order.state in HOLDING:
            out.append("withdraw")
    if order.state == OrderState.ISSUED and may_sign(user, order.project):
        out += ["sign", "decline"]
    return out

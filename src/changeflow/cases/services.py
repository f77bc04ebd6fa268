"""Every write of cases and ratings: audited in the same transaction (``core.audit``).

Permissions are decided by ``require_case_editor`` and ``require_rater``, which the views call
before they read a body and the services call again.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from changeflow.accounts.models import Project, Role, User
from changeflow.changes.models import ChangeRequest
from changeflow.changes.workflow import FINAL_STATES, State
from changeflow.core import audit, search
from changeflow.core.access import CUSTOMER_ROLES, role_in
from changeflow.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from changeflow.core.validation import clean_text, invalid

from .models import TAG_MAX, TAGS_MAX, TEXT_MAX, Case, Outcome, OutcomeRating

EDITOR_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD, Role.QA)
# How the CR's history (changes.views) names these events and their fields.
EVENT_LABELS = {
    "case.created": gettext_lazy("marked it as a case"),
    "case.updated": gettext_lazy("edited the case"),
    "rating.created": gettext_lazy("rated the outcome"),
    "rating.changed": gettext_lazy("changed their rating"),
}
EVENT_FIELD_LABELS = {
    "case_outcome": gettext_lazy("Outcome"),
    "tags": gettext_lazy("Tags"),
    "archived": gettext_lazy("Archived"),
    "score": gettext_lazy("Rating"),
}
EVENT_VALUE_CHOICES = {"case_outcome": Outcome}
# Long texts: on the case's panel, not in the history.
EVENT_HIDDEN_KEYS = {"root_causes", "lessons"}
CASE_FIELDS = ("outcome", "root_causes", "lessons", "tags")
COMMENT_MAX = 10_000


# ------------------------------------------------------------------------------ permissions


def may_edit_cases(user: User, project: Project) -> bool:
    return user.is_superuser or role_in(user, project) in EDITOR_ROLES


def require_case_editor(user: User, project: Project) -> None:
    """403 unless ``user`` marks and edits cases in ``project``; 404 for whom cases do not
    exist (non-members, customer roles)."""
    if may_edit_cases(user, project):
        return
    role = role_in(user, project)
    if role is None or role in CUSTOMER_ROLES:
        raise NotFound(_("No such change request."))
    raise PermissionDenied(
        _("Only project managers, tech leads and QA mark change requests as cases.")
    )


def may_rate(user: User, cr: ChangeRequest) -> bool:
    """The CR's requester and the project's customer and customer representative members."""
    if not user.is_authenticated:
        return False
    role = role_in(user, cr.project)
    return role is not None and (cr.requested_by_id == user.pk or role in CUSTOMER_ROLES)


def require_rater(user: User, cr: ChangeRequest) -> None:
    if may_rate(user, cr):
        return
    if role_in(user, cr.project) is None and not user.is_superuser:
        raise NotFound(_("No such change request."))
    raise PermissionDenied(
        _("Only the requester and the customer's members rate the outcome of a change.")
    )


# ----------------------------------------------------------------------------------- cleaning


def clean_tags(value: Any) -> list[str]:
    """Tags as short labels: trimmed, inner spaces collapsed, lower-cased, each once, in the
    order given; a list of strings, or one comma-separated string."""
    if value in (None, ""):
        return []
    if isinstance(value, str):
        value = value.replace("，", ",").split(",")
    if not isinstance(value, list | tuple) or not all(isinstance(x, str) for x in value):
        raise invalid("tags", _("A list of strings."))
    tags: list[str] = []
    for raw in value:
        tag = " ".join(raw.split()).lower()
        if "|" in tag:
            raise invalid("tags", _("A tag cannot contain “|”."))
        if tag and tag not in tags:
            tags.append(tag)
    if len(tags) > TAGS_MAX or any(len(t) > TAG_MAX for t in tags):
        raise invalid(
            "tags",
            _("At most %(n)d tags of at most %(m)d characters.") % {"n": TAGS_MAX, "m": TAG_MAX},
        )
    return tags


def _clean(data: dict[str, Any]) -> dict[str, Any]:
    unknown = set(data) - set(CASE_FIELDS) - {"archived"}
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in sorted(unknown)},
        )
    cleaned: dict[str, Any] = {}
    if "outcome" in data:
        if data["outcome"] not in Outcome.values:
            raise invalid("outcome", ", ".join(Outcome.values))
        cleaned["outcome"] = data["outcome"]
    for name in ("root_causes", "lessons"):
        if name in data:
            cleaned[name] = clean_text(name, data[name], TEXT_MAX)
    if "tags" in data:
        cleaned["tags"] = clean_tags(data["tags"])
    if "archived" in data:
        if not isinstance(data["archived"], bool):
            raise invalid("archived", _("true or false."))
        cleaned["archived"] = data["archived"]
    return cleaned


def _indexed(case: Case) -> dict[str, str]:
    """The derived columns of a case: its tags for LIKE, its text as search tokens."""
    text = " ".join([case.change_request.title, case.root_causes, case.lessons, *case.tags])
    tokens = search.tokenize(text)
    return {
        "tag_index": "|" + "|".join(case.tags) + "|" if case.tags else "",
        "search_text": " " + " ".join(tokens) + " " if tokens else "",
    }


def _audited(values: dict[str, Any]) -> dict[str, Any]:
    """Field values as the audit log names them (the outcome as ``case_outcome``: the CR's
    history shows other events' ``outcome``, an estimation round's, differently)."""
    return {("case_outcome" if k == "outcome" else k): v for k, v in values.items()}


def _snapshot(case: Case) -> dict[str, Any]:
    return {
        "case_outcome": case.outcome,
        "root_causes": case.root_causes,
        "lessons": case.lessons,
        "tags": case.tags,
        "archived": case.archived,
    }


# -------------------------------------------------------------------------------------- cases


def case_mark(
    *,
    user: User,
    cr: ChangeRequest,
    outcome: str,
    root_causes: str = "",
    lessons: str = "",
    tags: Any = None,
) -> Case:
    """Mark ``cr`` (closed, rejected or withdrawn) as a case. 409 when it is not final or is
    a case already."""
    require_case_editor(user, cr.project)
    data = _clean({"outcome": outcome, "root_causes": root_causes, "lessons": lessons,
                   "tags": tags})  # fmt: skip
    with transaction.atomic():
        fresh = ChangeRequest.objects.select_related("project").get(pk=cr.pk)
        if fresh.state not in FINAL_STATES:
            raise Conflict(
                _(
                    "Only a closed, rejected or withdrawn change request can be a case; "
                    "this one is %(state)s."
                )
                % {"state": fresh.get_state_display()},
                code="not_final",
            )
        case = Case(change_request=fresh, project=fresh.project, created_by=user, **data)
        for name, value in _indexed(case).items():
            setattr(case, name, value)
        try:
            with transaction.atomic():
                case.save()
        except IntegrityError:
            raise Conflict(
                _("This change request is a case already."), code="already_a_case"
            ) from None
        audit.record(
            actor=user, action="case.created", object_type="change_request",
            object_key=fresh.key, project=fresh.project.key, after=_snapshot(case),
            internal=True,
        )  # fmt: skip
    return case


def case_update(
    *, user: User, case: Case, data: dict[str, Any], expected_version: int | None = None
) -> Case:
    """Change a case's fields (``archived`` hides it from the library, and back); each change
    is audited old → new. Compare-and-set on ``version``: a stale one is a 409."""
    require_case_editor(user, case.project)
    cleaned = _clean(data)
    with transaction.atomic():
        fresh = Case.objects.select_related("change_request", "project").get(pk=case.pk)
        if expected_version is not None and fresh.version != expected_version:
            raise Conflict(
                _("The case was changed by someone else since you read it."), code="stale"
            )
        before, after = {}, {}
        for name, value in cleaned.items():
            if getattr(fresh, name) != value:
                before[name], after[name] = getattr(fresh, name), value
                setattr(fresh, name, value)
        if not after:
            return fresh
        columns = {**after, **_indexed(fresh)}
        updated = Case.objects.filter(pk=fresh.pk, version=fresh.version).update(
            **columns, version=F("version") + 1, updated_at=timezone.now()
        )
        if not updated:
            raise Conflict(
                _("The case was changed by someone else since you read it."), code="stale"
            )
        fresh.version += 1
        audit.record(
            actor=user, action="case.updated", object_type="change_request",
            object_key=fresh.change_request.key, project=fresh.project.key,
            before=_audited(before), after=_audited(after), internal=True,
        )  # fmt: skip
    return fresh


# ------------------------------------------------------------------------------------ ratings


def clean_score(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise invalid("score", _("A whole number from 1 to 5."))
    try:
        score = int(value)
    except ValueError:
        raise invalid("score", _("A whole number from 1 to 5.")) from None
    if not 1 <= score <= 5:
        raise invalid("score", _("A whole number from 1 to 5."))
    return score


def rating_set(*, user: User, cr: ChangeRequest, score: Any, comment: Any = "") -> OutcomeRating:
    """``user``'s rating of ``cr``'s outcome, made or replaced (the audit log keeps each one).
    Only once the CR is closed (409 before)."""
    require_rater(user, cr)
    if cr.state != State.CLOSED:
        raise Conflict(
            _("The outcome is rated once the change request is closed."), code="not_closed"
        )
    score = clean_score(score)
    comment = clean_text("comment", comment, COMMENT_MAX)
    with transaction.atomic():
        rating = (
            OutcomeRating.objects.select_for_update()
            .filter(change_request_id=cr.pk, user=user)
            .first()
        )
        before: dict[str, Any] = {}
        if rating is None:
            try:
                with transaction.atomic():
                    rating = OutcomeRating.objects.create(
                        change_request=cr, user=user, score=score, comment=comment
                    )
            except IntegrityError:  # rated at the same moment in another request
                raise Conflict(_("You rated this change at the same time elsewhere.")) from None
        else:
            if (rating.score, rating.comment) == (score, comment):
                return rating
            before = {"score": rating.score, "comment": rating.comment}
            rating.score, rating.comment = score, comment
            rating.save(update_fields=["score", "comment", "updated_at"])
        audit.record(
            actor=user, action="rating.changed" if before else "rating.created",
            object_type="change_request", object_key=cr.key, project=cr.project.key,
            before=before, after={"score": score, "comment": comment},
        )  # fmt: skip
    return rating

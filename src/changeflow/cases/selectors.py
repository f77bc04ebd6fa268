"""Permission-filtered reads of cases and ratings (``core.access.restrict``), and the figures.

A list is one query: the figures' inputs (the current assessment, the first submission from
the stage history, the ratings) are correlated subqueries of the case query, not a query per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Avg, Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.changes.models import ChangeRequest, ImpactAssessment, StateChange
from changeflow.changes.workflow import State
from changeflow.core import search
from changeflow.core.access import restrict
from changeflow.core.errors import NotFound, ValidationError

from .figures import Figures
from .models import Case, Outcome, OutcomeRating

COMPARE_MIN, COMPARE_MAX = 2, 4


def _latest_assessment(field: str) -> Subquery:
    return Subquery(
        ImpactAssessment.objects.filter(change_request_id=OuterRef("change_request_id"))
        .order_by("-version")
        .values(field)[:1]
    )


def _submitted_at() -> Subquery:
    """When the CR was first submitted, from its stage history (``changes.StateChange``)."""
    return Subquery(
        StateChange.objects.filter(
            change_request_id=OuterRef("change_request_id"), to_state=State.SUBMITTED
        )
        .order_by("at", "id")
        .values("at")[:1]
    )


def _ratings(cr_ref: str) -> dict[str, Any]:
    ratings = OutcomeRating.objects.filter(change_request_id=OuterRef(cr_ref)).values(
        "change_request_id"
    )
    return {
        "rating_avg": Subquery(ratings.annotate(a=Avg("score")).values("a")[:1]),
        "rating_n": Coalesce(
            Subquery(ratings.annotate(n=Count("id")).values("n")[:1], output_field=IntegerField()),
            0,
        ),
    }


def with_figures(qs: QuerySet[Case]) -> QuerySet[Case]:
    """``qs`` annotated with what ``figures_of`` reads."""
    return qs.select_related("change_request", "project", "created_by").annotate(
        est_effort=_latest_assessment("effort_hours"),
        est_schedule=_latest_assessment("schedule_days"),
        est_cost=_latest_assessment("cost"),
        est_currency=_latest_assessment("currency"),
        submitted_at=_submitted_at(),
        **_ratings("change_request_id"),
    )


def _average(value: Any) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def _decimal(value: Any) -> Decimal | None:
    # SQLite hands a subquery's decimal back as a float or a string.
    return None if value is None else Decimal(str(value))


def figures_of(case: Case) -> Figures:
    """The figures of a case read through ``with_figures``."""
    cr = case.change_request
    ended = cr.closed_at if cr.state == State.CLOSED and cr.closed_at else cr.state_changed_at
    a: Any = case
    return Figures(
        estimated_effort_hours=_decimal(a.est_effort),
        actual_effort_hours=cr.actual_effort_hours,
        estimated_schedule_days=_decimal(a.est_schedule),
        actual_schedule_days=cr.actual_schedule_days,
        estimated_cost=_decimal(a.est_cost),
        actual_cost=cr.actual_cost,
        currency=a.est_currency or "",
        submitted_at=a.submitted_at,
        ended_at=ended,
        rating_average=_average(a.rating_avg),
        rating_count=a.rating_n or 0,
    )


def _search(qs: QuerySet[Case], q: str) -> QuerySet[Case]:
    """Cases whose title, root causes or lessons match ``q``: the same tokens and the same
    rules as the change requests' full-text search (``core.search``), matched on the case's
    token column (every term must match)."""
    terms = search.query_terms(q)
    if not terms:
        return qs.none()
    for kind, tokens in terms:
        if kind == "phrase":
            qs = qs.filter(search_text__contains=" " + " ".join(tokens) + " ")
        else:
            qs = qs.filter(search_text__contains=" " + tokens[0])
    return qs


def clean_filters(raw: dict[str, Any]) -> dict[str, Any]:
    """The library's filters from a query string: q, outcome, tag, type; a ValidationError
    naming each bad one."""
    from changeflow.changes.models import ChangeType

    filters: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    q = (raw.get("q") or "").strip()
    if len(q) > 200:
        problems["q"] = [_("At most 200 characters.")]
    elif q:
        filters["q"] = q
    for name, choices in (("outcome", Outcome.values), ("type", ChangeType.values)):
        value = (raw.get(name) or "").strip()
        if value and value not in choices:
            problems[name] = [", ".join(choices)]
        elif value:
            filters[name] = value
    tag = (raw.get("tag") or "").strip()
    if tag:
        filters["tag"] = tag.lower()
    if problems:
        raise ValidationError(_("Some filters are invalid."), fields=problems)
    return filters


def case_list(
    *, user: User, project: Project | None = None, filters: dict[str, Any] | None = None
) -> QuerySet[Case]:
    """The cases ``user`` may see (of ``project``, or of every project), newest first, with
    their figures; archived ones left out. Filters: q, outcome, tag, type (a CR type)."""
    filters = filters or {}
    qs = restrict(Case.objects, user).filter(archived=False)
    if project is not None:
        qs = qs.filter(project_id=project.pk)
    if filters.get("outcome"):
        qs = qs.filter(outcome=filters["outcome"])
    if filters.get("type"):
        qs = qs.filter(change_request__type=filters["type"])
    if filters.get("tag"):
        qs = qs.filter(tag_index__contains="|" + filters["tag"] + "|")
    if filters.get("q"):
        qs = _search(qs, filters["q"])
    return with_figures(qs).order_by("-created_at", "-id")


def case_of(*, user: User, cr: ChangeRequest) -> Case | None:
    """The case of ``cr`` if it has one that ``user`` may see (archived too)."""
    return with_figures(restrict(Case.objects, user).filter(change_request_id=cr.pk)).first()


def case_get(*, user: User, cr: ChangeRequest) -> Case:
    case = case_of(user=user, cr=cr)
    if case is None:
        raise NotFound(_("This change request is not a case."))
    return case


def cases_to_compare(*, user: User, keys: list[str]) -> list[Case]:
    """The cases of the change requests ``keys`` (2–4, in that order) that ``user`` may see."""
    keys = list(dict.fromkeys(k.strip() for k in keys if k.strip()))
    if not COMPARE_MIN <= len(keys) <= COMPARE_MAX:
        raise ValidationError(
            _("Choose two to four cases to compare."),
            fields={"cases": [_("Choose two to four cases to compare.")]},
        )
    found = {
        c.change_request.key: c
        for c in with_figures(restrict(Case.objects, user).filter(change_request__key__in=keys))
    }
    missing = [k for k in keys if k not in found]
    if missing:
        raise NotFound(_("No such case: %(keys)s.") % {"keys": ", ".join(missing)})
    return [found[k] for k in keys]


def tags_in_use(*, user: User, project: Project | None = None) -> list[str]:
    """Every tag of the visible, unarchived cases, sorted (for the library's filter)."""
    qs = restrict(Case.objects, user).filter(archived=False)
    if project is not None:
        qs = qs.filter(project_id=project.pk)
    return sorted({t for tags in qs.values_list("tags", flat=True) for t in tags})


# ---------------------------------------------------------------------------------- ratings


def rating_list(*, user: User, cr: ChangeRequest) -> QuerySet[OutcomeRating]:
    return (
        restrict(OutcomeRating.objects, user)
        .filter(change_request_id=cr.pk)
        .select_related("user")
        .order_by("created_at", "id")
    )


@dataclass(frozen=True)
class RatingSummary:
    average: Decimal | None
    count: int


def _summary(qs: QuerySet[OutcomeRating]) -> RatingSummary:
    row = qs.aggregate(average=Avg("score"), count=Count("id"))
    return RatingSummary(_average(row["average"]), row["count"])


def rating_summary(*, cr: ChangeRequest) -> RatingSummary:
    """The average and number of ratings of one CR (its caller has read the CR)."""
    return _summary(OutcomeRating.objects.filter(change_request_id=cr.pk))


def project_rating_summary(*, project: Project) -> RatingSummary:
    """The average of every rating of the project's change requests (one rating, one vote)."""
    return _summary(OutcomeRating.objects.filter(change_request__project_id=project.pk))

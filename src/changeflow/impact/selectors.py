"""Reads for impact estimation: expert rounds, the history pool, analogy, similar CRs, calibration.

Permissions go through ``core.access``: the CR itself is fetched by the caller through
``changes.selectors`` (members only, others 404); here estimates, analogy figures and
calibration are *internal*: customer roles get 403 (they see the CR, not the team's numbers).
Similar-change search is open to every member (it shows keys and titles they can see anyway).

The history pool (every CR of a scope as arrays plus its text index) is built once per process
from the CRs' stored text features (``impact.features``: one query, only new or re-worded
CRs tokenised) and rebuilt when the scope's CRs change (told by the audit log, which every
write goes through), so a query over 100,000 CRs costs the scoring, not the loading.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from changeflow.accounts.models import Membership, Project, Role, User
from changeflow.changes.models import ChangeRequest, ImpactAssessment
from changeflow.changes.workflow import State
from changeflow.core.access import restrict, role_in, sees_internal
from changeflow.core.errors import PermissionDenied, PreconditionFailed
from changeflow.core.models import AuditEvent, AuditHead
from changeflow.requirements.models import AffectedRequirement

from . import analogy, calibration, estimation, features, history, similar
from .models import (
    DIMENSIONS,
    POINTS,
    CalibrationRecord,
    CalibrationSource,
    EstimationRound,
    ExpertEstimate,
    RoundStatus,
)

ESTIMATOR_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD, Role.QA, Role.DEVELOPER)
ASSESSOR_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD)
# Cosine similarity from which a CR is flagged a likely duplicate: the threshold that separated
# paraphrases best on LCQMC's dev split (benchmarks/similar_quality.py).
DUPLICATE_AT = 0.65
RELATED_AT = 0.12
DESCRIPTION_CHARS = features.DESCRIPTION_CHARS  # the text index reads a description's beginning


# ---------------------------------------------------------------- who may do what


def sees_estimates(user: User, project: Project) -> bool:
    """Members who are not customers (internal figures); site admins."""
    return user.is_superuser or (
        role_in(user, project) is not None and sees_internal(user, project)
    )


def may_estimate(user: User, project: Project) -> bool:
    return user.is_superuser or role_in(user, project) in ESTIMATOR_ROLES


def may_moderate(user: User, project: Project) -> bool:
    """Assessors close Delphi rounds and record assessments."""
    return user.is_superuser or role_in(user, project) in ASSESSOR_ROLES


def require_internal(user: User, project: Project) -> None:
    if not sees_estimates(user, project):
        raise PermissionDenied(_("Estimates are internal to the delivery team."))


def require_estimator(user: User, project: Project) -> None:
    """The one check before an expert estimate is given, whatever its figures: estimates are
    internal (customer roles: 403), and only the delivery team's estimators give them (403)."""
    require_internal(user, project)
    if not may_estimate(user, project):
        raise PermissionDenied(
            _("Only project managers, tech leads, QA and developers give expert estimates.")
        )


# ---------------------------------------------------------------- expert estimates and rounds


def _triple_dict(t: tuple[float, float, float] | None) -> dict | None:
    if t is None:
        return None
    p = estimation.ThreePoint(*t)
    return {
        "optimistic": t[0],
        "most_likely": t[1],
        "pessimistic": t[2],
        "mean": p.mean,
        "sd": p.sd,
    }


def round_aggregate(estimates: list[ExpertEstimate]) -> dict[str, dict | None]:
    """PERT aggregate per dimension over a round's estimates (None where nobody gave one)."""
    out: dict[str, dict | None] = {}
    for dim in DIMENSIONS:
        triples = [t for e in estimates if (t := e.triple(dim)) is not None]
        out[dim] = estimation.aggregate(triples).as_dict() if triples else None
    return out


def _labels(estimates: list[ExpertEstimate]) -> dict[int, str]:
    """Anonymous labels A, B, C… in order of effort mean (not of names or submission)."""
    ordered = sorted(estimates, key=lambda e: (float(e.effort_most_likely or 0), e.pk))
    return {e.pk: chr(ord("A") + i) if i < 26 else str(i + 1) for i, e in enumerate(ordered)}


def expert_rounds(*, user: User, cr: ChangeRequest) -> dict[str, Any]:
    """Every round of the CR with its estimates, as the user may see them.

    Estimators are anonymous (A, B, …) to everyone but the moderators (project managers, tech
    leads); during an open round an estimator sees only their own figures and how many others
    have estimated — seeing the others first would anchor them, which Delphi exists to avoid.
    """
    require_internal(user, cr.project)
    moderator = may_moderate(user, cr.project)
    rounds = list(EstimationRound.objects.filter(change_request=cr).order_by("number"))
    estimates = list(
        ExpertEstimate.objects.filter(change_request=cr).select_related("estimator").order_by("id")
    )
    by_round: dict[int, list[ExpertEstimate]] = {}
    for e in estimates:
        by_round.setdefault(e.round_id, []).append(e)
    out = []
    for r in rounds:
        mine = by_round.get(r.pk, [])
        labels = _labels(mine)
        hidden = r.status == RoundStatus.OPEN and not moderator
        rows: list[dict[str, Any]] = []
        for e in mine:
            own = e.estimator_id == user.pk
            if hidden and not own:
                continue
            rows.append({
                "id": e.pk,
                "label": labels[e.pk],
                "estimator": e.estimator.username if (moderator or own) else None,
                "mine": own,
                **{dim: _triple_dict(e.triple(dim)) for dim in DIMENSIONS},
                "comment": e.comment if (moderator or own) else "",
                "updated_at": e.updated_at,
            })  # fmt: skip
        rows.sort(key=lambda row: row["label"])
        out.append({
            "number": r.number,
            "status": r.status,
            "status_label": RoundStatus(r.status).label,
            "threshold": r.threshold,
            "opened_at": r.opened_at,
            "closed_at": r.closed_at,
            "submitted": len(mine),
            "estimates": rows,
            "aggregate": round_aggregate(mine) if not hidden else None,
            "summary": r.summary,
        })  # fmt: skip
    current = out[-1] if out and out[-1]["status"] == RoundStatus.OPEN else None
    latest = next((r for r in reversed(out) if r["aggregate"] and r["submitted"]), None)
    previous_closed = next((r for r in reversed(out) if r["status"] != RoundStatus.OPEN), None)
    my_current = None
    if current:
        my_current = next((e for e in current["estimates"] if e["mine"]), None)
    return {
        "rounds": out,
        "current": current,
        "latest": latest,  # the round whose aggregate stands for "the expert estimate"
        "previous_closed": previous_closed,
        "my_current": my_current,
        "can_estimate": may_estimate(user, cr.project) and cr.state in ASSESSABLE,
        "can_close": may_moderate(user, cr.project)
        and current is not None
        and current["submitted"] > 0,
    }


ASSESSABLE = (State.SUBMITTED, State.TRIAGED, State.ASSESSING, State.IN_REVIEW)


def estimates_awaited(*, user: User) -> QuerySet[EstimationRound]:
    """Open Delphi rounds that ask ``user`` for an estimate they have not given: on CRs they
    see that are still to be decided, in projects where they estimate (``ESTIMATOR_ROLES``).
    Round 1 asks every estimator of the project; a later round asks those who estimated in
    the round before (Wideband Delphi: they revise after seeing the spread). Oldest first."""
    projects = Membership.objects.filter(user_id=user.pk, role__in=ESTIMATOR_ROLES)
    crs = restrict(ChangeRequest.objects, user).filter(
        project_id__in=projects.values("project_id"), state__in=ASSESSABLE
    )
    mine = ExpertEstimate.objects.filter(estimator_id=user.pk)
    before = mine.filter(
        change_request_id=OuterRef("change_request_id"), round__number=OuterRef("number") - 1
    )
    return (
        # Rounds first (few are open), each CR checked by its key: with ``change_request__in``
        # SQLite walked every assessable CR of the project (100,000 CRs: 20 ms → under 1 ms).
        EstimationRound.objects.filter(status=RoundStatus.OPEN)
        .filter(Exists(crs.filter(pk=OuterRef("change_request_id"))))
        .exclude(Exists(mine.filter(round_id=OuterRef("pk"))))
        .filter(Q(number=1) | Exists(before))
        .select_related("change_request__project")
        .only(
            "id",
            "number",
            "opened_at",
            "change_request__key",
            "change_request__title",
            "change_request__state",
            "change_request__desired_date",
            "change_request__project__key",
            "change_request__project__name",
        )  # fmt: skip
        .order_by("opened_at", "id")
    )


def expert_aggregate(cr: ChangeRequest) -> dict[str, dict | None] | None:
    """The latest round's PERT aggregate (no permission check: for services and calibration)."""
    last = (
        EstimationRound.objects.filter(change_request=cr, estimates__isnull=False)
        .order_by("-number")
        .first()
    )
    if last is None:
        return None
    return round_aggregate(list(last.estimates.all()))


# ---------------------------------------------------------------- the history pool


@dataclass
class Scope:
    pool: history.Pool
    keys: list[str]
    titles: list[str]
    states: list[str]
    seq: int  # the audit chain's head when the pool was read

    def position(self, key: str) -> int | None:
        index = self.__dict__.get("_by_key")
        if index is None:
            index = self.__dict__["_by_key"] = {k: i for i, k in enumerate(self.keys)}
        return index.get(key)


_POOLS: dict[tuple[int, ...], Scope] = {}
_LOCK = threading.Lock()
_REBUILDING: set[tuple[int, ...]] = set()
# Up to this many CRs a stale pool is rebuilt before answering (about a second); above it the
# stale pool answers while a background thread rebuilds it (5–10 s per 100,000 CRs from their
# stored text features, impact.features), so no request waits for that.
SYNC_REBUILD = 20_000


def _head_seq() -> int:
    head = AuditHead.objects.filter(pk=1).values_list("seq", flat=True).first()
    return int(head or 0)


def _changed_since(project_ids: tuple[int, ...], seq: int) -> bool:
    """Whether any CR of these projects was written after audit event ``seq``.

    Every write to a CR goes through a service that records an audit event, and ``seq`` is
    unique and indexed: this reads only the events since, never the CR table.
    """
    keys = list(Project.objects.filter(pk__in=project_ids).values_list("key", flat=True))
    return AuditEvent.objects.filter(
        seq__gt=seq, project__in=keys, object_type="change_request"
    ).exists()


def _rows(project_ids: tuple[int, ...]) -> list[dict]:
    """Every CR of the scope with its attributes and stored text features, in one query."""
    latest = ImpactAssessment.objects.filter(change_request=OuterRef("pk")).order_by("-version")
    touched = (
        AffectedRequirement.objects.filter(change_request=OuterRef("pk"))
        .values("change_request")
        .annotate(c=Count("id"))
        .values("c")
    )
    qs = (
        ChangeRequest.objects.filter(project_id__in=project_ids)
        .annotate(
            estimated_effort=Subquery(latest.values("effort_hours")[:1]),
            requirements=Coalesce(Subquery(touched[:1]), 0),
            f_version=F("text_features__version"),
            f_cr_version=F("text_features__cr_version"),
            f_digest=F("text_features__digest"),
            f_terms=F("text_features__terms"),
        )
        .order_by("id")
        .values(
            "id", "key", "title", "state", "type", "priority", "version", "estimated_effort",
            "requirements", "actual_effort_hours", "actual_schedule_days", "actual_cost",
            "f_version", "f_cr_version", "f_digest", "f_terms",
        )
    )  # fmt: skip
    return [
        {
            **r,
            "effort": r["actual_effort_hours"],
            "schedule": r["actual_schedule_days"],
            "cost": r["actual_cost"],
            "closed": r["state"] == State.CLOSED,
        }
        for r in qs.iterator(chunk_size=5000)
    ]


def _build(project_ids: tuple[int, ...], seq: int | None = None) -> Scope:
    if seq is None:
        seq = _head_seq()  # read first: a write during the build makes the next check rebuild
    rows = _rows(project_ids)
    text = features.index(features.fresh_terms(rows))
    return Scope(
        pool=history.build(rows, text=text),
        keys=[r["key"] for r in rows],
        titles=[r["title"] for r in rows],
        states=[r["state"] for r in rows],
        seq=seq,
    )


def _rebuild_in_background(project_ids: tuple[int, ...]) -> None:
    from django.db import connections

    def run() -> None:
        try:
            _POOLS[project_ids] = _build(project_ids)
        finally:
            _REBUILDING.discard(project_ids)
            # The thread ends here: its connection must go with it. close_old_connections()
            # would keep it (CONN_MAX_AGE), left open with no thread to reuse or close it.
            connections.close_all()

    with _LOCK:
        if project_ids in _REBUILDING:
            return
        _REBUILDING.add(project_ids)
    threading.Thread(target=run, name="impact-pool", daemon=True).start()


def scope_pool(project_ids: tuple[int, ...]) -> Scope:
    """The (cached) pool of every CR of these projects, current as of the last write.

    A request pays one indexed read of the audit head when nothing changed, and a range read
    of the audit events since when something did.
    """
    project_ids = tuple(sorted(project_ids))
    seq = _head_seq()
    cached = _POOLS.get(project_ids)
    if cached is not None:
        if cached.seq == seq:
            return cached
        if not _changed_since(project_ids, cached.seq):
            cached.seq = seq
            return cached
        if cached.pool.n > SYNC_REBUILD and not connection.in_atomic_block:
            _rebuild_in_background(project_ids)
            return cached
    with _LOCK:
        scope = _build(project_ids, seq)
        _POOLS[project_ids] = scope
        return scope


def _scope_pool_of(project: Project, project_ids: tuple[int, ...]) -> Scope:
    """``scope_pool(project_ids)``, checked once per ``project`` object: the CR page asks for
    the same pool twice (similar changes, then the analogy estimate), and the second answer
    would only read the audit head again."""
    pools = project.__dict__.setdefault("_impact_pools", {})
    if project_ids not in pools:
        pools[project_ids] = scope_pool(project_ids)
    return pools[project_ids]


def visible_scope(user: User, project: Project, scope: str = "project") -> tuple[int, ...]:
    """The projects whose history counts: the project, or every project of its customer
    organisation that ``user`` can see (never one they cannot)."""
    if scope == "organisation" and project.customer_id:
        ids = restrict(Project.objects, user).filter(customer_id=project.customer_id)
        return tuple(ids.values_list("id", flat=True)) or (project.pk,)
    return (project.pk,)


# ---------------------------------------------------------------- analogy


_UNREAD: Any = object()  # "not read yet", as distinct from "there is none"


def _query_effort(cr: ChangeRequest, assessment: Any = _UNREAD, expert: Any = _UNREAD):
    """The CR's own estimated effort: its current assessment's, else the experts' PERT mean.

    Callers that have read the assessment or the expert rounds already pass them (the CR
    page has both), which saves their queries.
    """
    a = assessment
    if a is _UNREAD:
        a = ImpactAssessment.objects.filter(change_request=cr).order_by("-version").first()
    if a is not None and a.effort_hours is not None:
        return float(a.effort_hours)
    agg = expert_aggregate(cr) if expert is _UNREAD else expert
    effort = agg.get("effort") if agg else None
    if effort:
        return float(effort["mean"])
    return None


def analogy_for(
    *,
    user: User,
    cr: ChangeRequest,
    scope: str = "project",
    k: int | None = None,
    assessment: Any = _UNREAD,
    expert: Any = _UNREAD,
    requirements: int | None = None,
) -> dict:
    """The CR's most similar closed CRs with actuals and the analogy estimate (internal).
    ``requirements``: the number of requirements the CR declares affected, if known."""
    require_internal(user, cr.project)
    s = _scope_pool_of(cr.project, visible_scope(user, cr.project, scope))
    if requirements is None:
        requirements = AffectedRequirement.objects.filter(change_request=cr).count()
    own_effort = _query_effort(cr, assessment, expert)
    try:
        result = history.estimate(
            s.pool, title=cr.title, description=cr.description[:DESCRIPTION_CHARS],
            type=cr.type, priority=cr.priority, estimated_effort=own_effort,
            requirements=requirements, exclude_id=cr.pk, k=k or analogy.DEFAULT_K,
        )  # fmt: skip
    except history.EmptyHistory as exc:
        raise PreconditionFailed(
            _("No history to compare with: %s.") % exc, code="empty_history"
        ) from None
    return _analogy_dict(s, result)


def _analogy_dict(s: Scope, result: history.Result) -> dict:
    pos = s.pool.position
    analogues = []
    for a in result.analogues:
        i = pos[a.id]
        effort, schedule, cost = (None if np.isnan(v) else v for v in a.actuals)
        analogues.append({
            "key": s.keys[i], "title": s.titles[i], "similarity": round(a.similarity, 4),
            "text_similarity": round(a.text_similarity, 4), "used": a.used,
            "actual_effort_hours": effort, "actual_schedule_days": schedule, "actual_cost": cost,
        })  # fmt: skip
    return {
        "k": analogy.DEFAULT_K,
        "history": result.history,
        "estimates": result.estimates,
        "analogues": analogues,
    }


# ---------------------------------------------------------------- similar changes


def similar_to(
    *, user: User, project: Project, text: str, body: str = "", exclude_key: str = "",
    limit: int = 5, scope: str = "project",
) -> list[dict]:  # fmt: skip
    """Likely duplicates and related CRs for a text (intake) or a CR (its page)."""
    if role_in(user, project) is None and not user.is_superuser:
        raise PermissionDenied(_("Not a member of this project."))
    s = _scope_pool_of(project, visible_scope(user, project, scope))
    query = similar.document_terms(text, body[:DESCRIPTION_CHARS])
    mask = None
    at = s.position(exclude_key) if exclude_key else None
    if at is not None:
        mask = np.ones(s.pool.n, dtype=bool)
        mask[at] = False
    hits = s.pool.text.search(query, limit=limit, mask=mask, min_similarity=RELATED_AT)
    return [
        {
            "key": s.keys[h.index],
            "title": s.titles[h.index],
            "state": s.states[h.index],
            "state_label": State(s.states[h.index]).label,
            "similarity": round(h.similarity, 4),
            "duplicate": h.similarity >= DUPLICATE_AT,
        }
        for h in hits
    ]


# ---------------------------------------------------------------- calibration


def _bias_table(project_ids: tuple[int, ...]) -> dict:
    records = CalibrationRecord.objects.filter(project_id__in=project_ids).values_list(
        "source", "estimator_id", "cr_type", "dimension", "log_ratio"
    )
    pairs = []
    for source, estimator, cr_type, dim, ratio in records:
        pairs.append(((source, estimator, cr_type, dim), ratio))
        pairs.append(((source, estimator, "", dim), ratio))
    return calibration.group(pairs)


def calibration_summary(*, user: User, project: Project) -> dict:
    """Bias and spread of each source, estimator and CR type, per dimension (internal)."""
    require_internal(user, project)
    biases = _bias_table((project.pk,))
    names = dict(
        User.objects.filter(pk__in={k[1] for k in biases if k[1]}).values_list("pk", "username")
    )
    rows = []
    for (source, estimator, cr_type, dim), bias in sorted(
        biases.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1] or 0, kv[0][2])
    ):
        rows.append({
            "source": source,
            "source_label": CalibrationSource(source).label,
            "estimator": names.get(estimator) if estimator else None,
            "cr_type": cr_type,
            "dimension": dim,
            "applied": bias.n >= calibration.MIN_N,
            **bias.as_dict(),
        })  # fmt: skip
    return {"min_n": calibration.MIN_N, "groups": rows}


def corrected(
    biases: dict, source: str, estimator_id: int | None, cr_type: str, dim: str, value: float
) -> dict:
    """``value`` with the most specific applicable bias: uncorrected and corrected."""
    chosen = calibration.pick(
        biases, [(source, estimator_id, cr_type, dim), (source, estimator_id, "", dim)]
    )
    if chosen is None:
        return {"uncorrected": value, "corrected": None, "bias": None}
    key, bias = chosen
    return {
        "uncorrected": value,
        "corrected": calibration.correct(value, bias),
        "bias": {**bias.as_dict(), "cr_type": key[2]},
    }


def corrections_for(cr: ChangeRequest, analogy_data: dict) -> dict:
    """The analogy estimates corrected by the project's analogy bias (per dimension)."""
    biases = _bias_table((cr.project_id,))
    return {
        dim: corrected(biases, CalibrationSource.ANALOGY, None, cr.type, dim, est["value"])
        if est
        else None
        for dim, est in analogy_data["estimates"].items()
    }


# ---------------------------------------------------------------- side by side


def methods_side_by_side(
    *, user: User, cr: ChangeRequest, assessment: Any = _UNREAD, requirements: int | None = None
) -> dict:
    """Expert (PERT/Delphi), analogy and their calibration-corrected figures, for the
    assessment form and the CR page. Nothing for customers (internal figures). Callers that
    have read the current assessment or the number of affected requirements pass them."""
    if not sees_estimates(user, cr.project):
        return {"visible": False}
    expert = expert_rounds(user=user, cr=cr)
    biases = _bias_table((cr.project_id,))
    try:
        latest = expert["latest"]
        analog = analogy_for(
            user=user, cr=cr, assessment=assessment,
            expert=latest["aggregate"] if latest else None, requirements=requirements,
        )  # fmt: skip
        analogy_error = ""
    except PreconditionFailed as exc:
        analog, analogy_error = None, str(exc.message)
    rows = []
    latest = expert["latest"]
    for dim in DIMENSIONS:
        e = latest["aggregate"].get(dim) if latest and latest["aggregate"] else None
        a = analog["estimates"].get(dim) if analog else None
        rows.append({
            "dimension": dim,
            "expert": e,
            "expert_corrected": corrected(
                biases, CalibrationSource.EXPERT, None, cr.type, dim, e["mean"]
            ) if e else None,
            "analogy": a,
            "analogy_corrected": corrected(
                biases, CalibrationSource.ANALOGY, None, cr.type, dim, a["value"]
            ) if a else None,
        })  # fmt: skip
    return {
        "visible": True,
        "expert": expert,
        "analogy": analog,
        "analogy_error": analogy_error,
        "rows": rows,
        "points": POINTS,
    }


def closed_with_actuals(project: Project) -> int:
    return ChangeRequest.objects.filter(
        Q(project=project), state=State.CLOSED, actual_effort_hours__gt=0
    ).count()

"""Every write to requirements and baselines, and the baseline diff.

Each writer is keyword-only, runs in one transaction and writes its audit event last (the audit
chain head is locked only then). Project managers and tech leads (and site admins) write; other
members read; outsiders do not see the project at all (404).
"""

from __future__ import annotations

from collections.abc import Iterable
from types import SimpleNamespace
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, Role, User
from changeflow.core import audit
from changeflow.core.access import role_in
from changeflow.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
    StalePrecondition,
    ValidationError,
)

from .diff import text_diff
from .models import (
    BASELINE_NAME_MAX,
    TEXT_MAX,
    TITLE_MAX,
    AffectedRequirement,
    Artifact,
    ArtifactKind,
    ArtifactVersion,
    Baseline,
    BaselineItem,
    Kind,
    LinkKind,
    Requirement,
    RequirementPriority,
    RequirementStatus,
    RequirementVersion,
    TraceLink,
)

EDITOR_ROLES = (Role.PROJECT_MANAGER, Role.TECH_LEAD)
# The fields a version holds, in the order a diff lists them.
VERSIONED_FIELDS = ("title", "text", "kind", "priority", "status", "parent")
TEXT_FIELDS = ("title", "text")


def require_editor(user: User, project: Project) -> None:
    """Project managers, tech leads and site admins change requirements, artifacts, links and
    baselines (403 for the other members, 404 for a user of no role in the project). The
    services call it, and the API views too, before they read the body."""
    if user.is_superuser:
        return
    role = role_in(user, project)
    if role is None:
        raise NotFound(_("No such project."))
    if role not in EDITOR_ROLES:
        raise PermissionDenied(_("Only project managers and tech leads change requirements."))


def _invalid(field: str, message: str) -> ValidationError:
    return ValidationError(_("Some fields are invalid."), fields={field: [message]})


def _clean_choice(field: str, value: Any, choices: type[models.TextChoices]) -> str:
    if value not in choices.values:
        raise _invalid(field, _("Not one of: %s.") % ", ".join(choices.values))
    return value


def _clean_text(field: str, value: Any, limit: int, *, required: bool) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise _invalid(field, _("Text is required."))
    if required and not value.strip():
        raise _invalid(field, _("Required."))
    if len(value) > limit:
        raise _invalid(field, _("At most %(n)d characters.") % {"n": limit})
    if "\x00" in value:
        raise _invalid(field, _("Text must not contain NUL characters."))
    return value.strip() if field == "title" else value


def _parent(project: Project, key: str | None) -> Requirement | None:
    if not key:
        return None
    parent = Requirement.objects.filter(project=project, key=key).first()
    if parent is None:
        raise _invalid("parent", _("No such requirement in this project: %s") % key)
    return parent


def _snapshot(req: Requirement) -> dict[str, Any]:
    return {
        "key": req.key,
        "version": req.version,
        "title": req.title,
        "text": req.text,
        "kind": req.kind,
        "priority": req.priority,
        "status": req.status,
        "parent": req.parent.key if req.parent else None,
    }


def version_of(req: Requirement, *, author: User, change_request=None) -> RequirementVersion:
    """The (unsaved) history row for ``req`` as it is now; bulk writers save many at once."""
    return RequirementVersion(
        requirement_id=req.pk,
        version=req.version,
        title=req.title,
        text=req.text,
        kind=req.kind,
        priority=req.priority,
        status=req.status,
        parent_id=req.parent_id,
        author=author,
        change_request=change_request,
    )


def _new_version(req: Requirement, *, author: User, change_request=None) -> RequirementVersion:
    version = version_of(req, author=author, change_request=change_request)
    version.save()
    return version


# ---------------------------------------------------------------- requirements


def requirement_create(
    *,
    user: User,
    project: Project,
    title: str,
    text: str = "",
    kind: str = Kind.FUNCTIONAL,
    priority: str = RequirementPriority.SHOULD,
    status: str = RequirementStatus.DRAFT,
    parent: str | None = None,
    change_request=None,
) -> Requirement:
    """A new requirement of ``project`` with the next key ``<KEY>-R-<n>``, at version 1
    (``change_request``: the CR whose change set adds it, recorded on the version)."""
    require_editor(user, project)
    req = Requirement(
        project=project,
        title=_clean_text("title", title, TITLE_MAX, required=True),
        text=_clean_text("text", text, TEXT_MAX, required=False),
        kind=_clean_choice("kind", kind, Kind),
        priority=_clean_choice("priority", priority, RequirementPriority),
        status=_clean_choice("status", status, RequirementStatus),
        created_by=user,
        version=1,
    )
    with transaction.atomic():
        # The project row is the numbering lock: two creations never take the same number.
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        req.parent = _parent(project, parent)
        last = Requirement.objects.filter(project=project).aggregate(n=Max("number"))["n"]
        req.number = (last or 0) + 1
        req.key = f"{project.key}-R-{req.number}"
        req.save()
        _new_version(req, author=user, change_request=change_request)
        if change_request is not None:
            AffectedRequirement.objects.create(change_request=change_request, requirement=req)
        audit.record(
            actor=user, action="requirement.created", object_type="requirement",
            object_key=req.key, project=project.key,
            after=_snapshot(req)
            | ({"change_request": change_request.key} if change_request else {}),
        )  # fmt: skip
    return req


def _would_cycle(req: Requirement, parent: Requirement | None) -> bool:
    """Whether making ``parent`` the parent of ``req`` closes a loop in the hierarchy."""
    seen: set[int] = set()
    node = parent
    while node is not None:
        if node.pk == req.pk or node.pk in seen:
            return True
        seen.add(node.pk)
        node = (
            Requirement.objects.filter(pk=node.parent_id).only("id", "parent_id").first()
            if node.parent_id
            else None
        )
    return False


def is_baselined(req: Requirement) -> bool:
    return BaselineItem.objects.filter(requirement=req).exists()


def _change_request(req: Requirement, key: str | None, *, needed: bool):
    """The CR named for an edit. A baselined requirement needs one of its project that is
    being implemented (422 otherwise); elsewhere a named CR must still be of the project."""
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.workflow import State

    if not key:
        if needed:
            raise PreconditionFailed(
                _(
                    "This requirement is in a baseline: it changes only through a change "
                    "request that is being implemented."
                ),
                code="change_request_required",
                fields={"change_request": [_("Name a change request in state implementing.")]},
            )
        return None
    cr = ChangeRequest.objects.filter(project_id=req.project_id, key=key).first()
    if cr is None:
        raise PreconditionFailed(
            _("No such change request in this project."),
            code="change_request_required",
            fields={"change_request": [_("No such change request in this project: %s") % key]},
        )
    if needed and cr.state != State.IMPLEMENTING:
        raise PreconditionFailed(
            _("The change request is not being implemented."),
            code="change_request_not_implementing",
            fields={"change_request": [_("%s is not in state implementing.") % cr.key]},
        )
    return cr


def requirement_update(
    *,
    user: User,
    requirement: Requirement,
    data: dict[str, Any],
    change_request: str | None = None,
    expected_version: int | None = None,
) -> Requirement:
    """Change fields and make a new version (none when nothing changes).

    Once the requirement is in a baseline, ``change_request`` must name a CR of the same
    project in state ``implementing`` (422 otherwise); the CR is recorded on the version and
    linked to the requirement as affected.
    """
    unknown = set(data) - set(VERSIONED_FIELDS)
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in sorted(unknown)},
        )
    require_editor(user, requirement.project)
    with transaction.atomic():
        req = (
            Requirement.objects.select_for_update(of=("self",))
            .select_related("project", "parent")
            .get(pk=requirement.pk)
        )
        if expected_version is not None and req.version != expected_version:
            raise StalePrecondition(_("The requirement was changed by someone else."))
        before = _snapshot(req)
        for name, value in data.items():
            if name == "title":
                req.title = _clean_text("title", value, TITLE_MAX, required=True)
            elif name == "text":
                req.text = _clean_text("text", value, TEXT_MAX, required=False)
            elif name == "kind":
                req.kind = _clean_choice("kind", value, Kind)
            elif name == "priority":
                req.priority = _clean_choice("priority", value, RequirementPriority)
            elif name == "status":
                req.status = _clean_choice("status", value, RequirementStatus)
            elif name == "parent":
                parent = _parent(req.project, value)
                if parent is not None and _would_cycle(req, parent):
                    raise _invalid("parent", _("This parent would make a cycle in the hierarchy."))
                req.parent = parent
        after = _snapshot(req)
        changed = [f for f in VERSIONED_FIELDS if before[f] != after[f]]
        cr = _change_request(req, change_request, needed=bool(changed) and is_baselined(req))
        if not changed:
            return req
        req.version += 1
        # Compare-and-set on the version (the row is locked too; this keeps the rule visible).
        updated = Requirement.objects.filter(pk=req.pk, version=req.version - 1).update(
            title=req.title, text=req.text, kind=req.kind, priority=req.priority,
            status=req.status, parent=req.parent, version=F("version") + 1,
        )  # fmt: skip
        if not updated:
            raise Conflict(_("The requirement was changed by someone else."))
        _new_version(req, author=user, change_request=cr)
        if cr is not None:
            AffectedRequirement.objects.get_or_create(change_request=cr, requirement=req)
        _mark_suspect(req)
        audit.record(
            actor=user, action="requirement.updated", object_type="requirement",
            object_key=req.key, project=req.project.key,
            before={f: before[f] for f in ["version", *changed]},
            after={"version": req.version, **{f: after[f] for f in changed}}
            | ({"change_request": cr.key} if cr else {}),
        )  # fmt: skip
    return req


def affected_requirements_set(*, cr, keys: Iterable[str]) -> list[Requirement]:
    """Link the requirements ``keys`` (of the CR's project) to ``cr`` as affected.

    Runs inside the caller's transaction (``change_request_create``); the caller audits.
    Unknown keys, or keys of another project, are a 400 naming them.
    """
    wanted = list(dict.fromkeys(k.strip() for k in keys if k and k.strip()))
    if not wanted:
        return []
    found = {r.key: r for r in Requirement.objects.filter(project_id=cr.project_id, key__in=wanted)}
    missing = [k for k in wanted if k not in found]
    if missing:
        raise ValidationError(
            _("Unknown requirements."),
            fields={"affected_requirements": [_("No such requirement: %s") % ", ".join(missing)]},
        )
    AffectedRequirement.objects.bulk_create(
        [AffectedRequirement(change_request=cr, requirement=found[k]) for k in wanted],
        ignore_conflicts=True,
    )
    return [found[k] for k in wanted]


# ---------------------------------------------------------------- baselines


def _clean_baseline_name(name: Any) -> str:
    name = _clean_text("name", name, BASELINE_NAME_MAX, required=True)
    # The name is a path segment of the API (/baselines/{name}/diff/).
    if "/" in name or "\\" in name or not name.isprintable():
        raise _invalid("name", _("A name without slashes or control characters."))
    return name


def baseline_create(*, user: User, project: Project, name: str, description: str = "") -> Baseline:
    """Freeze the current version of every requirement of ``project`` under ``name``."""
    require_editor(user, project)
    return baseline_freeze(user=user, project=project, name=name, description=description)


def baseline_freeze(
    *, user: User, project: Project, name: str, description: str = "", extra: dict | None = None
) -> Baseline:
    """``baseline_create`` without the role check: also what closing a change request that
    applied a change set calls (whoever may close it makes the next baseline). ``extra`` goes
    into the audit event."""
    name = _clean_baseline_name(name)
    description = _clean_text("description", description, 10_000, required=False)
    taken = _invalid("name", _("A baseline of this project already has this name."))
    if Baseline.objects.filter(project=project, name=name).exists():
        raise taken
    try:
        with transaction.atomic():
            # Requirement creation and numbering take the same lock: the snapshot is whole.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
            baseline = Baseline.objects.create(
                project=project, name=name, description=description, created_by=user
            )
            count = _freeze_items(baseline, project)
            audit.record(
                actor=user, action="baseline.created", object_type="baseline",
                object_key=f"{project.key}:{name}", project=project.key,
                after={"name": name, "description": description, "requirements": count}
                | (extra or {}),
            )  # fmt: skip
    except IntegrityError:
        raise taken from None  # a concurrent creation took the name first
    return baseline


_FREEZE_SQL = (
    "INSERT INTO requirements_baselineitem "
    "(baseline_id, requirement_id, version, requirement_version_id) "
    "SELECT %s, r.id, r.version, v.id FROM requirements_requirement r "
    "JOIN requirements_requirementversion v ON v.requirement_id = r.id AND v.version = r.version "
    "WHERE r.project_id = %s"
)


def _freeze_items(baseline: Baseline, project: Project) -> int:
    """Insert one item per requirement of ``project`` at its current version, in one
    ``INSERT … SELECT`` (no row travels through Python: 20,000 requirements in well under a
    second). ``Requirement.version`` is the number of its current ``RequirementVersion``."""
    with connection.cursor() as cursor:
        cursor.execute(_FREEZE_SQL, [baseline.pk, project.pk])
        return cursor.rowcount


def _pairs(baseline: Baseline) -> dict[int, int]:
    """requirement id → frozen version id."""
    return dict(
        BaselineItem.objects.filter(baseline=baseline).values_list(
            "requirement_id", "requirement_version_id"
        )
    )


_FROZEN_COLS = ("id", "requirement_id", "version", "title", "text", "kind", "priority", "status",
                "parent__key", "requirement__key", "requirement__number")  # fmt: skip


def _versions(ids: Iterable[int]) -> dict[int, SimpleNamespace]:
    """Frozen versions as plain records (building model instances cost more than the diff)."""
    ids = list(ids)
    out: dict[int, SimpleNamespace] = {}
    for i in range(0, len(ids), 2000):
        rows = RequirementVersion.objects.filter(pk__in=ids[i : i + 2000]).values_list(
            *_FROZEN_COLS
        )
        for pk, rid, version, title, text, kind, prio, status, parent, key, number in rows:
            out[pk] = SimpleNamespace(
                pk=pk, requirement_id=rid, version=version, title=title, text=text, kind=kind,
                priority=prio, status=status, parent=parent, key=key, number=number,
            )  # fmt: skip
    return out


def _value(v: SimpleNamespace, field: str):
    return getattr(v, field)


def _brief(v: SimpleNamespace) -> dict[str, Any]:
    return {"key": v.key, "version": v.version, "title": v.title}


def baseline_diff(*, baseline: Baseline, against: Baseline) -> dict[str, Any]:
    """What changed from ``against`` (the older, usually) to ``baseline``: requirements added,
    removed and modified, with each changed field's old and new value and, for the title and
    the text, a redline (character-level for Chinese, word-level otherwise).

    Compares the two baselines' (requirement, version) pairs first and reads only the versions
    that differ: diffing 20,000-requirement baselines costs what the changes cost."""
    new, old = _pairs(baseline), _pairs(against)
    added_ids, removed_ids = new.keys() - old.keys(), old.keys() - new.keys()
    common = new.keys() & old.keys()
    changed_ids = [r for r in common if new[r] != old[r]]
    versions = _versions(
        [new[r] for r in (*added_ids, *changed_ids)]
        + [old[r] for r in (*removed_ids, *changed_ids)]
    )

    def order(vs):
        return sorted(vs, key=lambda v: v.number)

    added = [_brief(v) for v in order(versions[new[r]] for r in added_ids)]
    removed = [_brief(v) for v in order(versions[old[r]] for r in removed_ids)]
    modified = []
    unchanged = len(common) - len(changed_ids)
    for b in order(versions[new[r]] for r in changed_ids):
        a = versions[old[b.requirement_id]]
        changes = {}
        for field in VERSIONED_FIELDS:
            before, after = _value(a, field), _value(b, field)
            if before != after:
                change: dict[str, Any] = {"from": before, "to": after}
                if field in TEXT_FIELDS:
                    change["diff"] = text_diff(before, after)
                changes[field] = change
        if not changes:  # a new version that changed nothing visible (should not happen)
            unchanged += 1
            continue
        modified.append(
            {
                "key": b.key,
                "title": b.title,
                "from_version": a.version,
                "to_version": b.version,
                "fields": list(changes),
                "changes": changes,
            }
        )
    return {
        "baseline": baseline.name,
        "against": against.name,
        "added": added,
        "removed": removed,
        "modified": modified,
        "unchanged": unchanged,
    }


# ---------------------------------------------------------------- artifacts and trace links


def artifact_create(
    *, user: User, project: Project, kind: str, title: str, description: str = ""
) -> Artifact:
    """A new artifact of ``project`` with the next key ``<KEY>-A-<n>``."""
    require_editor(user, project)
    art = Artifact(
        project=project,
        kind=_clean_choice("kind", kind, ArtifactKind),
        title=_clean_text("title", title, TITLE_MAX, required=True),
        description=_clean_text("description", description, TEXT_MAX, required=False),
        created_by=user,
    )
    with transaction.atomic():
        Project.objects.select_for_update().only("id").get(pk=project.pk)
        last = Artifact.objects.filter(project=project).aggregate(n=Max("number"))["n"]
        art.number = (last or 0) + 1
        art.key = f"{project.key}-A-{art.number}"
        art.save()
        _new_artifact_version(art, author=user)
        audit.record(
            actor=user, action="artifact.created", object_type="artifact",
            object_key=art.key, project=project.key,
            after={"key": art.key, "kind": art.kind, "title": art.title},
        )  # fmt: skip
    return art


def _end(project: Project, field: str, key: Any) -> Requirement | Artifact:
    """The requirement or artifact ``key`` of ``project``; a 400 naming ``field`` otherwise."""
    if not isinstance(key, str) or not key.strip() or "\x00" in key or len(key) > 32:
        raise _invalid(field, _("A requirement or artifact key is required."))
    key = key.strip()
    model = Artifact if key.startswith(f"{project.key}-A-") else Requirement
    found = model.objects.filter(project=project, key=key).first()
    if found is None:
        raise _invalid(field, _("No such requirement or artifact in this project: %s") % key)
    return found


def _end_fields(prefix: str, end: Requirement | Artifact) -> dict[str, Any]:
    if isinstance(end, Artifact):
        return {f"{prefix}_artifact": end}
    return {f"{prefix}_requirement": end}


def _link_snapshot(link: TraceLink) -> dict[str, Any]:
    return {
        "id": link.pk,
        "source": link.source_key,
        "target": link.target_key,
        "kind": link.kind,
        "suspect": link.suspect,
    }


def link_create(*, user: User, project: Project, source: str, target: str, kind: str) -> TraceLink:
    """A trace link ``source --kind--> target`` (the target is upstream) within ``project``."""
    require_editor(user, project)
    kind = _clean_choice("kind", kind, LinkKind)
    src = _end(project, "source", source)
    dst = _end(project, "target", target)
    if type(src) is type(dst) and src.pk == dst.pk:
        raise _invalid("target", _("A link cannot point to its own source."))
    link = TraceLink(
        project=project, kind=kind, created_by=user,
        **_end_fields("source", src), **_end_fields("target", dst),
    )  # fmt: skip
    taken = _invalid("kind", _("A link of this kind between these two already exists."))
    ends = {**_end_fields("source", src), **_end_fields("target", dst)}
    if TraceLink.objects.filter(kind=kind, **ends).exists():
        raise taken
    try:
        with transaction.atomic():
            link.save()
            audit.record(
                actor=user, action="trace_link.created", object_type="trace_link",
                object_key=str(link.pk), project=project.key, after=_link_snapshot(link),
            )  # fmt: skip
    except IntegrityError:
        raise taken from None  # a concurrent creation of the same link
    return link


def link_review(*, user: User, link: TraceLink) -> TraceLink:
    """Someone checked the downstream end against the changed upstream end: not suspect."""
    require_editor(user, link.project)
    with transaction.atomic():
        locked = TraceLink.objects.select_for_update().get(pk=link.pk)
        before = {"suspect": locked.suspect}
        now = timezone.now()
        TraceLink.objects.filter(pk=link.pk).update(
            suspect=False, suspect_since=None, reviewed_by=user, reviewed_at=now
        )
        link.suspect, link.suspect_since = False, None
        link.reviewed_by, link.reviewed_at = user, now
        audit.record(
            actor=user, action="trace_link.reviewed", object_type="trace_link",
            object_key=str(link.pk), project=link.project.key,
            before=before, after=_link_snapshot(link),
        )  # fmt: skip
    return link


def _mark_suspect(req: Requirement) -> int:
    """Every link whose upstream end (its target) is ``req`` becomes suspect (in the caller's
    transaction, audited by the caller's event); already-suspect links keep their date."""
    return TraceLink.objects.filter(target_requirement=req, suspect=False).update(
        suspect=True, suspect_since=timezone.now()
    )


# ---------------------------------------------------------------- artifact edits, link deletion

ARTIFACT_FIELDS = ("kind", "title", "description")


def _new_artifact_version(art: Artifact, *, author: User, change_request=None) -> ArtifactVersion:
    return ArtifactVersion.objects.create(
        artifact=art, version=art.version, kind=art.kind, title=art.title,
        description=art.description, author=author, change_request=change_request,
    )  # fmt: skip


def _artifact_snapshot(art: Artifact) -> dict[str, Any]:
    return {"key": art.key, "version": art.version, "kind": art.kind, "title": art.title,
            "description": art.description}  # fmt: skip


def artifact_update(
    *,
    user: User,
    artifact: Artifact,
    data: dict[str, Any],
    change_request: str | None = None,
    expected_version: int | None = None,
) -> Artifact:
    """Change an artifact's fields: a new version (none when nothing changes), and every link
    whose upstream end (target) is this artifact turns suspect until reviewed.

    ``change_request``, when given, must be a CR of the project; it is recorded on the version.
    """
    from changeflow.changes.models import ChangeRequest

    unknown = set(data) - set(ARTIFACT_FIELDS)
    if unknown:
        raise ValidationError(
            _("Some fields cannot be changed."),
            fields={k: [_("This field cannot be changed.")] for k in sorted(unknown)},
        )
    require_editor(user, artifact.project)
    with transaction.atomic():
        art = (
            Artifact.objects.select_for_update(of=("self",))
            .select_related("project")
            .get(pk=artifact.pk)
        )
        if expected_version is not None and art.version != expected_version:
            raise StalePrecondition(_("The artifact was changed by someone else."))
        before = _artifact_snapshot(art)
        for name, value in data.items():
            if name == "kind":
                art.kind = _clean_choice("kind", value, ArtifactKind)
            elif name == "title":
                art.title = _clean_text("title", value, TITLE_MAX, required=True)
            else:
                art.description = _clean_text("description", value, TEXT_MAX, required=False)
        after = _artifact_snapshot(art)
        changed = [f for f in ARTIFACT_FIELDS if before[f] != after[f]]
        cr = None
        if change_request:
            cr = ChangeRequest.objects.filter(project_id=art.project_id, key=change_request).first()
            if cr is None:
                raise _invalid(
                    "change_request", _("No such change request in this project: %s")
                    % change_request,
                )  # fmt: skip
        if not changed:
            return art
        updated = Artifact.objects.filter(pk=art.pk, version=art.version).update(
            kind=art.kind, title=art.title, description=art.description,
            version=F("version") + 1, updated_at=timezone.now(),
        )  # fmt: skip
        if not updated:
            raise Conflict(_("The artifact was changed by someone else."))
        art.version += 1
        _new_artifact_version(art, author=user, change_request=cr)
        suspect = TraceLink.objects.filter(target_artifact=art, suspect=False).update(
            suspect=True, suspect_since=timezone.now()
        )
        audit.record(
            actor=user, action="artifact.updated", object_type="artifact",
            object_key=art.key, project=art.project.key,
            before={f: before[f] for f in ["version", *changed]},
            after={"version": art.version, **{f: after[f] for f in changed},
                   "links_suspect": suspect}
            | ({"change_request": cr.key} if cr else {}),
        )  # fmt: skip
    return art


def link_delete(*, user: User, link: TraceLink) -> None:
    """Remove a trace link (a mistaken one, or one that no longer holds); audited with what it
    was, so the audit log still tells the link's story."""
    require_editor(user, link.project)
    with transaction.atomic():
        locked = (
            TraceLink.objects.select_for_update(of=("self",))
            .select_related(
                "project",
                "source_requirement",
                "source_artifact",
                "target_requirement",
                "target_artifact",
            )  # fmt: skip
            .filter(pk=link.pk)
            .first()
        )
        if locked is None:
            raise NotFound(_("No such trace link."))
        before = _link_snapshot(locked)
        locked.delete()
        audit.record(
            actor=user, action="trace_link.deleted", object_type="trace_link",
            object_key=str(link.pk), project=link.project.key, before=before,
        )  # fmt: skip

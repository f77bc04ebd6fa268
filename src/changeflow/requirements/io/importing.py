"""Reading a file of any format (``parse``) and the import service
(``requirements_import``): resolve, check everything, then write all of it in one transaction
with one audit event, or report what would change (dry run)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from changeflow.accounts.models import Project, User
from changeflow.core import audit
from changeflow.core.errors import PreconditionFailed, TooLarge

from .. import services
from ..models import (
    TEXT_MAX,
    TITLE_MAX,
    AffectedRequirement,
    Artifact,
    BaselineItem,
    Kind,
    Requirement,
    RequirementPriority,
    RequirementStatus,
    RequirementVersion,
    TraceLink,
)
from .common import (
    MAX_PROBLEMS,
    ImportRejected,
    ImportRow,
    ParsedFile,
    ProgressFn,
    _newlines,
    detect_format,
    max_bytes,
)
from .reqif import parse_reqif
from .tables import _parse_table, table_rows


def parse(raw: bytes, *, filename: str = "", fmt: str | None = None) -> ParsedFile:
    """The rows of a requirements file; ``ImportRejected`` names every problem."""
    fmt = detect_format(filename, fmt)
    if len(raw) > max_bytes():
        raise TooLarge(
            _("The file is larger than the limit of %(mb).1f MB.") % {"mb": max_bytes() / 1048576}
        )
    if not raw.strip():
        raise ImportRejected([_("The file is empty.")])
    if fmt == "reqif":
        return parse_reqif(raw)
    return _parse_table(table_rows(raw, fmt), fmt, _("row %d") if fmt == "xlsx" else _("line %d"))


# ---------------------------------------------------------------- the import service


@dataclass
class _Existing:
    pk: int
    key: str
    number: int
    version: int
    values: dict[str, Any]  # title, text, kind, priority, status, parent (pk or None)
    external_id: str = ""


def _own_key(project: Project, kind: str = "R") -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(project.key)}-{kind}-[1-9][0-9]{{0,8}}$")


def requirements_import(
    *,
    user: User,
    project: Project,
    parsed: ParsedFile,
    change_request: str | None = None,
    dry_run: bool = False,
    filename: str = "",
    progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Import ``parsed`` into ``project``: all of it or, on any problem, nothing.

    Rows naming an existing requirement update it (a new version when something changes);
    the others add requirements. A baselined requirement changes only with ``change_request``,
    a CR of the project in state ``implementing`` (422 otherwise), as for a PATCH. With
    ``dry_run`` nothing is written and the report says what would be. One audit event.
    """
    from ..services import require_editor

    require_editor(user, project)
    progress = progress or (lambda stage, done, total: None)
    with transaction.atomic():
        if not dry_run:
            # Numbering and baselines take this lock too: the plan below stays true.
            Project.objects.select_for_update().only("id").get(pk=project.pk)
        plan = _plan(project, parsed, progress)
        baselined = set(
            BaselineItem.objects.filter(
                requirement_id__in=[e.pk for e, _c in plan.modified]
            ).values_list("requirement_id", flat=True)
        )
        needs_cr = [e.key for e, _c in plan.modified if e.pk in baselined]
        cr = _change_request_of(project, change_request, needs_cr)
        report = plan.report(parsed, dry_run=dry_run, change_request=cr)
        if dry_run:
            return report
        _write(user, project, plan, cr, progress)
        audit.record(
            actor=user, action="requirement.imported", object_type="project",
            object_key=project.key, project=project.key,
            after={
                "file": filename[:200], "format": parsed.format,
                "added": report["added"], "modified": report["modified"],
                "unchanged": report["unchanged"], "links_added": report["links_added"],
                "change_request": cr.key if cr else None,
                "modified_keys": [e.key for e, _c in plan.modified][:200],
            },
        )  # fmt: skip
    return report


def _change_request_of(project: Project, key: str | None, baselined: list[str]):
    """The CR named for the import; required (and ``implementing``) when a row changes a
    baselined requirement — the rule of a PATCH."""
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.workflow import State

    listed = ", ".join(baselined[:20]) + (" …" if len(baselined) > 20 else "")
    key = (key or "").strip()
    if not key:
        if not baselined:
            return None
        raise PreconditionFailed(
            _("These requirements are in a baseline and change only through a change request "
              "that is being implemented; name it: %s") % listed,
            code="change_request_required",
            fields={"change_request": [_("Name a change request in state implementing.")]},
        )  # fmt: skip
    cr = ChangeRequest.objects.filter(project=project, key=key).first()
    if cr is None:
        raise PreconditionFailed(
            _("No such change request in this project: %s") % key,
            code="change_request_required",
            fields={"change_request": [_("No such change request in this project: %s") % key]},
        )
    if baselined and cr.state != State.IMPLEMENTING:
        raise PreconditionFailed(
            _("%(cr)s is not being implemented; it cannot change the baselined requirements "
              "%(keys)s") % {"cr": cr.key, "keys": listed},
            code="change_request_not_implementing",
            fields={"change_request": [_("%s is not in state implementing.") % cr.key]},
        )  # fmt: skip
    return cr


@dataclass
class _Plan:
    new: list[ImportRow]
    new_keys: dict[int, str]  # id(row) -> key it gets
    modified: list[tuple[_Existing, dict[str, Any]]]  # (requirement, changed values)
    unchanged: list[_Existing]
    row_target: dict[int, tuple[str, Any]]  # id(row) -> ("new", row) | ("old", _Existing)
    parents: dict[int, tuple[str, Any] | None]  # id(row) -> resolved parent of new rows
    links: list[tuple[tuple[str, Any], str, tuple[str, Any]]]  # (source, kind, target)
    items: list[dict[str, Any]]
    next_number: int

    def report(self, parsed: ParsedFile, *, dry_run: bool, change_request) -> dict[str, Any]:
        return {
            "dry_run": dry_run,
            "format": parsed.format,
            "added": len(self.new),
            "modified": len(self.modified),
            "unchanged": len(self.unchanged),
            "links_added": len(self.links),
            "change_request": change_request.key if change_request else None,
            "items": self.items,
            "warnings": parsed.warnings[:MAX_PROBLEMS],
        }


def _plan(project: Project, parsed: ParsedFile, progress: ProgressFn) -> _Plan:
    """Resolve every row and reference and check everything; no write."""
    own = _own_key(project)
    own_artifact = _own_key(project, "A")
    existing: dict[str, _Existing] = {}
    by_pk: dict[int, _Existing] = {}
    by_external: dict[str, _Existing] = {}
    fields = ("id", "key", "number", "version", "external_id", "title", "text", "kind",
              "priority", "status", "parent_id")  # fmt: skip
    for pk, key, number, version, external_id, *vals in Requirement.objects.filter(
        project=project
    ).values_list(*fields):
        values = dict(
            zip(("title", "text", "kind", "priority", "status", "parent"), vals, strict=True)
        )
        known = _Existing(pk, key, number, version, values, external_id)
        existing[key] = by_pk[pk] = known
        if external_id:
            by_external[external_id] = known
    problems: list[str] = []
    refs: dict[str, ImportRow] = {}
    claimed: dict[str, ImportRow] = {}
    target: dict[int, tuple[str, Any]] = {}
    total = len(parsed.rows)
    for i, row in enumerate(parsed.rows):
        key = row.key if row.key and own.match(row.key) else None
        if key is None and row.ref and own.match(row.ref):
            key = row.ref
        matched = None  # a requirement an earlier import of another tool's file made
        if key is None and row.external_id in by_external:
            matched = by_external[row.external_id]
            key = matched.key
        if key is not None:
            if key not in existing:
                problems.append(
                    _(
                        "%(where)s: no requirement %(key)s in project %(project)s (a new "
                        "requirement leaves the key empty)"
                    )
                    % {"where": row.where, "key": key, "project": project.key}  # fmt: skip
                )
                continue
            if key in claimed:
                problems.append(
                    _("%(where)s: %(key)s appears twice (also %(other)s)")
                    % {"where": row.where, "key": key, "other": claimed[key].where}
                    if matched is None
                    else _(
                        "%(where)s: %(key)s, imported earlier as %(ident)s, appears twice "
                        "(also %(other)s)"
                    )
                    % {
                        "where": row.where,
                        "key": key,
                        "ident": row.external_id,
                        "other": claimed[key].where,
                    }  # fmt: skip
                )
                continue
            claimed[key] = row
            target[id(row)] = ("old", existing[key])
        else:
            target[id(row)] = ("new", row)
        for name in dict.fromkeys([row.ref, *row.aliases]):
            if not name:
                continue
            if name in refs and refs[name] is not row:
                problems.append(
                    _("%(where)s: '%(ref)s' names two rows (also %(other)s)")
                    % {"where": row.where, "ref": name, "other": refs[name].where}
                )
            refs[name] = row
        if i % 2000 == 0:
            progress("check", i, total)

    artifact_ids: dict[str, int] | None = None  # key -> id, read once on the first use

    def resolve(ref: str, *, artifacts: bool = False) -> tuple[str, Any] | None:
        nonlocal artifact_ids
        if ref in refs and id(refs[ref]) in target:
            return target[id(refs[ref])]
        if ref in existing:
            return ("old", existing[ref])
        if artifacts and own_artifact.match(ref):
            if artifact_ids is None:
                artifact_ids = dict(
                    Artifact.objects.filter(project=project).values_list("key", "id")
                )
            pk = artifact_ids.get(ref)
            return ("art", pk) if pk is not None else None
        return None

    rows = [r for r in parsed.rows if id(r) in target]
    parents: dict[int, tuple[str, Any] | None] = {}
    links: list[tuple[tuple[str, Any], str, tuple[str, Any]]] = []
    for row in rows:
        if row.has_parent and row.parent:
            found = resolve(row.parent)
            if found is None:
                problems.append(
                    _(
                        "%(where)s: parent '%(ref)s' is neither in the file nor a requirement of "
                        "%(project)s"
                    )
                    % {"where": row.where, "ref": row.parent, "project": project.key}  # fmt: skip
                )
            parents[id(row)] = found
        elif row.has_parent:
            parents[id(row)] = None
        for kind, ref in row.links:
            found = resolve(ref, artifacts=True)
            if found is None:
                problems.append(
                    _(
                        "%(where)s: link target '%(ref)s' is neither in the file nor a "
                        "requirement or artifact of %(project)s"
                    )
                    % {"where": row.where, "ref": ref, "project": project.key}  # fmt: skip
                )
            elif found == target[id(row)]:
                problems.append(_("%s: a link cannot point to its own source") % row.where)
            else:
                links.append((target[id(row)], kind, found))
    if problems:
        raise ImportRejected(problems)

    # Values: validate, and compare with the current ones.
    new: list[ImportRow] = []
    modified: list[tuple[_Existing, dict[str, Any]]] = []
    unchanged: list[_Existing] = []
    items: list[dict[str, Any]] = []
    next_number = max((e.number for e in existing.values()), default=0) + 1
    new_keys: dict[int, str] = {}
    for row in rows:
        problems.extend(_check_values(row, new=target[id(row)][0] == "new"))
    if problems:
        raise ImportRejected(problems)

    def parent_pk_or_row(row: ImportRow):
        found = parents.get(id(row))
        if found is None:
            return None
        return found[1].pk if found[0] == "old" else ("new", id(found[1]))

    for row in rows:
        kind_of, obj = target[id(row)]
        if kind_of == "new":
            new_keys[id(row)] = f"{project.key}-R-{next_number + len(new)}"
            new.append(row)
            items.append({"where": row.where, "key": new_keys[id(row)], "action": "added",
                          "fields": []})  # fmt: skip
            continue
        e: _Existing = obj
        changes: dict[str, Any] = {}
        for name, value in row.fields.items():
            current = e.values[name]
            if name == "text":
                if _newlines(value) != _newlines(current):
                    changes[name] = _newlines(value)
            elif name == "title":
                if value.strip() != current:
                    changes[name] = value.strip()
            elif value != current:
                changes[name] = value
        if row.has_parent:
            wanted = parent_pk_or_row(row)
            if wanted != e.values["parent"]:
                changes["parent"] = wanted
        if changes and row.version is not None and row.version != e.version:
            problems.append(
                _(
                    "%(where)s: %(key)s was changed since this file was written (version "
                    "%(file)d in the file, %(now)d now); export it again"
                )
                % {"where": row.where, "key": e.key, "file": row.version, "now": e.version}
            )
        if changes:
            modified.append((e, changes))
            items.append({"where": row.where, "key": e.key, "action": "modified",
                          "fields": list(changes)})  # fmt: skip
        else:
            unchanged.append(e)
            items.append({"where": row.where, "key": e.key, "action": "unchanged",
                          "fields": []})  # fmt: skip
    if problems:
        raise ImportRejected(problems)

    # Cycles in the hierarchy as it would be.
    graph: dict[Any, Any] = {pk: e.values["parent"] for pk, e in by_pk.items()}
    for e, changes in modified:
        if "parent" in changes:
            graph[e.pk] = changes["parent"]
    for row in new:
        graph[("new", id(row))] = parent_pk_or_row(row)
    names = {pk: e.key for pk, e in by_pk.items()} | {("new", id(r)): new_keys[id(r)] for r in new}
    cycle = _find_cycle(graph)
    if cycle:
        where = {("new", id(r)): r.where for r in new} | {
            e.pk: claimed[e.key].where for e in by_pk.values() if e.key in claimed
        }
        first = next((where[n] for n in cycle if n in where), "")
        raise ImportRejected(
            [_("%(where)s: the hierarchy would have a cycle: %(cycle)s")
             % {"where": first, "cycle": " → ".join(names[n] for n in [*cycle, cycle[0]])}]
        )  # fmt: skip

    # Links: only those that do not exist yet.
    wanted_links = _new_links(links)
    progress("check", total, total)
    return _Plan(new, new_keys, modified, unchanged, target, parents, wanted_links, items,
                 next_number)  # fmt: skip


def _check_values(row: ImportRow, *, new: bool) -> list[str]:
    problems = []
    title = row.fields.get("title")
    if title is not None or new:
        stripped = (title or "").strip()
        if not stripped:
            problems.append(_("%s: the title is empty") % row.where)
        elif len(stripped) > TITLE_MAX:
            problems.append(
                _("%(where)s: the title is longer than %(n)d characters")
                % {"where": row.where, "n": TITLE_MAX}
            )
    text = row.fields.get("text", "")
    if len(text) > TEXT_MAX:
        problems.append(
            _("%(where)s: the text is longer than %(n)d characters")
            % {"where": row.where, "n": TEXT_MAX}
        )
    if any("\x00" in v for v in row.fields.values()):
        problems.append(_("%s: a value contains a NUL character") % row.where)
    return problems


def _find_cycle(graph: dict[Any, Any]) -> list[Any] | None:
    """A loop in a child → parent map, as the list of its nodes, or None. Linear time."""
    state: dict[Any, int] = {}  # 1: on the current path, 2: done
    for start in graph:
        if start in state:
            continue
        path: list[Any] = []
        node = start
        while node is not None and node not in state:
            state[node] = 1
            path.append(node)
            node = graph.get(node)
        if node is not None and state.get(node) == 1:
            return path[path.index(node) :]
        for n in path:
            state[n] = 2
    return None


def _new_links(links):
    """The planned links that do not exist yet (each once)."""
    if not links:
        return []
    existing_pairs = set()
    old_sources = [s[1].pk for s, _k, _t in links if s[0] == "old"]
    if old_sources:
        for sr, kind, tr, ta in TraceLink.objects.filter(
            source_requirement_id__in=old_sources
        ).values_list("source_requirement_id", "kind", "target_requirement_id",
                      "target_artifact_id"):  # fmt: skip
            existing_pairs.add((sr, kind, ("old", tr) if tr else ("art", ta)))
    out, seen = [], set()
    for source, kind, target in links:
        tkey = ("old", target[1].pk) if target[0] == "old" else (
            ("art", target[1]) if target[0] == "art" else ("new", id(target[1])))  # fmt: skip
        skey = source[1].pk if source[0] == "old" else ("new", id(source[1]))
        if (skey, kind, tkey) in seen:
            continue
        seen.add((skey, kind, tkey))
        if source[0] == "old" and (skey, kind, tkey) in existing_pairs:
            continue
        out.append((source, kind, target))
    return out


def _write(user: User, project: Project, plan: _Plan, cr, progress: ProgressFn) -> None:
    now = timezone.now()
    total = len(plan.new) + len(plan.modified)
    # New requirements (parents set once every new one has its id).
    created: dict[int, Requirement] = {}
    objs = []
    for i, row in enumerate(plan.new):
        f = row.fields
        req = Requirement(
            project=project, number=plan.next_number + i, key=plan.new_keys[id(row)],
            external_id=row.external_id,
            title=f["title"].strip(), text=_newlines(f.get("text", "")),
            kind=f.get("kind", Kind.FUNCTIONAL),
            priority=f.get("priority", RequirementPriority.SHOULD),
            status=f.get("status", RequirementStatus.DRAFT),
            created_by=user, version=1,
        )  # fmt: skip
        found = plan.parents.get(id(row))
        if found is not None and found[0] == "old":
            req.parent_id = found[1].pk
        created[id(row)] = req
        objs.append(req)
    for start in range(0, len(objs), 1000):
        Requirement.objects.bulk_create(objs[start : start + 1000])
        progress("write", start + len(objs[start : start + 1000]), total)
    if any(pk is None for pk in (r.pk for r in objs)):  # pragma: no cover - old databases
        by_key = dict(
            Requirement.objects.filter(project=project, key__in=[r.key for r in objs]).values_list(
                "key", "id"
            )
        )
        for r in objs:
            r.pk = r.id = by_key[r.key]
    late = []
    for row in plan.new:
        found = plan.parents.get(id(row))
        if found is not None and found[0] == "new":
            created[id(row)].parent_id = created[id(found[1])].pk
            late.append(created[id(row)])
    if late:
        Requirement.objects.bulk_update(late, ["parent"], batch_size=500)

    # Modified requirements: the new values, version + 1.
    changed = []
    for e, changes in plan.modified:
        req = Requirement(pk=e.pk, version=e.version + 1, updated_at=now)
        for name in ("title", "text", "kind", "priority", "status"):
            setattr(req, name, changes.get(name, e.values[name]))
        parent = changes.get("parent", e.values["parent"])
        req.parent_id = created[parent[1]].pk if isinstance(parent, tuple) else parent
        changed.append(req)
    if changed:
        Requirement.objects.bulk_update(
            changed, ["title", "text", "kind", "priority", "status", "parent", "version",
                      "updated_at"], batch_size=500,
        )  # fmt: skip
        progress("write", total, total)

    versions = [services.version_of(r, author=user) for r in objs]
    versions += [services.version_of(r, author=user, change_request=cr) for r in changed]
    RequirementVersion.objects.bulk_create(versions, batch_size=1000)
    pks = [r.pk for r in changed]
    if cr is not None and pks:
        AffectedRequirement.objects.bulk_create(
            [AffectedRequirement(change_request=cr, requirement_id=pk) for pk in pks],
            ignore_conflicts=True,
        )
    for start in range(0, len(pks), 500):  # the upstream end changed: its links are suspect
        TraceLink.objects.filter(
            target_requirement_id__in=pks[start : start + 500], suspect=False
        ).update(suspect=True, suspect_since=now)

    def end(spec: tuple[str, Any], prefix: str) -> dict[str, Any]:
        kind_of, obj = spec
        if kind_of == "art":
            return {f"{prefix}_artifact_id": obj}
        pk = obj.pk if kind_of == "old" else created[id(obj)].pk
        return {f"{prefix}_requirement_id": pk}

    TraceLink.objects.bulk_create(
        [
            TraceLink(
                project=project, kind=kind, created_by=user, **end(s, "source"), **end(t, "target")
            )  # fmt: skip
            for s, kind, t in plan.links
        ],
        batch_size=1000,
    )

"""Impact analysis over the requirement hierarchy and the trace links (reads only).

From the requirements a change request touches, walk **downstream** — to children (by parent)
and from a link's target, the upstream end, to its source — breadth first, so each item is
reached by a shortest path; then add the **ancestors** (parent chain) of every requirement
reached, which are not walked further: a change to a child may invalidate what the parent
promises, but the parent's other children are not affected by it.

The database finds what is reachable in **one query**: a recursive CTE collects the nodes
reachable downstream from the starts (``UNION``, so cycles end), breadth first and no further
than the walk can go before it stops at ``limit`` items, and the same statement returns the
edges leaving each of them, the requirements reached with their ancestors, and the artifacts
reached. Python then walks that subgraph breadth first (``walk``) for the paths, in
the order the level-by-level walk used (children by number, then links by id), so the result
does not depend on how the rows came. A change touching 20 requirements in a project of
300,000 links reads only what it reaches, in one round trip instead of one per level.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from django.db import connection, transaction

Node = tuple[str, int]  # ("R", requirement id) or ("A", artifact id)
Edge = tuple[Node, str, bool]  # (the downstream node, how: "child" or a link kind, suspect)

TOUCHED, DOWNSTREAM, ANCESTOR = "touched", "downstream", "ancestor"

# The downstream step of the recursion, from a reached node (r.t, r.id) to its children and to
# the sources of the links into it. PostgreSQL allows one reference to the recursion, so the
# three kinds of edge are a LATERAL union evaluated per reached node, each branch through its
# index (joining a plain UNION ALL subquery instead made it scan both tables at every level);
# SQLite (3.34+), which has no LATERAL, takes them as three recursive SELECTs.
_STEP_ONE_REFERENCE = """
    SELECT e.t, e.id FROM reach r CROSS JOIN LATERAL (
        SELECT 'R' AS t, c.id AS id FROM requirements_requirement c
         WHERE r.t = 'R' AND c.parent_id = r.id
        UNION ALL
        SELECT CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
               COALESCE(l.source_requirement_id, l.source_artifact_id)
          FROM requirements_tracelink l WHERE r.t = 'R' AND l.target_requirement_id = r.id
        UNION ALL
        SELECT CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
               COALESCE(l.source_requirement_id, l.source_artifact_id)
          FROM requirements_tracelink l WHERE r.t = 'A' AND l.target_artifact_id = r.id
    ) e
"""
_STEP_SEVERAL_REFERENCES = """
    SELECT 'R', c.id FROM reach r JOIN requirements_requirement c ON c.parent_id = r.id
     WHERE r.t = 'R'
    UNION
    SELECT CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
           COALESCE(l.source_requirement_id, l.source_artifact_id)
      FROM reach r JOIN requirements_tracelink l ON l.target_requirement_id = r.id
     WHERE r.t = 'R'
    UNION
    SELECT CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
           COALESCE(l.source_requirement_id, l.source_artifact_id)
      FROM reach r JOIN requirements_tracelink l ON l.target_artifact_id = r.id
     WHERE r.t = 'A'
"""
# Rows: (tag, up type, up id, down type, down id, text1, text2, text3, number, flag).
#   E: an edge up → down; text1 = "child" or the link kind, number = the child's number or
#      the link's id (the order of a node's edges), flag = the link is suspect;
#   R: a requirement (down id) reached or an ancestor: text1 key, text2 title, up id parent;
#   A: an artifact (down id) reached: text1 key, text2 title, text3 kind.
#
# ``reach`` stops after its first {cap} rows (no bound: all it reaches). Both databases add
# the rows of a recursion breadth first — PostgreSQL a whole level per iteration, SQLite from
# a first-in first-out queue — and ``UNION`` keeps only a node's first arrival: the first
# {cap} rows are the nodes nearest the starts, each level complete before the next begins
# (the last one read may be cut). ``walked`` are those, ``edge`` every edge leaving them and
# ``near`` adds the nodes outside ``walked`` those edges lead to (``Subgraph`` says why that
# is enough) when ``walked`` may have been cut: fewer than {cap} rows are all that is
# reachable, and then the edges lead nowhere else (PostgreSQL then skips that branch: ``edge``
# is not materialized, it is computed where it is read). PostgreSQL refuses a LIMIT inside a
# recursion but computes one only as far as it is read: ``walked`` reads {cap} rows of it.
# SQLite's recursion takes a LIMIT and stops there.
_GRAPH = """
WITH RECURSIVE reach(t, id) AS (
    SELECT 'R', q.id FROM requirements_requirement q WHERE {starts}
    UNION
    {step}
    {limit_inside}
), walked(t, id) AS (
    SELECT t, id FROM reach {limit_outside}
), edge(ut, uid, dt, did, how, number, flag) AS {not_materialized} (
    SELECT 'R', c.parent_id, 'R', c.id, 'child', c.number, 0
      FROM walked r JOIN requirements_requirement c ON c.parent_id = r.id WHERE r.t = 'R'
    UNION ALL
    SELECT 'R', l.target_requirement_id,
           CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
           COALESCE(l.source_requirement_id, l.source_artifact_id), l.kind, l.id,
           CASE WHEN l.suspect THEN 1 ELSE 0 END
      FROM walked r JOIN requirements_tracelink l ON l.target_requirement_id = r.id
     WHERE r.t = 'R'
    UNION ALL
    SELECT 'A', l.target_artifact_id,
           CASE WHEN l.source_requirement_id IS NULL THEN 'A' ELSE 'R' END,
           COALESCE(l.source_requirement_id, l.source_artifact_id), l.kind, l.id,
           CASE WHEN l.suspect THEN 1 ELSE 0 END
      FROM walked r JOIN requirements_tracelink l ON l.target_artifact_id = r.id
     WHERE r.t = 'A'
), near(t, id) AS (
    SELECT t, id FROM walked
    {one_hop}
), up(id) AS (
    SELECT r.id FROM near r WHERE r.t = 'R'
    UNION
    SELECT q.parent_id FROM up JOIN requirements_requirement q ON q.id = up.id
     WHERE q.parent_id IS NOT NULL
)
SELECT 'E', ut, uid, dt, did, how, CAST(NULL AS VARCHAR(255)), CAST(NULL AS VARCHAR(32)),
       number, flag
  FROM edge
UNION ALL
SELECT 'R', NULL, q.parent_id, 'R', q.id, q.key, q.title, NULL, q.number, 0
  FROM up JOIN requirements_requirement q ON q.id = up.id
UNION ALL
SELECT 'A', NULL, NULL, 'A', a.id, a.key, a.title, a.kind, a.number, 0
  FROM near r JOIN requirements_artifact a ON a.id = r.id WHERE r.t = 'A'
"""


# The planner cannot know how far a recursion goes: it guesses large, and then compiles the
# query (JIT, ~70 ms) and hashes whole tables (~5 ms each) where a few index lookups from the
# reached nodes do. For this one transaction: no JIT, nested loops over the indexes
# (measured on the benchmark's graph: 40 ms → 24 ms, and 110 ms with JIT).
_PG_SETTINGS = (
    "SELECT set_config('jit', 'off', true), set_config('enable_hashjoin', 'off', true), "
    "set_config('enable_mergejoin', 'off', true)"
)


def _graph_sql(cap: int | None) -> str:
    """The statement; its first parameter is the list of start ids (any number: an array on
    PostgreSQL, a JSON array on SQLite, rather than one placeholder per id), then, given a
    ``cap``, the number of rows ``reach`` stops at, twice."""
    postgres = connection.vendor == "postgresql"
    if postgres:
        step, starts = _STEP_ONE_REFERENCE, "q.id = ANY(%s)"
    else:
        step, starts = _STEP_SEVERAL_REFERENCES, "q.id IN (SELECT value FROM json_each(%s))"
    limit = "LIMIT %s" if cap is not None else ""
    one_hop = "UNION SELECT dt, did FROM edge WHERE (SELECT COUNT(*) FROM walked) >= %s"
    return (
        _GRAPH.replace("{step}", step)
        .replace("{starts}", starts)
        .replace("{limit_inside}", "" if postgres else limit)
        .replace("{limit_outside}", limit if postgres else "")
        .replace("{not_materialized}", "NOT MATERIALIZED" if postgres else "")
        .replace("{one_hop}", one_hop if cap is not None else "")
    )


class Subgraph:
    """What is reachable downstream from some requirements, read in one query: the edges
    leaving every reached node, the requirements reached and their ancestors, the artifacts
    reached.

    With ``limit``, only what ``walk`` can reach before it stops at ``limit`` nodes: the first
    ``max(limit, len(starts))`` nodes breadth first (``walked``), the edges leaving them and
    the nodes and ancestors those lead to. Enough for the same walk, because the walk expands
    a level only when every node up to it fits in ``limit`` (the starts' level always): each
    level it expands lies whole in ``walked``, so its edges are all here; and each node it
    adds is one such an edge leads to, read with its ancestors."""

    def __init__(self, starts: Sequence[int], limit: int | None = None):
        self.edges: dict[Node, list[Edge]] = {}
        self.requirements: dict[int, tuple[str, str, int | None]] = {}
        self.artifacts: dict[int, tuple[str, str, str]] = {}
        ids = list(dict.fromkeys(int(i) for i in starts))
        if not ids:
            return
        ordered: list[tuple[Node, int, Edge]] = []
        postgres = connection.vendor == "postgresql"
        # SET LOCAL lasts until the end of the transaction: a transaction of its own on
        # PostgreSQL (SQLite's would take the writers' lock, and it has no JIT).
        with transaction.atomic() if postgres else nullcontext(), connection.cursor() as cursor:
            if postgres:
                cursor.execute(_PG_SETTINGS)
            cap = None if limit is None else max(limit, len(ids))
            params: list[Any] = [ids if postgres else json.dumps(ids)]
            cursor.execute(_graph_sql(cap), params if cap is None else [*params, cap, cap])
            rows = cursor.fetchall()
        for tag, ut, uid, dt, did, t1, t2, t3, number, flag in rows:
            if tag == "E":
                ordered.append(((ut, uid), number, ((dt, did), t1, bool(flag))))
            elif tag == "R":
                self.requirements[did] = (t1, t2, uid)
            else:
                self.artifacts[did] = (t1, t2, t3)
        # Each node's edges: its children by number, then the links into it by id.
        ordered.sort(key=lambda e: (e[2][1] != "child", e[1]))
        for up, _n, edge in ordered:
            self.edges.setdefault(up, []).append(edge)

    def downstream(self, frontier: Sequence[Node]) -> dict[Node, list[Edge]]:
        return {node: self.edges[node] for node in frontier if node in self.edges}

    def requirements_of(self, ids: Sequence[int]) -> dict[int, tuple[str, str, int | None]]:
        return {pk: self.requirements[pk] for pk in ids if pk in self.requirements}


def walk(
    starts: Sequence[int],
    downstream: Callable[[Sequence[Node]], dict[Node, list[Edge]]],
    requirements: Callable[[Sequence[int]], dict[int, tuple[str, str, int | None]]],
    limit: int,
) -> tuple[dict[Node, dict[str, Any]], dict[int, tuple[str, str, int | None]], bool]:
    """Breadth-first walk from the requirement ids ``starts``; cycle-safe, at most ``limit``
    nodes. Returns (node → {path, depth, via, suspect, relation}, the requirements read,
    truncated)."""
    reached: dict[Node, dict[str, Any]] = {}
    for pk in starts:
        node = ("R", pk)
        if node not in reached:
            reached[node] = {
                "path": [node], "depth": 0, "via": None, "suspect": False, "relation": TOUCHED,
            }  # fmt: skip
    frontier = list(reached)
    truncated = False
    while frontier and not truncated:
        edges = downstream(frontier)
        nxt_frontier: list[Node] = []
        for node in frontier:
            here = reached[node]
            for nxt, via, suspect in edges.get(node, ()):
                if nxt in reached:
                    continue  # a shorter (or equal) path reached it first; cycles end here
                if len(reached) >= limit:
                    truncated = True
                    break
                reached[nxt] = {
                    "path": [*here["path"], nxt], "depth": here["depth"] + 1, "via": via,
                    "suspect": suspect, "relation": DOWNSTREAM,
                }  # fmt: skip
                nxt_frontier.append(nxt)
            if truncated:
                break
        frontier = nxt_frontier

    # Ancestors: read the requirements reached, then climb the parent chains level by level.
    reqs = requirements([pk for t, pk in reached if t == "R"])
    missing = {p for _k, _t, p in reqs.values() if p is not None and p not in reqs}
    while missing:
        found = requirements(sorted(missing))
        if not found:  # pragma: no cover - a parent the database does not hold
            break
        reqs.update(found)
        missing = {p for _k, _t, p in reqs.values() if p is not None and p not in reqs}
    for node in [n for n in reached if n[0] == "R"]:
        info = reached[node]
        parent = reqs[node[1]][2]
        path = info["path"]
        while parent is not None and not truncated:
            up = ("R", parent)
            if up in reached:
                break  # its own chain is (or will be) climbed from there
            if len(reached) >= limit:
                truncated = True
                break
            path = [*path, up]
            reached[up] = {
                "path": path, "depth": len(path) - 1, "via": "parent", "suspect": False,
                "relation": ANCESTOR,
            }  # fmt: skip
            parent = reqs[parent][2]
    return reached, reqs, truncated


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """The cyclic garbage collector paused for the block. An analysis allocates ~10,000
    tuples and lists (rows, edges, paths) that form no cycles; each 700 allocations started a
    collection (~15 per call, and every few calls a full one over the whole process), which
    was the tail of the time: client CPU p95 70 ms with, 23 ms without (p50 21 → 16 ms).
    Reference counting still frees everything; the collector resumes after, unless it was
    already paused by someone else."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def analyse(starts: Sequence[int], *, limit: int) -> dict[str, Any]:
    """The impact items reached from the requirement ids ``starts`` (see the module doc)."""
    with _no_cyclic_gc():
        return _analyse(starts, limit=limit)


def _analyse(starts: Sequence[int], *, limit: int) -> dict[str, Any]:
    graph = Subgraph(starts, limit)
    reached, reqs, truncated = walk(starts, graph.downstream, graph.requirements_of, limit)
    arts = graph.artifacts

    def key_of(node: Node) -> str:
        return reqs[node[1]][0] if node[0] == "R" else arts[node[1]][0]

    items = []
    for node, info in reached.items():
        if node[0] == "R":
            key, title, _p = reqs[node[1]]
            item_type, kind = "requirement", None
        else:
            key, title, kind = arts[node[1]]
            item_type = "artifact"
        items.append(
            {
                "key": key, "type": item_type, "kind": kind, "title": title,
                "relation": info["relation"], "depth": info["depth"], "via": info["via"],
                "suspect": info["suspect"], "path": [key_of(n) for n in info["path"]],
            }
        )  # fmt: skip
    return {"items": items, "truncated": truncated}

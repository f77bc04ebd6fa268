"""The impact statement reads about as far as the walk goes: on a graph much larger than the
cap, the rows the database reads and returns do not grow with the graph."""

from __future__ import annotations

import pytest
from django.db import connection

from changeflow.requirements import impact
from changeflow.requirements.models import Artifact, Requirement, TraceLink
from tests.requirements.test_redline_impact_props import _level_by_level, _requirements

pytestmark = pytest.mark.django_db

LIMIT = 30
TABLES = ("requirements_requirement", "requirements_tracelink", "requirements_artifact")


def grow(p, to: int) -> int:
    """A ladder of ``to`` rungs, bulk-inserted: requirement i is the child of requirement
    i - 1, artifact i verifies requirement i and depends on artifact i - 1. Everything is
    downstream of the first requirement, whose id is returned."""
    have = Requirement.objects.filter(project=p.project).count()
    reqs = Requirement.objects.bulk_create(
        [
            Requirement(project=p.project, number=i + 1, key=f"ACME-R-{i + 1}", title=f"R{i}",
                        kind="functional", priority="should", status="approved",
                        created_by=p.pm)
            for i in range(have, to)
        ]
    )  # fmt: skip
    arts = Artifact.objects.bulk_create(
        [
            Artifact(project=p.project, number=i + 1, key=f"ACME-A-{i + 1}", kind="test",
                     title=f"A{i}", created_by=p.pm)
            for i in range(have, to)
        ]
    )  # fmt: skip
    all_reqs = list(Requirement.objects.filter(project=p.project).order_by("number"))
    all_arts = list(Artifact.objects.filter(project=p.project).order_by("number"))
    for i in range(max(have, 1), to):
        all_reqs[i].parent_id = all_reqs[i - 1].pk
    Requirement.objects.bulk_update(all_reqs[max(have, 1) : to], ["parent"])
    links = []
    for i in range(have, to):
        ends = [{"source_artifact": all_arts[i], "target_requirement": all_reqs[i]}]
        if i:
            ends.append({"source_artifact": all_arts[i], "target_artifact": all_arts[i - 1]})
        links += [
            TraceLink(project=p.project, created_by=p.pm,
                      kind="verifies" if "target_requirement" in end else "depends_on", **end)
            for end in ends
        ]  # fmt: skip
    TraceLink.objects.bulk_create(links)
    assert len(reqs) == len(arts) == to - have
    return all_reqs[0].pk


def read(starts, limit):
    """(rows the statement returned, rows the database read for it): on PostgreSQL the
    tuples its scans of the three tables fetched (this transaction's statistics), on SQLite
    the virtual machine's instructions, counted by a progress handler (in tens)."""
    if connection.vendor == "postgresql":

        def fetched():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT COALESCE(SUM(COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)),"
                    " 0) FROM pg_stat_xact_user_tables WHERE relname = ANY(%s)",
                    [list(TABLES)],
                )
                return int(cursor.fetchone()[0])

        before = fetched()
        graph = impact.Subgraph(starts, limit)
        work = fetched() - before
    else:
        connection.ensure_connection()
        steps = [0]

        def count():
            steps[0] += 1
            return 0

        connection.connection.set_progress_handler(count, 10)
        try:
            graph = impact.Subgraph(starts, limit)
        finally:
            connection.connection.set_progress_handler(None, 10)
        work = steps[0]
    returned = (
        sum(len(e) for e in graph.edges.values()) + len(graph.requirements) + len(graph.artifacts)
    )
    return returned, work, graph


def test_the_statement_stops_near_the_cap(personas):
    p = personas
    root = grow(p, 200)
    small = read([root], LIMIT)
    root = grow(p, 1_200)  # six times the graph, all of it downstream of the root
    big = read([root], LIMIT)
    everything = read([root], None)
    # The capped statement returns and reads the same whatever lies past the cap ...
    assert big[0] == small[0] <= 4 * LIMIT
    assert big[1] <= small[1] * 1.05
    # ... where reading all that is reachable grows with the graph (the measure can tell).
    assert everything[0] >= 1_200 * 4
    assert everything[1] >= 20 * big[1]
    # And the walk on what it read is the walk on the whole graph, truncated at the cap.
    for graph in (big[2], everything[2]):
        got = impact.walk([root], graph.downstream, graph.requirements_of, LIMIT)
        assert got[2] is True and len(got[0]) == LIMIT
        assert list(got[0].items()) == list(
            impact.walk([root], _level_by_level, _requirements, LIMIT)[0].items()
        )
    items = impact.analyse([root], limit=LIMIT)
    assert items["truncated"] and len(items["items"]) == LIMIT

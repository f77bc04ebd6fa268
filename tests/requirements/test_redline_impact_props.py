"""Properties: the redline is a faithful diff (Chinese, English, mixed); impact analysis on a
random graph agrees with a straightforward reference traversal; baselines are append-only in
PostgreSQL itself."""

from __future__ import annotations

import random
from collections import deque

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.db.utils import DatabaseError
from hypothesis import given, settings
from hypothesis import strategies as st

from changeflow.requirements import impact, selectors, services
from changeflow.requirements.diff import patch, text_diff, tokens
from changeflow.requirements.models import Baseline, BaselineItem, Requirement, TraceLink
from tests.factories import make_cr
from tests.requirements.helpers import make_baseline, make_req

CHINESE = st.text(alphabet="登录页面需要支持短信验证码邮箱用户密码，。、 ", max_size=40)
ENGLISH = st.text(alphabet="abcdefghij ABC.,;-\n", max_size=60)
MIXED = st.text(alphabet="登录验证码 SMS code for the user 2FA，. \n", max_size=60)
ANY = st.text(max_size=40)


@pytest.mark.parametrize(
    "strategy", [CHINESE, ENGLISH, MIXED, ANY], ids=["zh", "en", "mixed", "any"]
)
def test_patch_of_diff_gives_the_new_text(strategy):
    @settings(max_examples=150, deadline=None)
    @given(strategy, strategy)
    def prop(a, b):
        ops = text_diff(a, b)
        assert patch(a, ops) == b
        assert all(o["text"] for o in ops)

    prop()


def test_tokens_cjk_single_latin_words():
    assert tokens("支持 SMS 验证码") == ["支", "持", " ", "SMS", " ", "验", "证", "码"]
    assert text_diff("Export as CSV", "Export as XLSX")[-2:] == [
        {"op": "delete", "text": "CSV"},
        {"op": "insert", "text": "XLSX"},
    ]


def test_patch_refuses_a_diff_of_another_text():
    with pytest.raises(ValueError):
        patch("abc", text_diff("abd", "x"))


# ---------------------------------------------------------------- impact vs reference


def _reference(starts, reqs, links):
    """Plain BFS over the whole graph held in memory: the shortest distance of every node
    downstream, then every ancestor of a requirement reached."""
    down: dict[tuple, list[tuple]] = {}
    for pk, parent in reqs.items():
        if parent is not None:
            down.setdefault(("R", parent), []).append(("R", pk))
    for src, dst in links:
        down.setdefault(dst, []).append(src)
    dist = {("R", s): 0 for s in starts}
    queue = deque(dist)
    while queue:
        node = queue.popleft()
        for nxt in down.get(node, []):
            if nxt not in dist:
                dist[nxt] = dist[node] + 1
                queue.append(nxt)
    ancestors = set()
    for t, pk in list(dist):
        if t == "R":
            parent = reqs[pk]
            while parent is not None and ("R", parent) not in dist:
                ancestors.add(("R", parent))
                parent = reqs[parent]
    return dist, ancestors


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_impact_on_a_random_graph_matches_the_reference(personas, seed):
    rnd = random.Random(seed)
    p = personas
    reqs = []
    for i in range(40):
        parent = rnd.choice(reqs).key if reqs and rnd.random() < 0.6 else None
        reqs.append(make_req(p.project, by=p.pm, title=f"R{i}", parent=parent))
    arts = [
        services.artifact_create(user=p.pm, project=p.project, kind="test", title=f"A{i}")
        for i in range(25)
    ]
    ends = reqs + arts
    made = 0
    while made < 90:
        src, dst = rnd.choice(ends), rnd.choice(ends)
        if src is dst:
            continue
        try:
            kind = rnd.choice(["derives", "verifies", "depends_on"])
            services.link_create(
                user=p.pm, project=p.project, source=src.key, target=dst.key, kind=kind
            )
        except Exception:  # noqa: BLE001 - a duplicate pair: draw again
            continue
        made += 1
    starts = [r.key for r in rnd.sample(reqs, 3)]
    cr = make_cr(p.project, by=p.pm, affected_requirements=starts)
    got = selectors.impact_of(user=p.pm, cr=cr)

    parents = dict(Requirement.objects.values_list("id", "parent_id"))
    links = [
        (("R", sr) if sr else ("A", sa), ("R", tr) if tr else ("A", ta))
        for sr, sa, tr, ta in TraceLink.objects.values_list(
            "source_requirement_id", "source_artifact_id", "target_requirement_id",
            "target_artifact_id",
        )
    ]  # fmt: skip
    key_to_node = {r.key: ("R", r.pk) for r in Requirement.objects.all()}
    key_to_node |= {a.key: ("A", a.pk) for a in arts}
    start_ids = [key_to_node[k][1] for k in starts]
    dist, ancestors = _reference(start_ids, parents, links)

    items = {key_to_node[i["key"]]: i for i in got["items"]}
    downstream = {n for n, i in items.items() if i["relation"] in ("touched", "downstream")}
    assert downstream == set(dist)
    assert {n for n, i in items.items() if i["relation"] == "ancestor"} == ancestors
    edges = {(dst, src) for src, dst in links} | {
        (("R", par), ("R", pk)) for pk, par in parents.items() if par
    }
    for node, item in items.items():
        path = [key_to_node[k] for k in item["path"]]
        assert path[0] in {("R", s) for s in start_ids} and path[-1] == node
        assert item["depth"] == len(path) - 1
        if item["relation"] != "ancestor":
            assert item["depth"] == dist[node]  # a shortest path
            assert all((a, b) in edges for a, b in zip(path, path[1:], strict=False))
        else:  # downstream steps, then only parent steps up
            climbing = False
            for a, b in zip(path, path[1:], strict=False):
                is_parent_step = a[0] == "R" and b[0] == "R" and parents[a[1]] == b[1]
                if climbing:
                    assert is_parent_step
                elif (a, b) not in edges:
                    assert is_parent_step
                    climbing = True
            assert climbing


def _level_by_level(frontier):
    """The edges leaving each node as the walk read them level by level before the one-query
    version (children by number, then the links into the node by id): the order that decides
    which of several shortest paths an item gets."""
    out = {}
    req_ids = [pk for t, pk in frontier if t == "R"]
    art_ids = [pk for t, pk in frontier if t == "A"]
    for pk, parent in (
        Requirement.objects.filter(parent_id__in=req_ids)
        .order_by("number")
        .values_list("id", "parent_id")
    ):
        out.setdefault(("R", parent), []).append((("R", pk), "child", False))
    links = TraceLink.objects.filter(
        Q(target_requirement_id__in=req_ids) | Q(target_artifact_id__in=art_ids)
    ).order_by("id")
    for link in links:
        up = ("R", link.target_requirement_id) if link.target_requirement_id else (
            "A", link.target_artifact_id)  # fmt: skip
        down = ("R", link.source_requirement_id) if link.source_requirement_id else (
            "A", link.source_artifact_id)  # fmt: skip
        out.setdefault(up, []).append((down, link.kind, link.suspect))
    return out


def _requirements(ids):
    return {
        pk: (key, title, parent)
        for pk, key, title, parent in Requirement.objects.filter(pk__in=ids).values_list(
            "id", "key", "title", "parent_id"
        )
    }


@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_one_query_impact_gives_the_level_by_level_walks_exact_paths(personas, seed):
    """Same items, same order, same paths (ties between shortest paths broken alike), same
    truncation, as walking level by level with a query per level."""
    rnd = random.Random(seed)
    p = personas
    reqs = []
    for i in range(50):
        parent = rnd.choice(reqs).key if reqs and rnd.random() < 0.5 else None
        reqs.append(make_req(p.project, by=p.pm, title=f"R{i}", parent=parent))
    arts = [
        services.artifact_create(user=p.pm, project=p.project, kind="design", title=f"A{i}")
        for i in range(30)
    ]
    ends, made = reqs + arts, 0
    while made < 140:
        src, dst = rnd.choice(ends), rnd.choice(ends)
        if src is dst:
            continue
        try:
            services.link_create(
                user=p.pm, project=p.project, source=src.key, target=dst.key,
                kind=rnd.choice(["derives", "verifies", "depends_on", "documents"]),
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - a duplicate pair: draw again
            continue
        made += 1
    TraceLink.objects.filter(pk__in=TraceLink.objects.order_by("?")[:20]).update(suspect=True)
    starts = [r.pk for r in rnd.sample(reqs, 4)]
    for limit in (10_000, 25, 12, 3):
        expected = impact.walk(starts, _level_by_level, _requirements, limit)
        for graph in (impact.Subgraph(starts), impact.Subgraph(starts, limit)):  # all, capped
            got = impact.walk(starts, graph.downstream, graph.requirements_of, limit)
            assert list(got[0].items()) == list(expected[0].items())
            assert got[2] == expected[2]
    assert impact.analyse(starts, limit=10_000)["items"]  # and it renders


# ---------------------------------------------------------------- append-only on PostgreSQL


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL triggers")
@pytest.mark.parametrize("table", ["requirements_baseline", "requirements_baselineitem"])
@pytest.mark.parametrize("statement", ["UPDATE {t} SET id = id", "DELETE FROM {t}"])
def test_raw_update_or_delete_of_a_baseline_fails_on_postgresql(personas, table, statement):
    p = personas
    make_req(p.project, by=p.pm)
    make_baseline(p.project, by=p.pm, name="R1")
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement.format(t=table))
    assert Baseline.objects.count() == 1 and BaselineItem.objects.count() == 1

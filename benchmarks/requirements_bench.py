"""Requirements at scale: impact analysis, baseline creation and baseline diff.

    .venv/bin/python benchmarks/requirements_bench.py [--force] [--runs 50]
    DATABASE_URL=postgres://.../cf_bench .venv/bin/python benchmarks/requirements_bench.py

Builds project ``REQB`` with 20,000 requirements, 80,000 artifacts and 300,000 trace links
(bulk-inserted; on SQLite in its own file under ``benchmarks/out/req-home``, or in the
database ``DATABASE_URL`` names, which must be one for benchmarks only: ``--force`` empties
it), then measures, printing figures and asserting nothing:

- impact analysis (``requirements.selectors.impact_of``) of change requests touching 20
  requirements each, p50/p95 over ``--runs`` different CRs (target p95 < 200 ms);
- creating a baseline of the 20,000 requirements (``services.baseline_create``, < 2 s);
- diffing two baselines that differ in 2,000 requirements (``services.baseline_diff``, < 1 s).

The graph is shaped like a real specification, not a random one: 200 business requirements,
each refined into user (×9), functional (×30) and detailed (×60) requirements (a four-level
hierarchy); ``derives`` links between requirements of the same area; design items, code
modules, tests and documents that implement, verify or document requirements of their area;
and ``depends_on`` links between artifacts of an area.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
HOME = ROOT / "out" / "req-home"
KEY = "REQB"
AREAS = 200
LEVELS = (1, 9, 30, 60)  # per area: business, user, functional, detailed = 100 requirements
ARTIFACTS_PER_AREA = 400
LINKS = 300_000


def setup(force: bool) -> None:
    HOME.mkdir(parents=True, exist_ok=True)
    os.environ["CHANGEFLOW_HOME"] = str(HOME)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
    if not os.environ.get("DATABASE_URL") and force:
        for suffix in ("", "-wal", "-shm"):
            (HOME / f"changeflow.sqlite3{suffix}").unlink(missing_ok=True)
    import django

    django.setup()
    from django.core.management import call_command

    if os.environ.get("DATABASE_URL") and force:
        call_command("migrate", verbosity=0)
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t:.1f} s", flush=True)
    return out


def seed() -> None:
    from django.db import connection, transaction

    from changeflow.accounts import services as accounts
    from changeflow.accounts.models import Project, User
    from changeflow.requirements.models import (
        Artifact,
        Requirement,
        RequirementVersion,
        TraceLink,
    )

    if Project.objects.filter(key=KEY).exists():
        print("data: reused (--force rebuilds)")
        return
    rng = random.Random(20261128)
    print("seeding:")
    admin = User.objects.filter(username="reqb.admin").first() or accounts.user_create(
        username="reqb.admin", password="bench-Passw0rd-2026", email="a@example.com",
        display_name="Bench admin", admin=True,
    )  # fmt: skip
    project = accounts.project_create(user=admin, key=KEY, name="Requirements bench",
                                      customer="Bench")  # fmt: skip
    accounts.membership_set(user=admin, project=project, username="reqb.admin",
                            role="project_manager")  # fmt: skip
    kinds = ("business", "user", "functional", "non_functional")
    with transaction.atomic():
        # Requirements, level by level (a parent is inserted before its children).
        areas: list[list[list[int]]] = [[[] for _ in LEVELS] for _ in range(AREAS)]
        number = 0

        def make_level(level: int) -> None:
            nonlocal number
            rows, owners = [], []
            for a in range(AREAS):
                for _ in range(LEVELS[level]):
                    number += 1
                    parent = rng.choice(areas[a][level - 1]) if level else None
                    rows.append(
                        Requirement(
                            project=project, number=number, key=f"{KEY}-R-{number}",
                            title=f"需求 {number} · area {a} requirement",
                            text=f"系统应当支持第 {a} 区的功能 {number}. The system shall do "
                            f"thing {number} for area {a}.",
                            kind=kinds[level], priority="should", status="approved",
                            parent_id=parent, version=1, created_by=admin,
                        )
                    )  # fmt: skip
                    owners.append(a)
            made = Requirement.objects.bulk_create(rows, batch_size=2000)
            for req, a in zip(made, owners, strict=True):
                areas[a][level].append(req.pk)

        for level in range(len(LEVELS)):
            make_level(level)
        reqs = list(Requirement.objects.filter(project=project).values_list(
            "id", "title", "text", "kind", "parent_id"))  # fmt: skip
        versions = [
            RequirementVersion(requirement_id=i, version=1, title=t, text=x, kind=k,
                               priority="should", status="approved", parent_id=p, author=admin)
            for i, t, x, k, p in reqs
        ]  # fmt: skip
        timed(
            "20,000 requirements and their versions",
            lambda: RequirementVersion.objects.bulk_create(versions, batch_size=2000),
        )

        art_kinds = ("design", "code", "test", "document")
        arts = [
            Artifact(project=project, number=n + 1, key=f"{KEY}-A-{n + 1}",
                     kind=art_kinds[n % 4], title=f"Artifact {n + 1}", created_by=admin)
            for n in range(AREAS * ARTIFACTS_PER_AREA)
        ]  # fmt: skip
        made = timed(
            "80,000 artifacts", lambda: Artifact.objects.bulk_create(arts, batch_size=2000)
        )
        area_arts = [[] for _ in range(AREAS)]
        for i, art in enumerate(made):
            area_arts[i % AREAS].append(art.pk)

        seen: set[tuple] = set()
        links: list[TraceLink] = []

        def add(src: tuple[str, int], dst: tuple[str, int], kind: str) -> None:
            if src == dst or (src, dst, kind) in seen:
                return
            seen.add((src, dst, kind))
            end = {}
            end["source_requirement_id" if src[0] == "R" else "source_artifact_id"] = src[1]
            end["target_requirement_id" if dst[0] == "R" else "target_artifact_id"] = dst[1]
            links.append(TraceLink(project=project, kind=kind, created_by=admin, **end))

        # derives: a lower-level requirement derives from one a level up in its area (20,000).
        for a in range(AREAS):
            for level in range(1, len(LEVELS)):
                for r in areas[a][level]:
                    add(("R", r), ("R", rng.choice(areas[a][level - 1])), "derives")
        # artifacts implement / verify / document detailed and functional requirements.
        low = [areas[a][2] + areas[a][3] for a in range(AREAS)]
        while len(links) < LINKS - AREAS * ARTIFACTS_PER_AREA:
            a = rng.randrange(AREAS)
            art = rng.choice(area_arts[a])
            add(("A", art), ("R", rng.choice(low[a])),
                rng.choice(("implements", "verifies", "documents", "refines")))  # fmt: skip
        # depends_on between artifacts of an area (a test depends on a code module...).
        while len(links) < LINKS:
            a = rng.randrange(AREAS)
            add(("A", rng.choice(area_arts[a])), ("A", rng.choice(area_arts[a])), "depends_on")
        timed("300,000 trace links", lambda: TraceLink.objects.bulk_create(links, batch_size=5000))
    if connection.vendor == "postgresql" and not os.environ.get("BENCH_NO_ANALYZE"):
        # What autovacuum does shortly after a load this size: planner statistics. (SQLite
        # stays without, as an install is: see "Also" in the README.) BENCH_NO_ANALYZE=1
        # measures a database that never had them.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


def measure(runs: int) -> None:
    from django.db import connection, transaction

    from changeflow.accounts.models import Project, User
    from changeflow.requirements import selectors, services
    from changeflow.requirements.models import (
        AffectedRequirement,
        Baseline,
        BaselineItem,
        Requirement,
        RequirementVersion,
    )

    project = Project.objects.get(key=KEY)
    admin = User.objects.get(username="reqb.admin")
    rng = random.Random(7)
    ids = list(Requirement.objects.filter(project=project).values_list("id", flat=True))
    print(f"\n{Requirement.objects.filter(project=project).count():,} requirements, "
          f"{project.artifacts.count():,} artifacts, {project.trace_links.count():,} links "
          f"on {connection.vendor}")  # fmt: skip

    # Impact: `runs` CRs, each touching 20 random requirements (declared).
    from changeflow.changes import services as changes

    timings, cpu, sizes = [], [], []
    for i in range(runs):
        cr = changes.change_request_create(
            user=admin, project=project, title=f"Impact bench {i}", description="bench"
        )
        AffectedRequirement.objects.bulk_create(
            [AffectedRequirement(change_request=cr, requirement_id=r) for r in rng.sample(ids, 20)]
        )
        selectors.impact_of(user=admin, cr=cr) if i == 0 else None  # warm the caches once
        t, c = time.perf_counter(), time.process_time()
        got = selectors.impact_of(user=admin, cr=cr)
        timings.append((time.perf_counter() - t) * 1000)
        cpu.append((time.process_time() - c) * 1000)
        sizes.append(len(got["items"]))
    print(f"impact of a CR touching 20 requirements ({runs} CRs, {statistics.median(sizes):.0f} "
          f"items reached (median), {max(sizes)} max): p50 {statistics.median(timings):.0f} ms, "
          f"p95 {percentile(timings, 95):.0f} ms (target < 200 ms); this process's CPU time "
          f"p50 {statistics.median(cpu):.0f} ms, p95 {percentile(cpu, 95):.0f} ms")  # fmt: skip

    # Baseline creation.
    n = Baseline.objects.filter(project=project).count()
    t, c = time.perf_counter(), time.process_time()
    first = services.baseline_create(user=admin, project=project, name=f"bench-{n + 1}")
    created, created_cpu = time.perf_counter() - t, time.process_time() - c
    items = BaselineItem.objects.filter(baseline=first).count()
    print(f"create a baseline of {items:,} requirements: {created * 1000:.0f} ms (target < 2 s); "
          f"CPU {created_cpu * 1000:.0f} ms")  # fmt: skip

    # 2,000 requirements get a new version (text and priority changed), then a second baseline.
    changed = random.Random(n).sample(ids, 2000)
    with transaction.atomic():
        reqs = list(Requirement.objects.filter(pk__in=changed))
        for r in reqs:
            r.version += 1
            r.text = r.text.replace("支持", "不再支持", 1) + f" Changed in round {n}."
            r.priority = "must" if r.priority != "must" else "could"
        RequirementVersion.objects.bulk_create(
            [RequirementVersion(requirement_id=r.pk, version=r.version, title=r.title,
                                text=r.text, kind=r.kind, priority=r.priority, status=r.status,
                                parent_id=r.parent_id, author=admin)
             for r in reqs], batch_size=2000)  # fmt: skip
        Requirement.objects.bulk_update(reqs, ["version", "text", "priority"], batch_size=2000)
    second = services.baseline_create(user=admin, project=project, name=f"bench-{n + 2}")
    timings, cpu = [], []
    for _ in range(3):
        t, c = time.perf_counter(), time.process_time()
        diff = services.baseline_diff(baseline=second, against=first)
        timings.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    print(f"diff two baselines differing in {len(diff['modified']):,} requirements: "
          f"{min(timings) * 1000:.0f} ms best of 3, {max(timings) * 1000:.0f} ms worst "
          f"(target < 1 s); CPU {min(cpu) * 1000:.0f} ms best")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild the data")
    parser.add_argument("--runs", type=int, default=50, help="CRs for the impact figure")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent / "src"))
    setup(args.force)
    t = time.perf_counter()
    seed()
    print(f"data ready in {time.perf_counter() - t:.1f} s")
    measure(args.runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Similar-change search and analogy estimates over 100,000 change requests.

Runs on the data of ``seed.py`` (100,000 CRs in project BENCH, 30 % closed with actual effort;
run it first). Measures, in this process and on SQLite:

- building the history pool (every CR's text index and attributes) cold: the first time,
  when the CRs' text features are computed and stored (``impact.features``), then as a
  freshly started process finds it, from the stored features in one query;
- ``impact.selectors.similar_to`` for 300 queries (titles of seeded CRs, and free text in
  Chinese and English): p50 / p95 / max;
- ``impact.selectors.analogy_for`` for 300 CRs (k = 4 of ~30,000 closed CRs with actuals):
  p50 / p95 / max.

Each call includes what a request pays: the stamp query that checks the cached pool is
current, and for the analogy the CR's own lookups. Figures, not assertions.
Usage: ``.venv/bin/python benchmarks/estimate_bench.py [--database-url postgres://…/cf_est_bench]``
(the PostgreSQL data from ``seed.py --database-url`` the same).
"""

from __future__ import annotations

import random
import statistics
import sys
import time

from _common import HOME, PROJECT_KEY, setup_django

QUERIES = 300


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def show(name: str, ms: list[float]) -> None:
    print(f"{name:34} n={len(ms):4d}  p50 {statistics.median(ms):6.1f} ms  "
          f"p95 {pct(ms, 95):6.1f} ms  max {max(ms):6.1f} ms")  # fmt: skip


def main() -> int:
    database_url = (
        sys.argv[sys.argv.index("--database-url") + 1] if "--database-url" in sys.argv else None
    )
    setup_django(HOME if not database_url else HOME.with_name("pg-home"), database_url)
    from django.db import connection

    print(f"database: {connection.vendor}")
    from changeflow.accounts.models import Project, User
    from changeflow.changes.models import ChangeRequest
    from changeflow.impact import selectors

    project = Project.objects.filter(key=PROJECT_KEY).first()
    if project is None or ChangeRequest.objects.filter(project=project).count() < 100_000:
        print("run benchmarks/seed.py first (100,000 CRs in BENCH)", file=sys.stderr)
        return 1
    pm = User.objects.get(username="bench.pm")
    n = ChangeRequest.objects.filter(project=project).count()
    closed = ChangeRequest.objects.filter(
        project=project, state="closed", actual_effort_hours__gt=0
    ).count()
    print(f"{n} change requests in {PROJECT_KEY}, {closed} closed with actual effort")

    from changeflow.impact.models import TextFeatures

    missing = n - TextFeatures.objects.filter(change_request__project=project).count()
    if missing:
        t = time.perf_counter()
        selectors.scope_pool((project.pk,))
        print(f"history pool, first build computing {missing} CRs' text features: "
              f"{time.perf_counter() - t:.1f} s")  # fmt: skip
    for _ in range(3):
        selectors._POOLS.clear()  # as a freshly started process
        t = time.perf_counter()
        selectors.scope_pool((project.pk,))
        print(f"history pool build (cold, features stored): {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    selectors.scope_pool((project.pk,))
    print(f"history pool check (warm, stamp query only): {(time.perf_counter() - t) * 1000:.1f} ms")

    rng = random.Random(7)
    ids = list(ChangeRequest.objects.filter(project=project).values_list("id", flat=True))
    sample = ChangeRequest.objects.filter(id__in=rng.sample(ids, QUERIES)).select_related("project")
    crs = list(sample)
    free = ["订单报表导出 Excel", "登录 短信验证码", "payment refund callback", "库存同步",
            "performance of the search page", "发票 增值税", "mobile checkout 支付"]  # fmt: skip
    texts = [c.title for c in crs[: QUERIES - 60]] + [rng.choice(free) for _ in range(60)]

    ms = []
    for text in texts:
        t = time.perf_counter()
        selectors.similar_to(user=pm, project=project, text=text)
        ms.append((time.perf_counter() - t) * 1000)
    show("similar_to (title or free text)", ms)

    ms = []
    for cr in crs:
        t = time.perf_counter()
        selectors.similar_to(user=pm, project=project, text=cr.title, body=cr.description,
                             exclude_key=cr.key)  # fmt: skip
        ms.append((time.perf_counter() - t) * 1000)
    show("similar_to (a CR's title+description)", ms)

    ms = []
    for cr in crs:
        t = time.perf_counter()
        selectors.analogy_for(user=pm, cr=cr)
        ms.append((time.perf_counter() - t) * 1000)
    show("analogy_for (k=4 of the closed CRs)", ms)
    return 0


if __name__ == "__main__":
    sys.exit(main())

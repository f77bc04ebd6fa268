"""My work: what the top bar's badge and the page cost, against the 100,000 change requests of
seed.py (one project; its users hold every role).

    .venv/bin/python benchmarks/seed.py          # once
    .venv/bin/python benchmarks/my_work_bench.py [--repeat 50]

For each seeded person: the navigation's one count query with and without the My work
subqueries (median of ``--repeat`` runs, milliseconds), and ``work.selectors.my_work`` (the
page's reads: queries and median time). Reads only; prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import HOME, USERS, machine, setup_django


def _median_ms(fn, repeat: int) -> float:
    fn()  # warm the caches
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=50)
    args = parser.parse_args()
    setup_django(HOME)

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from changeflow.accounts.models import User
    from changeflow.ccb import decisions
    from changeflow.core.db.expressions import count_of
    from changeflow.notifications.selectors import inbox
    from changeflow.work import selectors

    def nav(user, with_work: bool):
        extra = selectors.counting_querysets(user) if with_work else []
        return (
            User.objects.filter(pk=user.pk)
            .values_list(
                count_of(inbox(user=user, unread_only=True)),
                count_of(decisions.awaiting_vote(user)),
                count_of(decisions.unsnapped(user)),
                *(count_of(qs) for qs in extra),
            )
            .get()
        )

    print(f"machine: {machine()}")
    print(
        "| user | role | nav count query, before (ms) | with My work (ms) | page reads: "
        "queries | page reads (ms) | items |"
    )
    print("|---|---|---|---|---|---|---|")
    for username, role in USERS:
        user = User.objects.get(username=username)
        before = _median_ms(lambda u=user: nav(u, False), args.repeat)
        after = _median_ms(lambda u=user: nav(u, True), args.repeat)
        selectors.my_work(user=user)  # the votes' snapshots taken once (seeded CRs lack them)
        with CaptureQueriesContext(connection) as queries:
            sections = selectors.my_work(user=user)
        page = _median_ms(lambda u=user: selectors.my_work(user=u), max(3, args.repeat // 10))
        print(
            f"| {username} | {role} | {before:.2f} | {after:.2f} | {len(queries)} | "
            f"{page:.1f} | {selectors.total(sections)} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Seed a SQLite database with 100,000 change requests in one project, for the HTTP benchmark.

    .venv/bin/python benchmarks/seed.py [--count 100000] [--force]

People and the project are made through the services. The change requests are bulk-inserted
(100,000 service calls would take far too long), with the same search index rows that
``core.search.index`` writes and one ``cr.created`` audit event each, hashed with
``core.audit``'s own functions so that the chain verifies. Prints what it did and how long
each part took. Does nothing when the data exists (``--force`` rebuilds it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import sys
import time
from decimal import Decimal

from _common import HOME, PASSWORD, PROJECT_KEY, USERS, cr_text, machine, setup_django

STATES = {  # share of each state, in per cent: an install a few years old
    "draft": 14, "submitted": 8, "triaged": 6, "assessing": 6, "in_review": 5, "approved": 4,
    "implementing": 8, "verifying": 4, "closed": 30, "rejected": 5, "deferred": 3,
    "withdrawn": 4, "returned": 3,
}  # fmt: skip
CHANNELS = ["web", "portal", "api", "email", "meeting", "phone", "im", "letter", "import"]
TYPES = ["feature", "modification", "removal", "non_functional", "defect", "documentation"]
LABELS = ["报表", "支付", "mobile", "performance", "UI", "合规", "ERP", "门店", "security"]
BATCH = 5000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--force", action="store_true", help="delete and rebuild the data")
    parser.add_argument(
        "--database-url", default=None,
        help="seed this PostgreSQL database (one for benchmarks only, empty) instead of SQLite",
    )  # fmt: skip
    args = parser.parse_args()
    if args.force and HOME.exists() and not args.database_url:
        shutil.rmtree(HOME)
    setup_django(HOME if not args.database_url else HOME.with_name("pg-home"), args.database_url)

    from django.core.management import call_command
    from django.db import connection

    from changeflow.changes.models import ChangeRequest

    if args.database_url and args.force:
        print("--force is for the SQLite data; drop and create the database instead",
              file=sys.stderr)  # fmt: skip
        return 2
    print(f"database: {connection.vendor}")
    print(f"machine: {machine()}")
    print(f"CHANGEFLOW_HOME={os.environ['CHANGEFLOW_HOME']}")
    t0 = time.perf_counter()
    call_command("migrate", verbosity=0)
    existing = ChangeRequest.objects.filter(project__key=PROJECT_KEY).count()
    if existing >= args.count:
        print(f"{existing} change requests exist already in {PROJECT_KEY}; nothing to do "
              "(--force rebuilds)")  # fmt: skip
        return 0
    if existing:
        print("partial data found; run with --force", file=sys.stderr)
        return 1
    people, project = _people_and_project()
    print(f"people and project (services): {time.perf_counter() - t0:.1f} s")
    _change_requests(project, people, args.count)
    t = time.perf_counter()
    call_command("audit", "verify")
    print(f"audit verify: {time.perf_counter() - t:.1f} s")
    print(f"total: {time.perf_counter() - t0:.1f} s")
    return 0


def _people_and_project():
    from changeflow.accounts import services as accounts
    from changeflow.core import audit

    with audit.origin("cli"):
        admin = accounts.user_create(username="bench.admin", password=PASSWORD, admin=True)
        people = {name: accounts.user_create(username=name, password=PASSWORD) for name, _ in USERS}
        project = accounts.project_create(
            user=admin, key=PROJECT_KEY, name="基准测试项目 Benchmark project",
            customer="基准客户 Benchmark customer",
        )  # fmt: skip
        for name, role in USERS:
            accounts.membership_set(user=admin, project=project, username=name, role=role)
        accounts.membership_remove(user=admin, project=project, username="bench.admin")
        project = accounts.project_update(
            user=people["bench.pm"], project=project,
            data={"delegate_max_effort_hours": "40", "delegate_max_cost": "20000",
                  "delegate_max_schedule_days": "5"},
        )  # fmt: skip
    return people, project


def _change_requests(project, people, count: int) -> None:
    from django.db import connection, transaction
    from django.db.models import F

    from changeflow.accounts.models import Project
    from changeflow.changes.models import ChangeRequest
    from changeflow.changes.services import _search_text, _snapshot
    from changeflow.core import audit, search
    from changeflow.core.models import AuditEvent, AuditHead

    rng = random.Random(20261128)
    states = rng.choices(list(STATES), weights=list(STATES.values()), k=count)
    requesters = [people["bench.cust"], people["bench.rep"], people["bench.pm"]]
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=3 * 365)
    step = (now - start) / count

    # The model stamps created_at/updated_at itself; seeded history needs its own dates.
    fields = {f.name: f for f in ChangeRequest._meta.get_fields() if hasattr(f, "auto_now")}
    saved = {n: (f.auto_now, f.auto_now_add) for n, f in fields.items()}
    for f in fields.values():
        f.auto_now = f.auto_now_add = False

    t_build = t_insert = t_index = t_audit = 0.0
    try:
        for first in range(1, count + 1, BATCH):
            t = time.perf_counter()
            batch = []
            for number in range(first, min(first + BATCH, count + 1)):
                state = states[number - 1]
                created = start + step * number
                text = cr_text(rng)
                past_triage = state not in ("draft", "submitted", "returned")
                implemented = state in ("verifying", "closed")
                requester = rng.choice(requesters)
                batch.append(
                    ChangeRequest(
                        project=project, number=number, key=f"{PROJECT_KEY}-{number}", **text,
                        channel=rng.choice(CHANNELS),
                        type=rng.choice(TYPES) if past_triage or rng.random() < 0.3 else "",
                        priority=f"P{rng.randint(1, 4)}" if past_triage else "",
                        urgency=rng.choice(["low", "medium", "high"]) if past_triage else "",
                        labels=sorted(rng.sample(LABELS, rng.randint(0, 3))),
                        emergency=rng.random() < 0.01, state=state,
                        decision_mode=rng.choice(["board", "delegated"])
                        if state in ("approved", "implementing", "verifying", "closed",
                                     "rejected", "deferred") else "",
                        review_round=1 if state not in ("draft", "submitted", "triaged",
                                                        "assessing", "returned") else 0,
                        created_by=requester, requested_by=requester,
                        requested_at=created.date(),
                        actual_effort_hours=Decimal(rng.randint(4, 200)) if implemented else None,
                        version=1, created_at=created, updated_at=created,
                        state_changed_at=created,
                        closed_at=created + dt.timedelta(days=20) if state == "closed" else None,
                    )
                )  # fmt: skip
            t_build += time.perf_counter() - t
            with transaction.atomic():
                t = time.perf_counter()
                ChangeRequest.objects.bulk_create(batch)
                t_insert += time.perf_counter() - t
                t = time.perf_counter()
                with connection.cursor() as cur:
                    if connection.vendor == "postgresql":  # as core.search.index writes it
                        cur.executemany(
                            f"INSERT INTO {search.TABLE} (cr_id, doc) "  # noqa: S608
                            "VALUES (%s, %s::tsvector)",
                            [(cr.pk, search._pg_vector(search.tokenize(_search_text(cr))))
                             for cr in batch],
                        )  # fmt: skip
                    else:
                        cur.executemany(
                            f"INSERT INTO {search.TABLE} (rowid, doc) VALUES (%s, %s)",  # noqa: S608
                            [(cr.pk, " ".join(search.tokenize(_search_text(cr))))
                             for cr in batch],
                        )  # fmt: skip
                t_index += time.perf_counter() - t
                t = time.perf_counter()
                _audit_batch(batch, AuditEvent, AuditHead, audit, _snapshot)
                t_audit += time.perf_counter() - t
                Project.objects.filter(pk=project.pk).update(
                    next_cr_number=F("next_cr_number") + len(batch)
                )
            done = batch[-1].number
            if done % 20_000 == 0 or done == count:
                print(f"  {done:>7} change requests", flush=True)
    finally:
        for n, f in fields.items():
            f.auto_now, f.auto_now_add = saved[n]
    print(f"build objects: {t_build:.1f} s, insert: {t_insert:.1f} s, "
          f"search index: {t_index:.1f} s, audit events: {t_audit:.1f} s")  # fmt: skip


def _audit_batch(batch, AuditEvent, AuditHead, audit, snapshot) -> None:
    """One ``cr.created`` event per CR, chained exactly as ``audit.record`` chains them."""
    head = AuditHead.objects.select_for_update().get(pk=1)
    seq, prev = head.seq, head.hash
    events = []
    for cr in batch:
        seq += 1
        after = audit.jsonable(snapshot(cr))
        at = cr.created_at
        payload = audit._payload(
            seq=seq, at=at, actor=cr.created_by.username, action="cr.created",
            object_type="change_request", object_key=cr.key, project=PROJECT_KEY, before={},
            after=after, channel="import", ip="", internal=False,
        )  # fmt: skip
        digest = audit.compute_hash(prev, payload)
        events.append(
            AuditEvent(
                seq=seq,
                at=at,
                actor=payload["actor"],
                action="cr.created",
                object_type="change_request",
                object_key=cr.key,
                project=PROJECT_KEY,
                before={},
                after=after,
                channel="import",
                ip="",
                internal=False,
                prev_hash=prev,
                hash=digest,
            )  # fmt: skip
        )
        prev = digest
    AuditEvent.objects.bulk_create(events)
    AuditHead.objects.filter(pk=1).update(seq=seq, hash=prev)


if __name__ == "__main__":
    sys.exit(main())

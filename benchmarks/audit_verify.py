"""Time ``changeflow audit verify`` over 1,000,000 audit events.

    .venv/bin/python benchmarks/audit_verify.py [--events 1000000] [--force]

Builds a separate SQLite database under benchmarks/out/audit-home with a valid hash chain of
realistic events (transitions with comments, field edits, comments, votes), hashed with
``core.audit``'s own ``_payload`` and ``compute_hash`` and bulk-inserted, then runs the real
CLI, ``changeflow audit verify``, as a separate process and times it (twice: the second run
finds the file in the OS cache). Reuses the data when it exists (``--force`` rebuilds it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import AUDIT_HOME, machine, setup_django

BATCH = 50_000
ACTORS = ["wang.lei", "chen.jing", "liu.yang", "zhao.min", "li.na", "zhou.jie", "board"]
PROJECTS = ["ACME", "SHOP", "ERP", "CRM", "WMS"]
COMMENTS = ["请补充验收标准。", "Looks good to me.", "影响范围已确认，包括订单和库存模块。",
            "Customer confirmed the new date.", "回归测试通过。", ""]  # fmt: skip
MOVES = [("draft", "submit", "submitted"), ("submitted", "triage", "triaged"),
         ("triaged", "start_assessment", "assessing"), ("assessing", "request_review", "in_review"),
         ("approved", "start_implementation", "implementing"),
         ("implementing", "submit_verification", "verifying"),
         ("verifying", "verify", "closed")]  # fmt: skip


def _event(rng: random.Random, seq: int) -> dict:
    project = rng.choice(PROJECTS)
    key = f"{project}-{rng.randint(1, 20000)}"
    kind = rng.random()
    if kind < 0.55:
        src, action, dst = rng.choice(MOVES)
        action, before, after = f"cr.{action}", {"state": src}, {
            "state": dst, "comment": rng.choice(COMMENTS)}  # fmt: skip
    elif kind < 0.75:
        action, before, after = "cr.updated", {"priority": "P3", "title": "旧标题 old title"}, {
            "priority": "P2", "title": "登录页面需要支持短信验证码"}  # fmt: skip
    elif kind < 0.9:
        action, before = "comment.created", {}
        after = {"comment_id": seq, "body": rng.choice(COMMENTS) or "OK", "internal": False}
    else:
        action, before = "vote.cast", {}
        after = {"decision": "approve", "comment": "", "purpose": "decision", "round": 1,
                 "role": "qa", "signature": "password re-entered",
                 "signed_at": "2026-11-28T09:00:00.000000+00:00"}  # fmt: skip
    return {"actor": rng.choice(ACTORS), "action": action, "object_key": key,
            "project": project, "before": before, "after": after}  # fmt: skip


def build(count: int) -> None:
    from django.db import connection, transaction

    from changeflow.core import audit
    from changeflow.core.models import AuditHead

    rng = random.Random(1_000_000)
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    prev, seq = audit.GENESIS, 0
    adapt = connection.ops.adapt_datetimefield_value
    sql = (
        "INSERT INTO core_auditevent (seq, at, actor, action, object_type, object_key, project, "
        '"before", "after", channel, ip, internal, prev_hash, hash) '
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
    )
    t0 = time.perf_counter()
    while seq < count:
        rows = []
        for _ in range(min(BATCH, count - seq)):
            seq += 1
            e = _event(rng, seq)
            at = start + dt.timedelta(seconds=seq * 30, microseconds=rng.randint(0, 999_999))
            channel, ip = rng.choice([("web", "10.0.0.8"), ("api", "10.0.0.9"), ("cli", "")])
            payload = audit._payload(
                seq=seq, at=at, actor=e["actor"], action=e["action"],
                object_type="change_request", object_key=e["object_key"], project=e["project"],
                before=e["before"], after=e["after"], channel=channel, ip=ip, internal=False,
            )  # fmt: skip
            digest = audit.compute_hash(prev, payload)
            rows.append((seq, adapt(at), e["actor"], e["action"], "change_request",
                         e["object_key"], e["project"], json.dumps(e["before"]),
                         json.dumps(e["after"]), channel, ip, False, prev, digest))  # fmt: skip
            prev = digest
        with transaction.atomic(), connection.cursor() as cur:
            cur.executemany(sql, rows)
        print(f"  {seq:>9} events  ({time.perf_counter() - t0:.0f} s)", flush=True)
    AuditHead.objects.update_or_create(pk=1, defaults={"seq": seq, "hash": prev})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args()
    if args.force and AUDIT_HOME.exists():
        shutil.rmtree(AUDIT_HOME)
    setup_django(AUDIT_HOME)

    from django.core.management import call_command

    from changeflow.core.models import AuditHead

    print(f"machine: {machine()}")
    call_command("migrate", verbosity=0)
    head = AuditHead.objects.filter(pk=1).first()
    if head is None or head.seq < args.events:
        if head is not None and head.seq:
            print("partial data found; run with --force", file=sys.stderr)
            return 1
        t = time.perf_counter()
        build(args.events)
        print(f"built {args.events} events in {time.perf_counter() - t:.1f} s")
    size = (AUDIT_HOME / "changeflow.sqlite3").stat().st_size
    print(f"database: {size / 1024 / 1024:.0f} MiB in {AUDIT_HOME}")

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CHANGEFLOW_HOME"] = str(AUDIT_HOME)
    script = Path(sys.executable).with_name("changeflow")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "changeflow.cli"]
    for attempt in (1, 2):
        t = time.perf_counter()
        proc = subprocess.run(
            [*command, "audit", "verify"], env=env, capture_output=True, text=True
        )
        elapsed = time.perf_counter() - t
        said = (proc.stdout or proc.stderr).strip()
        print(f"run {attempt}: `changeflow audit verify` exit {proc.returncode} "
              f"in {elapsed:.1f} s: {said}")  # fmt: skip
        if proc.returncode != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

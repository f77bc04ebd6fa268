"""Time importing change requests (``changes.io``) by the number of rows, on SQLite or
PostgreSQL: the figures behind ``CHANGEFLOW_CR_IMPORT_SYNC_ROWS`` (above it, the web and the
API import in the background).

    .venv/bin/python benchmarks/cr_import.py [--rows 50,100,200,500,2000]
        [--database-url postgres://postgres@127.0.0.1:5432/cf_bench]

For each size: parsing the CSV, the dry run (every row checked, nothing written) and the import
itself (one transaction: each CR through ``change_request_create``, audit and search index
included), each into a new project.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import shutil
import time

from _common import OUT, cr_text, machine, setup_django


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="50,100,200,500,2000")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    home = OUT / "crio-home"
    if not args.database_url:
        shutil.rmtree(home, ignore_errors=True)
    setup_django(home, args.database_url)
    from django.core.management import call_command
    from django.db import connection

    from changeflow.accounts import services as accounts
    from changeflow.accounts.models import User
    from changeflow.changes import io as cr_io

    call_command("migrate", verbosity=0)
    print(f"machine: {machine()}; database: {connection.vendor}")
    rng = random.Random(20261208)
    admin = User.objects.filter(username="bench.admin").first() or accounts.user_create(
        username="bench.admin", password="bench-Passw0rd-2026", admin=True
    )
    stamp = str(int(time.time()))[-5:]
    for number, n in enumerate(int(x) for x in args.rows.split(",")):
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["ref", "title", "description", "type", "priority", "labels"])
        for i in range(n):
            words = cr_text(rng)
            writer.writerow([f"B-{i}", words["title"], words["description"], "feature", "P3",
                             "bench"])  # fmt: skip
        raw = out.getvalue().encode()
        project = accounts.project_create(user=admin, key=f"CI{number}X{stamp}", name="CR import")
        t0 = time.perf_counter()
        parsed = cr_io.parse(raw, filename="b.csv")
        t1 = time.perf_counter()
        cr_io.change_requests_import(user=admin, project=project, parsed=parsed, dry_run=True)
        t2 = time.perf_counter()
        cr_io.change_requests_import(user=admin, project=project, parsed=parsed)
        t3 = time.perf_counter()
        print(f"{n:5d} rows: parse {t1 - t0:6.2f} s, dry run {t2 - t1:6.2f} s, import "
              f"{t3 - t2:6.2f} s ({1000 * (t3 - t2) / n:.1f} ms a row)")  # fmt: skip


if __name__ == "__main__":
    main()

"""Time importing 20,000 requirements from XLSX (target < 60 s), on SQLite and PostgreSQL.

    .venv/bin/python benchmarks/requirements_import.py [--rows 20000]
        [--database-url postgres://postgres@127.0.0.1:5432/cf_bench]

Generates an XLSX of ``--rows`` new requirements (bilingual titles and texts, every tenth a
parent of the next nine, a link between siblings), then times, through the real code
(``requirements.io``): reading the workbook, a dry run, the import itself (one transaction,
versions and audit included), re-importing the export of the result (all unchanged), and the
XLSX export. Without ``--database-url`` it runs on a fresh SQLite file under benchmarks/out/;
with it, on that (existing, migrated here) database, in a new project each run.
"""

from __future__ import annotations

import argparse
import io
import os
import random
import shutil
import sys
import time

from _common import OUT, cr_text, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    home = OUT / "reqio-home"
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    else:
        os.environ.pop("DATABASE_URL", None)
        shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True, exist_ok=True)
    os.environ["CHANGEFLOW_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeflow.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from openpyxl import Workbook

    from changeflow.accounts import services as accounts
    from changeflow.accounts.models import User
    from changeflow.requirements import io as req_io

    call_command("migrate", verbosity=0)
    print(f"machine: {machine()}; database: {connection.vendor}")
    rng = random.Random(20261128)
    suffix = f"{rng.randrange(10**6):06d}" if not args.database_url else str(int(time.time()))[-6:]
    admin = User.objects.filter(username="bench.admin").first() or accounts.user_create(
        username="bench.admin", password="bench-Passw0rd-2026", admin=True
    )
    project = accounts.project_create(user=admin, key=f"RB{suffix}", name="Import benchmark")

    t0 = time.perf_counter()
    book = Workbook(write_only=True)
    sheet = book.create_sheet("requirements")
    sheet.append(["key", "parent", "title", "kind", "priority", "status", "links", "text"])
    kinds = ["business", "user", "functional", "non_functional", "interface", "constraint"]
    for i in range(args.rows):
        parent = "" if i % 10 == 0 else f"n{i - i % 10}"
        links = f"derives:n{i - 1}" if i % 10 > 1 else ""
        words = cr_text(rng)
        sheet.append([f"n{i}", parent, words["title"],
                      rng.choice(kinds), rng.choice(["must", "should", "could"]), "draft",
                      links, words["description"]])  # fmt: skip
    buffer = io.BytesIO()
    book.save(buffer)
    raw = buffer.getvalue()
    print(f"generated {args.rows:,} rows: {len(raw) / 1048576:.1f} MB in "
          f"{time.perf_counter() - t0:.1f} s")  # fmt: skip

    def timed(label, fn):
        start = time.perf_counter()
        result = fn()
        print(f"{label:<44} {time.perf_counter() - start:7.2f} s")
        return result

    parsed = timed("read the XLSX (parse)", lambda: req_io.parse(raw, filename="b.xlsx"))
    report = timed(
        "dry run (check everything, write nothing)",
        lambda: req_io.requirements_import(
            user=admin, project=project, parsed=parsed, dry_run=True
        ),  # fmt: skip
    )
    assert report["added"] == args.rows
    total = time.perf_counter()
    parsed = req_io.parse(raw, filename="b.xlsx")
    report = timed(
        "import (one transaction, versions, audit)",
        lambda: req_io.requirements_import(user=admin, project=project, parsed=parsed),
    )
    print(f"{'parse + import, the user-visible total':<44} {time.perf_counter() - total:7.2f} s"
          f"  (added {report['added']:,}, links {report['links_added']:,})")  # fmt: skip
    exported = timed(
        "export to XLSX",
        lambda: req_io.requirements_export(user=admin, project=project, fmt="xlsx")[0],
    )
    again = timed(
        "re-import the export (all unchanged)",
        lambda: req_io.requirements_import(
            user=admin, project=project, parsed=req_io.parse(exported, filename="e.xlsx")
        ),
    )
    assert again["unchanged"] == args.rows, again["unchanged"]
    sys.stdout.flush()


if __name__ == "__main__":
    main()

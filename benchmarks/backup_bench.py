"""Time ``changeflow backup`` and ``changeflow restore`` through the real console script.

    .venv/bin/python benchmarks/backup_bench.py [--seeded] [--database-url URL]

The demo project (built once in ``out/backup-demo``) is backed up, then restored into a new,
already migrated SQLite home (and into ``--database-url``, an empty PostgreSQL database for
benchmarks only, which is emptied first). With ``--seeded``, the same for the 100,000 change
requests of ``seed.py`` (run it first). Prints wall-clock seconds and the archive's size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import HOME, OUT, machine

CLI = str(Path(sys.executable).with_name("changeflow"))


def run(home: Path, *args: str, database_url: str | None = None) -> float:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CHANGEFLOW_HOME"] = str(home)
    if database_url:
        env["DATABASE_URL"] = database_url
    t0 = time.perf_counter()
    proc = subprocess.run([CLI, *args], env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if proc.returncode:
        sys.exit(f"changeflow {' '.join(args)} failed: {proc.stderr.strip()}")
    return took


def wipe_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")


def measure(name: str, source: Path, database_url: str | None) -> None:
    archive = OUT / f"{name}.zip"
    backup = run(source, "backup", str(archive), "--force")
    size = archive.stat().st_size / 1e6
    print(f"{name}: backup {backup:.1f} s, archive {size:.1f} MB")
    targets = [("SQLite", None)] + ([("PostgreSQL", database_url)] if database_url else [])
    for label, url in targets:
        target = OUT / f"{name}-restored"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copy(source / "secret_key", target / "secret_key")
        if url:
            wipe_postgres(url)
        migrate = run(target, "migrate", database_url=url)
        restore = run(target, "restore", str(archive), database_url=url)
        print(f"{name}: restore into {label} {restore:.1f} s (after migrate {migrate:.1f} s)")
        if url:
            wipe_postgres(url)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeded", action="store_true", help="also the data of seed.py")
    parser.add_argument("--database-url", help="an empty PostgreSQL database to restore into")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    demo = OUT / "backup-demo"
    if not (demo / "changeflow.sqlite3").exists():
        demo.mkdir(parents=True, exist_ok=True)
        run(demo, "migrate")
        run(demo, "demo")
    measure("demo", demo, args.database_url)
    if args.seeded:
        if not (HOME / "changeflow.sqlite3").exists():
            print("no seeded data: run benchmarks/seed.py first", file=sys.stderr)
            return 1
        measure("seeded", HOME, args.database_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())

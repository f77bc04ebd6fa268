"""HTTP benchmark: the server as in production, against the 100,000 change requests of seed.py.

    .venv/bin/python benchmarks/seed.py          # once
    .venv/bin/python benchmarks/http_bench.py [--requests 200] [--workers 2]

Starts ``changeflow serve --workers 2`` on a free loopback port (gunicorn, DEBUG off), signs
in through ``POST /api/v1/auth/token/`` as the project manager, then measures p50/p95 latency
and requests per second of list (page_size=50: plain, filtered, full text in Chinese and in
English), detail, create and a transition (submit of a seeded draft), at concurrency 1 and 4,
over keep-alive connections. Loopback only, a bounded number of requests. Ends with the
server's memory (RSS and PSS of the master and its workers, from /proc). Prints a Markdown
table and writes the figures to benchmarks/out/http-results.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

from _common import HOME, OUT, PASSWORD, PROJECT_KEY, cr_text, machine

ROOT = Path(__file__).resolve().parent.parent
LIST = f"/api/v1/change-requests/?project={PROJECT_KEY}&page_size=50"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _changeflow() -> list[str]:
    script = Path(sys.executable).with_name("changeflow")
    return [str(script)] if script.exists() else [sys.executable, "-m", "changeflow.cli"]


class Client:
    """One keep-alive connection with the token header."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.headers = {"Accept": "application/json", "Content-Type": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else None
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=data, headers=self.headers)
                response = self.conn.getresponse()
                return response.status, response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # The server closed an idle keep-alive connection: reconnect once.
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _start_server(port: int, workers: int) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(CHANGEFLOW_HOME=str(HOME), LOG_LEVEL="WARNING")
    log = (OUT / "server.log").open("w")
    server = subprocess.Popen(
        [*_changeflow(), "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
    )  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"the server stopped; see {OUT / 'server.log'}")
        try:
            status, _ = Client(port).request("GET", "/healthz")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.terminate()
    raise SystemExit("the server did not answer /healthz within 90 s")


def _memory(pid: int) -> dict[str, float]:
    """RSS and PSS (MiB) of the master and its workers."""
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    rss = pss = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss += int(line.split()[1])
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:
            pass
    return {"processes": len(pids), "rss_mib": rss / 1024, "pss_mib": pss / 1024}


def _drafts() -> list[str]:
    db = sqlite3.connect(f"file:{HOME / 'changeflow.sqlite3'}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT key FROM changes_changerequest WHERE state = 'draft' ORDER BY number DESC"
    ).fetchall()
    db.close()
    return [r[0] for r in rows]


def _run(port: int, token: str, make_request, n: int, concurrency: int) -> dict:
    """``n`` requests from ``concurrency`` threads; each thread keeps its connection."""
    latencies: list[float] = []
    errors: list[int] = []
    lock = threading.Lock()
    counter = iter(range(n))

    def worker() -> None:
        client = Client(port, token)
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            method, path, body = make_request(i)
            t = time.perf_counter()
            status, _ = client.request(method, path, body)
            elapsed = time.perf_counter() - t
            with lock:
                latencies.append(elapsed)
                if status >= 300:
                    errors.append(status)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "n": len(latencies),
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "rps": len(latencies) / wall,
        "errors": len(errors),
        "error_statuses": sorted(set(errors)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="per scenario and concurrency")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", default="1,4")
    parser.add_argument(
        "--only", default="", help="comma-separated words: run the scenarios whose name has one"
    )
    args = parser.parse_args()
    if not (HOME / "changeflow.sqlite3").exists():
        print("no benchmark data: run benchmarks/seed.py first", file=sys.stderr)
        return 1
    levels = [int(c) for c in args.concurrency.split(",")]
    drafts = _drafts()
    needed = args.requests * len(levels) + 20
    if len(drafts) < needed:
        print(f"only {len(drafts)} drafts left for the transition benchmark; "
              "run seed.py --force", file=sys.stderr)  # fmt: skip
        return 1
    total = json.loads(
        subprocess.run(
            [sys.executable, "-c", "import sqlite3,sys;db=sqlite3.connect(sys.argv[1]);"
             "print(db.execute('select count(*) from changes_changerequest').fetchone()[0])",
             str(HOME / "changeflow.sqlite3")],
            capture_output=True, text=True, check=True,
        ).stdout
    )  # fmt: skip

    port = _free_port()
    print(f"machine: {machine()}")
    print(f"data: {total} change requests in {HOME}")
    server = _start_server(port, args.workers)
    try:
        status, body = Client(port).request(
            "POST", "/api/v1/auth/token/", {"username": "bench.pm", "password": PASSWORD}
        )
        if status != 200:
            raise SystemExit(f"sign-in failed: {status} {body[:200]!r}")
        token = json.loads(body)["token"]
        rng = random.Random(7)
        max_number = total
        draft_iter = iter(drafts)
        draft_lock = threading.Lock()

        def next_draft() -> str:
            with draft_lock:
                return next(draft_iter)

        zh = urllib.parse.quote("验证码")
        scenarios = {
            "list (no filter)": lambda i: ("GET", "/api/v1/change-requests/?page_size=50", None),
            "list, project=BENCH": lambda i: ("GET", LIST, None),
            "list, filtered (state + priority)": lambda i: (
                "GET", LIST + "&state=implementing&priority=P2", None),
            "list, q=验证码 (Chinese)": lambda i: ("GET", LIST + f"&q={zh}", None),
            "list, q=checkout (English)": lambda i: ("GET", LIST + "&q=checkout", None),
            "detail": lambda i: (
                "GET", f"/api/v1/change-requests/{PROJECT_KEY}-{rng.randint(1, max_number)}/",
                None),
            "create": lambda i: (
                "POST", "/api/v1/change-requests/", {"project": PROJECT_KEY, **cr_text(rng)}),
            "transition (submit)": lambda i: (
                "POST", f"/api/v1/change-requests/{next_draft()}/transitions/",
                {"action": "submit"}),
        }  # fmt: skip
        if args.only:
            words = [w.strip() for w in args.only.split(",") if w.strip()]
            scenarios = {k: v for k, v in scenarios.items() if any(w in k for w in words)}
        # Warm every worker and code path up (lazy imports, URL resolver, caches).
        for make in scenarios.values():
            _run(port, token, make, 10, 2)
        results = []
        for concurrency in levels:
            for name, make in scenarios.items():
                r = _run(port, token, make, args.requests, concurrency)
                r.update(scenario=name, concurrency=concurrency)
                results.append(r)
                print(f"  c={concurrency} {name:<36} p50 {r['p50_ms']:6.1f} ms  "
                      f"p95 {r['p95_ms']:6.1f} ms  {r['rps']:6.1f} req/s"
                      + (f"  errors {r['errors']} {r['error_statuses']}" if r["errors"] else ""),
                      flush=True)  # fmt: skip
        memory = _memory(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()

    print()
    print("| scenario | concurrency | requests | p50 ms | p95 ms | req/s | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['scenario']} | {r['concurrency']} | {r['n']} | {r['p50_ms']:.1f} | "
              f"{r['p95_ms']:.1f} | {r['rps']:.0f} | {r['errors']} |")  # fmt: skip
    print()
    print(f"server memory after the run: {memory['processes']} processes, "
          f"RSS {memory['rss_mib']:.0f} MiB, PSS {memory['pss_mib']:.0f} MiB")  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "http-results.json").write_text(
        json.dumps({"machine": machine(), "change_requests": total, "workers": args.workers,
                    "results": results, "memory": memory}, indent=2, ensure_ascii=False)
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())

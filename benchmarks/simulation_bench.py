"""Time the Monte Carlo simulator: 10,000 iterations of a 1,000-task plan with 2,000 dependencies.

    .venv/bin/python benchmarks/simulation_bench.py [--tasks 1000] [--deps 2000]
        [--iterations 10000] [--repeat 5] [--seed 1]

Builds a random acyclic plan (each dependency points from an earlier task to a later one, so
the network has many levels and many parallel paths; PERT estimates of 1-30 days, lags of 0-2
days on a tenth of the links, daily rates, five milestones and twenty risks) and a change of
eight tasks attached in the middle. Times ``simulate`` of the plan alone and of the plan with
the change (which runs both), in wall-clock and CPU seconds of this process (the CPU time is
the fairer figure on a shared machine), with NumPy pinned to one thread. Pure NumPy: no
database, no Django.
"""

from __future__ import annotations

import os

# One core, as the target says: no multi-threaded BLAS for the cost product.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import platform  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

from changeflow.impact.simulation import (  # noqa: E402
    Change,
    Dependency,
    Milestone,
    Plan,
    Risk,
    Task,
    simulate,
)


def build(tasks: int, deps: int, seed: int) -> tuple[Plan, Change]:
    rng = random.Random(seed)
    preds: list[set[int]] = [set() for _ in range(tasks)]
    made = 0
    while made < deps:
        j = rng.randrange(1, tasks)
        i = rng.randrange(max(0, j - 60), j)  # mostly local links: a realistic, deep network
        if i not in preds[j]:
            preds[j].add(i)
            made += 1
    plan_tasks = []
    for j in range(tasks):
        o = rng.uniform(1, 10)
        m = o + rng.uniform(0, 10)
        p = m + rng.uniform(0, 10)
        depends = tuple(
            Dependency(f"T{i}", lag=rng.choice((0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2)))
            for i in sorted(preds[j])
        )
        plan_tasks.append(Task(f"T{j}", o, m, p, depends_on=depends, rate=rng.uniform(500, 3000)))
    milestones = [Milestone(f"T{k}", 200.0 * (n + 1), f"M{n + 1}") for n, k in
                  enumerate(range(tasks // 5, tasks, tasks // 5))]  # fmt: skip
    risks = [Risk(f"T{rng.randrange(tasks)}", rng.uniform(0.05, 0.5), 1, 3, 10) for _ in range(20)]
    plan = Plan(plan_tasks, milestones=milestones, risks=risks)
    change_tasks = [Task("X0", 2, 4, 9, rate=2000)]
    change_tasks += [Task(f"X{k}", 1, 3, 6, (f"X{k - 1}",), rate=2000) for k in range(1, 8)]
    change = Change(change_tasks, after=[f"T{tasks // 2}"], before=[f"T{tasks // 2 + 10}"],
                    risks=[Risk("X7", 0.3, 2, 5, 15)])  # fmt: skip
    return plan, change


def timed(repeat: int, fn) -> tuple[list[float], list[float]]:
    wall, cpu = [], []
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--deps", type=int, default=2000)
    parser.add_argument("--iterations", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    plan, change = build(args.tasks, args.deps, args.seed)
    print(
        f"plan: {args.tasks} tasks, {args.deps} dependencies, {len(plan.milestones)} milestones, "
        f"{len(plan.risks)} risks; change: {len(change.tasks)} tasks; "
        f"{args.iterations} iterations; NumPy {np.__version__}, Python {platform.python_version()}"
    )
    simulate(plan, iterations=100, seed=0)  # warm-up (imports, first allocations)
    for label, kwargs in (("plan alone", {}), ("plan + change (both runs)", {"change": change})):
        wall, cpu = timed(
            args.repeat, lambda kw=kwargs: simulate(plan, iterations=args.iterations, **kw)
        )
        print(
            f"{label:28s} wall median {statistics.median(wall):.3f} s (min {min(wall):.3f}), "
            f"CPU median {statistics.median(cpu):.3f} s (min {min(cpu):.3f})"
        )
    sim = simulate(plan, change=change, iterations=args.iterations, seed=0)
    d = sim.as_dict()
    print(
        "finish P50/P80/P95 (days):",
        ", ".join(f"{v:.1f}" for k, v in d["baseline"]["finish"].items() if k != "mean"),
        "→ with change",
        ", ".join(f"{v:.1f}" for k, v in d["with_change"]["finish"].items() if k != "mean"),
    )


if __name__ == "__main__":
    main()

"""Monte Carlo schedule and cost simulation of a project plan, with and without a change.

Pure NumPy; no Django, no ORM. Days are counted from the project start (day 0); the unit of
cost is the caller's.

**Plan.** Tasks with three-point durations (optimistic ``o``, most likely ``m``, pessimistic
``p``), finish-to-start dependencies with a non-negative lag, a cost rate per day and a fixed
cost (``cost = duration * rate + fixed_cost``), milestones (a task and a target day: missed
when the task finishes *after* the target) and risks (with probability ``probability`` the
risk occurs and delays its task by a three-point delay; the delay lengthens the task, so it is
also paid at the task's rate).

**Change.** A change brings its own tasks. A change task with no ``depends_on`` of its own
starts after the ``after`` tasks of the change; the plan tasks named in ``before`` cannot start
until every *terminal* change task (one no other change task depends on) has finished. So
"attach after X, before Y" is ``Change(tasks, after=["X"], before=["Y"])``.

**Sampling: PERT-Beta.** A duration is ``o + (p - o) * B`` with ``B ~ Beta(a, b)``,
``a = 1 + 4 (m - o) / (p - o)``, ``b = 1 + 4 (p - m) / (p - o)``. Its mean is exactly the PERT
mean ``(o + 4m + p) / 6`` used by :mod:`changeflow.impact.estimation`, so the simulation and the
expert estimate agree on each task's expectation. The triangular distribution would put the
mean at ``(o + m + p) / 3``, weighting the (usually long) pessimistic tail as much as the most
likely value, and so disagree with the estimate the experts gave. ``o == p`` is a certain
duration. (The Beta's variance is ``(p - o)^2 a b / (36 * 7)``, which equals the classic
``((p - o) / 6)^2`` only for a few shapes; the simulation uses the true distribution.)

**Vectorised.** Durations are drawn as arrays of ``iterations`` values per task; a topological
order is computed once, then one loop over tasks (forward pass: start = max over predecessors
of their finish plus lag) and one backward over the same order (a task is critical in an
iteration when it ends the project or is a *driving* predecessor of a critical task: its
finish plus lag is exactly the successor's start). No Python loop runs over iterations.

**Common random numbers.** Each task's durations and each risk's draws come from their own
stream, derived from the seed and the task id (or the risk's place in its list) alone. Adding a
change leaves every plan task's draws untouched, so the with/without difference in each
iteration is the change's effect, not sampling noise: a change of fixed length inserted on a
single chain shifts every iteration by exactly its length.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

DEFAULT_ITERATIONS = 10_000
PERCENTILES = (50, 80, 95)

# Namespaces of the random streams (the first word of each stream's spawn key).
_TASK_STREAM = 0
_PLAN_RISK_STREAM = 1
_CHANGE_RISK_STREAM = 2


# ---------------------------------------------------------------------------------------------
# Errors


class PlanError(ValueError):
    """A plan, change or simulation request that cannot be simulated."""


class UnknownTask(PlanError):
    """A dependency, milestone or risk names a task that is not in the plan."""


class UnknownInsertionPoint(PlanError):
    """A change attaches after or before a task that is not in the plan."""


class DuplicateTask(PlanError):
    """Two tasks (in the plan, or in the plan and the change) share an id."""


class DependencyCycle(PlanError):
    """The dependencies form a cycle, so no task order exists."""


class InvalidThreePoint(PlanError):
    """A three-point figure that is not finite or not ordered o <= m <= p."""


class NegativeValue(PlanError):
    """A duration, lag, rate, cost, target or delay below zero."""


class InvalidProbability(PlanError):
    """A risk probability outside [0, 1]."""


class InvalidIterations(PlanError):
    """An iteration count that is not a positive integer."""


# ---------------------------------------------------------------------------------------------
# Input


def _check_three_point(what: str, o: float, m: float, p: float) -> None:
    if not all(isinstance(v, int | float) and math.isfinite(v) for v in (o, m, p)):
        raise InvalidThreePoint(f"{what}: a three-point figure must be finite numbers")
    if o < 0:
        raise NegativeValue(f"{what}: the optimistic figure {o} is negative")
    if o > m:
        raise InvalidThreePoint(f"{what}: optimistic {o} is greater than most likely {m}")
    if m > p:
        raise InvalidThreePoint(f"{what}: most likely {m} is greater than pessimistic {p}")


def _check_non_negative(what: str, value: float) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value)):
        raise PlanError(f"{what} must be a finite number (got {value!r})")
    if value < 0:
        raise NegativeValue(f"{what} is negative ({value})")


@dataclass(frozen=True)
class Dependency:
    """Finish-to-start: the dependent task starts ``lag`` days after ``task`` finishes."""

    task: str
    lag: float = 0.0

    def __post_init__(self) -> None:
        _check_non_negative(f"the lag after task {self.task!r}", self.lag)


def _as_dependency(dep: Dependency | str | tuple[str, float]) -> Dependency:
    if isinstance(dep, Dependency):
        return dep
    if isinstance(dep, str):
        return Dependency(dep)
    task, lag = dep
    return Dependency(task, float(lag))


@dataclass(frozen=True)
class Task:
    """A task: three-point duration in days, predecessors, cost rate per day and fixed cost.

    ``depends_on`` holds :class:`Dependency` objects, task ids (lag 0) or ``(id, lag)`` pairs.
    """

    id: str
    optimistic: float
    most_likely: float
    pessimistic: float
    depends_on: tuple[Dependency, ...] = ()
    rate: float = 0.0
    fixed_cost: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise PlanError(f"a task id must be a non-empty string (got {self.id!r})")
        _check_three_point(f"task {self.id!r}", self.optimistic, self.most_likely, self.pessimistic)
        _check_non_negative(f"the rate of task {self.id!r}", self.rate)
        _check_non_negative(f"the fixed cost of task {self.id!r}", self.fixed_cost)
        deps = tuple(_as_dependency(d) for d in self.depends_on)
        object.__setattr__(self, "depends_on", deps)

    @property
    def pert_mean(self) -> float:
        """(o + 4m + p) / 6, the mean of the sampled durations."""
        return (self.optimistic + 4 * self.most_likely + self.pessimistic) / 6


@dataclass(frozen=True)
class Milestone:
    """Missed when ``task`` finishes after day ``target_day``."""

    task: str
    target_day: float
    name: str = ""

    def __post_init__(self) -> None:
        _check_non_negative(f"the target day of milestone {self.label!r}", self.target_day)

    @property
    def label(self) -> str:
        return self.name or self.task


@dataclass(frozen=True)
class Risk:
    """With ``probability``, ``task`` is delayed by a three-point delay (days)."""

    task: str
    probability: float
    optimistic: float
    most_likely: float
    pessimistic: float
    name: str = ""

    def __post_init__(self) -> None:
        what = f"risk {self.name or self.task!r}"
        p = self.probability
        if not (isinstance(p, int | float) and math.isfinite(p) and 0 <= p <= 1):
            raise InvalidProbability(f"{what}: probability {p!r} is not between 0 and 1")
        _check_three_point(what, self.optimistic, self.most_likely, self.pessimistic)


@dataclass(frozen=True)
class Plan:
    tasks: tuple[Task, ...]
    milestones: tuple[Milestone, ...] = ()
    risks: tuple[Risk, ...] = ()

    def __post_init__(self) -> None:
        for name in ("tasks", "milestones", "risks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if not self.tasks:
            raise PlanError("a plan needs at least one task")


@dataclass(frozen=True)
class Change:
    """A change's tasks and where they attach (see the module docstring)."""

    tasks: tuple[Task, ...]
    after: tuple[Dependency, ...] = ()
    before: tuple[str, ...] = ()
    risks: tuple[Risk, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        object.__setattr__(self, "after", tuple(_as_dependency(d) for d in self.after))
        object.__setattr__(self, "before", tuple(self.before))
        object.__setattr__(self, "risks", tuple(self.risks))
        if not self.tasks:
            raise PlanError("a change needs at least one task")


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class Outcome:
    """One run (the plan, or the plan with the change) over every iteration."""

    finish: np.ndarray  # project finish day per iteration
    cost: np.ndarray  # total cost per iteration
    task_finish: Mapping[str, np.ndarray]
    criticality: Mapping[str, float]  # share of iterations a task is on a critical path
    critical: Mapping[str, np.ndarray] = field(repr=False)  # bool per iteration
    milestone_miss: Mapping[str, float]

    def finish_percentiles(self) -> dict[int, float]:
        return _percentiles(self.finish)

    def cost_percentiles(self) -> dict[int, float]:
        return _percentiles(self.cost)

    def as_dict(self) -> dict:
        return {
            "finish": {f"P{q}": v for q, v in self.finish_percentiles().items()}
            | {"mean": float(self.finish.mean())},
            "cost": {f"P{q}": v for q, v in self.cost_percentiles().items()}
            | {"mean": float(self.cost.mean())},
            "milestone_miss": dict(self.milestone_miss),
            "criticality": dict(self.criticality),
        }


@dataclass(frozen=True)
class Simulation:
    """The result of :func:`simulate`."""

    iterations: int
    seed: int
    baseline: Outcome
    with_change: Outcome | None = None

    def _shift(self, a: dict[int, float], b: dict[int, float]) -> dict[int, float]:
        return {q: b[q] - a[q] for q in a}

    @property
    def finish_shift(self) -> dict[int, float] | None:
        """P50/P80/P95 of the finish with the change minus without."""
        if self.with_change is None:
            return None
        return self._shift(
            self.baseline.finish_percentiles(), self.with_change.finish_percentiles()
        )

    @property
    def cost_shift(self) -> dict[int, float] | None:
        if self.with_change is None:
            return None
        return self._shift(self.baseline.cost_percentiles(), self.with_change.cost_percentiles())

    @property
    def critical_path_change_probability(self) -> float | None:
        """Share of iterations in which the set of critical *plan* tasks differs."""
        if self.with_change is None:
            return None
        differs = np.zeros(self.iterations, dtype=bool)
        for task_id, flags in self.baseline.critical.items():
            differs |= flags != self.with_change.critical[task_id]
        return float(differs.mean())

    @property
    def critical_path_changed(self) -> bool | None:
        """Whether the usual critical path changes.

        The usual path is the set of tasks critical in at least half of the iterations; it
        changes when a plan task joins or leaves it, or when a change task joins it.
        """
        if self.with_change is None:
            return None
        before = {t for t, c in self.baseline.criticality.items() if c >= 0.5}
        after = {t for t, c in self.with_change.criticality.items() if c >= 0.5}
        return before != after

    def as_dict(self) -> dict:
        out: dict = {
            "iterations": self.iterations,
            "seed": self.seed,
            "baseline": self.baseline.as_dict(),
        }
        if self.with_change is not None:
            out["with_change"] = self.with_change.as_dict()
            out["finish_shift"] = {f"P{q}": v for q, v in (self.finish_shift or {}).items()}
            out["cost_shift"] = {f"P{q}": v for q, v in (self.cost_shift or {}).items()}
            out["critical_path_changed"] = self.critical_path_changed
            out["critical_path_change_probability"] = self.critical_path_change_probability
        return out


def _percentiles(values: np.ndarray) -> dict[int, float]:
    qs = np.percentile(values, PERCENTILES)
    return {q: float(v) for q, v in zip(PERCENTILES, qs, strict=True)}


# ---------------------------------------------------------------------------------------------
# Graph


def _merge(plan: Plan, change: Change | None) -> tuple[list[Task], list[tuple[int, int, Risk]]]:
    """The tasks to schedule and the risks to apply, each with its stream (namespace, place)."""
    ids: set[str] = set()
    for t in plan.tasks:
        if t.id in ids:
            raise DuplicateTask(f"task id {t.id!r} appears twice in the plan")
        ids.add(t.id)
    tasks = list(plan.tasks)
    risks = [(_PLAN_RISK_STREAM, k, r) for k, r in enumerate(plan.risks)]
    if change is None:
        return tasks, risks

    change_ids: set[str] = set()
    for t in change.tasks:
        if t.id in ids or t.id in change_ids:
            raise DuplicateTask(f"change task id {t.id!r} is already used")
        change_ids.add(t.id)
    for dep in change.after:
        if dep.task not in ids:
            raise UnknownInsertionPoint(
                f"the change attaches after task {dep.task!r}, not in the plan"
            )
    for task_id in change.before:
        if task_id not in ids:
            raise UnknownInsertionPoint(
                f"the change attaches before task {task_id!r}, not in the plan"
            )

    used = {d.task for t in change.tasks for d in t.depends_on}
    terminal = tuple(Dependency(t.id) for t in change.tasks if t.id not in used)
    attached = [
        t if t.depends_on or not change.after else _with_deps(t, change.after) for t in change.tasks
    ]
    before = set(change.before)
    tasks = [_with_deps(t, t.depends_on + terminal) if t.id in before else t for t in tasks]
    risks += [(_CHANGE_RISK_STREAM, k, r) for k, r in enumerate(change.risks)]
    return tasks + attached, risks


def _with_deps(task: Task, deps: tuple[Dependency, ...]) -> Task:
    return Task(
        task.id,
        task.optimistic,
        task.most_likely,
        task.pessimistic,
        depends_on=deps,
        rate=task.rate,
        fixed_cost=task.fixed_cost,
    )


def topological_order(tasks: Sequence[Task]) -> list[int]:
    """Indices of ``tasks`` with every task after its predecessors (Kahn; stable by input)."""
    index = {t.id: i for i, t in enumerate(tasks)}
    succ: list[list[int]] = [[] for _ in tasks]
    indegree = [0] * len(tasks)
    for i, t in enumerate(tasks):
        for d in t.depends_on:
            if d.task not in index:
                raise UnknownTask(f"task {t.id!r} depends on unknown task {d.task!r}")
            succ[index[d.task]].append(i)
            indegree[i] += 1
    ready = [i for i in range(len(tasks)) if indegree[i] == 0]
    order: list[int] = []
    head = 0
    while head < len(ready):
        i = ready[head]
        head += 1
        order.append(i)
        for j in succ[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                ready.append(j)
    if len(order) < len(tasks):
        stuck = sorted(tasks[i].id for i in range(len(tasks)) if indegree[i] > 0)
        raise DependencyCycle(f"the dependencies form a cycle among tasks {stuck}")
    return order


# ---------------------------------------------------------------------------------------------
# Sampling


def _stream(seed: int, namespace: int, key: str) -> np.random.Generator:
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i : i + 4], "little") for i in range(0, 16, 4))
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(namespace, *words)))
    )


def pert_sample(rng: np.random.Generator, o: float, m: float, p: float, size: int) -> np.ndarray:
    """``size`` PERT-Beta draws on [o, p] with mode m (constant when o == p)."""
    if p == o:
        return np.full(size, float(o))
    a = 1 + 4 * (m - o) / (p - o)
    b = 1 + 4 * (p - m) / (p - o)
    return o + (p - o) * rng.beta(a, b, size)


def _run(
    tasks: list[Task],
    risks: Sequence[tuple[int, int, Risk]],
    milestones: Sequence[Milestone],
    n: int,
    seed: int,
) -> Outcome:
    order = topological_order(tasks)
    index = {t.id: i for i, t in enumerate(tasks)}
    for _, _, r in risks:
        if r.task not in index:
            raise UnknownTask(f"risk {r.name or r.task!r} applies to unknown task {r.task!r}")
    for ms in milestones:
        if ms.task not in index:
            raise UnknownTask(f"milestone {ms.label!r} names unknown task {ms.task!r}")

    duration = np.empty((len(tasks), n))
    for i, t in enumerate(tasks):
        rng = _stream(seed, _TASK_STREAM, t.id)
        duration[i] = pert_sample(rng, t.optimistic, t.most_likely, t.pessimistic, n)
    for namespace, place, r in risks:
        _apply_risk(duration[index[r.task]], r, _stream(seed, namespace, str(place)))

    start = np.zeros((len(tasks), n))
    finish = np.empty((len(tasks), n))
    for i in order:
        for d in tasks[i].depends_on:
            np.maximum(start[i], finish[index[d.task]] + d.lag, out=start[i])
        finish[i] = start[i] + duration[i]
    project = finish.max(axis=0)

    # Backward pass: critical when ending the project or driving a critical successor.
    critical = finish == project
    for i in reversed(order):
        for d in tasks[i].depends_on:
            p = index[d.task]
            critical[p] |= critical[i] & (finish[p] + d.lag == start[i])

    rates = np.array([t.rate for t in tasks])
    fixed = sum(t.fixed_cost for t in tasks)
    cost = rates @ duration + fixed

    return Outcome(
        finish=project,
        cost=cost,
        task_finish={t.id: finish[i] for i, t in enumerate(tasks)},
        criticality={t.id: float(critical[i].mean()) for i, t in enumerate(tasks)},
        critical={t.id: critical[i] for i, t in enumerate(tasks)},
        milestone_miss={
            ms.label: float((finish[index[ms.task]] > ms.target_day).mean()) for ms in milestones
        },
    )


def _apply_risk(duration: np.ndarray, risk: Risk, rng: np.random.Generator) -> None:
    n = duration.size
    occurs = rng.random(n) < risk.probability
    delay = pert_sample(rng, risk.optimistic, risk.most_likely, risk.pessimistic, n)
    duration += np.where(occurs, delay, 0.0)


# ---------------------------------------------------------------------------------------------
# Entry point


def simulate(
    plan: Plan,
    *,
    change: Change | None = None,
    iterations: int = DEFAULT_ITERATIONS,
    seed: int | None = 0,
) -> Simulation:
    """Simulate ``plan`` (and, given ``change``, the plan with the change) ``iterations`` times.

    The same ``seed`` gives identical results; ``seed=None`` draws fresh entropy, recorded in
    the result's ``seed`` so the run can be repeated. Both runs share their random numbers.
    Raises a :class:`PlanError` subclass naming the problem on bad input.
    """
    if isinstance(iterations, bool) or not isinstance(iterations, int | np.integer):
        raise InvalidIterations(f"iterations must be an integer (got {iterations!r})")
    if iterations < 1:
        raise InvalidIterations(f"iterations must be at least 1 (got {iterations})")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy)
    elif isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise PlanError(f"the seed must be a non-negative integer (got {seed!r})")
    n, seed = int(iterations), int(seed)

    tasks, risks = _merge(plan, None)
    baseline = _run(tasks, risks, plan.milestones, n, seed)
    with_change = None
    if change is not None:
        tasks, risks = _merge(plan, change)
        with_change = _run(tasks, risks, plan.milestones, n, seed)
    return Simulation(iterations=n, seed=seed, baseline=baseline, with_change=with_change)

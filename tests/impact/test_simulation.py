"""Monte Carlo schedule simulation: analytic cases, the change's shift, risks, seeds, bad input."""

import math

import numpy as np
import pytest

from changeflow.impact.simulation import (
    Change,
    Dependency,
    DependencyCycle,
    DuplicateTask,
    InvalidIterations,
    InvalidProbability,
    InvalidThreePoint,
    Milestone,
    NegativeValue,
    Plan,
    PlanError,
    Risk,
    Task,
    UnknownInsertionPoint,
    UnknownTask,
    simulate,
    topological_order,
)


def fixed(task_id, days, *deps, rate=0.0, fixed_cost=0.0):
    """A task of certain duration."""
    return Task(task_id, days, days, days, depends_on=deps, rate=rate, fixed_cost=fixed_cost)


def beta_sd(o, m, p):
    a = 1 + 4 * (m - o) / (p - o)
    b = 1 + 4 * (p - m) / (p - o)
    return (p - o) * math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))


def test_a_single_task_mean_is_the_pert_mean():
    n = 100_000
    task = Task("A", 2, 4, 12)
    sim = simulate(Plan([task]), iterations=n, seed=7)
    finish = sim.baseline.finish
    assert task.pert_mean == 5
    se = beta_sd(2, 4, 12) / math.sqrt(n)
    assert abs(finish.mean() - 5) < 4 * se
    assert finish.std() == pytest.approx(beta_sd(2, 4, 12), rel=0.02)
    assert finish.min() >= 2 and finish.max() <= 12


def test_a_chain_sums_and_lag_adds():
    plan = Plan([Task("A", 1, 2, 9), fixed("B", 3, Dependency("A", lag=2))])
    sim = simulate(plan, iterations=5_000, seed=1)
    base = sim.baseline
    np.testing.assert_allclose(base.finish, base.task_finish["A"] + 2 + 3)
    n = 5_000
    assert abs(base.finish.mean() - (Task("A", 1, 2, 9).pert_mean + 5)) < 4 * beta_sd(
        1, 2, 9
    ) / math.sqrt(n)
    assert base.criticality == {"A": 1.0, "B": 1.0}


def test_a_chain_of_uncertain_tasks_adds_means_and_variances():
    n = 50_000
    plan = Plan([Task("A", 2, 4, 12), Task("B", 1, 5, 6, depends_on=("A",))])
    finish = simulate(plan, iterations=n, seed=3).baseline.finish
    mean = Task("A", 2, 4, 12).pert_mean + Task("B", 1, 5, 6).pert_mean
    sd = math.hypot(beta_sd(2, 4, 12), beta_sd(1, 5, 6))
    assert abs(finish.mean() - mean) < 4 * sd / math.sqrt(n)
    assert finish.std() == pytest.approx(sd, rel=0.02)


def test_parallel_paths_take_the_max():
    plan = Plan([Task("A", 2, 4, 12), Task("B", 3, 5, 7), Task("C", 1, 1, 1, ("A", "B"))])
    sim = simulate(plan, iterations=20_000, seed=2)
    base = sim.baseline
    np.testing.assert_allclose(
        base.finish, np.maximum(base.task_finish["A"], base.task_finish["B"]) + 1
    )
    # The mean of a max exceeds both means.
    assert base.finish.mean() - 1 > max(5, 5) + 0.3
    # Each iteration has one driving path (ties have probability zero).
    assert base.criticality["A"] + base.criticality["B"] == pytest.approx(1.0)
    assert 0.2 < base.criticality["A"] < 0.8
    assert base.criticality["C"] == 1.0


def test_a_deterministic_plan_gives_exact_dates_costs_and_criticality():
    plan = Plan(
        [
            fixed("A", 5, rate=100, fixed_cost=50),
            fixed("B", 3, Dependency("A", lag=4), rate=10),
            fixed("C", 2, "A"),
        ],
        milestones=[Milestone("B", 12, "on time"), Milestone("B", 11.5, "late"), Milestone("C", 7)],
    )
    sim = simulate(plan, iterations=100, seed=0)
    base = sim.baseline
    assert base.finish_percentiles() == {50: 12.0, 80: 12.0, 95: 12.0}
    assert base.cost_percentiles() == {50: 580.0, 80: 580.0, 95: 580.0}
    assert base.criticality == {"A": 1.0, "B": 1.0, "C": 0.0}
    assert base.milestone_miss == {"on time": 0.0, "late": 1.0, "C": 0.0}
    assert sim.with_change is None and sim.finish_shift is None


def test_a_change_on_the_critical_path_shifts_every_percentile_by_its_length():
    plan = Plan([Task("A", 2, 4, 12, rate=10), fixed("B", 3, "A")], milestones=[Milestone("B", 30)])
    change = Change([fixed("X", 5, rate=20), fixed("Y", 2, "X")], after=["A"], before=["B"])
    sim = simulate(plan, change=change, iterations=5_000, seed=11)
    # Common random numbers: the plan's draws are the same in both runs, so the shift is exact.
    np.testing.assert_array_equal(sim.with_change.task_finish["A"], sim.baseline.task_finish["A"])
    np.testing.assert_allclose(sim.with_change.finish - sim.baseline.finish, 7)
    assert sim.finish_shift == pytest.approx({50: 7, 80: 7, 95: 7})
    assert sim.cost_shift == pytest.approx({50: 100, 80: 100, 95: 100})
    assert sim.with_change.criticality == {"A": 1.0, "B": 1.0, "X": 1.0, "Y": 1.0}
    assert sim.critical_path_changed is True
    assert sim.critical_path_change_probability == 0.0  # the plan's tasks stay critical


def test_a_change_with_enough_slack_shifts_nothing():
    plan = Plan([fixed("A", 10), Task("B", 2, 3, 4), fixed("E", 1, "A", "B")])
    change = Change([Task("X", 1, 2, 3)], after=["B"], before=["E"])
    sim = simulate(plan, change=change, iterations=2_000, seed=5)
    assert sim.finish_shift == {50: 0.0, 80: 0.0, 95: 0.0}
    assert sim.with_change.criticality["X"] == 0.0
    assert sim.critical_path_changed is False
    assert sim.critical_path_change_probability == 0.0


def test_a_change_that_takes_over_the_critical_path():
    plan = Plan([fixed("A", 10), fixed("B", 3), fixed("E", 1, "A", "B")])
    change = Change([fixed("X", 9)], after=["B"], before=["E"])
    sim = simulate(plan, change=change, iterations=10, seed=0)
    assert sim.finish_shift == {50: 2.0, 80: 2.0, 95: 2.0}
    assert sim.with_change.criticality == {"A": 0.0, "B": 1.0, "E": 1.0, "X": 1.0}
    assert sim.critical_path_changed is True
    assert sim.critical_path_change_probability == 1.0


def test_milestone_miss_probability_in_clear_cases_and_in_between():
    plan = Plan(
        [Task("A", 2, 4, 12)],
        milestones=[Milestone("A", 12, "never"), Milestone("A", 1, "always"), Milestone("A", 5)],
    )
    miss = simulate(plan, iterations=20_000, seed=4).baseline.milestone_miss
    assert miss["never"] == 0.0
    assert miss["always"] == 1.0
    assert 0.2 < miss["A"] < 0.8


def test_a_risk_with_probability_zero_changes_nothing():
    tasks = [Task("A", 2, 4, 12), Task("B", 1, 2, 3, ("A",))]
    without = simulate(Plan(tasks), iterations=3_000, seed=9).baseline
    with_risk = simulate(
        Plan(tasks, risks=[Risk("A", 0.0, 5, 10, 20)]), iterations=3_000, seed=9
    ).baseline
    np.testing.assert_array_equal(with_risk.finish, without.finish)


def test_a_certain_risk_adds_its_delay():
    tasks = [Task("A", 2, 4, 12, rate=3), Task("B", 1, 2, 3, ("A",))]
    without = simulate(Plan(tasks), iterations=3_000, seed=9).baseline
    plan = Plan(tasks, risks=[Risk("A", 1.0, 4, 4, 4, name="supplier late")])
    with_risk = simulate(plan, iterations=3_000, seed=9).baseline
    np.testing.assert_allclose(with_risk.finish, without.finish + 4)
    np.testing.assert_allclose(with_risk.cost, without.cost + 12)


def test_a_risk_in_between_occurs_in_its_share_of_iterations():
    n = 20_000
    plan = Plan([fixed("A", 5)], risks=[Risk("A", 0.3, 2, 2, 2)])
    finish = simulate(plan, iterations=n, seed=1).baseline.finish
    share = float((finish == 7).mean())
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / n)
    assert set(np.unique(finish)) == {5.0, 7.0}


def test_the_same_seed_gives_identical_results_and_another_seed_does_not():
    plan = Plan(
        [Task("A", 2, 4, 12), Task("B", 3, 5, 9, ("A",))],
        milestones=[Milestone("B", 10)],
        risks=[Risk("B", 0.4, 1, 2, 6)],
    )
    change = Change(
        [Task("X", 1, 2, 4)], after=["A"], before=["B"], risks=[Risk("X", 0.5, 1, 1, 2)]
    )
    one = simulate(plan, change=change, iterations=2_000, seed=42)
    two = simulate(plan, change=change, iterations=2_000, seed=42)
    other = simulate(plan, change=change, iterations=2_000, seed=43)
    np.testing.assert_array_equal(one.baseline.finish, two.baseline.finish)
    np.testing.assert_array_equal(one.with_change.cost, two.with_change.cost)
    assert one.as_dict() == two.as_dict()
    assert not np.array_equal(one.baseline.finish, other.baseline.finish)
    # A fresh seed is recorded and repeats the run.
    fresh = simulate(plan, iterations=500, seed=None)
    again = simulate(plan, iterations=500, seed=fresh.seed)
    np.testing.assert_array_equal(fresh.baseline.finish, again.baseline.finish)


def test_task_draws_do_not_depend_on_task_order():
    a, b = Task("A", 2, 4, 12), Task("B", 3, 5, 9)
    one = simulate(Plan([a, b]), iterations=1_000, seed=8).baseline
    two = simulate(Plan([b, a]), iterations=1_000, seed=8).baseline
    np.testing.assert_array_equal(one.task_finish["A"], two.task_finish["A"])


def test_as_dict_is_plain_data():
    plan = Plan([fixed("A", 2)], milestones=[Milestone("A", 1)])
    change = Change([fixed("X", 1)], after=["A"])
    d = simulate(plan, change=change, iterations=10).as_dict()
    assert d["baseline"]["finish"] == {"P50": 2.0, "P80": 2.0, "P95": 2.0, "mean": 2.0}
    assert d["finish_shift"] == {"P50": 1.0, "P80": 1.0, "P95": 1.0}
    assert d["baseline"]["milestone_miss"] == {"A": 1.0}
    assert d["critical_path_changed"] is True


def test_topological_order_puts_predecessors_first():
    tasks = [fixed("C", 1, "B"), fixed("B", 1, "A"), fixed("A", 1)]
    assert [tasks[i].id for i in topological_order(tasks)] == ["A", "B", "C"]


# --- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "error", "words"),
    [
        (lambda: Task("A", 5, 3, 8), InvalidThreePoint, "optimistic 5 is greater than most"),
        (lambda: Task("A", 1, 9, 8), InvalidThreePoint, "most likely 9 is greater than pess"),
        (lambda: Task("A", -1, 2, 3), NegativeValue, "negative"),
        (lambda: Task("A", 1, math.nan, 3), InvalidThreePoint, "finite"),
        (lambda: Task("A", 1, 2, 3, rate=-1), NegativeValue, "rate of task 'A'"),
        (lambda: Task("A", 1, 2, 3, fixed_cost=-1), NegativeValue, "fixed cost"),
        (lambda: Dependency("A", lag=-2), NegativeValue, "lag after task 'A'"),
        (lambda: Milestone("A", -1), NegativeValue, "target day"),
        (lambda: Risk("A", 1.5, 1, 2, 3), InvalidProbability, "probability 1.5"),
        (lambda: Risk("A", 0.5, 3, 2, 1), InvalidThreePoint, "risk"),
        (lambda: Task("", 1, 2, 3), PlanError, "non-empty"),
        (lambda: Plan([]), PlanError, "at least one task"),
        (lambda: Change([]), PlanError, "at least one task"),
    ],
)
def test_bad_figures_are_refused_with_a_named_problem(build, error, words):
    with pytest.raises(error, match=words):
        build()


def test_an_unknown_dependency_is_named():
    with pytest.raises(UnknownTask, match="'B' depends on unknown task 'Z'"):
        simulate(Plan([fixed("A", 1), fixed("B", 1, "Z")]), iterations=10)


def test_a_cycle_is_named():
    plan = Plan([fixed("A", 1, "C"), fixed("B", 1, "A"), fixed("C", 1, "B"), fixed("D", 1)])
    with pytest.raises(DependencyCycle, match=r"cycle among tasks \['A', 'B', 'C'\]"):
        simulate(plan, iterations=10)


def test_a_change_that_closes_a_cycle_is_refused():
    plan = Plan([fixed("A", 1), fixed("B", 1, "A")])
    with pytest.raises(DependencyCycle):
        simulate(plan, change=Change([fixed("X", 1)], after=["B"], before=["A"]), iterations=10)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (Change([fixed("X", 1)], after=["nope"]), "after task 'nope'"),
        (Change([fixed("X", 1)], after=["A"], before=["nope"]), "before task 'nope'"),
    ],
)
def test_an_insertion_point_that_does_not_exist_is_named(change, words):
    with pytest.raises(UnknownInsertionPoint, match=words):
        simulate(Plan([fixed("A", 1)]), change=change, iterations=10)


def test_duplicate_ids_are_refused():
    with pytest.raises(DuplicateTask, match="'A' appears twice"):
        simulate(Plan([fixed("A", 1), fixed("A", 2)]), iterations=10)
    with pytest.raises(DuplicateTask, match="'A' is already used"):
        simulate(Plan([fixed("A", 1)]), change=Change([fixed("A", 1)]), iterations=10)


def test_milestones_and_risks_on_unknown_tasks_are_named():
    with pytest.raises(UnknownTask, match="milestone 'M1' names unknown task 'Z'"):
        simulate(Plan([fixed("A", 1)], milestones=[Milestone("Z", 3, "M1")]), iterations=10)
    with pytest.raises(UnknownTask, match="applies to unknown task 'Z'"):
        simulate(Plan([fixed("A", 1)], risks=[Risk("Z", 0.5, 1, 2, 3)]), iterations=10)


@pytest.mark.parametrize("iterations", [0, -5, 2.5, True])
def test_a_bad_iteration_count_is_refused(iterations):
    with pytest.raises(InvalidIterations):
        simulate(Plan([fixed("A", 1)]), iterations=iterations)


def test_a_bad_seed_is_refused():
    with pytest.raises(PlanError, match="seed"):
        simulate(Plan([fixed("A", 1)]), iterations=10, seed=-1)


# --- against analytic results (issue: "the simulator agrees with analytic results") -----------


def test_a_chain_of_independent_normal_tasks_adds_means_and_variances():
    # N(10, 2) then N(15, 3): mean 25, variance 2^2 + 3^2 = 13.
    plan = Plan([Task.normal("A", 10, 2), Task.normal("B", 15, 3, depends_on=("A",))])
    finish = simulate(plan, iterations=100_000, seed=2026).baseline.finish
    assert abs(finish.mean() - 25) < 0.1
    assert abs(finish.var() - 13) < 0.2


def test_a_pert_chain_mean_is_the_sum_of_the_pert_means():
    n = 100_000
    estimates = [(2, 4, 12), (1, 5, 6), (3, 3, 9), (0, 1, 2), (5, 8, 20)]
    tasks = [
        Task(f"T{k}", *e, depends_on=(f"T{k - 1}",) if k else ()) for k, e in enumerate(estimates)
    ]
    finish = simulate(Plan(tasks), iterations=n, seed=5).baseline.finish
    mean = sum((o + 4 * m + p) / 6 for o, m, p in estimates)
    sd = math.sqrt(sum(beta_sd(*e) ** 2 for e in estimates))
    assert abs(finish.mean() - mean) < 4 * sd / math.sqrt(n)
    assert finish.std() == pytest.approx(sd, rel=0.02)


def test_two_parallel_normal_paths_take_the_max_of_two_normals():
    # Clark (1961): the mean of max(X, Y) for independent X ~ N(20, 3), Y ~ N(20, 4) is
    # 20 + theta * phi(0) with theta = sqrt(9 + 16) = 5, i.e. 20 + 5 / sqrt(2 pi).
    plan = Plan(
        [
            Task.normal("A1", 12, 2),
            Task.normal("A2", 8, math.sqrt(5), depends_on=("A1",)),
            Task.normal("B", 20, 4),
        ]
    )
    finish = simulate(plan, iterations=100_000, seed=7).baseline.finish
    expected = 20 + 5 / math.sqrt(2 * math.pi)
    assert finish.mean() > 20 + 1.5  # exceeds both path means clearly
    assert abs(finish.mean() - expected) < 0.05


def test_a_normal_task_draws_are_cut_at_zero():
    finish = simulate(Plan([Task.normal("A", 0.5, 2)]), iterations=10_000, seed=1).baseline.finish
    assert finish.min() == 0.0


def test_an_unknown_distribution_is_named():
    with pytest.raises(PlanError, match="unknown distribution 'lognormal'"):
        Task("A", 1, 2, 3, distribution="lognormal")


def test_criticality_of_two_parallel_normal_paths_is_the_probability_each_is_longer():
    # P(A > B) for A ~ N(21, 3), B ~ N(20, 4): Phi(1 / 5).
    plan = Plan([Task.normal("A", 21, 3), Task.normal("B", 20, 4), fixed("E", 1, "A", "B")])
    crit = simulate(plan, iterations=100_000, seed=3).baseline.criticality
    expected = 0.5 * (1 + math.erf(0.2 / math.sqrt(2)))
    assert abs(crit["A"] - expected) < 0.01
    assert crit["A"] + crit["B"] == pytest.approx(1.0)
    assert crit["E"] == 1.0


def test_milestone_miss_probability_of_a_normal_task_is_its_tail():
    # Missed when N(10, 2) > 13: 1 - Phi(1.5).
    plan = Plan([Task.normal("A", 10, 2)], milestones=[Milestone("A", 13, "M")])
    miss = simulate(plan, iterations=100_000, seed=8).baseline.milestone_miss["M"]
    assert abs(miss - 0.5 * math.erfc(1.5 / math.sqrt(2))) < 0.005


def test_progress_is_reported_up_to_one():
    seen = []
    plan = Plan([fixed("A", 1)])
    simulate(plan, change=Change([fixed("X", 1)], after=["A"]), iterations=10, progress=seen.append)
    assert seen == sorted(seen) and seen[-1] == 1.0


def test_the_level_wise_schedule_matches_a_plain_longest_path():
    # A deep random network of fixed durations (more edges per level than one gathering chunk):
    # the level-wise passes give the textbook forward pass and critical set exactly.
    rng = np.random.default_rng(0)
    tasks = []
    for j in range(400):
        preds = sorted({int(i) for i in rng.integers(max(0, j - 30), j, size=3)}) if j else []
        deps = tuple(Dependency(f"T{i}", lag=float(rng.integers(0, 3))) for i in preds)
        tasks.append(fixed(f"T{j}", float(rng.integers(0, 10)), *deps))
    base = simulate(Plan(tasks), iterations=3, seed=4).baseline
    start, finish = {}, {}
    for t in tasks:  # listed in topological order already
        start[t.id] = max((finish[d.task] + d.lag for d in t.depends_on), default=0.0)
        finish[t.id] = start[t.id] + t.optimistic
    for t in tasks:
        assert base.task_finish[t.id][0] == finish[t.id]
    end = max(finish.values())
    critical = {t.id for t in tasks if finish[t.id] == end}
    for t in reversed(tasks):
        if t.id in critical:
            critical |= {d.task for d in t.depends_on if finish[d.task] + d.lag == start[t.id]}
    assert {t for t, c in base.criticality.items() if c == 1.0} == critical
    assert {t for t, c in base.criticality.items() if c == 0.0} == {t.id for t in tasks} - critical


@pytest.mark.parametrize("mode", [0.0, 0.05, 0.2, 0.5, 0.8, 1.0])
def test_the_quantile_tables_keep_the_pert_mean_and_sd(mode):
    from changeflow.impact.simulation import _beta_quantile_table

    a, b = 1 + 4 * mode, 1 + 4 * (1 - mode)
    table = _beta_quantile_table(np.array([a]), np.array([b]))[0]
    mean = float(((table[1:] + table[:-1]) / 2).mean())  # the mean of the sampled variable
    assert abs(mean - a / (a + b)) < 1e-4
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    second = float(((table[1:] ** 2 + table[1:] * table[:-1] + table[:-1] ** 2) / 3).mean())
    assert math.sqrt(second - mean**2) == pytest.approx(sd, rel=5e-3)
    assert table[0] == 0.0 and table[-1] == 1.0 and np.all(np.diff(table) >= 0)

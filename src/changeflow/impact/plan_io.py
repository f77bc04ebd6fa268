"""Reading and checking project plans: plain data in, plain data out (no ORM).

A plan arrives as JSON (the API), as a CSV or XLSX file (import) or from the database; each
path ends in :func:`clean_plan`, which checks every row and reports *all* problems at once,
each naming its row and task, so a file is fixed in one pass. Nothing is written unless the
whole plan is clean (the services do the writing).

**File columns** (first row is the header; names are case-insensitive, order is free; only
``id``, ``optimistic``, ``most_likely`` and ``pessimistic`` are required):

===============  =================================================================
``id``           the task's id, unique in the plan (no spaces, commas, ``;`` or ``+``)
``name``         free text (Chinese welcome)
``optimistic``   days, ≥ 0
``most_likely``  days, ≥ optimistic
``pessimistic``  days, ≥ most likely
``depends_on``   predecessors finish-to-start, separated by ``;`` or ``,``; a lag in days
                 after ``+``: ``T1; T2+3`` (T2 then three days' wait)
``rate``         cost per day of the task, ≥ 0 (the plan's currency)
``fixed_cost``   a one-off cost of the task, ≥ 0
``milestone``    a milestone's name: the milestone is met when this task finishes …
``target_date``  … on or before this date (ISO ``2027-03-31``; an Excel date cell works)
===============  =================================================================
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from . import simulation as sim

KEY_RE = re.compile(r"^[^\s,;+]{1,40}$")
MAX_TASKS = 5000
MAX_DAYS = Decimal("9999999.99")
MAX_MONEY = Decimal("999999999999.99")
COLUMNS = (
    "id", "name", "optimistic", "most_likely", "pessimistic", "depends_on", "rate",
    "fixed_cost", "milestone", "target_date",
)  # fmt: skip
REQUIRED_COLUMNS = ("id", "optimistic", "most_likely", "pessimistic")
CENT = Decimal("0.01")


class PlanProblems(ValueError):
    """Every problem found in a plan, each a translated line naming its row or task."""

    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass
class CleanTask:
    key: str
    name: str
    optimistic: Decimal
    most_likely: Decimal
    pessimistic: Decimal
    rate: Decimal = Decimal(0)
    fixed_cost: Decimal = Decimal(0)
    depends_on: list[tuple[str, Decimal]] = field(default_factory=list)


@dataclass
class CleanMilestone:
    name: str
    task: str
    target_date: dt.date


@dataclass
class CleanPlan:
    tasks: list[CleanTask]
    milestones: list[CleanMilestone]


# ---------------------------------------------------------------------------------------------
# Values


def as_decimal(value: Any) -> Decimal | None:
    """``value`` read as a finite decimal (a number, or a numeric string such as "1,200.5"),
    or None when it is no number at all (a boolean is none)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float | int | Decimal):
        text = str(value)
    elif isinstance(value, str):
        text = value.strip().replace(",", "")
    else:
        return None
    try:
        result = Decimal(text)
    except InvalidOperation:
        return None
    return result if result.is_finite() else None


def number(value: Any, what: str, *, limit: Decimal = MAX_DAYS) -> Decimal:
    """A non-negative decimal (two places), or a ValueError naming ``what``."""
    if isinstance(value, bool) or value is None or value == "":
        raise ValueError(_("%(what)s is missing") % {"what": what})
    result = as_decimal(value)
    if result is None:
        raise ValueError(_("%(what)s: %(value)r is not a number") % {"what": what, "value": value})
    text = value.strip().replace(",", "") if isinstance(value, str) else str(value)
    if result < 0:
        raise ValueError(_("%(what)s is negative (%(value)s)") % {"what": what, "value": text})
    if result > limit:
        raise ValueError(_("%(what)s is too large (%(value)s)") % {"what": what, "value": text})
    return result.quantize(CENT, rounding=ROUND_HALF_UP)


def date_value(value: Any, what: str) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(
        _("%(what)s: %(value)r is not a date (YYYY-MM-DD)") % {"what": what, "value": value}
    )


def parse_depends(text: Any) -> list[tuple[str, Any]]:
    """``"T1; T2+3"`` → ``[("T1", "0"), ("T2", "3")]`` (lags checked by the caller)."""
    if text is None:
        return []
    out = []
    for part in re.split(r"[;,]", str(text)):
        part = part.strip()
        if not part:
            continue
        key, _sep, lag = part.partition("+")
        out.append((key.strip(), lag.strip() or "0"))
    return out


# ---------------------------------------------------------------------------------------------
# Checking


def clean_plan(tasks: list[dict], milestones: list[dict], *, labels: list[str] | None = None):
    """Check a whole plan; raise :class:`PlanProblems` listing every problem.

    ``tasks``: dicts with ``key``, ``name``, ``optimistic``, ``most_likely``, ``pessimistic``,
    ``rate``, ``fixed_cost``, ``depends_on`` (``[(key, lag)]``); ``milestones``: dicts with
    ``name``, ``task``, ``target_date``. ``labels`` name each task's row in messages (e.g.
    "row 7"); by default "task 3".
    """
    problems: list[str] = []
    if not tasks:
        raise PlanProblems([_("The plan has no tasks.")])
    if len(tasks) > MAX_TASKS:
        raise PlanProblems([_("A plan has at most %(n)d tasks.") % {"n": MAX_TASKS}])
    labels = labels or [_("task %(n)d") % {"n": i + 1} for i in range(len(tasks))]
    clean: list[CleanTask] = []
    seen: dict[str, str] = {}
    for label, row in zip(labels, tasks, strict=True):
        key = str(row.get("key") or "").strip()
        where = f"{label} ({key})" if key else label
        row_problems: list[str] = []
        if not key:
            row_problems.append(_("the id is missing"))
        elif not KEY_RE.match(key):
            row_problems.append(
                _("the id %(key)r may not contain spaces, commas, ';' or '+' (at most 40 "
                  "characters)") % {"key": key}
            )  # fmt: skip
        elif key in seen:
            row_problems.append(_("the id %(key)r is used twice") % {"key": key})
        figures = {}
        for name, what in (
            ("optimistic", _("optimistic")),
            ("most_likely", _("most likely")),
            ("pessimistic", _("pessimistic")),
            ("rate", _("cost per day")),
            ("fixed_cost", _("fixed cost")),
        ):
            raw = row.get(name)
            if name in ("rate", "fixed_cost") and raw in (None, ""):
                raw = 0
            try:
                limit = MAX_MONEY if name in ("rate", "fixed_cost") else MAX_DAYS
                figures[name] = number(raw, what, limit=limit)
            except ValueError as exc:
                row_problems.append(str(exc))
        o, m, p = (figures.get(n) for n in ("optimistic", "most_likely", "pessimistic"))
        if o is not None and m is not None and o > m:
            row_problems.append(
                _("inverted estimate: optimistic %(o)s is greater than most likely %(m)s")
                % {"o": o, "m": m}
            )
        if m is not None and p is not None and m > p:
            row_problems.append(
                _("inverted estimate: most likely %(m)s is greater than pessimistic %(p)s")
                % {"m": m, "p": p}
            )
        deps: list[tuple[str, Decimal]] = []
        for dep_key, lag in row.get("depends_on") or []:
            try:
                deps.append((str(dep_key), number(lag, _("the lag after %s") % dep_key)))
            except ValueError as exc:
                row_problems.append(str(exc))
        problems += [f"{where}: {p}" for p in row_problems]
        if key and key not in seen:
            seen[key] = where
        # Without problems every figure was read (a missing one is a problem).
        if not row_problems and o is not None and m is not None and p is not None:
            clean.append(CleanTask(key, str(row.get("name") or "")[:200], o, m, p,
                                   figures["rate"], figures["fixed_cost"], deps))  # fmt: skip
    for task in clean:
        for dep_key, _lag in task.depends_on:
            if dep_key not in seen:
                problems.append(
                    _("%(where)s: depends on unknown task %(dep)r")
                    % {"where": seen[task.key], "dep": dep_key}
                )
            elif dep_key == task.key:
                problems.append(_("%(where)s: depends on itself") % {"where": seen[task.key]})
    names: set[str] = set()
    clean_ms: list[CleanMilestone] = []
    for ms in milestones:
        name = str(ms.get("name") or "").strip()[:200]
        task_key = str(ms.get("task") or "")
        where = seen.get(task_key, _("milestone %(name)s") % {"name": name})
        if not name:
            problems.append(_("%(where)s: the milestone has no name") % {"where": where})
            continue
        if name in names:
            problems.append(_("milestone %(name)r is named twice") % {"name": name})
        names.add(name)
        if task_key not in seen:
            problems.append(
                _("milestone %(name)r names unknown task %(task)r")
                % {"name": name, "task": task_key}
            )
            continue
        try:
            target = date_value(ms.get("target_date"), _("target date"))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        clean_ms.append(CleanMilestone(name, task_key, target))
    if not problems:
        cycle = find_cycle([(t.key, [d for d, _l in t.depends_on]) for t in clean])
        if cycle:
            problems.append(
                _("dependency cycle: %(path)s") % {"path": " → ".join([*cycle, cycle[0]])}
            )
    if problems:
        raise PlanProblems(problems)
    return CleanPlan(clean, clean_ms)


def find_cycle(graph: list[tuple[str, list[str]]]) -> list[str] | None:
    """One cycle of the dependency graph as the tasks along it, or None (iterative DFS)."""
    preds = dict(graph)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for root in preds:
        if state.get(root):
            continue
        stack = [(root, iter(preds.get(root, ())))]
        path = [root]
        state[root] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                cycle = list(reversed(path[path.index(nxt) :]))  # in finish-to-start order
                first = cycle.index(min(cycle))  # start anywhere stable: the smallest id
                return cycle[first:] + cycle[:first]
            elif not state.get(nxt) and nxt in preds:
                state[nxt] = 1
                stack.append((nxt, iter(preds.get(nxt, ()))))
                path.append(nxt)
    return None


# ---------------------------------------------------------------------------------------------
# Files


def read_rows(name: str, content: bytes) -> list[dict[str, Any]]:
    """The rows of a CSV or XLSX plan file as dicts keyed by lower-case column name."""
    lower = name.lower()
    if lower.endswith(".xlsx"):
        rows = _xlsx_rows(content)
    elif lower.endswith(".csv") or lower.endswith(".txt"):
        rows = _csv_rows(content)
    else:
        raise PlanProblems([_("The file must be a .csv or .xlsx file.")])
    rows = [r for r in rows if any(v not in (None, "") for v in r)]
    if not rows:
        raise PlanProblems([_("The file is empty.")])
    header = [str(h or "").strip().lower().replace(" ", "_") for h in rows[0]]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise PlanProblems(
            [_("Missing columns: %(cols)s (the first row must name the columns: %(all)s).")
             % {"cols": ", ".join(missing), "all": ", ".join(COLUMNS)}]
        )  # fmt: skip
    out = []
    for row in rows[1:]:
        out.append({h: (row[i] if i < len(row) else None) for i, h in enumerate(header) if h})
    if not out:
        raise PlanProblems([_("The file has a header but no tasks.")])
    return out


def _csv_rows(content: bytes) -> list[list[Any]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise PlanProblems([_("The CSV file is not UTF-8 or GB18030 text.")])
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return [list(r) for r in csv.reader(io.StringIO(text), dialect)]


def _xlsx_rows(content: bytes) -> list[list[Any]]:
    import zipfile

    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError):
        raise PlanProblems([_("The file is not a readable XLSX workbook.")]) from None
    try:
        sheet = workbook.worksheets[0]
        return [list(r) for r in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()


def rows_to_plan(rows: list[dict[str, Any]]) -> CleanPlan:
    """File rows → a checked plan (raises :class:`PlanProblems` naming rows, 2 = first task)."""
    tasks, milestones, labels = [], [], []
    for n, row in enumerate(rows, start=2):
        key = str(row.get("id") if row.get("id") is not None else "").strip()
        if isinstance(row.get("id"), float) and row["id"].is_integer():
            key = str(int(row["id"]))  # a spreadsheet turned "7" into 7.0
        labels.append(_("row %(n)d") % {"n": n})
        tasks.append({
            "key": key, "name": row.get("name"), "optimistic": row.get("optimistic"),
            "most_likely": row.get("most_likely"), "pessimistic": row.get("pessimistic"),
            "rate": row.get("rate"), "fixed_cost": row.get("fixed_cost"),
            "depends_on": parse_depends(row.get("depends_on")),
        })  # fmt: skip
        if row.get("milestone") not in (None, ""):
            milestones.append(
                {"name": row.get("milestone"), "task": key, "target_date": row.get("target_date")}
            )
    return clean_plan(tasks, milestones, labels=labels)


# ---------------------------------------------------------------------------------------------
# To the simulator


def to_simulation_plan(plan: CleanPlan, target_days: dict[str, float]) -> sim.Plan:
    """``target_days``: the target of each milestone as a day number (see ``plans.day_of``)."""
    return sim.Plan(
        tuple(
            sim.Task(
                t.key,
                float(t.optimistic),
                float(t.most_likely),
                float(t.pessimistic),
                depends_on=tuple(sim.Dependency(d, float(lag)) for d, lag in t.depends_on),
                rate=float(t.rate),
                fixed_cost=float(t.fixed_cost),
            )  # fmt: skip
            for t in plan.tasks
        ),
        milestones=tuple(
            sim.Milestone(m.task, target_days[m.name], m.name) for m in plan.milestones
        ),
    )

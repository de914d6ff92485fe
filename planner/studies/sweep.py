"""What-if sweeps: many variants of one scenario solved for one goal, one tidy row per variant.

`sweep(scenario, {"budget": [...], "value_per_minute": [...]})` solves the product of the values
(first key slowest), `variants=[...]` a list of scenarios or of change dicts. A sweep key is a flat
setting of :data:`planner.scenario.loading.SETTING_PATHS` (budget, value_per_minute, discount_rate,
mip_gap, ...), one entry of a setting keyed by service, ``SETTING[KEY]``
(``min_grassroots_share[cardiology]``: the other entries kept), or a table cell,
``TABLE.COLUMN[KEY]`` (``equipment.capex[CT]``; the key values of tables with a composite key
separated by commas; no ``[...]``: every row).

Why chunks: a :class:`PlanningSession` re-solves a variant by pushing only what changed, and
answers a budget cut its last plan still meets without a solve (planner/model/highs.py), so a plan
can depend on the variants solved before it on the same session (among tied optima). The
variants are therefore put in a fixed solve order (largest budget first: :func:`solve_order`),
cut into consecutive chunks of ``chunk_size`` and every chunk is solved in order on a session of
its own, here or on an executor's worker: the result depends on the variants and ``chunk_size``
only, never on the executor or its number of workers. Rows come back in the variants' order.
"""

from __future__ import annotations

import itertools
import re
from concurrent.futures import Executor, as_completed
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from planner.errors import InfeasibleError, PlannerError
from planner.model.goals import Goal, make_goal
from planner.planning.session import PlanningSession, solver_options
from planner.publish import publish_folder
from planner.results.comparison import flatten
from planner.results.files import write_csv, write_plan_files
from planner.scenario.loading import SETTING_PATHS, Scenario
from planner.scenario.schema import TABLES
from planner.scenario.settings import setting
from planner.workers import process_pool

CHUNK_SIZE = 5   # variants per session (a county build costs about one re-solve)
RESULT_COLUMNS = ["status", "objective", "bound", "mip_gap", "solve_seconds", "goal_value",
                  "message"]
TIMING_COLUMNS = ["solve_seconds"]   # the only columns that differ between two equal sweeps
_CELL = re.compile(r"^(?P<table>\w+)\.(?P<column>\w+)(?:\[(?P<key>[^\]]*)\])?$")
_ENTRY = re.compile(r"^(?P<name>\w+)\[(?P<key>[^\]]+)\]$")


class SweepError(PlannerError):
    """A sweep key, value or option that cannot be used (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Point:
    """One variant to solve: `changes` (sweep key -> value) applied to the base scenario, or an
    explicit `scenario`; `solve` holds keyword arguments of session.solve (coverage_at_least)."""

    changes: Mapping[str, Any] = field(default_factory=dict)
    scenario: Scenario | None = None
    solve: Mapping[str, Any] = field(default_factory=dict)


# --- sweep keys -> scenario changes --------------------------------------------------------------
def known_keys() -> str:
    return (", ".join(sorted(SETTING_PATHS)) + ", one entry of a keyed setting SETTING[KEY] "
            "such as min_grassroots_share[cardiology], or a table cell TABLE.COLUMN[KEY] such "
            "as equipment.capex[CT] (no [KEY]: every row)")


def _entry(key: str) -> tuple[str, str] | None:
    """(flat name, key) of a key naming one entry of a setting keyed by service, such as
    min_grassroots_share[cardiology] (a sweep of one target keeps the others), else None."""
    match = _ENTRY.match(str(key))
    if match is None or match["name"] not in SETTING_PATHS:
        return None
    if not setting(*SETTING_PATHS[match["name"]]).keyed:
        raise SweepError(f"sweep key {key!r}: {match['name']} is not a setting keyed by "
                         f"service; sweep it as {match['name']!r}.")
    return match["name"], match["key"].strip()


def check_key(scenario: Scenario, key: str) -> None:
    """Refuse a key that names no setting and no table column (SweepError listing the known)."""
    if key in SETTING_PATHS or _entry(key) is not None:
        return
    match = _CELL.match(str(key))
    if match is None or match["table"] not in TABLES:
        raise SweepError(f"sweep key {key!r} is not known; use one of {known_keys()}.")
    table = TABLES[match["table"]]
    columns = [f.name for f in table.fields]
    if match["column"] not in columns:
        raise SweepError(f"sweep key {key!r}: {table.file} has no column {match['column']!r}; "
                         f"its columns are {', '.join(columns)}.")
    if match["key"] is not None:
        _rows(scenario, key, match)


def _rows(scenario: Scenario, key: str, match) -> np.ndarray:
    """The rows of the table a cell key names (all rows without [KEY])."""
    table, frame = TABLES[match["table"]], scenario.tables[match["table"]]
    if match["key"] is None:
        return np.ones(len(frame), dtype=bool)
    wanted = [v.strip() for v in match["key"].split(",")]
    if len(wanted) != len(table.key):
        raise SweepError(f"sweep key {key!r}: the rows of {table.file} are named by "
                         f"{', '.join(table.key)}; give {len(table.key)} value(s) in [...].")
    rows = np.ones(len(frame), dtype=bool)
    for column, value in zip(table.key, wanted):
        rows &= frame[column].astype(str).to_numpy() == value
    if not rows.any():
        names = frame[list(table.key)].astype(str).agg(",".join, axis=1)
        raise SweepError(f"sweep key {key!r}: no row of {table.file} has "
                         f"{', '.join(table.key)} = {match['key']}; its rows are "
                         f"{', '.join(names)}.")
    return rows


def apply_changes(scenario: Scenario, changes: Mapping[str, Any]) -> Scenario:
    """The variant of `scenario` with the sweep keys set (one validated Scenario.with_)."""
    if not changes:
        return scenario
    settings: dict[str, Any] = {}
    frames: dict[str, pd.DataFrame] = {}
    for key, value in changes.items():
        check_key(scenario, key)
        if key in SETTING_PATHS:
            settings[key] = value
            continue
        entry = _entry(key)
        if entry is not None:
            name, service = entry
            current = scenario.settings.model_dump()
            for part in SETTING_PATHS[name]:
                current = current[part]
            settings[name] = {**current, **settings.get(name, {}), service: value}
            continue
        match = _CELL.match(key)
        assert match is not None   # check_key refuses a key that is neither setting nor cell
        name = match["table"]
        frame = frames.setdefault(name, scenario.tables[name].copy())
        rows = _rows(scenario, key, match)
        if frame[match["column"]].dtype != object and not isinstance(value, (int, float)):
            frame[match["column"]] = frame[match["column"]].astype(object)
        frame.loc[rows, match["column"]] = value
    try:
        return scenario.with_(tables=frames or None, **settings)
    except PlannerError as err:   # re-raised as one picklable error naming the variant
        raise SweepError(f"sweep variant {dict(changes)}: {err}") from None
    except TypeError as err:
        raise SweepError(f"sweep variant {dict(changes)}: {err}") from None


def grid(parameters: Mapping[str, Any]) -> list[dict]:
    """The product of the values (first key slowest); a single value counts as a list of one."""
    keys = list(parameters)
    values = []
    for key in keys:
        given = parameters[key]
        if isinstance(given, (str, bytes)) or not hasattr(given, "__iter__"):
            given = [given]
        given = list(given)
        if not given:
            raise SweepError(f"sweep key {key!r} has no values; give a list of at least one.")
        values.append(given)
    return [dict(zip(keys, combo)) for combo in itertools.product(*values)]


# --- solving -------------------------------------------------------------------------------------
def plan_row(plan) -> dict:
    """The tidy row of one plan: status, objective terms, goal value, KPIs (dotted names)."""
    row = {"status": plan.status, "objective": plan.objective, "bound": plan.bound,
           "mip_gap": plan.mip_gap, "solve_seconds": plan.solve_seconds,
           "goal_value": (plan.goal or {}).get("value"), "message": ""}
    if plan.objective is None:
        return row
    row.update({f"cost.{term}": float(v) for term, v in plan.costs.items()})
    row.update(flatten(plan.kpis))
    return row


def solve_chunk(base: Scenario, points: Sequence[Point], goal: Goal, options: dict,
                keep_plans: bool, done: Callable[[int], None] | None = None) -> list:
    """Solve consecutive points in order on one new session (the task of an executor's
    worker): [(row, plan or None)]. An infeasible point is a row with status infeasible and
    the explanation in `message`; other errors stop the sweep."""
    session, out = None, []
    for point in points:
        variant = point.scenario if point.scenario is not None else \
            apply_changes(base, point.changes)
        try:
            if session is None:
                session = PlanningSession(variant, goal=goal, **options)
                plan = session.solve(**point.solve)
            else:
                plan = session.solve(variant, **point.solve)
            row = plan_row(plan)
        except InfeasibleError as err:
            plan, row = None, {"status": "infeasible", "message": str(err)}
        out.append((row, plan if keep_plans else None))
        if done is not None:
            done(1)
    return out


def as_executor(executor) -> Executor | None:
    """An Executor, or the executor of a dask.distributed Client."""
    if executor is not None and not isinstance(executor, Executor) and \
            hasattr(executor, "get_executor"):
        return executor.get_executor()
    return executor


def run_points(base: Scenario, points: list[Point], goal: Goal, options: dict, *,
               executor=None, workers: int | None = None, chunk_size: int | None = None,
               keep_plans: bool = False, progress: bool = True, desc: str = "sweep") -> list:
    """[(row, plan)] in the order of `points`, chunk by chunk (module docstring) on `executor`,
    on a local pool of `workers` processes (planner/workers.py), or here."""
    size = CHUNK_SIZE if chunk_size is None else chunk_size
    if not (isinstance(size, int) and size >= 1):
        raise SweepError(f"chunk_size must be a whole number >= 1, not {chunk_size!r}.")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= 256):
        raise SweepError(f"workers must be a whole number from 1 to 256, not {workers!r}.")
    order = solve_order(points)
    ordered = [points[k] for k in order]
    chunks = [ordered[k:k + size] for k in range(0, len(ordered), size)]
    with ExitStack() as stack:
        executor = as_executor(executor)
        if executor is None and workers is not None and workers > 1 and len(chunks) > 1:
            executor = stack.enter_context(process_pool(workers))
        bar = None
        if progress:
            # lazy: tqdm loads only when a bar is shown, not with `import planner`
            from tqdm import tqdm
            bar = stack.enter_context(tqdm(total=len(points), unit="plan", desc=desc))
        advance = bar.update if bar is not None else None
        if executor is None:
            solved = [item for chunk in chunks
                      for item in solve_chunk(base, chunk, goal, options, keep_plans, advance)]
        else:
            futures = [executor.submit(solve_chunk, base, chunk, goal, options, keep_plans)
                       for chunk in chunks]
            if advance is not None:
                for future in as_completed(futures):
                    advance(len(future.result()))
            solved = [item for future in futures for item in future.result()]
    results = [None] * len(points)
    for k, item in zip(order, solved):
        results[k] = item
    return results


def solve_order(points: Sequence[Point]) -> list[int]:
    """The order the points are solved in: largest budget first (stable), so that each cut
    that the previous plan still meets is answered without a solve (planner/model/highs.py: a
    20-budget sweep of the county solves only the budgets below the cost plan's capital).
    Depends on the points alone, so the result does not depend on the executor."""
    def budget(k: int) -> float:
        value = points[k].changes.get("budget")
        return float(value) if isinstance(value, (int, float)) else float("inf")
    return sorted(range(len(points)), key=lambda k: -budget(k))


# --- the table -----------------------------------------------------------------------------------
def results_table(labels: list[dict], results: list) -> pd.DataFrame:
    """One row per point: its labels (variant, parameters), the result columns, then cost terms
    and KPIs in order of first appearance. A plan's missing KPI or cost leaf is 0 (no units of
    that equipment, say); a point without a plan has NaN there."""
    rows = [{**label, **row} for label, (row, _) in zip(labels, results)]
    columns = list(dict.fromkeys(c for label in labels for c in label))
    columns += RESULT_COLUMNS
    extra = dict.fromkeys(c for row in rows for c in row if c not in columns)
    table = pd.DataFrame(rows, columns=columns + list(extra))
    has_plan = table["objective"].notna()
    if extra:
        table.loc[has_plan, list(extra)] = table.loc[has_plan, list(extra)].fillna(0.0)
    table["message"] = table["message"].fillna("")
    return table


def save_points(path: str | Path, kind: str, csv_name: str, table: pd.DataFrame,
                plans: list) -> pd.DataFrame:
    """Publish a folder (planner/publish.py: only a folder the planner wrote is replaced) with
    `csv_name` and one plan folder per point that has a plan (point_000, ...: the column
    plan_folder); returns the table as written."""
    names = [f"point_{k:03d}" if plan is not None and plan.objective is not None else ""
             for k, plan in enumerate(plans)]
    table = table.assign(plan_folder=names)
    with publish_folder(path, kind) as work:
        for name, plan in zip(names, plans):
            if name:
                (work / name).mkdir()
                write_plan_files(plan, work / name)
        write_csv(table.drop(columns=["plan"], errors="ignore"), work / csv_name)
    return table


def sweep(scenario: Scenario, parameters: Mapping[str, Any] | None = None, *,
          variants: Sequence[Scenario | Mapping[str, Any]] | None = None,
          goal: str | Goal | None = None, service: str | None = None,
          minutes: float | None = None, relax_urgent: bool | None = None,
          keep_plans: bool | str | Path = False,
          executor=None, workers: int | None = None, chunk_size: int | None = None,
          progress: bool = True, **options) -> pd.DataFrame:
    """Solve many variants of `scenario` for one goal; one tidy row per variant, in order.

    parameters: sweep key -> values, solved over their product (first key slowest); or
    variants: a list of Scenarios (columns `variant`, `scenario`) or of change dicts. Columns:
    `variant` (position), the sweep keys, status, objective (annual cost), bound, mip_gap,
    solve_seconds, goal_value, message (why a variant is infeasible), `cost.<term>` (annual
    cost by term) and the plan's KPIs (dotted names, as planner.compare). keep_plans=True adds
    a column `plan` of Plan objects; a path publishes sweep.csv and one plan folder per
    variant there (column `plan_folder`). executor: a concurrent.futures.Executor (processes,
    or a dask.distributed Client or its executor); workers: a local process pool; chunk_size:
    variants per session (module docstring). goal, service, minutes and relax_urgent (drop the
    urgent-coverage rows of the goal's equipment) as planner.solve; options (time_limit,
    mip_gap, ...) likewise.
    """
    if (parameters is None) == (variants is None):
        raise SweepError("give either parameters (sweep key -> list of values) or variants "
                         "(a list of scenarios or of change dicts), not both or neither.")
    the_goal = make_goal(scenario, goal, service, minutes, relax_urgent)
    solver_options(scenario, **options)   # a bad option fails here, before any solve
    if parameters is not None:
        changes = grid(parameters)
        labels = [{"variant": k, **c} for k, c in enumerate(changes)]
        points = [Point(c) for c in changes]
    else:
        assert variants is not None   # exactly one of parameters and variants (checked above)
        variants = list(variants)
        scenarios = [v for v in variants if isinstance(v, Scenario)]
        change_dicts = [v for v in variants if isinstance(v, Mapping)]
        if len(scenarios) == len(variants):
            labels = [{"variant": k, "scenario": v.name} for k, v in enumerate(scenarios)]
            points = [Point(scenario=v) for v in scenarios]
        elif len(change_dicts) == len(variants):
            labels = [{"variant": k, **v} for k, v in enumerate(change_dicts)]
            points = [Point(dict(v)) for v in change_dicts]
        else:
            raise SweepError("variants must all be Scenarios or all be dicts of sweep keys.")
    for point in points:
        for key in point.changes:
            check_key(scenario, key)
    keep = keep_plans is not False and keep_plans is not None
    results = run_points(scenario, points, the_goal, options, executor=executor, workers=workers,
                         chunk_size=chunk_size, keep_plans=keep, progress=progress)
    table = results_table(labels, results)
    plans = [plan for _, plan in results]
    if keep_plans is True:
        table["plan"] = pd.Series(plans, index=table.index, dtype=object)
    elif keep:
        assert keep_plans is not False   # keep: a folder to publish the plans in
        table = save_points(keep_plans, "sweep", "sweep.csv", table, plans)
    return table


__all__ = ["SweepError", "sweep", "TIMING_COLUMNS"]

"""Pareto fronts of annual cost against covered population (docs/design.md sections 3 and 7).

Two ways to trace one, both on the coverage goal of equipment E within T minutes
(planner/model/goals.py):

* by budget (`budgets=[...]`, `planner pareto --budgets`): the coverage goal at each capital
  budget, lexicographic (most residents covered, then the least annual cost);
* by coverage level (`coverage_levels=[...]`): the epsilon-constraint front, the least annual
  cost with at least P residents covered, at each level P, on the scenario's own budget;
  `coverage_levels=N` spaces N levels evenly from the coverage of the least-cost plan to the
  most coverage the budget allows.

Every constraint of the cost model holds at every point, urgent coverage included
(docs/design.md section 7): no point costs less than the cost goal's plan of its budget, and a
budget that cannot keep the urgent rule is a row with status infeasible and the reason in
`message`, not a cheaper plan. `relax_urgent=True` drops the urgent-coverage rows of E (a pure
location study); the column `urgent_uncovered_zones` then counts the populated zones each
point's plan leaves without its urgent cover (0 when the rule is kept; empty without a plan).

The points are solved like a sweep (planner/studies/sweep.py): in fixed chunks, each on one
persistent session, here or on an executor; each point is a full Plan.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from planner.model.goals import make_goal
from planner.pictures.plot import pareto_figure
from planner.planning.session import PlanningSession, solver_options
from planner.results.plan import uncovered_zones
from planner.scenario.loading import Scenario
from planner.studies.sweep import Point, SweepError, run_points, save_points

COLUMNS = ["budget", "covered_population", "annual_cost", "coverage_level", "status",
           "mip_gap", "solve_seconds", "capital_used", "urgent_uncovered_zones", "message"]


class ParetoError(SweepError):
    """Budgets or coverage levels that cannot be used (exit 2)."""


@dataclass(frozen=True)
class ParetoFront:
    """The points of a front: `table` (one row per point, in the order asked: COLUMNS) and
    `plans` (the Plan of each row, None where there is none)."""

    service: str
    minutes: float
    currency: str
    table: pd.DataFrame
    plans: tuple

    def plot(self, ax=None):
        """Annual cost against covered residents, each point labelled with its budget (or its
        coverage level); returns the matplotlib Figure (drawn on `ax` when given;
        planner/pictures/plot.py)."""
        return pareto_figure(self, ax)

    def save(self, path: str | Path) -> None:
        """Publish `path`: pareto.csv (COLUMNS + plan_folder) and one plan folder per point
        with a plan (point_000, ...); only a folder the planner wrote is ever replaced."""
        save_points(path, "pareto", "pareto.csv", self.table, list(self.plans))


def _numbers(values, what: str, low: float = 0.0) -> list[float]:
    """A non-empty list of finite numbers >= low, or a ParetoError naming `what`."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ParetoError(f"{what} must be a list of numbers, not {values!r}.")
    out = []
    for v in values:
        try:
            x = float(v)
        except (TypeError, ValueError):
            x = math.nan
        if not (math.isfinite(x) and x >= low):
            raise ParetoError(f"{what}: {v!r} is not a finite number >= {low:g}; give numbers "
                              f"such as 6000000, 12000000.")
        out.append(x)
    if not out:
        raise ParetoError(f"{what} is empty; give at least one value.")
    return out


def urgent_uncovered_zones(plan) -> int | None:
    """Populated zones whose urgent rule (any urgent condition of the scenario) the plan does
    not meet, from its `urgent` table, which lists every rule, relaxed ones included; None
    without a plan."""
    if plan is None or plan.objective is None:
        return None
    return uncovered_zones(plan.urgent)


def _spaced_levels(scenario, goal, options, count: int) -> list[float]:
    """`count` levels evenly spaced from the coverage of the least-cost plan to the most the
    budget allows (two solves on one session)."""
    session = PlanningSession(scenario, goal=goal, **options)
    low = _goal_value(session.solve(coverage_at_least=0.0))
    high = _goal_value(session.solve())
    levels = np.linspace(low, high, count)
    if float(low).is_integer() and float(high).is_integer():
        levels = np.ceil(levels - 1e-9)   # whole residents
    return [float(x) for x in levels]


def _goal_value(plan) -> float:
    """The value a plan reached on the session's goal."""
    assert plan.goal is not None   # a session with a goal reports it in every plan
    return plan.goal["value"]


def pareto(scenario: Scenario, service: str, minutes: float,
           budgets: Sequence[float] | None = None,
           coverage_levels: Sequence[float] | int | None = None, *,
           relax_urgent: bool = False, executor=None,
           workers: int | None = None, chunk_size: int | None = None, progress: bool = True,
           **options) -> ParetoFront:
    """The front of annual cost against residents within `minutes` of `service`: the coverage
    goal at each of `budgets`, or the least annual cost with at least each of
    `coverage_levels` residents covered (an int N: N levels evenly spaced; module docstring).
    relax_urgent=True drops the urgent-coverage rows of `service` (a pure location study).
    executor, workers, chunk_size and progress as planner.sweep; options as planner.solve."""
    goal = make_goal(scenario, "coverage", service, minutes, relax_urgent)
    solver_options(scenario, **options)
    if (budgets is None) == (coverage_levels is None):
        raise ParetoError("give either budgets (the coverage goal at each capital budget) or "
                          "coverage_levels (the least cost at each coverage), not both or "
                          "neither.")
    if budgets is not None:
        budgets = _numbers(budgets, "budgets")
        points = [Point({"budget": b}) for b in budgets]
        levels = [math.nan] * len(points)
    else:
        if isinstance(coverage_levels, (int, np.integer)) and not isinstance(coverage_levels,
                                                                                bool):
            if coverage_levels < 2:
                raise ParetoError(f"coverage_levels={coverage_levels}: a front needs at least "
                                  "2 levels.")
            levels = _spaced_levels(scenario, goal, options, int(coverage_levels))
        else:
            levels = _numbers(coverage_levels, "coverage_levels")
        budgets = [scenario.budget] * len(levels)
        points = [Point(solve={"coverage_at_least": p}) for p in levels]
    results = run_points(scenario, points, goal, options, executor=executor, workers=workers,
                         chunk_size=chunk_size, keep_plans=True, progress=progress,
                         desc="pareto")
    rows = []
    for budget, level, (row, plan) in zip(budgets, levels, results):
        rows.append({"budget": budget, "covered_population": row.get("goal_value"),
                     "annual_cost": row.get("objective"), "coverage_level": level,
                     "status": row["status"], "mip_gap": row.get("mip_gap"),
                     "solve_seconds": row.get("solve_seconds"),
                     "capital_used": row.get("capital_used"),
                     "urgent_uncovered_zones": urgent_uncovered_zones(plan),
                     "message": row["message"]})
    table = pd.DataFrame(rows, columns=COLUMNS).astype({"urgent_uncovered_zones": "Int64"})
    assert goal.service is not None and goal.minutes is not None   # a coverage goal has both
    return ParetoFront(goal.service, goal.minutes, scenario.settings.currency, table,
                       tuple(plan for _, plan in results))


__all__ = ["ParetoError", "ParetoFront", "pareto"]

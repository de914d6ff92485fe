"""Stable re-plans: among plans within (1 + R) of the optimum, one with the fewest changes.

docs/design.md section 7 and models/replanning.md. The baseline is the decisions of an earlier
plan (the latest successful run in the history). One persistent model serves every solve:

1. the cost model (the exact objective); its value C* is the optimum (the incumbent at the gap);
   then the baseline's own decisions, fixed: if that plan costs at most (1 + R) C*, it is kept
   (zero changes cannot be beaten);
2. otherwise, on the same HiGHS object: the cost row `cost_within_tolerance` (annual cost <=
   (1 + R) C*) becomes binding and the objective becomes `fewest_changes` (sum |decision -
   baseline| plus a tie-break < 1 that prefers the cheaper plan), warm-started from the first
   solve's plan; 3. the cheapest flows for the decisions found.

The block those solves switch on (change variables, cost ceiling, fewest changes) is part of the
model: planner.model.changes.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd

from planner.errors import InfeasibleError
from planner.model.changes import TIE_BREAK, ReplanError, baseline_variable, checked_baseline
from planner.model.decisions import decision_changes
from planner.model.highs import Status
from planner.planning.session import PlanningSession
from planner.results.plan import Plan
from planner.scenario.loading import Scenario
from planner.scenario.schema import DECISIONS  # a decision kind names its variable


# --- the solves --------------------------------------------------------------------------------
def replan(scenario: Scenario, baseline: pd.DataFrame | None, tolerance: float | None = None,
           baseline_run: int | None = None, session=None, step=None, **options) -> Plan:
    """The plan of fewest changes from `baseline` among plans of annual cost at most
    (1 + tolerance) x the optimum (tolerance: the scenario's mip_gap by default).

    Solves on one model (models/replanning.md): the cost optimum; then the baseline's own
    decisions (kept if within the cost ceiling); else the fewest changes within the ceiling and
    the cheapest flows for those decisions. Without a baseline (a first run)
    this is the cost-optimal plan, and every decision counts as a change from nothing. The
    returned Plan carries `changes` (the decisions that differ: before, after) and
    `baseline_run`. `session`: a PlanningSession of `scenario` built with this baseline
    (benchmarks pass their own, to inspect the second solve afterwards). `step`: a context
    manager factory `step(name, **fields)` timing each step (build, cost_optimum,
    baseline_probe, fewest_changes, flows), e.g. a JobLog's `stage` (`--log-json`).
    """
    if tolerance is not None and not (math.isfinite(float(tolerance)) and tolerance >= 0):
        raise ReplanError(f"tolerance must be a finite number >= 0 (got {tolerance!r}).")
    baseline = None if baseline is None else checked_baseline(baseline)
    step = step or _untimed
    if session is None:
        with step("solve.build"):
            session = PlanningSession(scenario, baseline=baseline, **options)
    elif not _same(session.baseline, baseline):
        raise ValueError("replan(session=...) needs a session built with the same baseline")
    try:
        return _three_solves(session, baseline, tolerance, baseline_run, step)
    finally:
        session.highs.update()   # the session's HiGHS model back to the cost model


@contextmanager
def _untimed(name: str, **fields):
    yield {}


def _same(session_baseline, baseline) -> bool:
    if session_baseline is None or baseline is None:
        return session_baseline is baseline
    return checked_baseline(session_baseline).equals(baseline)


def _three_solves(session, baseline, tolerance, baseline_run, step) -> Plan:
    with step("solve.cost_optimum") as logged:
        first = session.solve()
        logged.update(plan_status=first.status, objective=first.objective)
    first_plan = _with_changes(first, baseline, baseline_run)
    if baseline is None or first.objective is None:
        return first_plan
    first_result = session.last_result
    rate = session.options.mip_gap if tolerance is None else float(tolerance)
    # the optimum of what the plan minimises (with [urgent] soft: cost + priced uncovered zones);
    # a rounding allowance, so that a baseline exactly at the optimum is never cut off
    optimum = first_result.objective
    ceiling = optimum * (1 + rate) + 1e-9 * abs(optimum) + 1e-6
    with step("solve.baseline_probe") as logged:
        kept = _baseline_within(session, ceiling)
        logged.update(baseline_kept=kept is not None)
    if kept is not None:   # zero changes (but the decisions the model no longer has)
        plan, second = _with_changes(kept, baseline, baseline_run), kept
    else:
        try:
            with step("solve.fewest_changes") as logged:
                second = _fewest_changes_solve(session, ceiling, first_result,
                                               _change_count(first_plan))
                logged.update(plan_status=second.status)
            if second.objective is None:   # nothing better found in time: the optimum stands
                return first_plan
            with step("solve.flows"):
                plan = _with_changes(_cheapest_service(session), baseline, baseline_run)
        except InfeasibleError:   # numerically too tight for HiGHS: the cost optimum stands
            return first_plan
    if plan.objective is None or _change_count(plan) > _change_count(first_plan):
        return first_plan     # never worse than the start it was given
    # the gap of what was minimised, against the first solve's lower bound on it
    value, bound = session.last_result.objective, first_result.bound
    gap = None if bound is None else max(0.0, (value - bound) / max(abs(value), 1e-9))
    status = first.status if first.status != Status.OPTIMAL else second.status
    seconds = first.solve_seconds + second.solve_seconds + plan.solve_seconds   # solves 1-3
    return replace(plan, bound=bound, mip_gap=gap, status=status, solve_seconds=seconds)


def _baseline_within(session, ceiling: float) -> Plan | None:
    """The baseline itself, when it is still a plan within the ceiling: every decision fixed at
    its baseline amount (0 where the baseline has none), the cheapest flows for them. Zero
    changes cannot be beaten, so solve 2 is skipped: the usual scheduled run, on unchanged or
    slightly changed data, costs one LP. None when the baseline no longer fits (infeasible, or
    above the ceiling)."""
    m = session.model
    amount = {m.baseline_decision[k]: m.baseline_amount[k].value for k in m.BASELINE}
    fixed = [(v, amount.get((name, key), 0.0)) for name in DECISIONS
             for key, v in getattr(m, name).items() if not v.fixed]
    if any(not _within(v, value) for v, value in fixed):   # it breaks a commitment
        return None
    try:
        plan = _solve_fixed(session, fixed, explain=False)
    except InfeasibleError:
        return None
    value = session.last_result.objective
    if plan.objective is None or value is None or value > ceiling:
        return None
    return plan


def _solve_fixed(session, fixed: list, explain: bool = True) -> Plan:
    """Solve the cost model with the variables of `fixed` ((variable, value) pairs) fixed; they
    are freed again afterwards."""
    for v, value in fixed:
        v.fix(value)
    try:
        return session.solve_current(explain=explain)
    finally:
        for v, _ in fixed:
            v.unfix()


def _within(v, value: float) -> bool:
    return (v.lb is None or value >= v.lb) and (v.ub is None or value <= v.ub)


def _fewest_changes_solve(session, ceiling: float, first_result, first_changes: int) -> Plan:
    """Solve 2: fewest changes within the cost ceiling, from the first solve's plan (which has
    `first_changes` changes).

    Presolve is off: with a MIP start, HiGHS 1.16's presolve reported the start's reduced-space
    objective as optimal and returned the start itself (a plan with more changes than the
    optimum; found by tests/test_replan_reference.py against brute force), and on tight ceilings
    (R = 0) declared feasible models infeasible. Measured on the county: no slower without it.
    """
    m = session.model
    m.cost_ceiling.set_value(ceiling)
    m.cost_weight.set_value(TIE_BREAK / ceiling if ceiling > 0 else 0.0)
    m.objective.deactivate()
    m.fewest_changes.activate()
    try:
        start = _start_values(session, first_result)
        # a relative gap that proves the fewest changes: the absolute gap stays below one change
        gap = min(session.options.mip_gap, 0.4 / (first_changes + 1.0))
        session.fewest_changes_start = start   # kept for inspection (benchmarks/)
        return session.solve_current(mip_gap=gap, start=start, presolve=False)
    finally:
        m.fewest_changes.deactivate()
        m.objective.activate()
        m.cost_ceiling.set_value(math.inf)


def _cheapest_service(session) -> Plan:
    """Solve 3: the decisions of solve 2 fixed, the least annual cost of serving the demand with
    them (solve 2 only breaks cost ties up to its gap; the flows are an LP once the integers are
    fixed). Its cost is at most solve 2's, so it stays within the ceiling."""
    hm = session.highs
    values = session.last_result.values
    return _solve_fixed(session, [(v, round(values[hm.column[id(v)]])) for v in hm.variables
                                  if v.is_integer() and not v.fixed])


def _start_values(session, first_result) -> np.ndarray:
    """The first solve's plan, with its deviations from the baseline: a feasible start."""
    hm, m = session.highs, session.model
    values = first_result.values.copy()
    for k in m.BASELINE:
        x = values[hm.column[id(baseline_variable(m, k))]]
        b = m.baseline_amount[k].value
        values[hm.column[id(m.change_up[k])]] = max(x - b, 0.0)
        values[hm.column[id(m.change_down[k])]] = max(b - x, 0.0)
    return values


def _with_changes(plan: Plan, baseline: pd.DataFrame | None, baseline_run: int | None) -> Plan:
    if plan.objective is None:
        return plan
    return replace(plan, changes=decision_changes(baseline, plan.decisions),
                   baseline_run=baseline_run)


def _change_count(plan: Plan) -> int:
    """The changes of a plan that has an objective, so _with_changes gave it its changes."""
    count = plan.change_count
    assert count is not None, "a plan with an objective carries its changes (_with_changes)"
    return count


__all__ = ["ReplanError", "checked_baseline", "replan"]

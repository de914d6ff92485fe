"""Stable re-plans: among plans within (1 + R) of the optimum, one with the fewest changes.

docs/design.md section 7 and models/replanning.md. The baseline is the decisions of an earlier plan
(the latest successful run in the history). One persistent model serves every solve:

1. the cost model (the exact objective); its value C* is the optimum (the incumbent at the gap);
   then the baseline's own decisions, fixed: if that plan costs at most (1 + R) C*, it is kept
   (zero changes cannot be beaten);
2. otherwise, on the same HiGHS object: the cost row `cost_within_tolerance` (annual cost <=
   (1 + R) C*) becomes binding and the objective becomes `fewest_changes` (sum |decision -
   baseline| plus a tie-break < 1 that prefers the cheaper plan), warm-started from the first
   solve's plan; 3. the cheapest flows for the decisions found.

Deviation variables exist only where the baseline has a decision (b > 0); elsewhere |x - 0| is x
itself. Baseline decisions the current model cannot take (a site removed or renamed, a tier no
longer allowed) are changes whatever the plan does: a constant.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import replace

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from planner.model.decisions import decision_changes, model_key, normalise
from planner.errors import InfeasibleError, PlannerError
from planner.model.families import cost_terms, linear_sum, system_cost
from planner.results.plan import Plan
from planner.scenario.loading import Scenario
from planner.scenario.schema import DECISION_COLUMNS, DECISIONS   # a decision kind names its variable

TIE_BREAK = 0.5   # the cost term of fewest_changes stays below this: it never outweighs a change


def baseline_amounts(m: pyo.ConcreteModel, baseline: pd.DataFrame) -> tuple[dict, float]:
    """{(variable name, key): amount} of the baseline decisions the model has, and the sum of the
    amounts of those it has not (each a change whatever the plan does)."""
    present, absent = {}, 0.0
    for row in checked_baseline(baseline).itertuples(index=False):   # one row per decision
        key = model_key(row.decision, row.site_id, row.resource, row.from_site)
        if key in getattr(m, row.decision):
            present[(row.decision, key)] = float(row.amount)
        else:
            absent += float(row.amount)
    return present, absent


# --- the re-planning block (models/replanning.md) ---------------------------------------------
def add_change_variables(m: pyo.ConcreteModel, present: dict) -> None:
    """change_up[k], change_down[k] >= 0 for each baseline decision k the model has (b_k > 0).

    BASELINE numbers those decisions; `m.baseline_decision[k]` is (variable name, its index)."""
    m.baseline_decision = sorted(present)
    m.BASELINE = pyo.Set(initialize=range(len(present)), ordered=True)
    m.baseline_amount = pyo.Param(m.BASELINE, mutable=True,
                                  initialize={k: present[d]
                                              for k, d in enumerate(m.baseline_decision)})
    m.change_up = pyo.Var(m.BASELINE, domain=pyo.NonNegativeReals)
    m.change_down = pyo.Var(m.BASELINE, domain=pyo.NonNegativeReals)


def baseline_variable(m: pyo.ConcreteModel, k: int):
    name, key = m.baseline_decision[k]
    return getattr(m, name)[key]


def add_baseline_deviation(m: pyo.ConcreteModel) -> None:
    """x_k - change_up[k] + change_down[k] = baseline_amount[k] for each k in BASELINE."""
    m.baseline_deviation = pyo.Constraint(m.BASELINE, rule=lambda m, k: linear_sum(
        [baseline_variable(m, k), -m.change_up[k], m.change_down[k]]) == m.baseline_amount[k])


def add_cost_within_tolerance(m: pyo.ConcreteModel, inp) -> None:
    """system_cost <= cost_ceiling; the ceiling is +inf for the first (cost) solve and
    (1 + R) C* for the second."""
    m.cost_ceiling = pyo.Param(mutable=True, initialize=math.inf)
    m.cost_within_tolerance = pyo.Constraint(expr=system_cost(m, inp) <= m.cost_ceiling)


def changes_expression(m: pyo.ConcreteModel, absent: float):
    """sum over decisions of |x - b|: x where b = 0, change_up + change_down where b > 0, and
    the baseline decisions the model cannot take (a constant)."""
    in_baseline = set(m.baseline_decision)
    terms = [v for name in DECISIONS for key, v in getattr(m, name).items()
             if (name, key) not in in_baseline]
    terms += [m.change_up[k] for k in m.BASELINE] + [m.change_down[k] for k in m.BASELINE]
    return linear_sum(terms + ([absent] if absent else []))


def add_fewest_changes(m: pyo.ConcreteModel, inp, absent: float) -> None:
    """min changes + cost_weight * system_cost, cost_weight = TIE_BREAK / cost_ceiling (the
    cost term stays below 1, so it only breaks ties between plans with equal changes).
    Deactivated until the second solve."""
    m.cost_weight = pyo.Param(mutable=True, initialize=0.0)
    m.changes = pyo.Expression(expr=changes_expression(m, absent))
    tie_break = [(m.cost_weight * c) * v for c, v in cost_terms(m, inp)]
    m.fewest_changes = pyo.Objective(expr=linear_sum(list(m.changes.expr.args) + tie_break),
                                     sense=pyo.minimize)
    m.fewest_changes.deactivate()


def add_replanning_block(m: pyo.ConcreteModel, inp, baseline: pd.DataFrame) -> None:
    present, absent = baseline_amounts(m, baseline)
    add_change_variables(m, present)
    add_baseline_deviation(m)
    add_cost_within_tolerance(m, inp)
    add_fewest_changes(m, inp, absent)


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
    from planner.planning.session import PlanningSession

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


class ReplanError(PlannerError):
    """A baseline or tolerance that cannot be used (exit 2)."""

    exit_code = 2


def checked_baseline(baseline: pd.DataFrame) -> pd.DataFrame:
    """The baseline decisions, normalised (duplicates summed); a ReplanError for unknown kinds
    or amounts that are not whole numbers >= 0."""
    missing = [c for c in DECISION_COLUMNS if c not in baseline.columns]
    if missing:
        raise ReplanError(f"the baseline decisions lack the column(s) {missing}; they need "
                          f"{DECISION_COLUMNS} (a plan's decisions.csv).")
    unknown = sorted(set(baseline["decision"].astype(str)) - set(DECISIONS))
    if unknown:
        raise ReplanError(f"the baseline has unknown decision(s) {unknown}; known: "
                          f"{list(DECISIONS)}.")
    amount = pd.to_numeric(baseline["amount"], errors="coerce")
    bad = amount.isna() | ~np.isfinite(amount) | (amount < 0) | (amount != amount.round())
    if bad.any():
        raise ReplanError(f"the baseline has amounts that are not whole numbers >= 0 "
                          f"({baseline['amount'][bad].iloc[0]!r}); a decision's amount counts "
                          "units or days.")
    return normalise(baseline)


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
                                               first_plan.change_count)
                logged.update(plan_status=second.status)
            if second.objective is None:   # nothing better found in time: the optimum stands
                return first_plan
            with step("solve.flows"):
                plan = _with_changes(_cheapest_service(session), baseline, baseline_run)
        except InfeasibleError:   # numerically too tight for HiGHS: the cost optimum stands
            return first_plan
    if plan.objective is None or plan.change_count > first_plan.change_count:
        return first_plan     # never worse than the start it was given
    # the gap of what was minimised, against the first solve's lower bound on it
    value, bound = session.last_result.objective, first_result.bound
    gap = None if bound is None else max(0.0, (value - bound) / max(abs(value), 1e-9))
    status = first.status if first.status != "optimal" else second.status
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


__all__ = ["replan"]

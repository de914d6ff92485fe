"""The re-planning block of the model: change variables, the cost ceiling and the fewest-changes
objective (models/replanning.md). A PlanningSession built with a baseline adds it
(planner.planning.session); planner.planning.replanning runs the solves on it.

Deviation variables exist only where the baseline has a decision (b > 0); elsewhere |x - 0| is x
itself. Baseline decisions the current model cannot take (a site removed or renamed, a tier no
longer allowed) are changes whatever the plan does: a constant.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo

from planner.errors import PlannerError
from planner.model.decisions import model_key, normalise
from planner.model.families import cost_terms, linear_sum, system_cost
from planner.scenario.schema import DECISION_COLUMNS, DECISIONS  # a kind names its variable

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

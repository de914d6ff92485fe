"""A re-solve in one persistent PlanningSession equals a fresh solve of the same variant (issue 7).

Whatever `Scenario.with_` can change (every flat setting of SETTING_PATHS, and table edits), the
session either pushes the change into its model or rebuilds; either way the plan must be the one
a fresh `planner.solve` of the variant finds.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner
import toy
from planner.planning.session import PlanningSession
from planner.scenario.loading import SETTING_PATHS


def decisions(plan) -> dict:
    eq = plan.equipment.set_index("site_id")
    days = plan.specialist_days.set_index(["site_id", "specialty"])
    cols = [c for c in ("new", "relocated_in", "relocated_out", "total") if c in eq]
    return {"equipment": eq[cols].round(6).to_dict(),
            "days": days["outreach_days"].round(6).to_dict()}


def assert_same_plan(session_plan, fresh_plan, label=""):
    assert session_plan.status == fresh_plan.status, label
    assert math.isclose(session_plan.objective, fresh_plan.objective, rel_tol=1e-6), \
        f"{label}: session {session_plan.objective} != fresh {fresh_plan.objective}"
    assert decisions(session_plan) == decisions(fresh_plan), label


def check(session, variant, label=""):
    """The session's plan of `variant` is a fresh solve's (or both find it infeasible)."""
    try:
        fresh = planner.solve(variant)
    except planner.InfeasibleError:
        with pytest.raises(planner.InfeasibleError):
            session.solve(variant)
        return
    assert_same_plan(session.solve(variant), fresh, label)


# with a [fund] (docs/design.md section 8), so that its settings vary too (accounts only: they
# never change the plan)
FUND = {"capitation": 600.0, "reimbursement": {"county": 0.65, "township": 0.85, "outside": 0.5}}
# and central reading (docs/design.md section 9), the centre at the county hospital
READING = {"reads_per_radiologist": 8000.0, "radiologist_cost": 3e5, "centres": ["S_H"]}
BASE = toy.consortium(townships=2).with_(**FUND, **READING)


def _edit(scenario, table, column, row, value):
    frame = scenario.tables[table].copy()
    if column not in frame:
        frame[column] = np.nan
    frame[column] = frame[column].astype(float)
    frame.loc[frame.index[row], column] = value
    return {table: frame}


# (setting name, values) for every flat setting of Scenario.with_ (`name` changes no model)
SETTING_VALUES = {
    "name": ["toy renamed"],
    "currency": ["EUR"],
    "budget": [0.0, 1e6, 3e6, 2e7],
    "discount_rate": [0.0, 0.05, 0.12],
    "speed_kmh": [25.0, 40.0, 80.0],
    "circuity": [1.0, 1.3, 1.8],
    "value_per_minute": [0.0, 1.0, 4.0],
    "grassroots_tiers": [[], ["township"], ["county", "township"]],
    "min_outreach_days": [{}, {"cardiology": 12}, {"cardiology": 40}],
    "urgent_soft": [False, True],
    "penalty_per_zone": [1e4, 2e6],
    "cost_per_late_case": [0.0, 8000.0],
    "shortfall_priced_as": ["buy-in", "referrals"],
    "shortfall_cost_factor": [0.0, 5.0],
    "equity_max_minutes": [{}, {"CT": 60.0, "cardiology": 60.0}],
    "min_served_share": [{}, {"CT": 0.5}, {"CT": 0.9, "cardiology": 0.6}],
    "equity_penalty_per_zone": [0.0, 5e6],
    "penalty_per_unit": [0.0, 2e4],
    "min_in_county_share": [{}, {"CT": 0.5}, {"CT": 0.99, "cardiology": 0.9}],
    "min_grassroots_share": [{}, {"cardiology": 0.4}, {"CT": 0.5, "cardiology": 0.8}],
    "capitation": [0.0, 600.0],
    "insured_share": [1.0, 0.9],
    "other_spending": [0.0, 1e6],
    "reimbursement": [FUND["reimbursement"], {"county": 0.5, "township": 0.9, "outside": 0.3}],
    "lead_member": [None, "H"],
    "surplus_to_lead": [0.0, 0.6],
    "surplus_rule": ["policy", "allocation"],
    "reads_per_radiologist": [3000.0, 8000.0, 40000.0],
    "radiologist_cost": [0.0, 3e5, 5e6],
    "centres": [["S_H"], ["S_H", "S_T1"]],
    "time_limit": [30.0, 60.0],
    "mip_gap": [0.0, 1e-6],
    "threads": [1],
    "seed": [0, 1],
    "presolve": [True, False],
    "construction_start": [True, False],
    "aggregate_zones": [1000, 3],
    "kind": ["county", "telemedicine"],
}
assert set(SETTING_VALUES) == set(SETTING_PATHS), "a new with_ setting needs a test value"

# table edits: name -> (table, column, row, values)
TABLE_EDITS = {
    "population": ("zones", "population", 0, [0.0, 2000.0, 20000.0]),
    "capex": ("equipment", "capex", 0, [5e5, 2.5e6, 8e6]),
    "lifetime": ("equipment", "lifetime_years", 0, [3.0, 8.0]),
    "opex": ("equipment", "opex_per_year", 0, [1e5, 9e5]),
    "capacity": ("equipment", "capacity_per_year", 0, [300.0, 20000.0]),
    "utilization": ("equipment", "max_utilization", 0, [0.05, 0.85]),
    "cost_per_exam": ("equipment", "cost_per_exam", 0, [0.0, 40.0, 400.0]),
    "referral_cost": ("equipment", "referral_cost", 0, [100.0, 3000.0]),
    "relocation_cost": ("equipment", "relocation_cost", 0, [np.nan, 1e4, 2e5]),
    "max_per_site": ("equipment", "max_per_site", 0, [np.nan, 1.0, 3.0]),
    "max_minutes": ("equipment", "max_minutes", 0, [np.nan, 15.0]),
    "ct_units": ("resources", "amount", 0, [1.0, 2.0, 4.0]),
    "outreach_pool": ("resources", "amount", 1, [10.0, 200.0]),
    "clinic_visits": ("resources", "amount", 2, [100.0, 3000.0]),
    "capital_limit": ("sites", "capital_limit", 1, [np.nan, 0.0, 3e6]),
    "budget_contribution": ("members", "budget_contribution", 0, [0.0, 3e6]),
    "cost_per_day": ("specialties", "cost_per_day", 0, [200.0, 1500.0]),
    "visits_per_day": ("specialties", "visits_per_day", 0, [5.0, 20.0]),
    "sp_referral_cost": ("specialties", "referral_cost", 0, [50.0, 400.0]),
    "cases": ("conditions", "cases_per_1000", 0, [0.0, 3.5, 10.0]),
    "urgent_minutes": ("conditions", "urgent_minutes", 0, [20.0, 45.0, 90.0]),
}

change = st.one_of(
    st.sampled_from(sorted(SETTING_VALUES)).flatmap(
        lambda name: st.tuples(st.just("setting"), st.just(name),
                               st.sampled_from(range(len(SETTING_VALUES[name]))))),
    st.sampled_from(sorted(TABLE_EDITS)).flatmap(
        lambda name: st.tuples(st.just("table"), st.just(name),
                               st.sampled_from(range(len(TABLE_EDITS[name][3]))))),
)


def apply_change(scenario, c):
    kind, name, k = c
    if kind == "setting":
        return scenario.with_(**{name: SETTING_VALUES[name][k]})
    table, column, row, values = TABLE_EDITS[name]
    return scenario.with_(tables=_edit(scenario, table, column, row, values[k]))


@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.lists(change, min_size=1, max_size=3), min_size=1, max_size=4))
def test_session_resolve_equals_fresh_solve(steps):
    session = PlanningSession(BASE)
    assert_same_plan(session.solve(), planner.solve(BASE), "base")
    for step in steps:
        variant = BASE
        for c in step:
            try:
                variant = apply_change(variant, c)
            except planner.ScenarioError:
                pass     # an edit the validation refuses is simply not made
        check(session, variant, repr(step))


@pytest.mark.parametrize("name", sorted(SETTING_VALUES))
def test_every_setting_alone(name):
    """Each with_ setting, each value, one after the other on one session."""
    session = PlanningSession(BASE)
    session.solve()
    for value in SETTING_VALUES[name] + [SETTING_VALUES[name][0]]:
        variant = BASE.with_(**{name: value})
        check(session, variant, f"{name}={value}")


@pytest.mark.parametrize("name", sorted(TABLE_EDITS))
def test_every_table_edit_alone(name):
    """Each table edit, each value, one after the other on one session."""
    session = PlanningSession(BASE)
    session.solve()
    for k in [*range(len(TABLE_EDITS[name][3])), 0]:
        variant = apply_change(BASE, ("table", name, k))
        check(session, variant, f"{name}[{k}]")


def test_grassroots_tiers_off_on_the_toy():
    variant = BASE.with_(grassroots_tiers=[])
    session = PlanningSession(BASE)
    session.solve()
    assert_same_plan(session.solve(variant), planner.solve(variant), "grassroots_tiers=[]")


def test_solver_settings_of_a_variant_are_used():
    session = PlanningSession(BASE)
    session.solve()
    session.solve(BASE.with_(time_limit=7.0, seed=3))
    assert session.options.time_limit == 7.0 and session.options.seed == 3


@pytest.mark.slow
def test_default_scenario_grassroots_off():
    """Issue 7: on the default scenario the session returned the old plan."""
    scenario = planner.load_scenario()
    variant = scenario.with_(grassroots_tiers=[])
    session = PlanningSession(scenario)
    session.solve()
    assert_same_plan(session.solve(variant), planner.solve(variant), "grassroots_tiers=[]")

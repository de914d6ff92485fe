"""Arc pruning (planner/model/pruning.py, models/allocation.md "Arc pruning"): a zone's arcs
farther than its nearest anchor (existing units that cannot move, or clinic visits, with room for
every zone that keeps an arc to them) are left out, and the optimum does not change.

Checked against a brute force written here (every placement of the new or moved units, the
flows of each by scipy's linprog on ALL arcs) and against the planner with pruning switched off;
the adversarial cases are those where a naive rule (every existing unit an anchor) would be
wrong: the anchor's capacity binds, its unit may be relocated, a grassroots target counts the
flows at the farther site. In each the naive rule's own optimum (the brute force on the naive
arcs) is shown to be worse, and the planner keeps the arcs.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from planner.model.goals import goal_inputs
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession
from planner.scenario.loading import from_tables
from tests import toy

SITES = ["H", "T1", "T2"]
# minutes zone -> site: H (county hospital, one existing CT) is nearest for Z1, Z4 (and Z2's
# second nearest); a naive rule drops Z1-T1, Z1-T2, Z2-T2 and Z4-T1
MINUTES = {"Z1": [5, 20, 30], "Z2": [10, 3, 40], "Z3": [30, 12, 8], "Z4": [8, 25, 6],
           "Z5": [45, 9, 35]}
DEMAND = 100.0          # CT exams a year per zone (1,000 residents x 100 per 1,000)
REFERRAL = 50.0
CAPEX, OPEX = 1000.0, 100.0


class UnprunedSession(PlanningSession):
    """The planner's own route with pruning switched off (model_inputs(prune=False))."""

    def _inputs(self, scenario):
        return goal_inputs(model_inputs(scenario, prune=False), self.goal)


def case(capacity=10_000.0, budget=1000.0, relocation_cost=None, grassroots_share=None,
         minutes=None, existing=None):
    minutes = minutes or MINUTES
    existing = existing or {"H": 1}
    t = toy.tables(len(minutes))
    t["sites"] = pd.DataFrame({"site_id": SITES, "name": SITES, "member": ["MH", "M1", "M2"],
                               "tier": ["county", "township", "township"],
                               "lon": 119.0, "lat": 32.7})
    t["members"] = pd.DataFrame({"member": ["MH", "M1", "M2"], "name": ["h", "t1", "t2"],
                                 "budget_contribution": 0.0})
    t["zones"] = pd.DataFrame({"zone_id": list(minutes), "lon": 119.0, "lat": 32.7,
                               "population": 1000.0})
    t["equipment"] = pd.DataFrame({
        "equipment": ["CT"], "capex": [CAPEX], "lifetime_years": [1.0], "opex_per_year": [OPEX],
        "capacity_per_year": [capacity], "max_utilization": [1.0], "cost_per_exam": [0.0],
        "referral_cost": [REFERRAL], "max_per_site": [1],
        "relocation_cost": [np.nan if relocation_cost is None else relocation_cost]})
    t["resources"] = pd.DataFrame({"site_id": list(existing), "resource": "CT",
                                   "amount": [float(v) for v in existing.values()]})
    t["travel"] = toy.travel({(z, i): m for z, row in minutes.items()
                              for i, m in zip(SITES, row)})
    settings = {"budget": budget}
    if grassroots_share is not None:
        settings["tiers"] = {"min_grassroots_share": {"CT": grassroots_share}}
    return from_tables(toy.settings(**settings), t, "pruning toy")


def flow_cost(units: dict, arcs: set, capacity: float, grassroots_share=None,
              minutes=None) -> float:
    """The cheapest flows for the units in service (an LP on `arcs`, (zone, site) pairs):
    each zone's demand served at sites with units or referred, capacity per unit, and the
    grassroots share (T1, T2) when given."""
    minutes = minutes or MINUTES
    zones = list(minutes)
    cols = [(z, i) for z in zones for i in SITES if (z, i) in arcs and units.get(i, 0) > 0]
    n = len(cols) + len(zones)
    cost = [minutes[z][SITES.index(i)] for z, i in cols] + [REFERRAL] * len(zones)
    a_eq = np.zeros((len(zones), n))
    for c, (z, _) in enumerate(cols):
        a_eq[zones.index(z), c] = 1.0
    a_eq[:, len(cols):] = np.eye(len(zones))
    a_ub, b_ub = [], []
    for i in SITES:
        a_ub.append([1.0 if s == i else 0.0 for _, s in cols] + [0.0] * len(zones))
        b_ub.append(capacity * units.get(i, 0))
    if grassroots_share is not None:
        a_ub.append([-1.0 if s != "H" else 0.0 for _, s in cols] + [0.0] * len(zones))
        b_ub.append(-grassroots_share * DEMAND * len(zones))
    res = linprog(cost, A_ub=np.array(a_ub), b_ub=b_ub, A_eq=a_eq,
                  b_eq=[DEMAND] * len(zones), bounds=(0, None), method="highs")
    return res.fun if res.status == 0 else math.inf


def brute_force(arcs: set, capacity=10_000.0, budget=1000.0, relocation_cost=None,
                grassroots_share=None, minutes=None, existing=None) -> float:
    """Every plan of units (new units within the budget, at most one a site, the existing
    unit kept or moved when it may be), each with its cheapest flows."""
    existing = existing or {"H": 1}
    best = math.inf
    for new in itertools.product([0, 1], repeat=len(SITES)):
        moves = [None] + ([i for i in SITES if i != "H"] if relocation_cost is not None else [])
        for to in moves:
            units = {i: existing.get(i, 0) + n for i, n in zip(SITES, new)}
            capital = CAPEX * sum(new) + (relocation_cost or 0.0) * (to is not None)
            if to is not None:
                units["H"] -= 1
                units[to] += 1
            if capital > budget + 1e-9 or max(units.values()) > 1:
                continue
            fixed = CAPEX * sum(new) + OPEX * sum(units.values()) + \
                (relocation_cost or 0.0) * (to is not None)
            best = min(best, fixed + flow_cost(units, arcs, capacity, grassroots_share,
                                               minutes))
    return best


def all_arcs(minutes=None) -> set:
    return {(z, i) for z in (minutes or MINUTES) for i in SITES}


def naive_arcs(minutes=None, anchors=("H",)) -> set:
    """A naive rule: every arc farther than the zone's nearest existing unit is dropped."""
    minutes = minutes or MINUTES
    kept = set()
    for z, row in minutes.items():
        nearest = min(row[SITES.index(j)] for j in anchors)
        kept |= {(z, i) for i, m in zip(SITES, row) if m <= nearest}
    return kept


def arcs_of(scenario, prune=True) -> set:
    arcs = model_inputs(scenario, prune=prune).arcs
    return set(zip(arcs["zone_id"], arcs["site_id"]))


def test_arcs_beyond_a_roomy_anchor_are_dropped_and_the_optimum_stays():
    scenario = case()
    kept = arcs_of(scenario)
    assert kept == naive_arcs()                      # H holds all 500 exams: a real anchor
    assert all_arcs() - kept == {("Z1", "T1"), ("Z1", "T2"), ("Z2", "T2"), ("Z4", "T1")}
    assert arcs_of(scenario, prune=False) == all_arcs()
    plan = planner.solve(scenario)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(brute_force(all_arcs()), rel=1e-9)
    unpruned = UnprunedSession(scenario).solve()
    assert plan.objective == pytest.approx(unpruned.objective, rel=1e-9)


# Z1-Z3 are nearest to H and next to T1: H's unit holds 250 of their 300 exams
CROWDED = {"Z1": [5, 10, 40], "Z2": [6, 12, 40], "Z3": [7, 11, 40], "Z4": [40, 15, 9],
           "Z5": [45, 9, 35]}


def test_a_binding_anchor_keeps_every_arc():
    """H's unit holds 250 exams of the 500 that can reach it: not an anchor. The naive rule
    refers the 50 exams H cannot hold (their arcs to T1 dropped); the planner sends them to T1."""
    scenario = case(capacity=250.0, minutes=CROWDED)
    assert arcs_of(scenario) == all_arcs(CROWDED)
    truth = brute_force(all_arcs(CROWDED), capacity=250.0, minutes=CROWDED)
    naive = brute_force(naive_arcs(CROWDED), capacity=250.0, minutes=CROWDED)
    assert naive > truth + 1.0
    assert planner.solve(scenario).objective == pytest.approx(truth, rel=1e-9)


def test_a_unit_that_may_be_relocated_is_no_anchor():
    """H's unit may move (relocation_cost 10, the whole budget): the optimum moves it to T1,
    where Z1 needs its arc to T1 that a naive rule drops."""
    scenario = case(budget=10.0, relocation_cost=10.0)
    assert arcs_of(scenario) == all_arcs()
    truth = brute_force(all_arcs(), budget=10.0, relocation_cost=10.0)
    assert brute_force(naive_arcs(), budget=10.0, relocation_cost=10.0) > truth + 1.0
    plan = planner.solve(scenario)
    assert plan.objective == pytest.approx(truth, rel=1e-9)
    assert set(plan.flows.loc[plan.flows["zone_id"] == "Z1", "site_id"]) == {"T1"}


def test_a_grassroots_target_keeps_the_arcs_of_its_service():
    """90% of CT exams at the townships: Z1 must go to T1 or T2; the naive arcs make the target
    unreachable (no plan), the planner keeps them."""
    scenario = case(budget=2000.0, grassroots_share=0.9)
    assert arcs_of(scenario) == all_arcs()
    truth = brute_force(all_arcs(), budget=2000.0, grassroots_share=0.9)
    assert math.isfinite(truth)
    assert brute_force(naive_arcs(), budget=2000.0, grassroots_share=0.9) == math.inf
    assert planner.solve(scenario).objective == pytest.approx(truth, rel=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_random_cases_equal_the_brute_force(seed):
    """Random minutes, existing units at one or two sites, capacities that bind or not: the
    planner (pruned) equals the brute force on all arcs, the arcs it drops are beyond an
    existing unit, and its flows are used arcs only."""
    rng = np.random.default_rng(seed)
    minutes = {f"Z{k + 1}": [int(x) for x in rng.integers(1, 60, len(SITES))] for k in range(6)}
    existing = {i: 1 for i in SITES[:1 + seed % 2]}
    capacity = float(rng.choice([250.0, 450.0, 700.0, 10_000.0]))
    scenario = case(capacity=capacity, minutes=minutes, existing=existing)
    kept = arcs_of(scenario)
    assert naive_arcs(minutes, tuple(existing)) <= kept
    plan = planner.solve(scenario)
    truth = brute_force(all_arcs(minutes), capacity=capacity, minutes=minutes,
                        existing=existing)
    assert plan.objective == pytest.approx(truth, rel=1e-9)
    assert (plan.flows["units"] > 0).all()
    assert set(zip(plan.flows["zone_id"], plan.flows["site_id"])) <= kept


def test_some_random_cases_are_pruned():
    """The random cases above do exercise the rule: capacity 10,000 makes every existing unit
    an anchor."""
    pruned = 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        minutes = {f"Z{k + 1}": [int(x) for x in rng.integers(1, 60, len(SITES))]
                   for k in range(6)}
        existing = {i: 1 for i in SITES[:1 + seed % 2]}
        capacity = float(rng.choice([250.0, 450.0, 700.0, 10_000.0]))
        pruned += len(all_arcs(minutes) - arcs_of(case(capacity=capacity, minutes=minutes,
                                                       existing=existing)))
    assert pruned > 0


def test_the_same_plan_twice():
    scenario = case()
    first, second = planner.solve(scenario), planner.solve(scenario)
    pd.testing.assert_frame_equal(first.flows.reset_index(drop=True),
                                  second.flows.reset_index(drop=True))

"""Tiny instances whose optimal plan is known by hand or by brute force, one or more per
constraint family of models/allocation.md."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pandas as pd
import pytest

import planner
from planner.errors import InfeasibleError
from toy import capital_conflict, scenario, tables, travel

CT_YEAR = 1000.0 + 100.0  # toy CT: capex 1000 over 1 year at 0% + opex 100


def units(plan, site, equipment="CT") -> int:
    table = plan.equipment
    rows = table[(table.site_id == site) & (table.equipment == equipment)]
    return int(rows["total"].sum())


def brute_force_cost(minutes: np.ndarray, demand: float, referral: float, open_sites) -> float:
    """Uncapacitated: each zone goes to its cheapest open site, or is referred out."""
    cost = CT_YEAR * len(open_sites)
    for row in minutes:
        best = min([row[i] for i in open_sites], default=np.inf)
        cost += demand * min(best, referral)
    return cost


@pytest.mark.parametrize("seed", range(6))
def test_which_site_gets_the_ct_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    minutes = rng.uniform(1, 60, size=(3, 2)).round(1)
    zones, sites = ["Z1", "Z2", "Z3"], ["H", "T"]
    tr = travel({(z, i): minutes[a, b] for a, z in enumerate(zones) for b, i in enumerate(sites)})
    eq = tables()["equipment"].assign(max_per_site=1)
    plan = planner.solve(scenario({"budget": 2000.0}, travel=tr, equipment=eq))
    best = min((brute_force_cost(minutes, 100.0, 50.0, s), s)
               for r in range(3) for s in itertools.combinations(range(2), r))
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(best[0])
    assert sorted(i for i in sites if units(plan, i) == 1) == [sites[k] for k in best[1]]


def test_hand_example_township_gets_the_ct():
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 12})
    plan = planner.solve(scenario({"budget": 1000.0}, travel=tr))
    # no CT: 300 exams x 50 = 15,000; CT at H: 1,100 + 100 x (5+30+35) = 8,100;
    # CT at T: 1,100 + 100 x (40+10+12) = 7,300
    assert units(plan, "T") == 1 and units(plan, "H") == 0
    assert plan.objective == pytest.approx(7300.0)
    assert plan.costs["annual_capital"] == pytest.approx(1000.0)


def test_equipment_capacity_with_max_utilization():
    eq = tables()["equipment"].assign(capacity_per_year=40.0, max_utilization=0.5,
                                      referral_cost=100.0, max_per_site=10)
    one_zone = tables(1)["zones"]
    tr = travel({("Z1", "H"): 0.0, ("Z1", "T"): 500.0})
    plan = planner.solve(scenario({"budget": 1e6}, equipment=eq, zones=one_zone, travel=tr))
    # 100 exams, 20 usable exams per unit: 5 units (5 x 1,100) beat referral (100 per exam)
    assert units(plan, "H") == 5
    row = plan.equipment[plan.equipment.site_id == "H"].iloc[0]
    assert row["utilization"] == pytest.approx(0.5)
    assert plan.objective == pytest.approx(5 * CT_YEAR)


def test_max_per_site_caps_units_in_service():
    eq = tables()["equipment"].assign(capacity_per_year=40.0, max_utilization=0.5,
                                      referral_cost=100.0, max_per_site=3)
    one_zone = tables(1)["zones"]
    tr = travel({("Z1", "H"): 0.0, ("Z1", "T"): 500.0})
    plan = planner.solve(scenario({"budget": 1e6}, equipment=eq, zones=one_zone, travel=tr))
    assert units(plan, "H") == 3
    assert plan.objective == pytest.approx(3 * CT_YEAR + 40 * 100.0)


def test_capital_budget_below_one_unit_buys_nothing():
    plan = planner.solve(scenario({"budget": 999.0}))
    assert plan.equipment["total"].sum() == 0
    assert plan.kpis["in_county_rate"] == pytest.approx(0.0)
    assert plan.objective == pytest.approx(300 * 50.0)


def test_allowed_tiers_keep_new_units_at_county_sites():
    tr = travel({(z, "H"): 30.0 for z in ("Z1", "Z2", "Z3")} |
                {(z, "T"): 1.0 for z in ("Z1", "Z2", "Z3")})
    eq = tables()["equipment"].assign(allowed_tiers="county")
    plan = planner.solve(scenario({"budget": 1e6}, travel=tr, equipment=eq))
    assert units(plan, "T") == 0 and units(plan, "H") == 1


def _cardiology_only(**changes):
    cs = pd.DataFrame({"condition": ["scan"], "service": ["cardiology"], "units_per_case": [0.5]})
    tr = travel({(z, i): 1.0 for z in ("Z1", "Z2", "Z3") for i in ("H", "T")})
    return scenario(changes.pop("settings", None), condition_services=cs, travel=tr,
                    **changes) if changes else scenario(None, condition_services=cs, travel=tr)


def test_specialist_capacity_and_supply():
    res = pd.DataFrame({"site_id": ["H", "H"],
                        "resource": ["cardiology.clinic_visits", "cardiology.outreach_days"],
                        "amount": [40.0, 5.0]})
    plan = planner.solve(_cardiology_only(resources=res))
    # 150 visits: 40 in the clinic, 5 days x 10 visits, 60 referred (30 each, cheaper than
    # nothing); travel 1 per visit served
    days = plan.specialist_days["outreach_days"].sum()
    assert days == 5
    assert plan.kpis["in_county_rate"] == pytest.approx(90 / 150)
    assert plan.objective == pytest.approx(5 * 100 + 90 * 1.0 + 60 * 30)


def test_policy_minimum_outreach_days_at_grassroots_sites():
    res = pd.DataFrame({"site_id": ["H"], "resource": ["cardiology.outreach_days"],
                        "amount": [100.0]})
    zones = tables()["zones"].assign(population=0.0)
    plan = planner.solve(scenario({"policy": {"grassroots_tiers": ["township"],
                                              "min_outreach_days": {"cardiology": 7}}},
                                  resources=res, zones=zones))
    days = plan.specialist_days.set_index("site_id")["outreach_days"]
    assert days["T"] == 7 and days["H"] == 0
    assert plan.costs["outreach"] == pytest.approx(700.0)


def test_existing_unit_relocates_only_with_a_relocation_cost():
    tr = travel({(z, "H"): 500.0 for z in ("Z1", "Z2", "Z3")} |
                {(z, "T"): 2.0 for z in ("Z1", "Z2", "Z3")})
    res = pd.DataFrame({"site_id": ["H"], "resource": ["CT"], "amount": [1.0]})
    movable = tables()["equipment"].assign(relocation_cost=200.0, max_minutes=60.0)
    plan = planner.solve(scenario({"budget": 199.0}, travel=tr, resources=res, equipment=movable))
    assert units(plan, "H") == 1  # a move is capital: 200 does not fit a budget of 199
    plan = planner.solve(scenario({"budget": 200.0}, travel=tr, resources=res, equipment=movable))
    assert units(plan, "T") == 1 and units(plan, "H") == 0
    assert plan.costs["relocation"] == pytest.approx(200.0)
    # opex 100 + move 200 + 300 exams x 2 minutes
    assert plan.objective == pytest.approx(100 + 200 + 600)

    fixed = tables()["equipment"].assign(max_minutes=60.0)
    plan = planner.solve(scenario({"budget": 200.0}, travel=tr, resources=res, equipment=fixed))
    assert units(plan, "H") == 1 and units(plan, "T") == 0
    assert plan.objective == pytest.approx(100 + 300 * 50.0)  # kept, unused; all referred


def _urgent(settings=None):
    conditions = pd.DataFrame({"condition": ["scan"], "cases_per_1000": [100.0],
                               "urgent_service": ["CT"], "urgent_minutes": [20.0]})
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 12})
    eq = tables()["equipment"].assign(referral_cost=1.0)
    return scenario({"budget": 1e6, **(settings or {})}, conditions=conditions, travel=tr,
                    equipment=eq)


def test_hard_urgent_coverage_forces_units_within_the_limit():
    plan = planner.solve(_urgent())
    # referral (1 per exam) is cheaper than any CT, but every zone needs a CT within 20 min
    assert units(plan, "H") == 1 and units(plan, "T") == 1
    assert plan.objective == pytest.approx(2 * CT_YEAR + 300 * 1.0)
    assert plan.urgent["covered"].all()


def test_soft_urgent_coverage_prices_and_reports_uncovered_zones():
    plan = planner.solve(_urgent({"urgent": {"soft": True, "penalty_per_zone": 500.0}}))
    # 3 x 500 penalty + 300 referral = 1,800 beats a CT at T (1,100 + 500 + 300 = 1,900)
    assert plan.kpis["urgent_uncovered_zones"] == 3
    assert plan.costs["uncovered_penalty"] == pytest.approx(1500.0)
    assert plan.objective == pytest.approx(300.0)  # the contract objective excludes the penalty


def test_travel_eligibility_keeps_far_pairs_out():
    eq = tables()["equipment"].assign(max_minutes=20.0)
    tr = travel({(z, "H"): 25.0 for z in ("Z1", "Z2", "Z3")} |
                {(z, "T"): 25.0 for z in ("Z1", "Z2", "Z3")})
    plan = planner.solve(scenario({"budget": 1e6}, travel=tr, equipment=eq))
    assert plan.flows.empty and plan.equipment["total"].sum() == 0


def test_urgent_zone_out_of_reach_is_explained():
    conditions = pd.DataFrame({"condition": ["scan"], "cases_per_1000": [1.0],
                               "urgent_service": ["CT"], "urgent_minutes": [3.0]})
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 2, ("Z2", "T"): 10,
                 ("Z3", "H"): 1, ("Z3", "T"): 12})
    with pytest.raises(InfeasibleError, match="Z1"):
        planner.solve(scenario({"budget": 1e6}, conditions=conditions, travel=tr))


def test_infeasibility_found_by_highs_names_the_families():
    # HiGHS's IIS names the families in conflict
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(capital_conflict())
    assert {"site_capital_limit", "urgent_coverage"} <= set(caught.value.families)
    assert "site_capital_limit[T]" in str(caught.value)


def test_time_limit_returns_the_best_plan_flagged():
    plan = planner.solve(planner.load_scenario(), time_limit=0.05)
    assert plan.status == "time_limit" and not plan.is_optimal
    if plan.objective is not None:
        assert "NOT proven optimal" in plan.summary()
        assert plan.bound <= plan.objective
        # how far from the best plan, in words: the distance to the bound, in M a year and in %
        words = re.search(r"costs at most ([\d,.]+) M CNY a year \(([\d.]+)%\) more than the "
                          r"best plan possible", plan.summary())
        assert words is not None
        above = plan.objective - plan.bound
        assert abs(float(words.group(1).replace(",", "")) - above / 1e6) <= 0.005
        assert abs(float(words.group(2)) - 100 * above / plan.objective) <= 0.005

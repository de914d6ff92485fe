"""The cost ledger (planner/model/ledger.py): one row per cost contribution, every cost table its
sum.

The references are independent of the planner's code: the exact objective of docs/design.md
section 5 written out below from the scenario's own tables and the plan's published tables, the
solver's own objective value, and the attribution rule of models/fair_division.md applied by hand.
"""

from __future__ import annotations

import pandas as pd
import pytest

import planner
from helpers import TINY, write_scenario
from planner.model.ledger import COLUMNS, PENALTY_TERMS
from planner.planning.session import PlanningSession
from planner.sharing.accounting import borne_costs
from toy import consortium


def annuity(r: float, years: float) -> float:
    """A(r, L) = r / (1 - (1 + r)^-L), A(0, L) = 1 / L (docs/design.md section 5)."""
    return 1.0 / years if r == 0 else r / (1.0 - (1.0 + r) ** -years)


def section5_terms(scenario, plan) -> dict[str, float]:
    """The exact objective of docs/design.md section 5, term by term, from the scenario's tables and
    the plan's published tables (equipment, specialist_days, flows, zones, decisions)."""
    eq = scenario.equipment.set_index("equipment")
    sp = scenario.specialties.set_index("specialty")
    r, vpm = scenario.settings.discount_rate, scenario.settings.travel.value_per_minute
    units = plan.equipment
    moved = plan.decisions[plan.decisions["decision"] == "relocated"]
    exam_cost = {k: float(eq.at[k, "cost_per_exam"]) for k in eq.index}   # no per-visit cost
    referral = {**eq["referral_cost"].to_dict(), **sp["referral_cost"].to_dict()}
    return {
        "annual_capital": sum(n * eq.at[e, "capex"] * annuity(r, eq.at[e, "lifetime_years"])
                              for e, n in zip(units["equipment"], units["new"])),
        "operating": sum(n * eq.at[e, "opex_per_year"]
                         for e, n in zip(units["equipment"], units["total"])),
        "relocation": sum(n * eq.at[e, "relocation_cost"]
                          for e, n in zip(moved["resource"], moved["amount"])),
        "outreach": sum(d * sp.at[s, "cost_per_day"] for s, d in
                        zip(plan.specialist_days["specialty"],
                            plan.specialist_days["outreach_days"])),
        "travel": sum(f * t * vpm for f, t in zip(plan.flows["units"], plan.flows["minutes"])),
        "service": sum(f * exam_cost.get(k, 0.0)
                       for f, k in zip(plan.flows["units"], plan.flows["service"])),
        "referral": sum(u * referral[k] for u, k in zip(plan.zones["unmet"],
                                                         plan.zones["service"])),
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return planner.load_scenario(write_scenario(tmp_path_factory.mktemp("tiny") / "s", **TINY))


@pytest.fixture(scope="module")
def small_plans(tiny):
    """Two small examples that between them use every term: the tiny county (referral) and
    the four-township toy consortium (new units at r = 5%, a relocation)."""
    county4 = consortium(4)
    return [(tiny, planner.solve(tiny)), (county4, planner.solve(county4))]


@pytest.fixture(scope="module")
def county():
    session = PlanningSession(planner.load_scenario(planner.default_scenario_path()))
    return session, session.solve()


def test_ledger_by_term_is_the_section_5_formula(small_plans):
    seen = set()
    for scenario, plan in small_plans:
        expected = section5_terms(scenario, plan)
        by_term = plan.costs_by("term")
        for term, amount in expected.items():
            assert by_term.get(term, 0.0) == pytest.approx(amount, rel=1e-9, abs=1e-6), term
            if amount > 0:
                seen.add(term)
        assert plan.objective == pytest.approx(sum(expected.values()), rel=1e-12)
    assert seen == set(section5_terms(*small_plans[0]))   # no term checked only as zero


@pytest.mark.parametrize("example", ["tiny", "county4", "default county"])
def test_ledger_total_is_the_objective(example, small_plans, county):
    if example == "default county":
        session, plan = county
    else:
        scenario, plan = small_plans[["tiny", "county4"].index(example)]
        session = PlanningSession(scenario)
        plan = session.solve()
    ledger = plan.ledger
    assert list(ledger.columns) == COLUMNS
    assert (ledger["amount"] != 0).all()
    assert plan.costs_by() == pytest.approx(plan.objective, rel=1e-12)   # no penalty priced
    # the solver's objective value (the MILP objective built from the same unit costs, on the
    # unrounded solution) agrees
    assert plan.costs_by() == pytest.approx(session.last_result.objective, rel=1e-9)
    # costs.csv is the ledger by term; by member and by site it adds up to the same total
    pd.testing.assert_series_equal(plan.costs[plan.costs != 0], plan.costs_by("term")
                                   .reindex(plan.costs.index[plan.costs != 0]),
                                   check_names=False)
    assert plan.costs_by("member").sum() == pytest.approx(plan.objective, rel=1e-12)
    assert plan.costs_by("member", "term").sum() == pytest.approx(plan.objective, rel=1e-12)


def test_members_bear_costs_by_the_attribution_rule(small_plans):
    """models/fair_division.md: capital, operating, relocation (receiving site), outreach and
    per-exam cost to the site's owner; travel and referral to the zone's home member."""
    scenario, plan = small_plans[1]
    owner = scenario.sites.set_index("site_id")["member"]
    home = plan.zones.drop_duplicates("zone_id").set_index("zone_id")["home_member"]
    ledger = plan.ledger
    at_site = ledger["term"].isin(["annual_capital", "operating", "relocation", "outreach",
                                   "service"])
    assert (ledger.loc[at_site, "member"] == ledger.loc[at_site, "site_id"].map(owner)).all()
    of_zone = ledger["term"].isin(["travel", "referral"])
    assert (ledger.loc[of_zone, "member"] == ledger.loc[of_zone, "zone_id"].map(home)).all()
    moved = plan.decisions[plan.decisions["decision"] == "relocated"]
    reloc = ledger[ledger["term"] == "relocation"]
    assert sorted(reloc["site_id"]) == sorted(moved["site_id"])   # the receiving site
    # travel by member, by hand from flows.csv
    travel = (plan.flows["units"] * plan.flows["minutes"]
              * scenario.settings.travel.value_per_minute).groupby(
        plan.flows["zone_id"].map(home)).sum()
    pd.testing.assert_series_equal(
        plan.costs_by("member", "term").xs("travel", level="term").sort_index(),
        travel.sort_index(), check_names=False, rtol=1e-9)


def test_borne_costs_group_the_ledger_by_member(small_plans):
    scenario, plan = small_plans[1]
    from planner.model.inputs import model_inputs
    borne = borne_costs(plan, model_inputs(scenario))
    by_member = plan.costs_by("member").reindex(borne.index, fill_value=0.0)
    fees = borne["fees_paid"] - borne["fees_received"]
    assert fees.sum() == pytest.approx(0.0, abs=1e-6) and fees.abs().sum() > 0
    pd.testing.assert_series_equal(borne["total"] - fees, by_member, check_names=False,
                                   rtol=1e-9)
    assert borne["total"].sum() == pytest.approx(plan.objective, rel=1e-9)


def test_a_priced_penalty_is_in_the_ledger_but_not_in_the_objective():
    from toy import scenario, tables, travel
    conditions = pd.DataFrame({"condition": ["scan"], "cases_per_1000": [100.0],
                               "urgent_service": ["CT"], "urgent_minutes": [20.0]})
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 12})
    eq = tables()["equipment"].assign(referral_cost=1.0)
    plan = planner.solve(scenario({"budget": 1e6, "urgent": {"soft": True,
                                                             "penalty_per_zone": 500.0}},
                                  conditions=conditions, travel=tr, equipment=eq))
    penalties = plan.ledger[plan.ledger["term"].isin(PENALTY_TERMS)]
    # 3 zones uncovered at 500 each, each charged to its zone's home member
    assert sorted(penalties["zone_id"]) == ["Z1", "Z2", "Z3"]
    assert (penalties["amount"] == 500.0).all() and (penalties["service"] == "CT").all()
    assert plan.costs_by() == pytest.approx(plan.objective + 1500.0)


def test_ledger_csv_is_the_ledger(small_plans, tmp_path):
    _, plan = small_plans[1]
    plan.save(tmp_path / "plan")
    written = pd.read_csv(tmp_path / "plan" / "ledger.csv", keep_default_na=False)
    assert list(written.columns) == COLUMNS and len(written) == len(plan.ledger)
    pd.testing.assert_frame_equal(written.drop(columns="amount"),
                                  plan.ledger.drop(columns="amount").astype(str),
                                  check_dtype=False)
    assert written["amount"].sum() == pytest.approx(plan.objective, rel=1e-9)


def test_costs_by_an_unknown_key_is_refused(small_plans):
    with pytest.raises(ValueError, match="cannot group the ledger by zone"):
        small_plans[0][1].costs_by("zone")

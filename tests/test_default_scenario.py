"""The embedded Tianchang scenario: every constraint family re-derived from the solved plan in
plain pandas (independently of the model code), the exact objective recomputed from the raw
tables, determinism and what-if re-solves."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import planner
from planner.planning.session import PlanningSession

TOL = 1e-6


@pytest.fixture(scope="module")
def scenario():
    return planner.load_scenario()


@pytest.fixture(scope="module")
def plan(scenario):
    return planner.solve(scenario)


def annuity(r, L):
    return 1 / L if r == 0 else r / (1 - (1 + r) ** -L)


def test_solves_to_optimality(plan):
    assert plan.status == "optimal"
    assert plan.mip_gap <= 1e-4
    assert plan.bound <= plan.objective * (1 + 1e-9)


def test_exact_objective_from_raw_tables(scenario, plan):
    eq = scenario.equipment.set_index("equipment")
    sp = scenario.specialties.set_index("specialty")
    r = scenario.settings.discount_rate
    vpm = scenario.settings.travel.value_per_minute
    e = plan.equipment
    capital = sum(n * eq.at[k, "capex"] * annuity(r, eq.at[k, "lifetime_years"])
                  for n, k in zip(e["new"], e["equipment"]))
    opex = sum(n * eq.at[k, "opex_per_year"] for n, k in zip(e["total"], e["equipment"]))
    moves = sum(n * eq.at[k, "relocation_cost"] for n, k in zip(e["relocated_in"],
                                                               e["equipment"]) if n)
    d = plan.specialist_days
    outreach = sum(n * sp.at[s, "cost_per_day"] for n, s in zip(d["outreach_days"], d["specialty"]))
    per_exam = eq["cost_per_exam"].to_dict()
    f = plan.flows
    flows = sum(u * (t * vpm + per_exam.get(k, 0.0))
                for u, t, k in zip(f["units"], f["minutes"], f["service"]))
    referral = {**eq["referral_cost"].to_dict(), **sp["referral_cost"].to_dict()}
    z = plan.zones
    unmet = sum(u * referral[k] for u, k in zip(z["unmet"], z["service"]))
    # site-bound exams (site_demand.csv, design section 9) cost cost_per_exam where they arise
    bound = scenario.site_demand
    site_bound = sum(u * per_exam[k] for u, k in zip(bound["units_per_year"], bound["service"]))
    # radiologists hired at the reading centre ([reading], design section 9)
    dec = plan.decisions
    hired = dec.loc[dec["decision"] == "hired_radiologists", "amount"].sum()
    reading = hired * scenario.settings.reading.radiologist_cost
    expected = capital + opex + moves + outreach + flows + unmet + site_bound + reading
    assert plan.objective == pytest.approx(expected, rel=1e-9)


def test_the_reading_centre_hires_the_fewest_radiologists_its_reads_need(scenario, plan):
    """Every exam (flows and site-bound) needs a read: recomputed here from the flows, the
    site-bound table and the radiologists, the centre must hire just enough for what the other
    sites cannot read themselves (hiring is the only reading cost, so an optimum hires no more)."""
    reading = scenario.settings.reading
    per = reading.reads_per_radiologist
    res = scenario.resources
    rads = res[res.resource == "radiologists"].set_index("site_id")["amount"].to_dict()
    equipment = set(scenario.equipment["equipment"])
    f = plan.flows[plan.flows["service"].isin(equipment)]
    exams = f.groupby("site_id")["units"].sum().add(
        scenario.site_demand.groupby("site_id")["units_per_year"].sum(), fill_value=0.0)
    centres = set(reading.centres)
    to_centre = sum(max(0.0, n - rads.get(i, 0.0) * per) for i, n in exams.items()
                    if i not in centres) + sum(exams.get(c, 0.0) for c in centres)
    own = sum(rads.get(c, 0.0) for c in centres) * per
    needed = max(0, math.ceil((to_centre - own) / per - 1e-9))
    dec = plan.decisions
    assert dec.loc[dec["decision"] == "hired_radiologists", "amount"].sum() == needed > 0


def test_constraints_rederived_from_the_plan(scenario, plan):
    eq = scenario.equipment.set_index("equipment")
    sp = scenario.specialties.set_index("specialty")
    # demand balance: served + unmet = demand
    z = plan.zones
    np.testing.assert_allclose(z["served"] + z["unmet"], z["demand"], rtol=1e-7, atol=1e-6)
    # units in service = existing + new + in - out; never negative
    e = plan.equipment
    assert (e["total"] == e["existing"] + e["new"] + e["relocated_in"] - e["relocated_out"]).all()
    assert (e["total"] >= 0).all() and (e["relocated_out"] <= e["existing"]).all()
    # equipment capacity with max utilisation; per-site maximum
    limit = e["total"] * e["equipment"].map(eq["capacity_per_year"] * eq["max_utilization"])
    assert (e["exams"] <= limit + TOL).all()
    max_per_site = e["equipment"].map(eq["max_per_site"]).fillna(np.inf)
    assert (e["total"] <= max_per_site).all()
    # tier rules: new and moved-in units only at allowed tiers
    allowed = eq["allowed_tiers"].fillna("").map(lambda t: set(t.split(";")) if t else None)
    for row in e[(e["new"] > 0) | (e["relocated_in"] > 0)].itertuples():
        assert allowed[row.equipment] is None or row.tier in allowed[row.equipment]
    # specialist capacity and pools
    d = plan.specialist_days
    assert (d["visits"] <= d["outreach_days"] * d["specialty"].map(sp["visits_per_day"])
            + d["clinic_visits"] + TOL).all()
    res = scenario.resources
    for s, used in d.groupby("specialty")["outreach_days"].sum().items():
        assert used <= res.loc[res.resource == f"{s}.outreach_days", "amount"].sum()
    # policy minimum at grassroots sites
    tiers = scenario.sites.set_index("site_id")["tier"]
    minimum = scenario.settings.policy.min_outreach_days
    grassroots = d[d["site_id"].map(tiers).isin(scenario.settings.policy.grassroots_tiers)]
    assert (grassroots["outreach_days"] >= grassroots["specialty"].map(minimum).fillna(0)).all()
    # capital budget
    assert plan.budget["capital_used"].sum() <= scenario.budget + TOL
    # travel eligibility
    f = plan.flows
    limits = pd.concat([eq["max_minutes"], sp["max_minutes"]]).fillna(np.inf)
    assert (f["minutes"] <= f["service"].map(limits) + TOL).all()
    # hard urgent coverage: every populated zone has a unit within the limit
    assert plan.urgent["covered"].all()


def test_same_inputs_same_plan(scenario, plan):
    again = planner.solve(scenario)
    assert again.objective == plan.objective
    pd.testing.assert_frame_equal(again.equipment, plan.equipment)
    pd.testing.assert_frame_equal(again.flows, plan.flows)


def test_resolve_after_budget_change_without_rebuild(scenario, plan):
    session = PlanningSession(scenario)
    first = session.solve()
    assert first.objective == pytest.approx(plan.objective)
    for budget in (scenario.budget * 0.75, scenario.budget * 2):
        variant = scenario.with_(budget=budget)
        resolved = session.solve(variant)
        fresh = planner.solve(variant)
        assert resolved.objective == pytest.approx(fresh.objective, rel=1e-4)
        assert resolved.kpis["capital_used"] <= budget + TOL
    vpm = scenario.with_(value_per_minute=scenario.settings.travel.value_per_minute * 3)
    assert session.solve(vpm).objective == pytest.approx(planner.solve(vpm).objective, rel=1e-4)
    assert session.rebuilds == 1


def test_access_kpis_are_shares(plan):
    for when in ("access_before", "access_after"):
        for key, share in plan.kpis[when].items():
            assert 0.0 <= share <= 1.0, key
    # more units never reduce access
    for key, share in plan.kpis["access_after"].items():
        moved = plan.equipment.loc[plan.equipment.equipment == key.split("_")[0], "relocated_out"]
        if moved.sum() == 0:
            assert share >= plan.kpis["access_before"][key] - 1e-12


def test_one_member_owning_two_sites_with_pools(scenario, plan):
    # a member's pools at two sites put its membership column twice in one row: the planner must
    # sum the coefficients (HiGHS rejects duplicates), not solve an empty model
    sites = scenario.sites.copy()
    sites.loc[sites.site_id == "S_TCM", "member"] = "PH"
    merged = planner.solve(scenario.with_(tables={"sites": sites}))
    assert merged.objective == pytest.approx(plan.objective, rel=1e-4)


def test_the_builder_writes_the_shipped_files(tmp_path, monkeypatch):
    # data/build_tianchang.py is deterministic: a fresh build is byte-identical to data/tianchang/
    from pathlib import Path

    from planner.data import build_tianchang

    shipped = Path(build_tianchang.OUT)
    monkeypatch.setattr(build_tianchang, "OUT", tmp_path)
    build_tianchang.write_all(build_tianchang.build())
    names = sorted(p.name for p in shipped.iterdir() if p.is_file())
    assert sorted(p.name for p in tmp_path.iterdir()) == names
    for name in names:
        assert (tmp_path / name).read_bytes() == (shipped / name).read_bytes(), name


def test_the_fund_has_the_tianchang_rules(scenario):
    fund = scenario.settings.fund
    assert fund.capitation == 600 and fund.surplus_to_lead == 0.6 and fund.lead_member == "PH"
    assert fund.reimbursement["township"] == 0.85 and fund.reimbursement["county"] == 0.65
    assert fund.reimbursement["outside"] < fund.reimbursement["county"]
    # no tier targets by default: they would change the default plan
    assert not scenario.settings.tiers.min_in_county_share
    assert not scenario.settings.tiers.min_grassroots_share


def test_the_default_plan_leaves_a_surplus_of_a_few_percent(scenario, plan):
    # the accounts recomputed here from the raw tables and the plan's flows and unmet demand
    fund = scenario.settings.fund
    tier = scenario.sites.set_index("site_id")["tier"]
    base = {**scenario.equipment.set_index("equipment")["price_per_exam"].to_dict(),
            **scenario.specialties.set_index("specialty")["price_per_visit"].to_dict()}
    outside = {**scenario.equipment.set_index("equipment")["outside_price"].to_dict(),
               **scenario.specialties.set_index("specialty")["outside_price"].to_dict()}
    by_tier = {(r.service, r.tier): r.price for r in scenario.tables["prices"].itertuples()}
    f = plan.flows
    in_county = sum(u * by_tier.get((k, tier[i]), base[k]) * fund.reimbursement[tier[i]]
                    for u, k, i in zip(f["units"], f["service"], f["site_id"]))
    b = scenario.site_demand   # site-bound exams, paid like exams at their site's tier
    in_county += sum(u * by_tier.get((k, tier[i]), base[k]) * fund.reimbursement[tier[i]]
                     for u, k, i in zip(b["units_per_year"], b["service"], b["site_id"]))
    z = plan.zones
    out = sum(u * outside[k] for u, k in zip(z["unmet"], z["service"]))
    revenue = fund.capitation * fund.insured_share * scenario.zones["population"].sum()
    surplus = (revenue - fund.other_spending - fund.insured_share * in_county
               - fund.insured_share * fund.reimbursement["outside"] * out)
    assert plan.fund["revenue"] == pytest.approx(revenue, rel=1e-12)
    assert plan.fund["surplus"] == pytest.approx(surplus, rel=1e-9)
    assert 0.01 * revenue < surplus < 0.05 * revenue

"""Equity limits ([equity] in scenario.toml: access guarantee and minimum served share) and access
KPIs at any threshold, checked against brute force, independent LPs and recomputed travel times."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from helpers import TINY, write_scenario
from planner.errors import InfeasibleError, PlannerError
from planner.model.inputs import travel_minutes
from planner.planning.session import PlanningSession
from planner.sharing.coalitions import CoalitionModel
from toy import consortium, scenario, tables, travel

CT_YEAR = 1000.0 + 100.0   # toy CT: capex 1000 over 1 year at 0% + opex 100
ZONES, SITES = ["Z1", "Z2", "Z3"], ["H", "T"]


def ct_sites(plan) -> set[str]:
    eq = plan.equipment
    return set(eq.loc[(eq["equipment"] == "CT") & (eq["total"] > 0), "site_id"])


# --- CT: brute force over the sites that get a unit -----------------------------------------
def brute_force_ct(minutes: np.ndarray, limit: float, share: float) -> float:
    """Least cost over every set of open sites (1 unit at most each, uncapacitated, 100 exams a
    zone at 1 per minute or 50 referred out) that gives every zone a CT within `limit` minutes
    and serves at least `share` of each zone's exams; inf when no set does."""
    best = math.inf
    for r in range(3):
        for open_ in itertools.combinations(range(2), r):
            if any(min((row[i] for i in open_), default=math.inf) > limit for row in minutes):
                continue
            cost = CT_YEAR * len(open_)
            for row in minutes:
                near = min((row[i] for i in open_), default=math.inf)
                if near == math.inf:
                    if share > 0:
                        cost = math.inf
                    else:
                        cost += 100 * 50.0
                elif near <= 50.0:
                    cost += 100 * near
                else:   # travel dearer than referral: serve only the minimum share
                    cost += 100 * (share * near + (1 - share) * 50.0)
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(8))
def test_ct_access_and_share_match_brute_force(seed):
    rng = np.random.default_rng(seed)
    minutes = rng.uniform(1, 90, size=(3, 2)).round(1)
    limit = round(float(rng.uniform(30, 90)), 1)
    share = float(rng.choice([0.0, 0.5, 0.9]))
    tr = travel({(z, i): minutes[a, b] for a, z in enumerate(ZONES) for b, i in enumerate(SITES)})
    eq = tables()["equipment"].assign(max_per_site=1)
    case = scenario({"budget": 2000.0, "equity": {"max_minutes": {"CT": limit},
                                                  "min_served_share": {"CT": share}}},
                    travel=tr, equipment=eq)
    best = brute_force_ct(minutes, limit, share)
    if best == math.inf:
        with pytest.raises(InfeasibleError, match="access guarantee for CT"):
            planner.solve(case)
        return
    plan = planner.solve(case)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(best)
    # the plan meets both limits, re-derived from its own tables and the travel matrix
    open_ = ct_sites(plan)
    for a in range(len(ZONES)):
        assert min(minutes[a, SITES.index(i)] for i in open_) <= limit + 1e-9
    zones = plan.zones.set_index(["zone_id", "service"])
    assert (zones["served"] >= share * zones["demand"] - 1e-6).all()


# --- cardiology: outreach days by enumeration, flows by an independent LP -----------------
CARDIO_MINUTES = np.array([[5.0, 40.0], [30.0, 10.0], [35.0, 12.0]])


def _cardiology(limit: float, share: float = 0.0, clinic_at_h: float = 0.0):
    cs = pd.DataFrame({"condition": ["scan"], "service": ["cardiology"], "units_per_case": [0.1]})
    tr = travel({(z, i): CARDIO_MINUTES[a, b] for a, z in enumerate(ZONES)
                 for b, i in enumerate(SITES)})
    res = [("H", "cardiology.outreach_days", 10.0)]
    if clinic_at_h:
        res.append(("H", "cardiology.clinic_visits", clinic_at_h))
    resources = pd.DataFrame(res, columns=["site_id", "resource", "amount"])
    return scenario({"equity": {"max_minutes": {"cardiology": limit},
                                "min_served_share": {"cardiology": share}}},
                    condition_services=cs, travel=tr, resources=resources)


def lp_flow_cost(capacity: np.ndarray, share: float) -> float:
    """Least travel + referral cost of serving 10 visits per zone (referral 30 a visit) with
    `capacity` visits at each site and at least `share` of each zone served (scipy's HiGHS LP)."""
    n_z, n_s = CARDIO_MINUTES.shape
    c = np.concatenate([CARDIO_MINUTES.ravel(), np.full(n_z, 30.0)])   # flows, then referred
    a_eq = np.zeros((n_z, n_z * n_s + n_z))
    for z in range(n_z):
        a_eq[z, z * n_s:(z + 1) * n_s] = 1.0
        a_eq[z, n_z * n_s + z] = 1.0
    a_ub = np.zeros((n_s + n_z, n_z * n_s + n_z))
    for s in range(n_s):
        a_ub[s, [z * n_s + s for z in range(n_z)]] = 1.0
    for z in range(n_z):
        a_ub[n_s + z, z * n_s:(z + 1) * n_s] = -1.0
    b_ub = np.concatenate([capacity, np.full(n_z, -share * 10.0)])
    result = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=np.full(n_z, 10.0),
                     method="highs")
    return result.fun if result.status == 0 else math.inf


def brute_force_cardiology(limit: float, share: float, clinic_at_h: float = 0.0) -> float:
    best = math.inf
    for d_h, d_t in itertools.product(range(4), repeat=2):
        if d_h + d_t > 10:
            continue
        offers = [d_h > 0 or clinic_at_h > 0, d_t > 0]
        if any(not any(offers[i] and CARDIO_MINUTES[z, i] <= limit for i in range(2))
               for z in range(3)):
            continue
        capacity = np.array([10.0 * d_h + clinic_at_h, 10.0 * d_t])
        best = min(best, 100.0 * (d_h + d_t) + lp_flow_cost(capacity, share))
    return best


@pytest.mark.parametrize("limit, share, clinic", [(15.0, 0.0, 0.0), (40.0, 0.0, 0.0),
                                                  (15.0, 0.0, 20.0), (40.0, 0.5, 0.0),
                                                  (12.0, 1.0, 5.0)])
def test_specialty_access_and_share_match_enumeration(limit, share, clinic):
    plan = planner.solve(_cardiology(limit, share, clinic))
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(brute_force_cardiology(limit, share, clinic))
    days = plan.specialist_days.set_index("site_id")
    offers = {i for i in SITES
              if days.at[i, "outreach_days"] > 0 or days.at[i, "clinic_visits"] > 0}
    for a in range(3):
        assert any(CARDIO_MINUTES[a, SITES.index(i)] <= limit for i in offers)
    assert plan.access("cardiology", limit).after == 1.0


def test_clinic_within_reach_satisfies_the_zone_without_a_row():
    # every zone is within 40 minutes of H, whose clinic offers cardiology: no row is needed,
    # and the plan is the one without the limit
    from planner.model.inputs import model_inputs

    case = _cardiology(40.0, clinic_at_h=1.0)
    assert model_inputs(case).access_rows.empty
    assert not model_inputs(_cardiology(40.0)).access_rows.empty
    free = _cardiology(1e4, clinic_at_h=1.0).with_(equity_max_minutes={})
    assert planner.solve(case).objective == pytest.approx(planner.solve(free).objective)


# --- the county ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def county():
    return planner.load_scenario()


@pytest.fixture(scope="module")
def county_plan(county):
    return planner.solve(county)


def test_county_ct_access_guarantee_holds_in_every_populated_zone(county):
    limit = 25.0
    plan = planner.solve(county.with_(equity_max_minutes={"CT": limit}))
    assert plan.status == "optimal"
    minutes = travel_minutes(county)
    populated = county.zones.loc[county.zones["population"] > 0, "zone_id"]
    nearest = minutes.loc[populated, sorted(ct_sites(plan))].min(axis=1)
    assert (nearest <= limit).all()
    assert plan.access("CT", limit).after == 1.0
    # the limit is binding today: some residents are farther than 25 minutes from a CT
    assert plan.access("CT", limit).before < 1.0


def test_impossible_access_limit_is_explained_before_solving(county):
    limit = 10.0
    minutes = travel_minutes(county)
    allowed = set(county.equipment.loc[0, "allowed_tiers"].split(";"))
    candidates = county.sites.loc[county.sites["tier"].isin(allowed), "site_id"]
    populated = county.zones.loc[county.zones["population"] > 0, "zone_id"]
    nearest = minutes.loc[populated, candidates].min(axis=1)
    farthest = nearest.idxmax()
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(county.with_(equity_max_minutes={"CT": limit}))
    text = str(caught.value)
    assert "access guarantee for CT within 10 min" in text
    assert f"{(nearest > limit).sum()} populated zone(s)" in text
    assert farthest in text or "more" in text
    assert nearest.sort_index().index[0] in text or "more" in text
    assert f"at least {math.ceil(nearest.max() * 10) / 10:g}" in text


def test_share_without_an_eligible_site_is_explained_before_solving():
    eq = tables()["equipment"].assign(max_minutes=20.0)
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 25})
    case = scenario({"budget": 1e6, "equity": {"min_served_share": {"CT": 0.5}}},
                    travel=tr, equipment=eq)
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(case)
    text = str(caught.value)
    assert "minimum served share 0.5 of CT" in text and "Z3" in text
    assert "Z1" not in text and "Z2" not in text
    assert "nearest possible site T, 25.0 min" in text


def test_conflict_found_by_highs_names_the_equity_row():
    # every zone has a site within 20 minutes where a CT may go, but there is no capital
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 12})
    case = scenario({"budget": 0.0, "equity": {"max_minutes": {"CT": 20.0}}}, travel=tr)
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(case)
    assert "access_guarantee" in caught.value.families
    assert "equity: access guarantee for CT within 20 min, zone Z" in str(caught.value)


def test_share_what_if_re_solves_without_rebuild(county):
    base = county.with_(min_served_share={"MRI": 0.5, "cardiology": 0.5})
    session = PlanningSession(base)
    session.solve()
    # MRI 0.9: three units hold it beside the hospitals' own exams (0.99 needs a fourth, which
    # the budget cannot buy with the stroke rule's CTs)
    variant = county.with_(min_served_share={"MRI": 0.9, "cardiology": 0.97})
    plan = session.solve(variant)
    assert session.rebuilds == 1
    fresh = planner.solve(variant)
    assert plan.objective == pytest.approx(fresh.objective, rel=1e-6)
    zones = plan.zones.set_index("service")
    for k, share in {"MRI": 0.9, "cardiology": 0.97}.items():
        rows = zones.loc[k]
        assert (rows["served"] >= share * rows["demand"] - 1e-6).all()


# --- validation ------------------------------------------------------------------------------
@pytest.mark.parametrize("section, message", [
    ("[equity.max_minutes]\nPET = 30", "[equity.max_minutes] names unknown service(s) ['PET']"),
    ("[equity.min_served_share]\ndermatology = 0.5",
     "[equity.min_served_share] names unknown service(s) ['dermatology']"),
    ("[equity.min_served_share]\nMRI = 1.5", "equity.min_served_share.MRI"),
    ("[equity.min_served_share]\nMRI = -0.1", "equity.min_served_share.MRI"),
    ("[equity.max_minutes]\nCT = 0", "equity.max_minutes.CT"),
    ("[equity.max_minutes]\nCT = 2e5", "equity.max_minutes.CT"),
    ("[equity.max_minutes]\nCT = nan", "equity.max_minutes.CT"),
    ("[equity.max_minutes]\nCT = true", "equity.max_minutes.CT"),
    ("[equity]\npenalty_per_zone = -1", "equity.penalty_per_zone"),
    ("[equity]\nshare = 0.5", "equity.share"),
])
def test_bad_equity_settings_are_refused_naming_the_key(tmp_path, section, message):
    folder = write_scenario(tmp_path / "s", **TINY)
    (folder / "scenario.toml").write_text(
        (folder / "scenario.toml").read_text(encoding="utf-8") + "\n" + section + "\n",
        encoding="utf-8")
    with pytest.raises(PlannerError) as caught:
        planner.load_scenario(folder)
    assert message in str(caught.value)
    assert "scenario.toml" in str(caught.value)


# --- access KPIs at any threshold -----------------------------------------------------------
def test_access_at_the_fixed_thresholds_equals_the_kpis(county_plan):
    for e in ("CT", "MRI"):
        for t in (15, 30, 60):
            access = county_plan.access(e, t)
            assert access.before == county_plan.kpis["access_before"][f"{e}_within_{t}min"]
            assert access.after == county_plan.kpis["access_after"][f"{e}_within_{t}min"]


def test_access_at_any_threshold_from_the_travel_matrix(county, county_plan):
    minutes = travel_minutes(county)
    population = county.zones.set_index("zone_id")["population"].reindex(minutes.index)
    eq = county_plan.equipment[county_plan.equipment["equipment"] == "CT"]
    for column, side in (("existing", "before"), ("total", "after")):
        nearest = minutes[sorted(eq.loc[eq[column] > 0, "site_id"])].min(axis=1)
        for t in (7.5, 22.0, 41.3):
            expected = population[nearest <= t].sum() / population.sum()
            assert getattr(county_plan.access("CT", t), side) == pytest.approx(expected)


def test_access_curve_is_monotone_and_reaches_every_resident(county_plan):
    curve = county_plan.access_curve("MRI")
    assert list(curve.columns) == ["minutes", "share_before", "share_after"]
    assert curve["minutes"].is_monotonic_increasing and curve["minutes"].is_unique
    assert curve["share_before"].is_monotonic_increasing
    assert curve["share_after"].is_monotonic_increasing
    assert curve["share_after"].iloc[-1] == pytest.approx(1.0)
    row = curve.iloc[len(curve) // 2]
    assert (row["share_before"], row["share_after"]) == county_plan.access("MRI", row["minutes"])


def test_access_of_an_unknown_service_is_refused(county_plan):
    with pytest.raises(ValueError, match="unknown service 'PET'"):
        county_plan.access("PET", 30)


def test_access_csv_in_the_plan_folder(tmp_path):
    # S_T1 and S_T2 have no cardiology before the plan: their minutes_before are empty cells
    plan = planner.solve(planner.load_scenario(write_scenario(tmp_path / "s", **TINY)))
    plan.save(tmp_path / "out")
    table = pd.read_csv(tmp_path / "out" / "access.csv")
    assert list(table.columns) == ["zone_id", "service", "population", "minutes_before",
                                   "minutes_after"]
    assert set(table["service"]) == {"CT", "MRI", "neurology"}
    mri = table[table["service"] == "MRI"]
    assert mri["minutes_before"].isna().all()          # no MRI today
    back = table.set_index(["zone_id", "service"])
    mine = plan.access_minutes.set_index(["zone_id", "service"])
    after = mine["minutes_after"].replace(np.inf, np.nan)
    assert np.allclose(back["minutes_after"], after.reindex(back.index), equal_nan=True,
                       atol=1e-6)


# --- stage 2 --------------------------------------------------------------------------------
def test_games_price_the_access_guarantee_of_a_coalitions_own_zones_only():
    # alone, township T1 (budget 0.5 M < a CT) has no CT: each of its 2 zones pays the equity
    # penalty once; the 6 zones of the other members, outside the coalition, are not counted
    base = consortium(townships=3)
    with_equity = base.with_(equity_max_minutes={"CT": 500.0})
    plain, equity = CoalitionModel(base), CoalitionModel(with_equity)
    penalty = with_equity.settings.equity.penalty_per_zone
    for coalition, uncovered in ((["T1"], 2), (["T1", "T2"], 4)):
        assert equity.cost(coalition).cost == pytest.approx(
            plain.cost(coalition).cost + uncovered * penalty, rel=1e-9)
    # the hospital's coalitions have its CTs within 500 minutes of everyone: no penalty
    assert equity.cost(["H", "T1"]).cost == pytest.approx(plain.cost(["H", "T1"]).cost,
                                                          rel=1e-9)
    grand = equity.plan(["H", "T1", "T2", "T3"])
    assert "equity_shortfall" not in grand.costs or grand.costs["equity_shortfall"] == 0

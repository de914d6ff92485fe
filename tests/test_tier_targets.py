"""Tier targets (docs/design.md section 8, issue 20): `[tiers.min_in_county_share]` and
`[tiers.min_grassroots_share]` as hard constraints of the plan.

The optimum with targets is checked against a brute force written here: every integer decision of
a tiny scenario (CT units at the county hospital H and the township centre T, cardiology outreach
days at H and T) is enumerated and the flows are an LP solved with scipy's linprog, with the
targets written again from the design's formulas. The KPIs are recomputed from flows.csv and
zones.csv; a share change re-solves on the same HiGHS object; an impossible target explains
itself (before solving, or by the IIS).
"""

from __future__ import annotations

import itertools
import json
import math
import tomllib

import numpy as np
import pandas as pd
import pytest
import tomli_w
from scipy.optimize import linprog

import planner
import toy
from helpers import run_planner
from planner.errors import InfeasibleError, ScenarioError
from planner.model.families import build_model
from planner.model.highs import HighsModel
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession, solver_options
from planner.scenario.loading import from_tables
from test_model_source import load_twin

# --- the tiny scenario and its brute force ------------------------------------------------------
MINUTES = {("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
           ("Z3", "H"): 35, ("Z3", "T"): 12}
ZONES, SITES = ["Z1", "Z2", "Z3"], ["H", "T"]
GRASSROOTS = {"T"}                         # the township tier
CT = dict(fixed=1000.0 + 100.0, capacity=120.0, referral=50.0, max_units=2)
CARDIO = dict(cost_per_day=100.0, visits_per_day=10.0, referral=30.0, pool=6, clinic_at_h=20.0)
DEMAND = {"CT": 100.0, "cardiology": 30.0}  # per zone: 1,000 residents x 100 or 30 per 1,000


def tiny(**targets):
    """3 zones, H (county) and T (township); CT (no units today, at most 2 a site) and cardiology
    (an outreach pool of 6 days at H, 20 clinic visits at H). `targets`: flat [tiers] settings."""
    t = toy.tables()
    t["conditions"] = pd.DataFrame({"condition": ["scan", "chest"],
                                    "cases_per_1000": [100.0, 30.0]})
    t["condition_services"] = pd.DataFrame({"condition": ["scan", "chest"],
                                            "service": ["CT", "cardiology"],
                                            "units_per_case": [1.0, 1.0]})
    t["equipment"] = t["equipment"].assign(capacity_per_year=CT["capacity"],
                                           max_per_site=CT["max_units"])
    t["resources"] = pd.DataFrame({"site_id": ["H", "H"],
                                   "resource": ["cardiology.outreach_days",
                                                "cardiology.clinic_visits"],
                                   "amount": [float(CARDIO["pool"]), CARDIO["clinic_at_h"]]})
    t["travel"] = toy.travel(MINUTES)
    base = from_tables(toy.settings(budget=1e5), t, "tiers")
    return base.with_(**targets) if targets else base


def brute_force(in_county: dict | None = None, grassroots: dict | None = None,
                budget_units: int | None = None) -> float | None:
    """The least annual cost over every choice of units (H, T) and outreach days (H, T), the flows
    an LP (linprog); None if no choice is feasible. Written from the design, not the product:
    cost = units x (annual capex + opex) + days x cost_per_day + flow x minutes + unmet x
    referral; in-county: sum unmet <= (1 - s) sum D; grassroots: sum flow at T >= s sum D."""
    in_county, grassroots = in_county or {}, grassroots or {}
    services = ["CT", "cardiology"]
    flows = [(z, i, k) for k in services for z in ZONES for i in SITES]   # all within reach
    unmet = [(z, k) for k in services for z in ZONES]
    n = len(flows) + len(unmet)
    cost = np.array([MINUTES[(z, i)] for z, i, _ in flows]
                    + [CT["referral"] if k == "CT" else CARDIO["referral"] for _, k in unmet])
    a_eq = np.zeros((len(unmet), n))
    for r, (z, k) in enumerate(unmet):
        for c, (fz, _, fk) in enumerate(flows):
            a_eq[r, c] = float((fz, fk) == (z, k))
        a_eq[r, len(flows) + r] = 1.0
    b_eq = np.array([DEMAND[k] for _, k in unmet])
    total = {k: DEMAND[k] * len(ZONES) for k in services}
    best = None
    for n_h, n_t in itertools.product(range(CT["max_units"] + 1), repeat=2):
        if budget_units is not None and n_h + n_t > budget_units:
            continue
        for d_h in range(CARDIO["pool"] + 1):
            for d_t in range(CARDIO["pool"] + 1 - d_h):
                capacity = {("H", "CT"): CT["capacity"] * n_h, ("T", "CT"): CT["capacity"] * n_t,
                            ("H", "cardiology"): CARDIO["visits_per_day"] * d_h
                            + CARDIO["clinic_at_h"],
                            ("T", "cardiology"): CARDIO["visits_per_day"] * d_t}
                rows, rhs = [], []
                for (i, k), cap in capacity.items():
                    rows.append([float(fi == i and fk == k) for _, fi, fk in flows]
                                + [0.0] * len(unmet))
                    rhs.append(cap)
                for k, s in in_county.items():      # sum_z unmet <= (1 - s) sum_z D
                    rows.append([0.0] * len(flows) + [float(uk == k) for _, uk in unmet])
                    rhs.append((1 - s) * total[k])
                for k, s in grassroots.items():     # -sum flow at grassroots <= -s sum_z D
                    rows.append([-float(fi in GRASSROOTS and fk == k) for _, fi, fk in flows]
                                + [0.0] * len(unmet))
                    rhs.append(-s * total[k])
                lp = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), A_eq=a_eq, b_eq=b_eq,
                             bounds=(0, None), method="highs")
                if lp.status != 0:
                    continue
                value = lp.fun + CT["fixed"] * (n_h + n_t) + CARDIO["cost_per_day"] * (d_h + d_t)
                best = value if best is None else min(best, value)
    return best


CASES = {
    "none": ({}, {}),
    "grassroots CT 0.6": ({}, {"CT": 0.6}),
    "grassroots CT 0.8, cardiology 0.5": ({}, {"CT": 0.8, "cardiology": 0.5}),
    "in-county CT 1": ({"CT": 1.0}, {}),
    "in-county cardiology 0.85, grassroots cardiology 0.3": ({"cardiology": 0.85},
                                                            {"cardiology": 0.3}),
    "both CT": ({"CT": 0.95}, {"CT": 0.7}),
}


@pytest.mark.parametrize("case", CASES)
def test_the_optimum_with_targets_is_the_brute_force_optimum(case):
    in_county, grassroots = CASES[case]
    plan = planner.solve(tiny(min_in_county_share=in_county, min_grassroots_share=grassroots))
    expected = brute_force(in_county, grassroots)
    assert expected is not None
    assert plan.objective == pytest.approx(expected, rel=1e-7), case


def test_a_binding_target_raises_the_cost_and_a_met_target_changes_nothing():
    free = planner.solve(tiny())
    assert free.kpis["grassroots_share"]["CT"] < 0.8    # so that 0.8 binds
    bound = planner.solve(tiny(min_grassroots_share={"CT": 0.8}))
    assert bound.objective > free.objective + 1.0
    assert bound.kpis["grassroots_share"]["CT"] >= 0.8 - 1e-9
    met = {k: math.floor(v * 1000) / 1000 for k, v in free.kpis["grassroots_share"].items()}
    met_county = {k: math.floor(v * 1000) / 1000 for k, v in free.kpis["in_county_share"].items()}
    same = planner.solve(tiny(min_grassroots_share=met, min_in_county_share=met_county))
    assert same.objective == pytest.approx(free.objective, rel=1e-9)
    assert same.kpis["in_county_share"] == pytest.approx(free.kpis["in_county_share"])


def test_a_share_change_re_solves_on_the_same_highs_model():
    session = PlanningSession(tiny(min_grassroots_share={"CT": 0.3, "cardiology": 0.0}))
    highs = session.highs.highs
    for share in (0.8, 0.5, 1.0 / 3.0, 0.0):
        plan = session.solve(tiny(min_grassroots_share={"CT": share, "cardiology": 0.5}))
        assert plan.objective == pytest.approx(
            brute_force({}, {"CT": share, "cardiology": 0.5}), rel=1e-7), share
        assert session.rebuilds == 1 and session.highs.highs is highs
    # a target for another service is another shape: rebuilt, and still right
    plan = session.solve(tiny(min_grassroots_share={"CT": 0.5}, min_in_county_share={"CT": 1.0}))
    assert session.rebuilds == 2
    assert plan.objective == pytest.approx(brute_force({"CT": 1.0}, {"CT": 0.5}), rel=1e-7)


def test_a_sweep_of_one_target_is_the_brute_force_at_each_share():
    base = tiny(min_in_county_share={"cardiology": 0.85})
    rows = planner.sweep(base, {"min_grassroots_share[cardiology]": [0.0, 0.3, 0.6]},
                         progress=False)
    for share, objective in zip([0.0, 0.3, 0.6], rows["objective"]):
        assert objective == pytest.approx(
            brute_force({"cardiology": 0.85}, {"cardiology": share}), rel=1e-7), share
    assert list(rows["status"]) == ["optimal"] * 3
    assert rows["objective"].is_monotonic_increasing
    # the whole table as a value works too (it replaces every target of that setting)
    whole = planner.sweep(base, {"min_grassroots_share": [{"CT": 0.5}]}, progress=False)
    assert whole["objective"].iloc[0] == pytest.approx(
        brute_force({"cardiology": 0.85}, {"CT": 0.5}), rel=1e-7)


def test_the_kpis_are_recomputed_from_the_written_flows_and_zones(tmp_path):
    plan = planner.solve(tiny(min_grassroots_share={"CT": 0.6, "cardiology": 0.4}))
    plan.save(tmp_path / "plan")
    flows = pd.read_csv(tmp_path / "plan" / "flows.csv")
    zones = pd.read_csv(tmp_path / "plan" / "zones.csv")
    kpis = json.loads((tmp_path / "plan" / "plan.json").read_text())["kpis"]
    for service in ("CT", "cardiology"):
        demand = zones.loc[zones["service"] == service, "demand"].sum()
        unmet = zones.loc[zones["service"] == service, "unmet"].sum()
        at_t = flows.loc[(flows["service"] == service) & flows["site_id"].isin(GRASSROOTS),
                         "units"].sum()
        assert demand == pytest.approx(DEMAND[service] * 3)
        assert kpis["in_county_share"][service] == pytest.approx(1 - unmet / demand, abs=1e-6)
        assert kpis["grassroots_share"][service] == pytest.approx(at_t / demand, abs=1e-6)
    assert kpis["grassroots_share"]["CT"] >= 0.6 - 1e-6


def test_a_scenario_without_targets_still_reports_the_shares():
    plan = planner.solve(tiny())
    assert set(plan.kpis["in_county_share"]) == {"CT", "cardiology"}
    assert set(plan.kpis["grassroots_share"]) == {"CT", "cardiology"}


# --- impossible targets ------------------------------------------------------------------------
def test_a_grassroots_target_above_the_pool_is_explained_before_solving():
    # T has no clinic: at most the pool of 6 days x 10 visits = 60 of 90 visits (share 0.666)
    with pytest.raises(InfeasibleError) as caught:
        PlanningSession(tiny(min_grassroots_share={"cardiology": 0.8}))
    text = str(caught.value)
    assert "[tiers.min_grassroots_share] cardiology = 0.8" in text
    assert "outreach pool of 6 days x 10 visits_per_day" in text
    assert "0.666" in text and "at most 60" in text


def test_an_in_county_target_above_every_capacity_is_explained_before_solving():
    # CT: at most 2 units at each of 2 sites x 120 = 480 >= 300; cap the units at 1 a site
    t = dict(tiny().tables)
    t["equipment"] = t["equipment"].assign(max_per_site=1)
    case = tiny().with_(tables={"equipment": t["equipment"]}, min_in_county_share={"CT": 0.9})
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(case)
    text = str(caught.value)
    assert "[tiers.min_in_county_share] CT = 0.9" in text
    assert "2 CT unit(s) at most" in text and "0.8" in text


def test_a_target_impossible_only_with_the_budget_is_named_by_the_iis():
    # half a unit affordable (in the LP relaxation too): a grassroots share of CT above 60/300
    # is infeasible; the pre-check's capacity bound ignores the budget, HiGHS's IIS finds it
    case = tiny(min_grassroots_share={"CT": 0.6}).with_(budget=500.0)
    assert brute_force({}, {"CT": 0.6}, budget_units=0) is None
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(case)
    assert "grassroots_target" in caught.value.families
    assert "[tiers.min_grassroots_share] CT = 0.6" in str(caught.value)


def test_the_cli_exits_3_on_an_impossible_target_and_writes_nothing(tmp_path):
    tiny(min_grassroots_share={"cardiology": 0.9}).save(tmp_path / "scenario")
    done = run_planner("plan", tmp_path / "scenario", "--out", tmp_path / "plan", cwd=tmp_path)
    assert done.returncode == 3, done.stderr
    assert "min_grassroots_share" in done.stdout + done.stderr
    assert not (tmp_path / "plan").exists()


def test_a_target_for_an_unknown_service_is_bad_input(tmp_path):
    with pytest.raises(ScenarioError) as caught:
        tiny(min_grassroots_share={"dermatology": 0.5})
    assert "[tiers.min_grassroots_share] names unknown service(s) ['dermatology']" \
        in str(caught.value)
    tiny().save(tmp_path / "scenario")
    toml = tmp_path / "scenario" / "scenario.toml"
    settings = tomllib.loads(toml.read_text())
    settings["tiers"] = {"min_in_county_share": {"CT": 1.5}}
    toml.write_text(tomli_w.dumps(settings))
    done = run_planner("plan", tmp_path / "scenario", "--out", tmp_path / "plan", cwd=tmp_path)
    assert done.returncode == 2 and "tiers.min_in_county_share.CT" in done.stdout + done.stderr
    assert not (tmp_path / "plan").exists()


# --- the model's one source ----------------------------------------------------------------------
def test_the_twin_builds_the_tier_rows_alike():
    """benchmarks/highs_direct.py (the independent twin) with targets: same LP, same optimum."""
    twin = load_twin()
    case = toy.consortium().with_(min_grassroots_share={"CT": 0.5, "cardiology": 0.3},
                                  min_in_county_share={"CT": 0.99})
    inp = model_inputs(case)
    h, shape = twin.build(inp)
    assert shape["rows"]["in_county_target"] == 1 and shape["rows"]["grassroots_target"] == 2
    ours = HighsModel(build_model(inp))
    differences = twin.compare_lp(ours.highs, h)
    assert differences == dict.fromkeys(differences, 0), differences
    options = solver_options(case)
    assert twin.same_objective(ours.solve(options).objective, twin.solve(h, options).objective)

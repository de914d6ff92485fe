"""Central image reading (docs/design.md section 9, models/allocation.md reading_overflow,
reading_capacity, membership_hired): the optimum equals a brute force written here (every
choice of units and hires enumerated, the rest an LP solved by scipy's linprog), with the
reading pool binding; bad [reading] input exits 2; without [reading] nothing changes; the
games of stage 2 stay feasible; hires are decisions."""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from helpers import ct_only_catalogue, run_planner, write_scenario
from planner.model.families import build_model
from planner.model.highs import HighsModel
from planner.model.inputs import model_inputs
from planner.planning.session import solver_options
from planner.scenario.loading import from_tables
from toy import settings

SITES = ["H", "A", "B"]          # H: the county hospital (the reading centre), A, B townships
ZONES = ["Z1", "Z2", "Z3", "Z4"]
MINUTES = {"Z1": [5.0, 30.0, 40.0], "Z2": [30.0, 5.0, 35.0], "Z3": [40.0, 35.0, 5.0],
           "Z4": [25.0, 20.0, 15.0]}
CT = {"capex": 1000.0, "opex": 100.0, "capacity": 10_000.0, "referral": 50.0, "per_exam": 5.0}


def case(population, reading=None, radiologists=None):
    """Three sites (H county, A and B townships), four zones, CT only (at most one per site,
    none today), travel minutes given pair by pair, ample capital."""
    sites = pd.DataFrame({"site_id": SITES, "name": SITES, "member": ["MH", "MA", "MB"],
                          "tier": ["county", "township", "township"],
                          "lon": [119.0, 119.1, 119.2], "lat": [32.7, 32.7, 32.7]})
    tables = {
        "members": pd.DataFrame({"member": ["MH", "MA", "MB"], "name": ["h", "a", "b"],
                                 "budget_contribution": [1e6, 0.0, 0.0]}),
        "sites": sites,
        "zones": pd.DataFrame({"zone_id": ZONES, "lon": 119.1, "lat": 32.7,
                               "population": [float(p) for p in population]}),
        **ct_only_catalogue(CT),
        "resources": pd.DataFrame(
            [(i, "radiologists", fte) for i, fte in (radiologists or {}).items()],
            columns=["site_id", "resource", "amount"]),
        "travel": pd.DataFrame([(z, i, t) for z in ZONES for i, t in zip(SITES, MINUTES[z])],
                               columns=["zone_id", "site_id", "minutes"]),
    }
    changes = {"reading": reading} if reading else {}
    return from_tables(settings(**changes), tables, "reading toy")


def demand_of(population):
    return [p / 1000.0 * 100.0 for p in population]


def lp_part(units, hires, demand, reading, radiologists):
    """The cheapest flows for fixed units and hires (scipy linprog; None if infeasible):
    variables flow[z,i] (i with a unit), unmet[z], remote[i] (non-centre sites with a unit)."""
    open_sites = [i for i, u in zip(SITES, units) if u]
    flows = [(z, i) for z in range(len(ZONES)) for i in open_sites]
    remote = [i for i in open_sites if i != "H"] if reading else []
    n = len(flows) + len(ZONES) + len(remote)
    cost = np.zeros(n)
    for k, (z, i) in enumerate(flows):
        cost[k] = MINUTES[ZONES[z]][SITES.index(i)] * 1.0 + CT["per_exam"]
    cost[len(flows):len(flows) + len(ZONES)] = CT["referral"]
    a_eq = np.zeros((len(ZONES), n))
    for k, (z, _) in enumerate(flows):
        a_eq[z, k] = 1.0
    a_eq[np.arange(len(ZONES)), len(flows) + np.arange(len(ZONES))] = 1.0
    a_ub, b_ub = [], []
    for i in open_sites:                     # capacity of the one unit
        row = np.zeros(n)
        row[[k for k, f in enumerate(flows) if f[1] == i]] = 1.0
        a_ub.append(row)
        b_ub.append(CT["capacity"])
    if reading:
        rpr, fte = reading["reads_per_radiologist"], radiologists or {}
        for r, i in enumerate(remote):      # exams - remote <= local reads
            row = np.zeros(n)
            row[[k for k, f in enumerate(flows) if f[1] == i]] = 1.0
            row[len(flows) + len(ZONES) + r] = -1.0
            a_ub.append(row)
            b_ub.append(fte.get(i, 0.0) * rpr)
        row = np.zeros(n)                   # the centre's exams + remote reads <= its pool
        row[[k for k, f in enumerate(flows) if f[1] == "H"]] = 1.0
        row[len(flows) + len(ZONES):] = 1.0
        a_ub.append(row)
        b_ub.append(rpr * (fte.get("H", 0.0) + hires))
    res = linprog(cost, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None,
                  A_eq=a_eq, b_eq=demand, bounds=(0, None), method="highs")
    return res.fun if res.status == 0 else None


def brute_force(population, reading=None, radiologists=None):
    """min over units in {0,1}^3 and hires 0..enough of the fixed costs + the LP part."""
    demand = demand_of(population)
    most = math.ceil(sum(demand) / reading["reads_per_radiologist"]) + 1 if reading else 0
    best = (math.inf, None)
    for units in itertools.product((0, 1), repeat=len(SITES)):
        for hires in range(most + 1):
            part = lp_part(units, hires, demand, reading, radiologists)
            if part is None:
                continue
            total = part + sum(units) * (CT["capex"] + CT["opex"]) + \
                hires * (reading["radiologist_cost"] if reading else 0.0)
            best = min(best, (total, (units, hires)), key=lambda b: b[0])
    return best


CASES = {
    # reads are cheap to buy: hire at the centre, the plan as without reading
    "cheap_reads": ([4000, 3000, 3000, 2000], dict(reads_per_radiologist=2000.0,
                                                   radiologist_cost=1000.0), {}),
    # the pool binds: one FTE hired, the exams a second would read referred out instead
    "pool_binds": ([4000, 3000, 3000, 2000], dict(reads_per_radiologist=500.0,
                                                  radiologist_cost=12_000.0), {"A": 1.0}),
    # half an FTE at each township, dear hires
    "half_fte": ([1000, 6000, 5000, 3000], dict(reads_per_radiologist=600.0,
                                                radiologist_cost=12_000.0),
                 {"A": 0.5, "B": 0.5, "H": 1.0}),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_optimum_equals_brute_force_enumeration(name):
    population, knobs, fte = CASES[name]
    reading = {**knobs, "centres": ["H"]}
    plan = planner.solve(case(population, reading, fte))
    expected, (units, hires) = brute_force(population, reading, fte)
    assert plan.objective == pytest.approx(expected, rel=1e-7)
    hired = plan.decisions[plan.decisions["decision"] == "hired_radiologists"]
    assert int(hired["amount"].sum()) == hires
    assert plan.costs["reading"] == pytest.approx(hires * knobs["radiologist_cost"])


def test_the_reading_pool_binds_and_changes_the_plan():
    population, knobs, fte = CASES["pool_binds"]
    reading = {**knobs, "centres": ["H"]}
    with_reading = planner.solve(case(population, reading, fte))
    without = planner.solve(case(population))
    assert brute_force(population)[0] == pytest.approx(without.objective, rel=1e-7)
    assert without.zones["unmet"].sum() == pytest.approx(0.0, abs=1e-6)
    assert with_reading.zones["unmet"].sum() > 100          # reading changed the plan
    table = with_reading.reading.set_index("site_id")
    centre = table.loc["H"]
    assert centre["hired"] > 0
    assert centre["reads_done"] == pytest.approx(centre["capacity"], rel=1e-6)   # binding
    # every exam has one read: local + remote at each site (recomputed from flows)
    exams = with_reading.flows.groupby("site_id")["units"].sum()
    for i, row in table.iterrows():
        assert row["reads_local"] + row["reads_remote"] == pytest.approx(exams.get(i, 0.0))
    assert table["reads_remote"].sum() + exams.get("H", 0.0) == pytest.approx(
        centre["reads_done"])


def test_without_reading_the_plan_is_as_before():
    population = [4000, 3000, 3000, 2000]
    plain = planner.solve(case(population))
    with_fte = planner.solve(case(population, radiologists={"A": 1.0}))  # resource unused
    assert plain.objective == pytest.approx(brute_force(population)[0], rel=1e-9)
    assert with_fte.objective == plain.objective
    assert "reading" not in plain.costs.index and plain.reading is None
    assert list(plain.decisions["decision"].unique()) == ["new_units"]


def load_twin():
    """benchmarks/highs_direct.py, the independent second writing of the model, as a module."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "highs_direct.py"
    spec = importlib.util.spec_from_file_location("highs_direct_reading", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module   # its dataclass needs the module registered
    spec.loader.exec_module(module)
    return module


def test_the_twin_builds_the_same_reading_model():
    twin = load_twin()
    population, knobs, fte = CASES["half_fte"]
    scenario = case(population, {**knobs, "centres": ["H", "B"]}, fte)
    for game in (False, True):
        inp = model_inputs(scenario, game=game)
        h, shape = twin.build(inp)
        assert shape["rows"]["reading_capacity"] == 1
        assert shape["columns"]["hired_radiologists"] == 2
        ours = HighsModel(build_model(inp))
        differences = twin.compare_lp(ours.highs, h)
        assert differences == dict.fromkeys(differences, 0), differences
        options = solver_options(scenario)
        assert twin.same_objective(ours.solve(options).objective, twin.solve(h, options).objective)


# --- bad input: exit 2 ------------------------------------------------------------------------
READING_TOML = """
    [reading]
    reads_per_radiologist = 5000.0
    radiologist_cost = 300000.0
    centres = {centres}
    """


@pytest.mark.parametrize("toml, resources, words", [
    ('["S_C", "S_X"]', None, "[reading] centres names ['S_X']"),
    ('["S_C", "S_C"]', None, "more than once"),
    ('[]', None, "centres"),
    ('["S_C"]', "S_T1,radiologists,1.3", "not a whole or half FTE"),
    ('["S_C"]', "S_T1,radiologists,-1", "amount"),
], ids=["unknown_centre", "duplicate_centre", "no_centre", "fraction", "negative"])
def test_bad_reading_input_exits_2(tiny_folder, toml, resources, words):
    text = (tiny_folder / "scenario.toml").read_text() + \
        READING_TOML.replace("{centres}", toml).replace("\n    ", "\n")
    write_scenario(tiny_folder, scenario=text)
    if resources:
        path = tiny_folder / "resources.csv"
        path.write_text(path.read_text() + resources + "\n")
    out = tiny_folder.parent / "out"
    run = run_planner("plan", tiny_folder, "--out", out, cwd=tiny_folder.parent)
    assert run.returncode == 2, run.stdout + run.stderr
    assert words in run.stdout + run.stderr and "Traceback" not in run.stderr
    assert not out.exists()


@pytest.mark.parametrize("missing", ["reads_per_radiologist", "radiologist_cost"])
def test_a_missing_reading_key_is_refused(missing):
    reading = {"reads_per_radiologist": 500.0, "radiologist_cost": 10.0, "centres": ["H"]}
    del reading[missing]
    with pytest.raises(planner.ScenarioError, match=missing):
        case([1000] * 4, reading)


# --- hires as decisions: on disk, in a re-plan; site-bound demand with reading ----------------
def test_a_hire_is_read_back_from_decisions_csv_on_disk(tmp_path):
    population, knobs, fte = CASES["pool_binds"]
    reading = {**knobs, "centres": ["H"]}
    case(population, reading, fte).save(tmp_path / "scenario")
    run = run_planner("plan", tmp_path / "scenario", "--out", tmp_path / "plan", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    decisions = pd.read_csv(tmp_path / "plan" / "decisions.csv", keep_default_na=False)
    hires = decisions[decisions["decision"] == "hired_radiologists"]
    _, (_, expected) = brute_force(population, reading, fte)
    assert expected >= 1
    assert list(hires["site_id"]) == ["H"] and list(hires["resource"]) == ["radiologists"]
    assert list(hires["from_site"]) == [""] and float(hires["amount"].sum()) == expected
    reading_csv = pd.read_csv(tmp_path / "plan" / "reading.csv").set_index("site_id")
    assert reading_csv.loc["H", "hired"] == expected


def brute_force_hiring_at_least(population, reading, radiologists, least):
    """The brute force with hires from `least` on (a commitment at_least `least`)."""
    demand = demand_of(population)
    most = least + math.ceil(sum(demand) / reading["reads_per_radiologist"]) + 1
    best = math.inf
    for units in itertools.product((0, 1), repeat=len(SITES)):
        for hires in range(least, most + 1):
            part = lp_part(units, hires, demand, reading, radiologists)
            if part is not None:
                best = min(best, part + sum(units) * (CT["capex"] + CT["opex"])
                           + hires * reading["radiologist_cost"])
    return best


def test_a_replan_keeps_a_committed_hire():
    population, knobs, fte = CASES["pool_binds"]
    reading = {**knobs, "centres": ["H"]}
    scenario = case(population, reading, fte)
    first = planner.solve(scenario)
    hired = int(first.decisions.loc[first.decisions["decision"] == "hired_radiologists",
                                    "amount"].sum())
    # one more than the cost optimum hires
    committed = hired + 1
    implemented = pd.DataFrame({"decision": ["hired_radiologists"], "site_id": ["H"],
                                "resource": ["radiologists"], "from_site": [""],
                                "amount": [float(committed)], "limit": ["at_least"]})
    again = planner.replan(scenario.with_(tables={"implemented": implemented}),
                           first.decisions, tolerance=0.0)
    hires = again.decisions[again.decisions["decision"] == "hired_radiologists"]
    assert float(hires["amount"].sum()) == committed
    assert again.objective == pytest.approx(
        brute_force_hiring_at_least(population, reading, fte, committed), rel=1e-7)
    assert again.objective > first.objective
    changes = again.changes[again.changes["decision"] == "hired_radiologists"]
    assert list(changes["before"]) == [hired] and list(changes["after"]) == [committed]


def test_a_commitment_beyond_what_reading_every_exam_needs_is_kept():
    """Hires committed above the FTE that could read every exam (membership_hired's big-M)
    are kept, not refused as infeasible: the bound grows to the commitment."""
    population, knobs, fte = CASES["pool_binds"]
    reading = {**knobs, "centres": ["H"]}
    scenario = case(population, reading, fte)
    enough = math.ceil(sum(demand_of(population)) / reading["reads_per_radiologist"])
    committed = enough + 4
    implemented = pd.DataFrame({"decision": ["hired_radiologists"], "site_id": ["H"],
                                "resource": ["radiologists"], "from_site": [""],
                                "amount": [float(committed)], "limit": ["at_least"]})
    plan = planner.solve(scenario.with_(tables={"implemented": implemented}))
    hires = plan.decisions[plan.decisions["decision"] == "hired_radiologists"]
    assert float(hires["amount"].sum()) == committed
    assert plan.objective == pytest.approx(
        brute_force_hiring_at_least(population, reading, fte, committed), rel=1e-7)


SITE_DEMAND = {"H": 300.0, "A": 250.0}   # site-bound CT exams (in-patients, emergencies)


def lp_with_site_demand(units, hires, demand, reading, radiologists):
    """lp_part with site-bound exams: they fill their site's unit (none without one:
    infeasible) and need reads there like any exam; their cost_per_exam is added outside."""
    if any(SITE_DEMAND.get(i, 0.0) > 0 and not u for i, u in zip(SITES, units)):
        return None
    open_sites = [i for i, u in zip(SITES, units) if u]
    flows = [(z, i) for z in range(len(ZONES)) for i in open_sites]
    remote = [i for i in open_sites if i != "H"]
    nf, nz = len(flows), len(ZONES)
    n = nf + nz + len(remote)
    cost = np.zeros(n)
    cost[:nf] = [MINUTES[ZONES[z]][SITES.index(i)] + CT["per_exam"] for z, i in flows]
    cost[nf:nf + nz] = CT["referral"]
    a_eq = np.zeros((nz, n))
    for k, (z, _) in enumerate(flows):
        a_eq[z, k] = 1.0
    a_eq[np.arange(nz), nf + np.arange(nz)] = 1.0
    a_ub, b_ub = [], []
    for i in open_sites:                     # zones' exams + site-bound exams <= the unit
        a_ub.append([1.0 if k < nf and flows[k][1] == i else 0.0 for k in range(n)])
        b_ub.append(CT["capacity"] - SITE_DEMAND.get(i, 0.0))
    rpr = reading["reads_per_radiologist"]
    for r, i in enumerate(remote):           # exams - remote <= own reads
        row = [1.0 if k < nf and flows[k][1] == i else 0.0 for k in range(n)]
        row[nf + nz + r] = -1.0
        a_ub.append(row)
        b_ub.append(radiologists.get(i, 0.0) * rpr - SITE_DEMAND.get(i, 0.0))
    row = [1.0 if k < nf and flows[k][1] == "H" else 0.0 for k in range(n)]
    for r in range(len(remote)):             # the centre's exams + remote reads <= its pool
        row[nf + nz + r] = 1.0
    a_ub.append(row)
    b_ub.append(rpr * (radiologists.get("H", 0.0) + hires) - SITE_DEMAND.get("H", 0.0))
    res = linprog(cost, A_ub=np.array(a_ub), b_ub=b_ub, A_eq=a_eq, b_eq=demand,
                  bounds=(0, None), method="highs")
    return res.fun if res.status == 0 else None


@pytest.mark.parametrize("name", ["pool_binds", "half_fte"])
def test_site_bound_demand_with_reading_equals_brute_force(name):
    population, knobs, fte = CASES[name]
    reading = {**knobs, "centres": ["H"]}
    base = case(population, reading, fte)
    site_demand = pd.DataFrame({"site_id": list(SITE_DEMAND), "service": "CT",
                                "units_per_year": list(SITE_DEMAND.values())})
    plan = planner.solve(base.with_(tables={"site_demand": site_demand}))
    demand = demand_of(population)
    most = math.ceil((sum(demand) + sum(SITE_DEMAND.values())) / knobs["reads_per_radiologist"])
    best, argbest = math.inf, None
    for units in itertools.product((0, 1), repeat=len(SITES)):
        for hires in range(most + 2):
            part = lp_with_site_demand(units, hires, demand, reading, fte)
            if part is None:
                continue
            total = part + sum(units) * (CT["capex"] + CT["opex"]) \
                + hires * knobs["radiologist_cost"] + sum(SITE_DEMAND.values()) * CT["per_exam"]
            if total < best - 1e-9:
                best, argbest = total, (units, hires)
    assert plan.objective == pytest.approx(best, rel=1e-7)
    hired = plan.decisions[plan.decisions["decision"] == "hired_radiologists"]
    assert int(hired["amount"].sum()) == argbest[1]
    table = plan.reading.set_index("site_id")    # the site-bound exams are read too
    for i, exams in SITE_DEMAND.items():
        flows = plan.flows.loc[plan.flows["site_id"] == i, "units"].sum()
        assert table.loc[i, "exams"] == pytest.approx(flows + exams)

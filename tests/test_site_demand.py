"""Site-bound demand (docs/design.md section 9, issue 21 item 1): `site_demand.csv`.

Exams that arise at a site (in-patients, emergencies) and are served there only: they count in
the site's equipment capacity, never travel and are never referred out. Bad rows are refused
(exit 2) with file, column and row; the optimum with site-bound demand is checked against a brute
force written here (every unit count at every site enumerated, flows by scipy's linprog).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
import toy
from helpers import only_problem, problems_of, run_planner, write_scenario
from planner.errors import InfeasibleError
from planner.model.families import build_model
from planner.model.highs import HighsModel, Status
from planner.model.inputs import model_inputs
from planner.planning.session import solver_options
from planner.scenario.loading import from_tables
from test_model_source import load_twin


# --- the file and its validation ---------------------------------------------------------------
def test_no_file_gives_an_empty_table(tiny_folder: Path):
    inp = model_inputs(planner.load_scenario(tiny_folder))
    assert inp.site_demand.empty
    assert inp.site_demand.name == "units_per_year"
    assert list(inp.site_demand.index.names) == ["site_id", "service"]


def test_rows_become_a_series_by_site_and_equipment(tiny_folder: Path):
    write_scenario(tiny_folder, site_demand="""
        site_id,service,units_per_year
        S_C,MRI,500
        S_C,CT,3000
        S_T1,CT,0
        """)
    sd = model_inputs(planner.load_scenario(tiny_folder)).site_demand
    assert sd.to_dict() == {("S_C", "CT"): 3000.0, ("S_C", "MRI"): 500.0}
    assert list(sd.index.names) == ["site_id", "service"] and sd.name == "units_per_year"


@pytest.mark.parametrize("line, column, needle", [
    ("S_X,CT,100", "site_id", "unknown site 'S_X'"),
    ("S_C,neurology,100", "service", "'neurology' is a specialty"),
    ("S_C,PET,100", "service", "unknown equipment 'PET'"),
    ("S_C,CT,-5", "units_per_year", "out of range"),
    ("S_C,CT,inf", "units_per_year", "finite"),
    ("S_C,CT,nan", "units_per_year", ""),
    ("S_C,CT,2e7", "units_per_year", "out of range"),
    ("S_C,CT,many", "units_per_year", "not a number"),
])
def test_a_bad_row_is_refused_with_file_column_and_row(tiny_folder: Path, line, column, needle):
    write_scenario(tiny_folder, site_demand="site_id,service,units_per_year\nS_T1,CT,10\n")
    path = tiny_folder / "site_demand.csv"
    path.write_text(path.read_text() + line + "\n")
    problem = only_problem(tiny_folder)
    assert (problem.file, problem.column, problem.rows) == ("site_demand.csv", column, (3,))
    assert needle in problem.message


def test_a_duplicate_site_and_service_is_refused(tiny_folder: Path):
    write_scenario(tiny_folder, site_demand="""
        site_id,service,units_per_year
        S_C,CT,100
        S_T1,CT,10
        S_C,CT,200
        """)
    found = problems_of(tiny_folder)
    assert {p.file for p in found} == {"site_demand.csv"}
    assert any("duplicate" in p.message and set(p.rows) >= {2, 4} for p in found)


def test_the_command_line_exits_2_and_writes_nothing(tiny_folder: Path, tmp_path: Path):
    write_scenario(tiny_folder, site_demand="site_id,service,units_per_year\nS_C,neurology,5\n")
    out = tmp_path / "out"
    done = run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "site_demand.csv" in done.stderr and "service" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()


# --- the tiny scenario and its brute force ------------------------------------------------------
MINUTES = {("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
           ("Z3", "H"): 35, ("Z3", "T"): 12}
ZONES, SITES = ["Z1", "Z2", "Z3"], ["H", "T"]
CT = dict(fixed=1000.0 + 100.0, capacity=120.0, referral=50.0, max_units=2, per_exam=2.0)
DEMAND = 100.0                       # CT exams per zone: 1,000 residents x 100 per 1,000


def tiny(site_demand: dict | None = None, allowed_tiers=None):
    """3 zones of 100 CT exams, H (county) and T (township), no CT today, at most 2 a site, 120
    exams a unit; `site_demand`: site -> site-bound CT exams (site_demand.csv)."""
    t = toy.tables()
    t["equipment"] = t["equipment"].assign(capacity_per_year=CT["capacity"],
                                           max_per_site=CT["max_units"],
                                           cost_per_exam=CT["per_exam"],
                                           allowed_tiers=allowed_tiers)
    t["travel"] = toy.travel(MINUTES)
    if site_demand:
        t["site_demand"] = pd.DataFrame({"site_id": list(site_demand), "service": "CT",
                                         "units_per_year": [float(v) for v in
                                                            site_demand.values()]})
    return from_tables(toy.settings(budget=1e5), t, "site demand")


def brute_force(site_demand: dict) -> float | None:
    """The least annual cost over every choice of units at H and T, the flows an LP (linprog);
    None if no choice is feasible. Written from docs/design.md sections 5 and 9, not from the
    product: cost = units x (annual capex + opex) + flow x (minutes + cost_per_exam) + unmet x
    referral + site-bound exams x cost_per_exam; a site's flows + its site-bound exams <= its
    units x capacity; a flow only to a site with a unit; site-bound exams never referred."""
    flows = [(z, i) for z in ZONES for i in SITES]
    n = len(flows) + len(ZONES)
    cost = np.array([MINUTES[f] + CT["per_exam"] for f in flows] + [CT["referral"]] * len(ZONES))
    a_eq = np.zeros((len(ZONES), n))
    for r, z in enumerate(ZONES):
        a_eq[r, [c for c, (fz, _) in enumerate(flows) if fz == z]] = 1.0
        a_eq[r, len(flows) + r] = 1.0
    best = None
    for units in itertools.product(range(CT["max_units"] + 1), repeat=len(SITES)):
        rows, rhs, bounds = [], [], []
        for i, u in zip(SITES, units):
            rows.append([float(fi == i) for _, fi in flows] + [0.0] * len(ZONES))
            rhs.append(CT["capacity"] * u - site_demand.get(i, 0.0))
        if min(rhs) < 0:
            continue                                   # the site's own exams do not fit
        bounds = [(0, None if units[SITES.index(i)] else 0) for _, i in flows] + \
            [(0, None)] * len(ZONES)
        lp = linprog(cost, A_ub=np.array(rows), b_ub=np.array(rhs), A_eq=a_eq,
                     b_eq=np.full(len(ZONES), DEMAND), bounds=bounds, method="highs")
        if lp.status != 0:
            continue
        value = lp.fun + CT["fixed"] * sum(units) + CT["per_exam"] * sum(site_demand.values())
        best = value if best is None else min(best, value)
    return best


SITE_SETS = {"none": {}, "H": {"H": 150.0}, "T": {"T": 60.0}, "both": {"H": 200.0, "T": 30.0},
             "both heavy": {"H": 230.0, "T": 200.0}}


@pytest.mark.parametrize("case", SITE_SETS)
def test_the_optimum_with_site_demand_is_the_brute_force_optimum(case):
    plan = planner.solve(tiny(SITE_SETS[case]))
    expected = brute_force(SITE_SETS[case])
    assert expected is not None
    assert plan.objective == pytest.approx(expected, rel=1e-7), case


def test_site_demand_forces_units_and_is_reported_per_site(tmp_path: Path):
    """H's own 200 exams need 2 units (120 each) although the zones alone would want fewer
    there; they count in H's utilisation, cost cost_per_exam and never appear as flows."""
    free, bound = planner.solve(tiny()), planner.solve(tiny({"H": 200.0}))
    units = bound.equipment.set_index("site_id")
    assert free.equipment.set_index("site_id").at["H", "total"] < 2 <= units.at["H", "total"]
    assert units.at["H", "site_bound_exams"] == 200.0 and units.at["T", "site_bound_exams"] == 0
    exams = units.at["H", "exams"] + 200.0
    assert units.at["H", "utilization"] == pytest.approx(exams / (120.0 * units.at["H", "total"]))
    assert bound.kpis["site_bound_exams"] == {"H": {"CT": 200.0}}
    bound.save(tmp_path / "plan")
    flows = pd.read_csv(tmp_path / "plan" / "flows.csv")
    at_h = flows.loc[flows["site_id"] == "H", "units"].sum()
    assert at_h + 200.0 <= 120.0 * units.at["H", "total"] + 1e-6
    ledger = pd.read_csv(tmp_path / "plan" / "ledger.csv")
    service = ledger[ledger["term"] == "service"]
    assert service["amount"].sum() == pytest.approx(CT["per_exam"] * (flows["units"].sum() + 200))
    equipment = pd.read_csv(tmp_path / "plan" / "equipment.csv")
    assert list(equipment.columns[:len(free.equipment.columns)]) == list(free.equipment.columns)


def test_zero_site_demand_plans_exactly_as_no_file():
    assert planner.solve(tiny({"H": 0.0})).objective == planner.solve(tiny()).objective


def _consortium_case():
    rows = pd.DataFrame({"site_id": ["S_H", "S_T1"], "service": "CT",
                         "units_per_year": [30000.0, 5000.0]})
    return toy.consortium().with_(tables={"site_demand": rows})


def _no_arcs_case():
    """T is beyond CT's max_minutes (8) of every zone: its row holds only its own exams."""
    case = tiny({"H": 50.0, "T": 30.0})
    return case.with_(tables={"equipment": case.equipment.assign(max_minutes=8.0)})


@pytest.mark.parametrize("game", [False, True], ids=["plan", "game"])
@pytest.mark.parametrize("build", [_consortium_case, _no_arcs_case], ids=["consortium", "no arcs"])
def test_the_twin_builds_the_same_model_with_site_demand(build, game):
    """benchmarks/highs_direct.py writes the capacity row with site-bound exams independently,
    including a pair with site-bound demand but no arcs."""
    case = build()
    inp = model_inputs(case, game=game)
    twin = load_twin()
    h, _ = twin.build(inp)
    ours = HighsModel(build_model(inp))
    differences = twin.compare_lp(ours.highs, h)
    assert differences == dict.fromkeys(differences, 0), differences
    options = solver_options(case)
    a, b = ours.solve(options), twin.solve(h, options)
    assert a.status is Status.OPTIMAL and twin.same_objective(a.objective, b.objective)


# --- impossible site-bound demand, explained before solving -------------------------------------
def test_a_site_whose_tier_may_not_hold_the_equipment_is_explained():
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(tiny({"T": 50.0}, allowed_tiers="county"))
    text = "\n".join(caught.value.causes)
    assert "centre (T)" in text and "50 CT exams" in text and "tier 'township'" in text
    assert "allowed_tiers" in text


def test_a_site_whose_own_demand_exceeds_max_per_site_is_explained():
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(tiny({"H": 250.0}))
    text = "\n".join(caught.value.causes)
    assert "hospital (H)" in text and "need 3 unit(s)" in text and "max_per_site" in text


# --- the default county ---------------------------------------------------------------------------
def test_each_county_hospital_keeps_the_units_its_own_demand_needs():
    """Tianchang's People's and TCM hospitals (data/tianchang/site_demand.csv, from
    data/build_tianchang.py): units x capacity_per_year x max_utilization covers their own exams
    and the zones' exams served there, read back from the raw tables."""
    scenario = planner.load_scenario()
    plan = planner.solve(scenario)
    eq = scenario.equipment.set_index("equipment")
    bound = scenario.site_demand
    assert set(bound["site_id"]) == {"S_PH", "S_TCM"}
    units = plan.equipment.set_index(["site_id", "equipment"])["total"]
    flows = plan.flows.groupby(["site_id", "service"])["units"].sum()
    for i, e, own in bound[["site_id", "service", "units_per_year"]].itertuples(index=False):
        per_unit = eq.at[e, "capacity_per_year"] * eq.at[e, "max_utilization"]
        need = int(np.ceil(own / per_unit))
        assert need >= 1 and units[(i, e)] >= need, (i, e)
        assert own + flows.get((i, e), 0.0) <= units[(i, e)] * per_unit * (1 + 1e-9)

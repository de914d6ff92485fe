"""The `equipment_rounding` rows (models/allocation.md): a valid inequality, added for speed only.

Per equipment e: sum_i units[i,e] + w * sum_z unmet[z,e] >= r. The test recomputes from the
scenario's tables what every plan must satisfy (n whole units serve at most n * capacity, the
rest is referred out) and checks, for every whole n, that the row holds at the least unmet
demand n units allow and that it is tight at n = floor(D / capacity) (the strongest such row);
then that the optimum with the rows equals the optimum of the same model without them (both
solved to a gap of 1e-9), on small scenarios where the rounding matters, with site-bound exams
(site_demand.csv: they raise b and cannot be referred) and with central reading ([reading]),
and on the default county; that the benchmark's twin writes the same rows; and that a capacity
what-if updates them.
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

import planner
import toy
from planner.model.families import build_model
from planner.model.highs import HighsModel, SolverOptions, Status
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession, solver_options
from test_model_source import load_twin

EXACT = SolverOptions(mip_gap=1e-9, mip_abs_gap=1e-9)
MAX_UTILIZATION = 0.85        # the toy consortium's CT


def ct_demand() -> float:
    """The toy consortium's CT exams a year, summed from its tables (zones x conditions)."""
    sc = toy.consortium()
    per_1000 = sc.conditions.set_index("condition")["cases_per_1000"]
    links = sc.condition_services[sc.condition_services["service"] == "CT"]
    rate = sum(per_1000[c] * u for c, u in zip(links["condition"], links["units_per_case"]))
    return float(sc.zones["population"].sum()) / 1000 * rate


def with_units_needed(b: float, **changes):
    """The toy consortium with CT's capacity set so that its demand fills b units."""
    sc = toy.consortium()
    capacity = ct_demand() / b / MAX_UTILIZATION
    return sc.with_(tables={"equipment": sc.equipment.assign(capacity_per_year=capacity)},
                    **changes)


CASES = {"b=2.4": 2.4, "b=3 (whole)": 3.0, "b=3.0004 (f below 1e-3)": 3.0004, "b=0.7": 0.7,
         "b=4.6 (above the 2 existing + 3 new a site)": 4.6}


@pytest.mark.parametrize("b", CASES.values(), ids=CASES.keys())
def test_the_row_holds_for_every_whole_number_of_units_and_is_tight(b):
    model = build_model(model_inputs(with_units_needed(b)))
    row = model.equipment_rounding["CT"]
    w, r = model.rounding_weight["CT"].value, model.rounding_units["CT"].value
    demand, capacity = ct_demand(), ct_demand() / b   # capacity per unit after utilisation
    assert pytest.approx(demand / capacity) == b
    for n in range(0, math.ceil(b) + 3):
        least_unmet = max(0.0, demand - n * capacity)
        assert n + w * least_unmet >= r - 1e-9 * max(1, r), (n, w, r)
    fraction = b - math.floor(b)
    if fraction >= 1e-3:      # the rounded row: whole right-hand side, tight at floor(b) units
        assert r == math.ceil(b)
        n = math.floor(b)
        assert n + w * (demand - n * capacity) == pytest.approx(r, rel=1e-9)
    else:                     # the aggregated capacity itself
        assert r == pytest.approx(b, rel=1e-12) and w == pytest.approx(1 / capacity, rel=1e-12)
    assert row.lower is model.rounding_units["CT"]      # a mutable right-hand side


def optimum_without_rows(scenario) -> float:
    """The optimum of the same model with the equipment_rounding rows deactivated."""
    model = build_model(model_inputs(scenario))
    model.equipment_rounding.deactivate()
    highs = HighsModel(model)
    assert not any(c.parent_component().name == "equipment_rounding"
                   for c in highs.constraints)
    result = highs.solve(EXACT)
    assert result.objective is not None
    return result.objective


@pytest.mark.parametrize("b", CASES.values(), ids=CASES.keys())
def test_the_optimum_is_the_same_with_and_without_the_rows(b):
    scenario = with_units_needed(b)
    with_rows = PlanningSession(scenario, mip_gap=1e-9).solve()
    assert len(PlanningSession(scenario).model.equipment_rounding) == 1
    assert with_rows.objective == pytest.approx(optimum_without_rows(scenario), rel=1e-8)


def test_with_a_tight_budget_and_a_grassroots_target_the_optimum_is_the_same():
    scenario = with_units_needed(2.4, budget=3e6,
                                 min_grassroots_share={"cardiology": 0.3, "CT": 0.2})
    with_rows = PlanningSession(scenario, mip_gap=1e-9).solve()
    assert with_rows.objective == pytest.approx(optimum_without_rows(scenario), rel=1e-8)


def test_a_capacity_what_if_updates_the_rows_without_a_rebuild():
    session = PlanningSession(with_units_needed(2.4), mip_gap=1e-9)
    session.solve()
    variant = with_units_needed(3.6)
    plan = session.solve(variant)
    assert session.rebuilds == 1
    assert session.model.rounding_units["CT"].value == 4
    fresh = PlanningSession(variant, mip_gap=1e-9).solve()
    assert plan.objective == pytest.approx(fresh.objective, rel=1e-9)
    assert plan.objective == pytest.approx(optimum_without_rows(variant), rel=1e-8)


def test_the_games_of_stage_2_build_their_rounding_rows_off():
    """A coalition's solve sets them (tests/test_coalition_rounding.py); as built they are off:
    sum units + unmet / capacity >= 0."""
    model = build_model(model_inputs(with_units_needed(2.4), game=True))
    assert list(model.equipment_rounding) == ["CT"]
    assert model.rounding_units["CT"].value == 0
    assert model.rounding_weight["CT"].value == pytest.approx(1 / (ct_demand() / 2.4))


# --- site-bound demand (site_demand.csv) and central reading ([reading]) ------------------------
# Site-bound exams in units' worth at two sites: they are served where they arise (never
# referred), so they raise b by their sum and have no unmet term.
SITE_BOUND = {"S_H": 0.35, "S_T1": 0.3}
READING = {"reads_per_radiologist": 500.0, "radiologist_cost": 25_000.0, "centres": ["S_H"]}


def with_site_bound(b: float, reading: bool = False, **changes):
    """The toy consortium whose zones' CT demand fills b units, plus SITE_BOUND's exams; with
    `reading`, a reading centre at the hospital and a few radiologists (a pool that binds)."""
    base = with_units_needed(b, **changes)
    capacity = ct_demand() / b
    rows = pd.DataFrame({"site_id": list(SITE_BOUND), "service": "CT",
                         "units_per_year": [u * capacity for u in SITE_BOUND.values()]})
    tables = {"site_demand": rows}
    if not reading:
        return base.with_(tables=tables)
    tables["resources"] = pd.concat([base.resources, pd.DataFrame(
        {"site_id": ["S_H", "S_T1"], "resource": "radiologists", "amount": [1.0, 0.5]})],
        ignore_index=True)
    return base.with_(tables=tables, **READING)


BOUND_CASES = {"b=2.4+0.65": 2.4, "b=1.35+0.65 (whole)": 1.35, "b=0.7+0.65": 0.7,
               "b=3.9+0.65": 3.9}


@pytest.mark.parametrize("b", BOUND_CASES.values(), ids=BOUND_CASES.keys())
def test_with_site_bound_demand_the_row_counts_it_and_holds_for_every_whole_number(b):
    model = build_model(model_inputs(with_site_bound(b)))
    w, r = model.rounding_weight["CT"].value, model.rounding_units["CT"].value
    capacity = ct_demand() / b
    zones, bound = ct_demand(), sum(SITE_BOUND.values()) * capacity
    total = (zones + bound) / capacity
    fraction = total - math.floor(total)
    assert r == (math.ceil(total) if fraction >= 1e-3 else pytest.approx(total))
    for n in range(math.ceil(bound / capacity), math.ceil(total) + 3):
        # n units serve the site-bound exams first (they cannot be referred), then the zones
        least_unmet = max(0.0, zones - (n * capacity - bound))
        assert n + w * least_unmet >= r - 1e-9 * max(1, r), (n, w, r)


CASES_WITH_SITES = {"site-bound b=2.4": (2.4, False), "site-bound b=1.35 (whole)": (1.35, False),
                    "site-bound b=3.9": (3.9, False), "site-bound + reading b=2.4": (2.4, True),
                    "site-bound + reading b=0.7": (0.7, True)}


@pytest.mark.parametrize("b, reading", CASES_WITH_SITES.values(), ids=CASES_WITH_SITES.keys())
def test_with_site_bound_demand_and_reading_the_optimum_is_the_same(b, reading):
    scenario = with_site_bound(b, reading=reading)
    with_rows = PlanningSession(scenario, mip_gap=1e-9).solve()
    assert with_rows.objective == pytest.approx(optimum_without_rows(scenario), rel=1e-8)
    if reading:
        hired = with_rows.decisions
        assert hired.loc[hired["decision"] == "hired_radiologists", "amount"].sum() > 0


def test_with_site_bound_demand_reading_and_a_tight_budget_the_optimum_is_the_same():
    scenario = with_site_bound(2.4, reading=True, budget=3e6,
                               min_grassroots_share={"cardiology": 0.3, "CT": 0.2})
    with_rows = PlanningSession(scenario, mip_gap=1e-9).solve()
    assert with_rows.objective == pytest.approx(optimum_without_rows(scenario), rel=1e-8)


def test_the_twin_builds_the_same_rounding_rows_with_site_bound_demand_and_reading():
    """benchmarks/highs_direct.py writes the rows (b with the site-bound exams) independently."""
    scenario = with_site_bound(2.4, reading=True)
    inp = model_inputs(scenario)
    twin = load_twin()
    h, shape = twin.build(inp)
    assert shape["rows"]["equipment_rounding"] == 1
    ours = HighsModel(build_model(inp))
    differences = twin.compare_lp(ours.highs, h)
    assert differences == dict.fromkeys(differences, 0), differences
    options = solver_options(scenario)
    a, b = ours.solve(options), twin.solve(h, options)
    assert a.status is Status.OPTIMAL and twin.same_objective(a.objective, b.objective)


def test_the_default_county_objective_is_unchanged_by_the_rows():
    """The embedded county (site-bound CT/MRI at two hospitals and, where its scenario has it,
    central reading), solved to a gap of 1e-9 with and without the rows."""
    county = planner.load_scenario(None)
    with_rows = PlanningSession(county, mip_gap=1e-9).solve()
    assert len(county.site_demand) > 0
    assert with_rows.objective == pytest.approx(optimum_without_rows(county), rel=1e-8)

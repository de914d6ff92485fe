"""Goals (docs/design.md section 7): coverage and worst-minutes, lexicographic then least cost.

References nobody here computed by the planner: Swain's 55-node data (Church & ReVelle 1974 MCLP
figures, and the MCLP optima of benchmarks/swain computed independently), the published vertex
p-centre optima of OR-Library pmed instances, and brute-force enumeration on small instances.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
from planner.cli import app
from planner.errors import InfeasibleError
from planner.model.goals import (
    GoalError,
    covering_lower_bound,
    make_goal,
    populated_minutes,
    radius_levels,
)
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession
from planner.scenario.orlib import load_pmed, pmedian_scenario

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
SWAIN = pd.read_csv(BENCH / "swain" / "swain55.csv")
SWAIN_OPTIMA = pd.read_csv(BENCH / "swain" / "swain55_cover_computed.csv")
# Vertex p-centre optima of OR-Library pmed instances: Daskin (2000), "A new approach to solving
# the vertex p-center problem to optimality", Networks 36(3); the same values in Elloumi, Labbe &
# Pochet (2004), INFORMS J. Computing 16(1), and Pullan (2008), Evolutionary Computation 16(3).
PCENTRE_OPTIMA = {"pmed1": 127, "pmed2": 98, "pmed3": 93, "pmed4": 74, "pmed5": 48}


def weighted_scenario(distances: np.ndarray, population, p: int, name: str = "weighted"):
    """OR-Library style (one unit of equipment F per site, annual capital 1, budget p) with a
    population per node: every node a zone and a candidate site. No condition is urgent, so
    the goals here are pure location studies with or without relax_urgent."""
    scenario = pmedian_scenario(distances, p, name)
    population = np.asarray(population, dtype=float)
    zones = scenario.tables["zones"].assign(population=population)
    # one unit can serve every resident (demand = population: 1,000 cases per 1,000)
    equipment = scenario.tables["equipment"].assign(capacity_per_year=float(population.sum()))
    return scenario.with_(tables={"zones": zones, "equipment": equipment})


def swain(p: int):
    xy = SWAIN[["x", "y"]].to_numpy(float)
    distances = np.sqrt(((xy[:, None, :] - xy[None, :, :]) ** 2).sum(axis=2))
    return weighted_scenario(distances, SWAIN["demand"], p, "swain55"), distances


# --- coverage: Swain 55 --------------------------------------------------------------------------
@pytest.mark.parametrize("minutes, p, published", [(15, 5, 640), (10, 5, 609)])
def test_swain_published_mclp_figures(minutes, p, published):
    """Church & ReVelle (1974), quoted in benchmarks/swain/SOURCE.md. A pure location study:
    relax_urgent=True (Swain's data have no urgent rule; the flag is recorded all the same)."""
    scenario, _ = swain(p)
    plan = planner.solve(scenario, goal="coverage", service="F", minutes=minutes,
                         relax_urgent=True)
    assert plan.status == "optimal"
    assert plan.goal == {"kind": "coverage", "service": "F", "minutes": float(minutes),
                         "relax_urgent": True, "value": published}


@pytest.mark.parametrize("minutes, p", [(5, 3), (8, 2), (12, 4), (20, 1), (25, 2), (30, 1)])
def test_swain_mclp_optima(minutes, p):
    row = SWAIN_OPTIMA[(SWAIN_OPTIMA["model"] == "MCLP") & (SWAIN_OPTIMA["S"] == minutes)
                       & (SWAIN_OPTIMA["p"] == p)].iloc[0]
    scenario, distances = swain(p)
    plan = planner.solve(scenario, goal="coverage", service="F", minutes=minutes)
    assert plan.goal["value"] == row["optimal_objective"]
    # the sites placed do cover that many residents (recomputed here from the distances)
    placed = plan.equipment.loc[plan.equipment["total"] > 0, "site_id"]
    columns = [int(i[1:]) - 1 for i in placed]
    covered = (distances[:, columns] <= minutes).any(axis=1)
    assert SWAIN["demand"][covered].sum() == row["optimal_objective"]
    assert len(columns) <= p


# --- worst-minutes: p-centre -------------------------------------------------------------------
@pytest.mark.parametrize("p", [2, 3])
def test_swain_pcentre_by_enumeration(p):
    scenario, distances = swain(p)
    best = min(distances[:, list(s)].min(axis=1).max()
               for s in itertools.combinations(range(len(distances)), p))
    plan = planner.solve(scenario, goal="worst-minutes", service="F")
    assert plan.status == "optimal"
    assert plan.goal["value"] == pytest.approx(best, abs=1e-9)
    assert plan.goal["kind"] == "worst-minutes" and "minutes" not in plan.goal


@pytest.mark.slow
@pytest.mark.parametrize("instance", ["pmed1", "pmed2", "pmed3"])
def test_pmed_published_pcentre(instance):
    scenario = load_pmed(BENCH / "orlib" / f"{instance}.txt")
    plan = planner.solve(scenario, goal="worst-minutes", service="F")
    assert plan.status == "optimal"
    assert plan.goal["value"] == PCENTRE_OPTIMA[instance]


@pytest.mark.parametrize("instance", ["pmed1", "pmed2", "pmed3", "pmed4", "pmed5"])
def test_the_covering_relaxation_reaches_the_published_pcentre(instance):
    """Uncapacitated, the relaxation that bounds the bisection (units, the budget's count,
    cover within d_k; no flows) is exact: its radius is the published p-centre optimum."""
    scenario = load_pmed(BENCH / "orlib" / f"{instance}.txt")
    inp = model_inputs(scenario)
    goal = make_goal(scenario, "worst-minutes", "F", None, None)
    levels = radius_levels(populated_minutes(inp, "F"))
    assert levels[covering_lower_bound(inp, goal, levels)] == PCENTRE_OPTIMA[instance]


def test_the_relaxation_bounds_a_capacitated_worst_trip(county):
    """With capacities, budget and the stroke rule the relaxation is only a bound: the MRI
    plan's worst trip (recomputed here from its units in service) is at or above it."""
    inp = model_inputs(county)
    goal = make_goal(county, "worst-minutes", "MRI", None, None)
    levels = radius_levels(populated_minutes(inp, "MRI"))
    bound = levels[covering_lower_bound(inp, goal, levels)]
    plan = planner.solve(county, goal="worst-minutes", service="MRI")
    minutes = populated_minutes(inp, "MRI")
    placed = plan.equipment[(plan.equipment.equipment == "MRI") & (plan.equipment.total > 0)]
    worst = minutes[list(placed.site_id)].min(axis=1).max()
    assert plan.goal["value"] == pytest.approx(worst)
    assert worst >= bound - 1e-9


# --- lexicographic cost, by enumeration ---------------------------------------------------------
def small_instance(seed: int, n: int = 7, p: int = 3):
    rng = np.random.default_rng(seed)
    xy = rng.integers(0, 30, size=(n, 2)).astype(float)
    distances = np.round(np.sqrt(((xy[:, None] - xy[None]) ** 2).sum(axis=2)), 1)
    population = rng.integers(1, 40, size=n).astype(float)
    return weighted_scenario(distances, population, p, f"small{seed}"), distances, population


def enumerate_plans(distances, population, p):
    """Every set of at most p sites: (covered-by-T function, worst trip, annual cost).

    Annual cost of a set S (docs/design.md section 5 with these data): capital 1 per unit (capex 1,
    lifetime 1, rate 0), no opex, and each zone's demand (= population) served at its nearest
    unit at 1 per minute: |S| + sum_z population[z] * min_{i in S} t[z, i]."""
    out = []
    for size in range(1, p + 1):
        for s in itertools.combinations(range(distances.shape[1]), size):
            nearest = distances[:, list(s)].min(axis=1)
            out.append((nearest, float(nearest.max()), size + float(population @ nearest)))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_worst_minutes_then_least_cost(seed):
    scenario, distances, population = small_instance(seed)
    plans = enumerate_plans(distances, population, 3)
    worst = min(w for _, w, _ in plans)
    cheapest = min(c for _, w, c in plans if w == worst)
    plan = planner.solve(scenario, goal="worst-minutes", service="F")
    assert plan.goal["value"] == pytest.approx(worst)
    assert plan.objective == pytest.approx(cheapest, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_coverage_then_least_cost(seed):
    scenario, distances, population = small_instance(seed)
    minutes = float(np.median(distances))
    plans = enumerate_plans(distances, population, 3)
    covered = [(float(population[nearest <= minutes].sum()), c) for nearest, _, c in plans]
    most = max(v for v, _ in covered)
    cheapest = min(c for v, c in covered if v == most)
    plan = planner.solve(scenario, goal="coverage", service="F", minutes=minutes)
    assert plan.goal["value"] == most
    assert plan.objective == pytest.approx(cheapest, rel=1e-9)
    # the epsilon-constraint point: least cost with at least `level` residents covered
    session = PlanningSession(scenario, goal="coverage", service="F", minutes=minutes)
    for level in sorted({v for v, _ in covered})[-3:]:
        point = session.solve(coverage_at_least=level)
        assert point.objective == pytest.approx(min(c for v, c in covered if v >= level),
                                                rel=1e-9)
        assert point.goal["value"] >= level
    with pytest.raises(InfeasibleError, match="no plan covers"):
        session.solve(coverage_at_least=float(population.sum()) + 1)
    assert session.rebuilds == 1


# --- the county and the interfaces --------------------------------------------------------------
@pytest.fixture(scope="module")
def county():
    return planner.load_scenario(None)


def test_county_coverage_goal_beats_the_cost_plan(county):
    cost_plan = planner.solve(county)
    plan = planner.solve(county, goal="coverage", service="MRI", minutes=20)
    minutes = planner.model.inputs.travel_minutes(county)
    populated = county.zones.set_index("zone_id")["population"]
    populated = populated[populated > 0]

    def covered(p):
        sites = p.equipment.loc[(p.equipment["equipment"] == "MRI") & (p.equipment["total"] > 0),
                                "site_id"]
        near = minutes.loc[populated.index, list(sites)].min(axis=1) <= 20
        return populated[near].sum()

    assert plan.goal["value"] == covered(plan)
    assert plan.goal["value"] >= covered(cost_plan)
    assert plan.objective >= cost_plan.objective - 1e-6 * cost_plan.objective


def test_goal_arguments_are_checked(county):
    with pytest.raises(GoalError, match="not known"):
        planner.solve(county, goal="fastest")
    with pytest.raises(GoalError, match="equipment.csv"):
        planner.solve(county, goal="coverage", service="PET", minutes=30)
    with pytest.raises(GoalError, match="--minutes"):
        planner.solve(county, goal="coverage", service="CT")
    with pytest.raises(GoalError, match="--minutes"):
        planner.solve(county, goal="worst-minutes", service="CT", minutes=30)
    with pytest.raises(GoalError, match="--service"):
        planner.solve(county, service="CT")


def test_cli_goal_writes_plan_json(tmp_path):
    out = tmp_path / "plan"
    result = CliRunner().invoke(app, ["plan", "--goal", "worst-minutes", "--service", "MRI",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    data = json.loads((out / "plan.json").read_text())
    assert data["goal"]["kind"] == "worst-minutes" and data["goal"]["service"] == "MRI"
    assert data["goal"]["value"] > 0 and data["objective"] > 0
    assert "worst-minutes" in result.output
    bad = CliRunner().invoke(app, ["plan", "--goal", "coverage", "--service", "MRI"])
    assert bad.exit_code == 2 and "--minutes" in bad.output

"""The radius formulation of p-median-like scenarios (planner/model/radius.py, models/allocation.md
"Formulations for scale"): which scenarios qualify, the published OR-Library optima through
planner.solve, every zone served at its nearest open site (recomputed from the distance matrix),
and on small random location problems the plan's cost equals an enumeration of every set of open
sites written here and the planner's own formulation (the radius route switched off).
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
from planner.model.inputs import model_inputs
from planner.model.radius import problem, why_not
from planner.planning.session import PlanningSession
from planner.scenario.loading import load_scenario
from planner.scenario.orlib import load_pmed, pmedian_scenario, read_pmed

ORLIB = Path(__file__).resolve().parents[1] / "benchmarks" / "orlib"
OPTIMA = pd.read_csv(ORLIB / "pmedopt.csv").set_index("instance")


class StandardSession(PlanningSession):
    """The planner's own formulation only (the radius route switched off)."""

    def _radius_plan(self, options):
        return None


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_published_pmed_optima(k):
    """planner.solve on pmed1-5 (each qualifies) proves the published optimum + p (each unit
    costs 1 a year), and each zone is served at its nearest open site."""
    path = ORLIB / f"pmed{k}.txt"
    scenario = load_pmed(path)
    assert why_not(model_inputs(scenario)) is None
    distances, p = read_pmed(path)
    plan = planner.solve(scenario, time_limit=120)
    assert plan.status == "optimal"
    assert plan.objective - p == pytest.approx(OPTIMA.at[f"pmed{k}", "optimal"], abs=1e-6)
    assert plan.bound == pytest.approx(plan.objective, rel=1e-9)
    open_sites = plan.equipment.loc[plan.equipment["total"] > 0, "site_id"]
    assert len(open_sites) == p
    columns = [int(i[1:]) - 1 for i in open_sites]
    nearest = distances[:, columns].min(axis=1)
    served = plan.flows.set_index("zone_id")["minutes"]
    assert plan.flows["units"].to_numpy() == pytest.approx(np.ones(len(distances)))
    assert served.reindex([f"N{z + 1}" for z in range(len(distances))]).to_numpy() == \
        pytest.approx(nearest)


def test_scenarios_that_do_not_qualify():
    county = model_inputs(load_scenario())
    assert why_not(county) is not None
    capped = pmedian_scenario(np.array([[0.0, 5.0], [5.0, 0.0]]), 1)
    table = capped.equipment.assign(capacity_per_year=1.0)   # two exams, one a unit
    assert why_not(model_inputs(capped.with_(tables={"equipment": table}))) == \
        "capacity can bind (a unit cannot serve all demand)"


def location_case(seed: int):
    """A random location problem: 7 zones, 5 sites, minutes 1-60 with some pairs beyond
    max_minutes, unit costs, referral cheaper than the longest trips, a budget of 2 units."""
    rng = np.random.default_rng(seed)
    minutes = rng.integers(1, 60, (7, 5)).astype(float)
    scenario = pmedian_scenario(minutes, 2, f"location {seed}")
    equipment = scenario.equipment.assign(capex=3.0, lifetime_years=1.0, opex_per_year=2.0,
                                          referral_cost=40.0, max_minutes=45.0,
                                          cost_per_exam=1.5, max_per_site=2,
                                          capacity_per_year=1000.0)
    zones = scenario.zones.assign(population=rng.integers(1, 5, 7).astype(float))
    return scenario.with_(tables={"equipment": equipment, "zones": zones},
                          budget=6.0), minutes, zones["population"].to_numpy(float)


def enumerate_open_sets(minutes: np.ndarray, demand: np.ndarray) -> float:
    """Every set of at most 2 open sites: units cost 3 + 2 a year, an exam 1.5 + minutes
    within 45 minutes of an open site, else the referral 40."""
    best = math.inf
    for size in range(3):
        for open_sites in itertools.combinations(range(minutes.shape[1]), size):
            per_exam = np.full(len(minutes), 40.0)
            for i in open_sites:
                reach = minutes[:, i] <= 45.0
                per_exam[reach] = np.minimum(per_exam[reach], minutes[reach, i] + 1.5)
            best = min(best, 5.0 * size + float(demand @ per_exam))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_location_problems_equal_enumeration_and_the_standard_formulation(seed):
    scenario, minutes, demand = location_case(seed)
    assert why_not(model_inputs(scenario)) is None
    plan = planner.solve(scenario)
    assert plan.status == "optimal"
    assert plan.objective == pytest.approx(enumerate_open_sets(minutes, demand), rel=1e-9)
    standard = StandardSession(scenario).solve()
    assert plan.objective == pytest.approx(standard.objective, rel=1e-9)
    assert (plan.flows["units"] > 0).all()


def test_a_session_after_a_radius_plan_re_solves_like_a_fresh_solve():
    """The units fixed for the radius plan are freed again: a what-if in the same session
    equals a fresh solve of the variant (budget 6 -> 3: one unit)."""
    scenario, _, _ = location_case(0)
    session = PlanningSession(scenario)
    session.solve()
    variant = scenario.with_(budget=3.0)
    assert session.solve(variant).objective == pytest.approx(
        planner.solve(variant).objective, rel=1e-9)
    assert session.solve(scenario).objective == pytest.approx(
        planner.solve(scenario).objective, rel=1e-9)


@pytest.mark.parametrize("seed", range(4))
def test_square_p_medians_with_exactly_p_open_equal_enumeration(seed):
    """Every node a zone and a site (distance 0 to itself): opening a site always pays, so the
    model holds sum y = p and leaves out the levels that always hold an open site (García,
    Labbé & Marín's reduction); the plan still equals an enumeration of every set of p sites."""
    rng = np.random.default_rng(seed)
    points = rng.random((8, 2)) * 50.0
    distances = np.round(np.linalg.norm(points[:, None] - points[None], axis=2))
    scenario = pmedian_scenario(distances, 3, f"square {seed}")

    assert problem(model_inputs(scenario)).exactly
    best = min(distances[:, list(c)].min(axis=1).sum()
               for c in itertools.combinations(range(8), 3))
    plan = planner.solve(scenario)
    assert plan.objective - 3 == pytest.approx(best, abs=1e-6)

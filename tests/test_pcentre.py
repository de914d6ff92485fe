"""The worst-minutes goal at p-centre scale (issue 22): the covering relaxation's bound, the
solve at that bound, and the bisection above it when the full model cannot meet the bound.

References nobody here computed with the planner: published vertex p-centre optima of OR-Library
pmed instances (benchmarks/orlib/pcentre_opt.csv, sources in benchmarks/orlib/SOURCE.md), the
distances read again from the raw files here, and brute-force enumeration of every site set on
tiny instances (the worst trip, and the least annual cost among the plans that reach it).
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

import planner
from planner.scenario.orlib import load_pmed, pmedian_scenario

ORLIB = Path(__file__).resolve().parents[1] / "benchmarks" / "orlib"
PUBLISHED = pd.read_csv(ORLIB / "pcentre_opt.csv").set_index("instance")["optimal"]


def raw_distances(name: str) -> np.ndarray:
    """Shortest paths of an OR-Library file read here (an edge listed again keeps its last
    cost), independent of planner.scenario.orlib."""
    numbers = (ORLIB / f"{name}.txt").read_text().split()
    n, m = int(numbers[0]), int(numbers[1])
    cost = {}
    for k in range(m):
        i, j, c = numbers[3 + 3 * k: 6 + 3 * k]
        cost[tuple(sorted((int(i) - 1, int(j) - 1)))] = float(c)
    rows = [a for a, _ in cost] + [b for _, b in cost]
    cols = [b for _, b in cost] + [a for a, _ in cost]
    return shortest_path(csr_matrix((list(cost.values()) * 2, (rows, cols)), shape=(n, n)),
                         directed=False)


def placed(plan, equipment: str = "F") -> list[int]:
    """Column indices (node k -> k - 1) of the sites with units of `equipment` in service."""
    rows = plan.equipment[(plan.equipment["equipment"] == equipment)
                          & (plan.equipment["total"] > 0)]
    return [int(str(i)[1:]) - 1 for i in rows["site_id"]]


def check_pmed(name: str) -> None:
    plan = planner.solve(load_pmed(ORLIB / f"{name}.txt"), goal="worst-minutes", service="F")
    distances = raw_distances(name)
    sites = placed(plan)
    assert plan.status == "optimal"
    assert plan.goal["value"] == PUBLISHED[name]
    assert distances[:, sites].min(axis=1).max() == PUBLISHED[name]   # recomputed here
    p = int((ORLIB / f"{name}.txt").read_text().split()[2])
    assert len(sites) <= p


@pytest.mark.parametrize("name", ["pmed3", "pmed4", "pmed5"])
def test_published_pcentre_small(name):
    check_pmed(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["pmed1", "pmed2", "pmed6", "pmed7", "pmed9", "pmed10"])
def test_published_pcentre_larger(name):
    check_pmed(name)


# --- brute force on tiny instances --------------------------------------------------------------
def tiny(seed: int, zones: int = 8, sites: int = 7):
    rng = np.random.default_rng(seed)
    zone_xy, site_xy = rng.integers(0, 40, (zones, 2)), rng.integers(0, 40, (sites, 2))
    return np.round(np.linalg.norm(zone_xy[:, None] - site_xy[None], axis=2), 1)


def brute_force(distances: np.ndarray, p: int, kept=(), allowed=None):
    """(worst trip, least annual cost at it) over every set of sites: the kept ones plus at
    most p new ones among `allowed`. Annual cost = new units (capital 1 each) + the trips
    (one case per zone to its nearest unit, value_per_minute 1)."""
    allowed = [j for j in (allowed if allowed is not None else range(distances.shape[1]))
               if j not in kept]
    best = None
    for size in range(p + 1):
        for new in itertools.combinations(allowed, size):
            chosen = list(kept) + list(new)
            if not chosen:
                continue
            nearest = distances[:, chosen].min(axis=1)
            key = (nearest.max(), size + nearest.sum())
            best = key if best is None or key < best else best
    return best


def scenario_of(distances: np.ndarray, p: int):
    zones = [f"Z{k + 1}" for k in range(distances.shape[0])]
    sites = [f"N{k + 1}" for k in range(distances.shape[1])]
    return pmedian_scenario(distances, p, "tiny", zones, sites)


@pytest.mark.parametrize("seed, p", [(0, 2), (1, 3), (2, 1), (3, 2), (4, 3)])
def test_tiny_pcentre_by_enumeration(seed, p):
    distances = tiny(seed)
    radius, cost = brute_force(distances, p)
    plan = planner.solve(scenario_of(distances, p), goal="worst-minutes", service="F")
    assert plan.status == "optimal"
    assert plan.goal["value"] == pytest.approx(radius, abs=1e-9)
    assert plan.objective == pytest.approx(cost, abs=1e-6)
    assert distances[:, placed(plan)].min(axis=1).max() == pytest.approx(radius, abs=1e-9)


@pytest.mark.parametrize("seed", [5, 6])
def test_kept_units_count_in_the_bound(seed):
    """Two sites keep a unit that cannot move (resources.csv, no relocation_cost): the plan
    adds at most p, and both the worst trip and the cost are the enumeration's."""
    distances, p = tiny(seed), 2
    scenario = scenario_of(distances, p)
    resources = pd.DataFrame({"site_id": ["N1", "N4"], "resource": "F", "amount": 1.0})
    scenario = scenario.with_(tables={"resources": resources})
    radius, cost = brute_force(distances, p, kept=(0, 3))
    plan = planner.solve(scenario, goal="worst-minutes", service="F")
    assert plan.goal["value"] == pytest.approx(radius, abs=1e-9)
    assert plan.objective == pytest.approx(cost, abs=1e-6)
    assert {0, 3} <= set(placed(plan))


@pytest.mark.parametrize("seed, urgent", [(7, 25.0), (11, 30.0)])
def test_a_rule_of_another_equipment_makes_the_bound_unreachable(seed, urgent):
    """An urgent rule on G shares the budget with F: the relaxation (all of the budget on F)
    is below the optimum, the solve at its radius is infeasible and the bisection finds the
    worst trip of F that the rule leaves: the enumeration's, over F and G sets within budget."""
    distances, p = tiny(seed, zones=8, sites=6), 3
    scenario = scenario_of(distances, p)
    tables = scenario.tables
    equipment = pd.concat([tables["equipment"], tables["equipment"].assign(equipment="G")])
    conditions = pd.DataFrame({"condition": ["visit", "stroke"], "cases_per_1000": [1000.0, 1.0],
                               "urgent_service": [None, "G"],
                               "urgent_minutes": [None, urgent]})
    services = pd.DataFrame({"condition": ["visit", "stroke"], "service": ["F", "G"],
                             "units_per_case": [1.0, 1.0]})
    scenario = scenario.with_(tables={"equipment": equipment, "conditions": conditions,
                                      "condition_services": services})
    sites = range(distances.shape[1])
    fewest_g = min(size for size in range(1, p + 1) for g in itertools.combinations(sites, size)
                   if (distances[:, list(g)] <= urgent).any(axis=1).all())
    assert 1 <= fewest_g < p, "the instance must make the rule take part of the budget"
    radius = min(distances[:, list(f)].min(axis=1).max()
                 for f in itertools.combinations(sites, p - fewest_g))
    relaxed = min(distances[:, list(f)].min(axis=1).max()
                  for f in itertools.combinations(sites, p))
    assert relaxed < radius, "the instance must put the relaxation's bound below the optimum"
    plan = planner.solve(scenario, goal="worst-minutes", service="F")
    assert plan.status == "optimal"
    assert plan.goal["value"] == pytest.approx(radius, abs=1e-9)
    assert distances[:, placed(plan, "F")].min(axis=1).max() == pytest.approx(radius, abs=1e-9)


def test_far_flows_are_left_out_only_when_no_plan_needs_them():
    """far_flows (solve 2's arcs longer than the radius, fixed to 0): offered on the tiny
    instance (one unit serves every zone), withheld when a unit cannot serve all the demand or
    a grassroots target counts flows by site. The enumeration tests above run with it."""
    from planner.model.goals import far_flows
    from planner.model.inputs import model_inputs
    from planner.planning.session import PlanningSession

    distances, p = tiny(8), 2
    radius, _ = brute_force(distances, p)
    base = scenario_of(distances, p)
    session = PlanningSession(base, goal="worst-minutes", service="F")
    far = far_flows(session.model, session.inputs, "F", radius)
    assert len(far) == int((distances > radius + 1e-9).sum())
    small = base.with_(tables={"equipment": base.tables["equipment"].assign(
        capacity_per_year=float(distances.shape[0]) - 1.0)})
    session = PlanningSession(small, goal="worst-minutes", service="F")
    assert far_flows(session.model, session.inputs, "F", radius) == []
    session = PlanningSession(base, goal="worst-minutes", service="F")
    targeted = replace(model_inputs(base), grassroots_share=pd.Series({"F": 0.1}))
    assert far_flows(session.model, targeted, "F", radius) == []

"""The construction heuristic (planner/model/start.py, issue 22 item 2) checked against outside
references: OR-Library p-median optima (pmed1-5, published), its plans priced here from the raw
graph by scipy's shortest paths (not the product's reader), urgent coverage recomputed from the
travel minutes, and a time-limited solve that returns at least the heuristic's plan."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import shortest_path

import planner
from planner.model.inputs import model_inputs, travel_minutes
from planner.model.start import construction_start
from planner.scenario.orlib import load_pmed
from toy import consortium

ORLIB = Path(__file__).resolve().parent.parent / "benchmarks" / "orlib"
OPTIMA = pd.read_csv(ORLIB / "pmedopt.csv").set_index("instance")


def distances_from_file(path: Path) -> np.ndarray:
    """All-pairs shortest paths of an OR-Library pmed graph (an edge listed twice keeps its last
    cost, as the library's note says), by scipy, independently of planner.scenario.orlib."""
    numbers = [int(x) for x in path.read_text().split()]
    n, m = numbers[0], numbers[1]
    edges = np.array(numbers[3:3 + 3 * m]).reshape(m, 3)
    last = {}
    for a, b, c in edges:
        last[(min(a, b), max(a, b))] = c
    rows = [a - 1 for a, _ in last] + [b - 1 for _, b in last]
    cols = [b - 1 for _, b in last] + [a - 1 for a, _ in last]
    costs = list(last.values()) * 2
    return shortest_path(coo_matrix((costs, (rows, cols)), shape=(n, n)).tocsr(), directed=False)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_the_greedy_p_median_is_near_the_published_optimum(k):
    name = f"pmed{k}"
    new = construction_start(model_inputs(load_pmed(ORLIB / f"{name}.txt")), seconds=30)
    p, optimum = int(OPTIMA.at[name, "p"]), float(OPTIMA.at[name, "optimal"])
    chosen = [int(site[1:]) - 1 for (site, _), units in new.items() for _ in range(units)]
    assert len(chosen) == len(set(chosen)) == p        # p distinct medians, the budget spent
    cost = distances_from_file(ORLIB / f"{name}.txt")[:, chosen].min(axis=1).sum()
    assert optimum <= cost <= 1.01 * optimum            # Teitz-Bart quality: within 1%


def test_the_start_covers_every_urgent_zone_within_the_budget():
    scenario = consortium(6, seed=2)
    new = construction_start(model_inputs(scenario))
    assert new is not None
    units = scenario.resources[scenario.resources.resource == "CT"].set_index("site_id")["amount"]
    units = units.add(pd.Series({i: n for (i, _), n in new.items()}, dtype=float), fill_value=0)
    minutes = travel_minutes(scenario)
    limit = float(scenario.conditions.set_index("condition").at["stroke", "urgent_minutes"])
    open_sites = [i for i, n in units.items() if n > 0]
    populated = scenario.zones.loc[scenario.zones.population > 0, "zone_id"]
    assert (minutes.loc[populated, open_sites].min(axis=1) <= limit).all()
    capex = float(scenario.equipment.capex.iloc[0])
    assert sum(new.values()) * capex <= scenario.members.budget_contribution.sum()


def test_a_cut_short_solve_returns_at_least_the_heuristic_plan():
    scenario = load_pmed(ORLIB / "pmed6.txt")
    p = int(OPTIMA.at["pmed6", "p"])
    new = construction_start(model_inputs(scenario), seconds=30)
    chosen = [int(site[1:]) - 1 for (site, _), units in new.items() for _ in range(units)]
    heuristic = distances_from_file(ORLIB / "pmed6.txt")[:, chosen].min(axis=1).sum()
    plan = planner.solve(scenario, time_limit=1.0, construction_start=True)
    assert plan.objective is not None
    assert plan.objective - p <= heuristic + 1e-6     # never the refer-everyone incumbent
    assert plan.objective - p >= float(OPTIMA.at["pmed6", "optimal"]) - 1e-6

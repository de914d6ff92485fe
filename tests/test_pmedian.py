"""OR-Library p-median instances (Beasley 1985) solved as planner scenarios: the planner's
objective minus p must equal the published optimum (benchmarks/orlib/pmedopt.csv)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
from planner.scenario.orlib import load_pmed, read_pmed

ORLIB = Path(__file__).resolve().parents[1] / "benchmarks" / "orlib"
OPTIMA = pd.read_csv(ORLIB / "pmedopt.csv").set_index("instance")


@pytest.mark.parametrize("instance", ["pmed1", "pmed2", "pmed3", "pmed4", "pmed5"])
def test_published_optimum(instance):
    scenario = load_pmed(ORLIB / f"{instance}.txt")
    plan = planner.solve(scenario)
    assert plan.status == "optimal"
    p = int(OPTIMA.at[instance, "p"])
    assert scenario.budget == p
    assert plan.objective - p == pytest.approx(OPTIMA.at[instance, "optimal"], abs=1e-6)
    assert plan.equipment["new"].sum() == p


@pytest.mark.slow
@pytest.mark.parametrize("instance", [f"pmed{k}" for k in range(6, 11)])
def test_published_optimum_larger(instance):
    scenario = load_pmed(ORLIB / f"{instance}.txt")
    plan = planner.solve(scenario)
    assert plan.objective - OPTIMA.at[instance, "p"] == pytest.approx(
        OPTIMA.at[instance, "optimal"], abs=1e-6)


def test_duplicate_edges_keep_the_last_cost(tmp_path):
    # OR-Library's note: an edge listed twice takes its LAST cost
    path = tmp_path / "g.txt"
    path.write_text("3 3 1\n1 2 5\n2 3 1\n1 2 9\n")
    distances, p = read_pmed(path)
    assert p == 1
    np.testing.assert_array_equal(distances, [[0, 9, 10], [9, 0, 1], [10, 1, 0]])

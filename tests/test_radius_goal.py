"""Solve 2 of the worst-minutes goal by the radius formulation (issue 22): on a p-median-like
scenario the least annual cost at the optimal worst trip comes from the radius model restricted
to the arcs within the radius (planner/model/radius.py `within`), then the planner's own model
with those units fixed. Checked against the planner's own solve 2 on the full model (the radius
route switched off) and against the published p-centre optimum."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
import planner.model.goals as goals
from planner.model.inputs import model_inputs
from planner.model.radius import problem, radius_lp
from planner.scenario.orlib import load_pmed

ORLIB = Path(__file__).resolve().parents[1] / "benchmarks" / "orlib"
PCENTRE = pd.read_csv(ORLIB / "pcentre_opt.csv").set_index("instance")


@pytest.mark.parametrize("name", ["pmed3", "pmed4"])
def test_solve_2_by_the_radius_model_equals_the_full_models(name, monkeypatch):
    scenario = load_pmed(ORLIB / f"{name}.txt")
    by_radius = planner.solve(scenario, goal="worst-minutes", service="F", time_limit=60)
    monkeypatch.setattr(goals, "why_not", lambda inp: "switched off for the comparison")
    by_full_model = planner.solve(scenario, goal="worst-minutes", service="F", time_limit=60)
    assert by_radius.status == by_full_model.status == "optimal"
    published = float(PCENTRE.loc[name].iloc[-1])
    assert by_radius.goal["value"] == by_full_model.goal["value"] == published
    assert by_radius.objective == pytest.approx(by_full_model.objective, rel=1e-9)
    served = by_radius.flows
    assert served["minutes"].max() <= published + 1e-9     # every flow within the radius


def test_within_keeps_only_arcs_inside_the_radius_and_forbids_referral():
    inp = model_inputs(load_pmed(ORLIB / "pmed3.txt"))
    prob = problem(inp, within=93.0)
    minutes = inp.arcs.pivot(index="zone_id", columns="site_id", values="minutes")
    assert prob.must_serve is not None and prob.must_serve.all()
    zones = [z for z, _ in inp.demand.index]   # the order of prob.cost's rows
    for r, z in enumerate(zones[:20]):
        for c, i in enumerate(prob.sites):
            assert (prob.cost[r, c] < float("inf")) == (minutes.at[z, i] <= 93.0)
    lp = radius_lp(prob)
    # one u per zone is held at 0 (its referral) unless the reduction dropped its last level
    assert 0 < (np.asarray(lp.col_upper_) == 0).sum() <= len(zones)

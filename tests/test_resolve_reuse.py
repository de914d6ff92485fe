"""A re-solve whose feasible set only shrank, and still holds the last plan, is answered without
a solve (HighsModel._still_optimal); anything else is solved again. Checked against fresh solves."""

from __future__ import annotations

import pytest

import planner
from planner.planning.session import PlanningSession


@pytest.fixture(scope="module")
def county():
    return planner.load_scenario(None)


def test_budget_cut_the_plan_meets_is_not_solved_again(county):
    session = PlanningSession(county)
    first = session.solve()
    used = first.kpis["capital_used"]
    cut = session.solve(county.with_(budget=used + 1.0))
    assert session.rebuilds == 1
    assert cut.solve_seconds < 0.05          # no HiGHS run: the same plan, proven again
    assert cut.objective == first.objective and cut.bound == first.bound
    fresh = planner.solve(county.with_(budget=used + 1.0))
    assert cut.objective == pytest.approx(fresh.objective, rel=2e-4)   # within the MIP gap


def test_budget_cut_below_the_plan_is_solved(county):
    session = PlanningSession(county)
    first = session.solve()
    budget = first.kpis["capital_used"] * 0.6
    cut = session.solve(county.with_(budget=budget))
    assert cut.kpis["capital_used"] <= budget + 1e-6
    assert cut.objective > first.objective
    fresh = planner.solve(county.with_(budget=budget))
    assert cut.objective == pytest.approx(fresh.objective, rel=2e-4)


def test_budget_raise_is_solved(county):
    session = PlanningSession(county)
    low = session.solve(county.with_(budget=6e6))
    high = session.solve(county.with_(budget=30e6))
    assert high.solve_seconds > 0.05
    assert high.objective < low.objective
    assert high.objective == pytest.approx(planner.solve(county.with_(budget=30e6)).objective,
                                           rel=2e-4)


def test_other_options_are_solved(county):
    session = PlanningSession(county)
    session.solve()
    again = session.solve(mip_gap=1e-6)      # a tighter gap must not reuse the looser answer
    assert again.solve_seconds > 0.05

"""A re-solve whose feasible set only shrank, and still holds the last plan, is answered without
a solve (HighsModel._still_optimal); anything else is solved again. Checked against fresh solves.

Whether HiGHS ran is counted on the session's own HiGHS object (`counted`), not read off the
clock: how long a reused answer takes is a figure for benchmarks/bench_whatif.py, not a test."""

from __future__ import annotations

import pytest

import planner
from planner.planning.session import PlanningSession


@pytest.fixture(scope="module")
def county():
    return planner.load_scenario(None)


def counted(session: PlanningSession) -> list[None]:
    """One entry per run of the session's HiGHS model from now on (the pre-checks' small
    solves use HiGHS objects of their own and are not counted)."""
    runs: list[None] = []
    solver = session.highs.highs
    real_run = solver.run

    def counted_run(*args, **kwargs):
        runs.append(None)
        return real_run(*args, **kwargs)

    solver.run = counted_run       # an instance attribute: this object only
    return runs


def test_budget_cut_the_plan_meets_is_not_solved_again(county):
    session = PlanningSession(county)
    first = session.solve()
    used = first.kpis["capital_used"]
    solver, runs = session.highs, counted(session)
    cut = session.solve(county.with_(budget=used + 1.0))
    assert session.rebuilds == 1 and session.highs is solver   # the same HiGHS model, updated
    assert runs == []                        # no HiGHS run: the same plan, proven again
    assert cut.objective == first.objective and cut.bound == first.bound
    fresh = planner.solve(county.with_(budget=used + 1.0))
    assert cut.objective == pytest.approx(fresh.objective, rel=2e-4)   # within the MIP gap


def test_budget_cut_below_the_plan_is_solved(county):
    session = PlanningSession(county)
    first = session.solve()
    budget = first.kpis["capital_used"] * 0.75   # 0.6: no plan since site-bound exams
    runs = counted(session)
    cut = session.solve(county.with_(budget=budget))
    assert runs
    assert cut.kpis["capital_used"] <= budget + 1e-6
    assert cut.objective > first.objective
    fresh = planner.solve(county.with_(budget=budget))
    assert cut.objective == pytest.approx(fresh.objective, rel=2e-4)


def test_budget_raise_is_solved(county):
    session = PlanningSession(county)
    low = session.solve(county.with_(budget=14e6))
    runs = counted(session)
    high = session.solve(county.with_(budget=30e6))
    assert runs                              # a larger feasible set: the old plan proves nothing
    assert high.objective < low.objective
    assert high.objective == pytest.approx(planner.solve(county.with_(budget=30e6)).objective,
                                           rel=2e-4)


def test_other_options_are_solved(county):
    session = PlanningSession(county)
    session.solve()
    runs = counted(session)
    session.solve(mip_gap=1e-6)              # a tighter gap must not reuse the looser answer
    assert runs

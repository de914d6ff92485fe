"""planner.pareto and `planner pareto`: budget points equal independent coverage-goal solves, the
epsilon-constraint front is monotone and checked against the budget front, and the CLI writes
pareto.csv as docs/design.md section 7 pins it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
import toy
from planner.cli import app
from planner.model.inputs import travel_minutes
from planner.publish import OutputError
from planner.studies.pareto import ParetoError

SERVICE, MINUTES = "CT", 15
# not sorted: rows keep the order given; each keeps the toy's stroke rule (2.7 M at least: a
# budget below it is a row marked infeasible, tests/test_goals_urgent.py)
BUDGETS = [7.5e6, 3e6, 5e6, 6e6]
GAP = 1e-6                          # the toy's mip_gap


@pytest.fixture(scope="module")
def consortium():
    return toy.consortium(townships=4)


@pytest.fixture(scope="module")
def by_budget(consortium):
    return planner.pareto(consortium, SERVICE, MINUTES, budgets=BUDGETS, progress=False)


def covered(scenario, plan) -> float:
    """Residents of populated zones within MINUTES of a site with CT in service, from the plan's
    units and the travel times alone."""
    minutes = travel_minutes(scenario)
    population = scenario.zones.set_index("zone_id")["population"]
    population = population[population > 0]
    sites = plan.equipment.loc[(plan.equipment["equipment"] == SERVICE)
                               & (plan.equipment["total"] > 0), "site_id"]
    if sites.empty:
        return 0.0
    near = minutes.loc[population.index, list(sites)].min(axis=1) <= MINUTES
    return float(population[near].sum())


def test_budget_points_equal_independent_coverage_solves(consortium, by_budget):
    table = by_budget.table
    assert list(table["budget"]) == BUDGETS
    for row, plan in zip(table.itertuples(), by_budget.plans):
        alone = planner.solve(consortium.with_(budget=row.budget), goal="coverage",
                              service=SERVICE, minutes=MINUTES)
        assert row.covered_population == alone.goal["value"] == covered(consortium, plan)
        assert row.annual_cost == pytest.approx(alone.objective, rel=GAP)
        assert row.annual_cost == plan.objective and row.status == "optimal"
        assert plan.kpis["capital_used"] <= row.budget + 1e-6
    order = table.sort_values("budget")
    assert order["covered_population"].is_monotonic_increasing   # more money never covers less
    assert order["covered_population"].iloc[-1] > order["covered_population"].iloc[0]


def test_epsilon_front_is_monotone_and_meets_its_levels(consortium, by_budget):
    levels = sorted(by_budget.table["covered_population"])
    front = planner.pareto(consortium.with_(budget=max(BUDGETS)), SERVICE, MINUTES,
                           coverage_levels=levels, progress=False)
    table = front.table
    assert list(table["coverage_level"]) == levels
    assert (table["covered_population"] >= table["coverage_level"]).all()
    costs = table["annual_cost"].to_numpy()
    assert all(b >= a * (1 - GAP) for a, b in zip(costs, costs[1:]))
    # the budget front's plans are feasible for the epsilon problem at their coverage (their
    # budget is at most the one used here), so the least cost there is no higher
    for point in by_budget.table.itertuples():
        at = table[table["coverage_level"] == point.covered_population].iloc[0]
        assert at["annual_cost"] <= point.annual_cost * (1 + GAP)
    for row, plan in zip(table.itertuples(), front.plans):
        assert covered(consortium, plan) == row.covered_population


def test_evenly_spaced_levels_span_the_front(consortium):
    front = planner.pareto(consortium, SERVICE, MINUTES, coverage_levels=4, progress=False)
    levels = front.table["coverage_level"]
    most = planner.solve(consortium, goal="coverage", service=SERVICE, minutes=MINUTES)
    assert len(levels) == 4 and levels.iloc[-1] == most.goal["value"]
    assert levels.is_monotonic_increasing
    assert front.table["annual_cost"].iloc[-1] == pytest.approx(most.objective, rel=GAP)
    assert (front.table["covered_population"] >= levels).all()


def test_infeasible_level_is_a_row_not_a_failure(consortium):
    total = float(consortium.zones["population"].sum())
    front = planner.pareto(consortium, SERVICE, MINUTES, coverage_levels=[0, total + 1],
                           progress=False)
    assert list(front.table["status"]) == ["optimal", "infeasible"]
    assert "no plan covers" in front.table.loc[1, "message"]
    assert front.plans[1] is None and pd.isna(front.table.loc[1, "annual_cost"])


def test_arguments_are_checked(consortium):
    with pytest.raises(ParetoError, match="not both or neither"):
        planner.pareto(consortium, SERVICE, MINUTES, progress=False)
    with pytest.raises(ParetoError, match="budgets"):
        planner.pareto(consortium, SERVICE, MINUTES, budgets=[1e6, -2], progress=False)
    with pytest.raises(ParetoError, match="at least 2"):
        planner.pareto(consortium, SERVICE, MINUTES, coverage_levels=1, progress=False)


def test_plot_and_save(by_budget, tmp_path):
    figure = by_budget.plot()
    line = figure.axes[0].lines[0]
    assert list(line.get_xdata()) == list(by_budget.table["covered_population"])
    assert list(line.get_ydata()) == list(by_budget.table["annual_cost"])
    assert len(figure.axes[0].texts) == len(BUDGETS)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError):
        by_budget.save(mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_cli_writes_pareto_csv(consortium, by_budget, tmp_path):
    folder = tmp_path / "scenario"
    consortium.save(folder)
    out = tmp_path / "front"
    budgets = ",".join(f"{b:.0f}" for b in BUDGETS)
    result = CliRunner().invoke(app, ["pareto", str(folder), "--service", SERVICE, "--minutes",
                                      str(MINUTES), "--budgets", budgets, "--out", str(out),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out / "pareto.csv")
    assert list(written.columns[:3]) == ["budget", "covered_population", "annual_cost"]
    assert list(written["budget"]) == BUDGETS
    assert list(written["covered_population"]) == list(by_budget.table["covered_population"])
    for row in written.itertuples():
        plan = json.loads((out / row.plan_folder / "plan.json").read_text())
        assert plan["goal"]["value"] == row.covered_population
        assert plan["objective"] == pytest.approx(row.annual_cost, rel=1e-9)


@pytest.mark.parametrize("flags, message", [
    (["--budgets", "1e6,two"], "'two' is not a number"),
    (["--budgets", "1e6", "--coverage-levels", "3"], "not both or neither"),
    ([], "not both or neither"),
])
def test_cli_bad_flags_exit_2(flags, message):
    result = CliRunner().invoke(app, ["pareto", "--service", "CT", "--minutes", "30", *flags])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output

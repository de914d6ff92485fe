"""planner.compare and `planner diff`: what changed between two plans of the default county at
different capital budgets, each table checked against the two plans' own tables."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
from planner.cli import app
from planner.planning.session import PlanningSession

LOW_BUDGET = 14e6   # binds: the default plan spends about 18 million (below 12.3 M no plan)


@pytest.fixture(scope="module")
def plans():
    scenario = planner.load_scenario(planner.default_scenario_path())
    session = PlanningSession(scenario)
    high = session.solve()
    low = session.solve(scenario.with_(budget=LOW_BUDGET))
    assert high.kpis["capital_used"] > LOW_BUDGET >= low.kpis["capital_used"]
    return high, low


@pytest.fixture(scope="module")
def folders(plans, tmp_path_factory):
    root = tmp_path_factory.mktemp("plans")
    for name, plan in zip(("high", "low"), plans):
        plan.save(root / name)
    return root / "high", root / "low"


def side_by_side(before: pd.Series, after: pd.Series) -> pd.DataFrame:
    """The expected table: keys non-zero in either plan, 0 where a plan lacks the key."""
    both = pd.DataFrame({"before": before, "after": after}).fillna(0)
    both = both[(both["before"] != 0) | (both["after"] != 0)]
    return both.assign(change=both["after"] - both["before"]).sort_index()


def check(table: pd.DataFrame, keys: list[str], expected: pd.DataFrame) -> None:
    got = table.set_index(keys)[["before", "after", "change"]].astype(float)
    pd.testing.assert_frame_equal(got, expected.astype(float), check_names=False, rtol=1e-9)


def test_tables_against_the_plans_own_tables(plans):
    high, low = plans
    c = planner.compare(high, low, labels=("24 million", "6 million"))
    assert (c.before, c.after) == ("24 million", "6 million")

    def units(p):
        return p.equipment.set_index(["site_id", "equipment"])["total"]
    check(c.units, ["site_id", "equipment"], side_by_side(units(high), units(low)))
    assert (c.units["change"] != 0).any()      # the lower budget changes the units

    def moved(p):
        d = p.decisions[p.decisions["decision"] == "relocated"]
        return d.set_index(["from_site", "site_id", "resource"])["amount"]
    check(c.relocations, ["from_site", "to_site", "equipment"],
          side_by_side(moved(high), moved(low)))

    def days(p):
        return p.specialist_days.set_index(["site_id", "specialty"])["outreach_days"]
    check(c.outreach, ["site_id", "specialty"], side_by_side(days(high), days(low)))

    def capital(p):
        return p.budget.groupby("member")["capital_used"].sum()
    check(c.capital, ["member"], side_by_side(capital(high), capital(low)))
    assert c.capital["after"].sum() == pytest.approx(low.kpis["capital_used"])

    def borne(p):
        return p.ledger.groupby(["member", "term"])["amount"].sum()
    check(c.member_costs, ["member", "term"], side_by_side(borne(high), borne(low)))
    assert c.costs_by_member()["change"].sum() == pytest.approx(low.objective - high.objective,
                                                                rel=1e-9)
    check(c.costs, ["term"], side_by_side(high.costs, low.costs).reindex(
        sorted(high.costs.index)).fillna(0))
    kpi = c.kpis.set_index("kpi")
    assert kpi.at["capital_budget", "change"] == pytest.approx(
        LOW_BUDGET - high.kpis["capital_budget"])
    assert set(c.sites["site_id"]) == set(high.equipment["site_id"])
    assert {"lon", "lat"} <= set(c.sites.columns)
    assert "Units in service that changed:" in c.summary()


def test_folders_compare_as_the_plans_do(plans, folders):
    in_memory = planner.compare(*plans)
    on_disk = planner.compare(*folders)   # amounts in the CSVs have 6 decimals
    for name in in_memory.TABLES:
        pd.testing.assert_frame_equal(getattr(in_memory, name), getattr(on_disk, name),
                                      check_dtype=False, rtol=1e-9, atol=1e-3, obj=name)
    pd.testing.assert_frame_equal(in_memory.sites, on_disk.sites, check_dtype=False)
    assert in_memory.changes == on_disk.changes > 0


def test_diff_json_holds_every_table(folders):
    result = CliRunner().invoke(app, ["diff", str(folders[0]), str(folders[1]), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    expected = planner.compare(*folders)
    for name in expected.TABLES:
        assert len(data[name]) == len(getattr(expected, name)), name
    units = {(r["site_id"], r["equipment"]): r["change"] for r in data["units"]}
    assert units == {k: v for k, v in zip(
        zip(expected.units["site_id"], expected.units["equipment"]), expected.units["change"])}


def test_a_folder_without_the_newer_tables_still_compares(plans, folders, tmp_path):
    """A plan folder of an earlier version (no ledger.csv, equipment.csv...) gives the decision
    tables; the tables that need what it lacks are empty."""
    import shutil
    old = tmp_path / "old"
    shutil.copytree(folders[0], old)
    for name in ("ledger.csv", "equipment.csv", "budget.csv", "plan.gpkg"):
        (old / name).unlink()
    c = planner.compare(old, folders[1])
    assert c.units.empty and c.member_costs.empty and c.capital.empty
    assert len(c.outreach) and c.changes == planner.compare(*plans).changes


def test_an_unreadable_table_is_one_clear_error(folders, tmp_path):
    import shutil
    bad = tmp_path / "bad"
    shutil.copytree(folders[0], bad)
    (bad / "ledger.csv").write_text("term,site_id,zone_id,member,service,amount\n"
                                    "operating,S_PH,,PH,CT,lots\n", encoding="utf-8")
    with pytest.raises(planner.PlannerError, match=r"ledger.csv.*amount.*'lots'.*not a number"):
        planner.compare(bad, folders[1])

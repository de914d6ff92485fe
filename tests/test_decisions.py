"""Decisions (decisions.csv, Plan.decisions) and commitments (implemented.csv): docs/design.md
§7."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
import toy
from helpers import TINY, write_scenario
from planner.cli import app
from planner.errors import InfeasibleError, ScenarioError

DECISION_COLUMNS = ["decision", "site_id", "resource", "from_site", "amount"]


def implemented(*rows) -> pd.DataFrame:
    """implemented.csv rows: (decision, site_id, resource, from_site, amount[, limit])."""
    frame = pd.DataFrame([r if len(r) == 6 else (*r, None) for r in rows],
                         columns=DECISION_COLUMNS + ["limit"])
    return frame.replace({"": None})


@pytest.fixture(scope="module")
def county4():
    return toy.consortium(4)


@pytest.fixture(scope="module")
def county4_plan(county4):
    return planner.solve(county4)


def test_decisions_agree_with_the_plans_own_tables(county4_plan):
    """Every non-zero new unit, relocation and outreach day of the plan's tables is one row."""
    p = county4_plan
    d = p.decisions
    assert list(d.columns) == DECISION_COLUMNS
    assert (d["amount"] > 0).all()
    eq = p.equipment
    new = eq[eq["new"] > 0]
    assert sorted(zip(new["site_id"], new["equipment"], new["new"])) == sorted(
        d.loc[d["decision"] == "new_units", ["site_id", "resource", "amount"]]
        .itertuples(index=False, name=None))
    moved = d[d["decision"] == "relocated"]
    assert moved["amount"].sum() == eq["relocated_in"].sum() == eq["relocated_out"].sum()
    assert (moved["from_site"] != "").all()
    days = p.specialist_days
    assert d.loc[d["decision"] == "outreach_days", "amount"].sum() == days["outreach_days"].sum()
    assert (d.loc[d["decision"] != "relocated", "from_site"] == "").all()


def test_decisions_csv_is_written_with_the_plan(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    plan = planner.solve(planner.load_scenario(tiny_folder))
    plan.save(out)
    written = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    assert list(written.columns) == DECISION_COLUMNS
    assert written["amount"].tolist() == plan.decisions["amount"].tolist()


def test_keep_this_workflow_copies_decisions_into_implemented(tiny_folder, tmp_path):
    """Copying a plan's decisions.csv into implemented.csv gives the same plan back."""
    out = tmp_path / "plan"
    first = planner.solve(planner.load_scenario(tiny_folder))
    first.save(out)
    (tiny_folder / "implemented.csv").write_bytes((out / "decisions.csv").read_bytes())
    again = planner.solve(planner.load_scenario(tiny_folder))
    assert again.objective == pytest.approx(first.objective, rel=1e-9)
    pd.testing.assert_frame_equal(again.decisions, first.decisions)


def test_a_commitment_is_kept_even_when_it_costs_more(county4, county4_plan):
    """A CT the optimum does not buy, committed: the plan buys it and costs more."""
    bought = set(county4_plan.decisions.query("decision == 'new_units'")["site_id"])
    site = next(s for s in ["S_T1", "S_T2", "S_T3", "S_T4"] if s not in bought)
    committed = county4.with_(tables={"implemented": implemented(
        ("new_units", site, "CT", "", 1), ("outreach_days", "S_T2", "cardiology", "", 30))})
    plan = planner.solve(committed)
    d = plan.decisions.set_index(["decision", "site_id", "resource"])["amount"]
    assert d[("new_units", site, "CT")] >= 1
    assert d[("outreach_days", "S_T2", "cardiology")] >= 30
    assert plan.objective > county4_plan.objective


def test_at_most_zero_forbids_every_move_out_of_a_site(county4, county4_plan):
    """"Never move the hospital's CTs": a relocated at_most 0 row with an empty site_id."""
    assert (county4_plan.decisions["from_site"] == "S_H").any()   # the optimum moves one
    forbidden = county4.with_(tables={"implemented": implemented(
        ("relocated", "", "CT", "S_H", 0, "at_most"))})
    plan = planner.solve(forbidden)
    assert not (plan.decisions["from_site"] == "S_H").any()
    assert plan.objective >= county4_plan.objective - 1e-6


def test_commitments_change_bounds_only_no_rebuild(county4):
    """A what-if adding commitments re-solves the same HiGHS model and equals a fresh solve."""
    session = planner.PlanningSession(county4)
    session.solve()
    variant = county4.with_(tables={"implemented": implemented(
        ("relocated", "", "CT", "S_H", 0, "at_most"),
        ("outreach_days", "S_T4", "cardiology", "", 40))})
    again = session.solve(variant)
    assert session.rebuilds == 1
    fresh = planner.solve(variant)
    assert again.objective == pytest.approx(fresh.objective, rel=1e-9)
    back = session.solve(county4)                   # and the bounds go back
    assert back.objective == pytest.approx(planner.solve(county4).objective, rel=1e-9)


def test_formula_like_ids_survive_the_round_trip(tmp_path):
    """decisions.csv writes '=X as text for Excel; implemented.csv reads it back as =X."""
    t = toy.tables()
    t["sites"]["site_id"] = ["H", "=T"]
    t["resources"] = pd.DataFrame({"site_id": ["=T"], "resource": ["cardiology.outreach_days"],
                                   "amount": [50.0]})
    scenario = toy.scenario({"policy": {"grassroots_tiers": ["township"],
                                        "min_outreach_days": {"cardiology": 10}}},
                            sites=t["sites"], resources=t["resources"])
    plan = planner.solve(scenario)
    plan.save(tmp_path / "p")
    text = (tmp_path / "p" / "decisions.csv").read_text()
    assert "'=T" in text
    scenario.save(tmp_path / "s")
    (tmp_path / "s" / "implemented.csv").write_text(text)
    again = planner.load_scenario(tmp_path / "s")
    assert set(again.implemented["site_id"]) == {"=T"}
    assert planner.solve(again).objective == pytest.approx(plan.objective, rel=1e-9)


# --- impossible commitments are explained: which row, why ------------------------------------
@pytest.mark.parametrize("rows, words", [
    ([("new_units", "S_T1", "MRI", "", 1)], ["implemented.csv row 2", "tier 'township'",
                                             "allowed_tiers"]),
    ([("relocated", "S_T1", "CT", "S_C", 2)], ["implemented.csv row 2", "more CT units out of "
                                               "S_C than it has (1)"]),
    ([("relocated", "S_T2", "MRI", "S_C", 1)], ["row 2", "MRI has no relocation_cost"]),
    ([("outreach_days", "S_T1", "neurology", "", 60),
      ("outreach_days", "S_T2", "neurology", "", 50)], ["rows 2, 3", "110", "pool of 100"]),
    ([("new_units", "S_C", "CT", "", 1)], ["4,000,000 CNY of capital", "budget of 1,500,000"]),
])
def test_impossible_commitments_name_the_row_and_the_reason(tiny_folder, rows, words):
    write_scenario(tiny_folder, implemented=implemented(*rows))
    with pytest.raises(InfeasibleError) as err:
        planner.solve(planner.load_scenario(tiny_folder))
    for w in words:
        assert w in str(err.value)


def test_commitments_in_conflict_with_the_budget_are_named_by_the_iis(county4):
    """Each commitment possible alone, together beyond the budget: HiGHS's IIS names them."""
    variant = county4.with_(tables={"implemented": implemented(
        ("new_units", "S_T2", "CT", "", 1), ("relocated", "", "CT", "S_H", 0, "at_most"))})
    with pytest.raises(InfeasibleError) as err:
        planner.solve(variant)
    assert "commitments (implemented.csv)" in err.value.families
    assert "new_units[S_T2,CT]" in str(err.value)


def test_contradictory_limits_name_both_rows(tiny_folder):
    write_scenario(tiny_folder, implemented=implemented(
        ("outreach_days", "S_T1", "neurology", "", 10),
        ("outreach_days", "S_T1", "neurology", "", 5, "at_most")))
    with pytest.raises(InfeasibleError) as err:
        planner.solve(planner.load_scenario(tiny_folder))
    assert "implemented.csv row 2 (at least 10" in str(err.value)
    assert "contradicts implemented.csv row 3 (at most 5" in str(err.value)


def test_a_plans_decisions_become_commitments_in_python(county4, county4_plan):
    """scenario.with_(tables={"implemented": plan.decisions}): "" is an empty from_site."""
    kept = county4.with_(tables={"implemented": county4_plan.decisions})
    assert len(kept.implemented) == len(county4_plan.decisions)
    again = planner.solve(kept)
    pd.testing.assert_frame_equal(again.decisions, county4_plan.decisions)


def test_duplicate_rows_with_only_the_contract_columns_are_reported(tiny_folder):
    write_scenario(tiny_folder, implemented="""
        decision,site_id,resource,from_site,amount
        new_units,S_T1,CT,,1
        new_units,S_T1,CT,,2
        """)
    with pytest.raises(ScenarioError) as err:
        planner.load_scenario(tiny_folder)
    assert "implemented.csv" in str(err.value) and "duplicate" in str(err.value)
    assert "rows 2, 3" in str(err.value)


def test_cli_exits_3_on_impossible_commitments(tiny_folder):
    write_scenario(tiny_folder, implemented=implemented(("new_units", "S_T1", "MRI", "", 1)))
    result = CliRunner().invoke(app, ["plan", str(tiny_folder)])
    assert result.exit_code == 3
    assert "implemented.csv row 2" in result.output


@pytest.mark.parametrize("rows, column, words", [
    ([("bought", "S_T1", "CT", "", 1)], "decision", "unknown decision 'bought'"),
    ([("relocated", "S_T1", "CT", "", 1)], "from_site", "needs from_site"),
    ([("new_units", "S_T1", "CT", "S_C", 1)], "from_site", "only for relocated rows"),
    ([("new_units", "S_X", "CT", "", 1)], "site_id", "unknown site 'S_X'"),
    ([("outreach_days", "S_T1", "CT", "", 1)], "resource", "unknown resource for outreach_days"),
    ([("new_units", "", "CT", "", 1)], "site_id", "only a relocated at_most row"),
    ([("new_units", "S_T1", "CT", "", 1, "exactly")], "limit", "unknown limit 'exactly'"),
    ([("new_units", "S_T1", "CT", "", 1.5)], "amount", "whole number"),
])
def test_bad_implemented_rows_are_validation_errors(tiny_folder, rows, column, words):
    write_scenario(tiny_folder, implemented=implemented(*rows))
    with pytest.raises(ScenarioError) as err:
        planner.load_scenario(tiny_folder)
    text = str(err.value)
    assert f"implemented.csv, column '{column}', row 2" in text
    assert words in text


def test_games_ignore_commitments(county4):
    """A coalition's own plan is hypothetical: commitments of the grand plan do not bind it."""
    from planner.model.inputs import model_inputs
    committed = county4.with_(tables={"implemented": implemented(
        ("new_units", "S_T2", "CT", "", 1))})
    assert model_inputs(committed, game=True).commitments.empty
    assert len(model_inputs(committed).commitments) == 1


def test_tiny_scenario_text_has_no_implemented_table():
    assert "implemented" not in TINY


def test_compare_plans_in_python_and_as_folders(county4, county4_plan, tmp_path):
    """planner.compare: the same decision changes and cost terms from Plans or plan folders."""
    committed = planner.solve(county4.with_(tables={"implemented": implemented(
        ("outreach_days", "S_T3", "cardiology", "", 30))}))
    in_memory = planner.compare(county4_plan, committed)
    county4_plan.save(tmp_path / "a")
    committed.save(tmp_path / "b")
    on_disk = planner.compare(tmp_path / "a", tmp_path / "b")
    pd.testing.assert_frame_equal(in_memory.decisions, on_disk.decisions)
    row = in_memory.decisions.set_index(["decision", "site_id", "resource"]).loc[
        ("outreach_days", "S_T3", "cardiology")]
    assert row["after"] >= 30 > row["before"]
    assert in_memory.costs["change"].sum() == pytest.approx(
        committed.objective - county4_plan.objective, rel=1e-9)
    assert in_memory.changes == on_disk.changes > 0

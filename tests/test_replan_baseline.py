"""Re-planning as a newcomer meets it (issue 18): slices get names of their own, a baseline of
other members or sites is refused unless named, changes are counted by kind, an overlapping cron
run waits, each solve step is logged, a mistyped scenario creates no history, and `planner share
--members` shares a sub-consortium. Real SQLite histories, real processes."""

from __future__ import annotations

import json
import subprocess
import threading
import time

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
import toy
from helpers import planner_command
from planner.cli import app
from planner.errors import PlannerError
from planner.history import open_history

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def runs_json(history) -> list[dict]:
    result = invoke("runs", "--history", history, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


# --- slices --------------------------------------------------------------------------------------
def test_a_slice_gets_a_name_of_its_own(tiny_folder):
    whole = planner.load_scenario(tiny_folder)
    town = whole.restricted_to(["M_TOWN"])
    assert town.name != whole.name and town.name.startswith(whole.name) and "M_TOWN" in town.name
    assert whole.restricted_to(["M_TOWN", "M_COUNTY"]).name == whole.name   # every member
    with pytest.raises(PlannerError) as caught:
        whole.restricted_to(["M_TOWN", "M_NOWHERE"])
    assert caught.value.exit_code == 2
    assert "M_NOWHERE" in str(caught.value) and "M_COUNTY" in str(caught.value)


def test_a_saved_slice_and_the_whole_keep_separate_baselines(tiny_folder, tmp_path):
    """The issue's sequence: restricted_to(...).save("small"), re-plan it, then re-plan the
    whole on the same history: the whole's run is a first run, not 'N changes from the slice'."""
    history = tmp_path / "runs.sqlite"
    small = tmp_path / "small"
    planner.load_scenario(tiny_folder).restricted_to(["M_COUNTY"]).save(small)
    assert invoke("replan", small, "--history", history).exit_code == 0
    whole = invoke("replan", tiny_folder, "--history", history, "--out", tmp_path / "out")
    assert whole.exit_code == 0, whole.output
    assert json.loads((tmp_path / "out" / "plan.json").read_text())["baseline_run"] is None
    assert "first run" in whole.output


def test_a_baseline_of_other_sites_is_refused_unless_named(tiny_folder, tmp_path):
    """A slice saved under the whole's name (as restricted_to did before): the whole's re-plan
    refuses it (exit 2, recorded as bad input) and names --baseline; --baseline RUN takes it."""
    history, out = tmp_path / "runs.sqlite", tmp_path / "out"
    whole = planner.load_scenario(tiny_folder)
    slice_folder = tmp_path / "slice"
    whole.restricted_to(["M_COUNTY"]).with_(name=whole.name).save(slice_folder)
    assert invoke("replan", slice_folder, "--history", history).exit_code == 0
    first = runs_json(history)[0]["run_id"]

    refused = invoke("replan", tiny_folder, "--history", history, "--out", out)
    assert refused.exit_code == 2, refused.output
    message = refused.output
    assert f"--baseline {first}" in message and "S_T1" in message and "M_TOWN" in message
    assert not out.exists()                                   # nothing solved, nothing written
    assert runs_json(history)[-1]["status"] == "bad_input"

    named = invoke("replan", tiny_folder, "--history", history, "--out", out,
                   "--baseline", first)
    assert named.exit_code == 0, named.output
    assert json.loads((out / "plan.json").read_text())["baseline_run"] == first
    assert runs_json(history)[-1]["baseline_run"] == first


def test_baseline_must_name_a_successful_run(tiny_folder, tmp_path):
    history = tmp_path / "runs.sqlite"
    assert invoke("replan", tiny_folder, "--history", history).exit_code == 0
    missing = invoke("replan", tiny_folder, "--history", history, "--baseline", 99)
    assert missing.exit_code == 2 and "no run 99" in missing.output


# --- changes by kind, the runs table, the log --------------------------------------------------
def test_changes_are_reported_by_kind_as_in_changes_csv(tiny_folder, tmp_path):
    history, out = tmp_path / "runs.sqlite", tmp_path / "out"
    result = invoke("replan", tiny_folder, "--history", history, "--out", out)
    assert result.exit_code == 0, result.output
    changes = pd.read_csv(out / "changes.csv")
    assert len(changes) > 0
    # each kind in its own unit, counted from the published changes.csv
    moved = (changes["after"] - changes["before"]).abs()
    expected = {kind: (int((changes["decision"] == kind).sum()),
                       int(moved[changes["decision"] == kind].sum()))
                for kind in changes["decision"].unique()}
    plan = json.loads((out / "plan.json").read_text())
    assert {k: (v["decisions"], v["amount"]) for k, v in plan["changes_by_kind"].items()} \
        == expected
    assert plan["changes"] == moved.sum()     # the contract's count is unchanged
    words = {"new_units": "new unit", "relocated": "relocated unit",
             "outreach_days": "outreach day"}
    listing = invoke("runs", "--history", history)
    assert listing.exit_code == 0
    header, row = listing.output.splitlines()[:2]
    for column in ("run", "started", "scenario", "status", "annual cost", "changes"):
        assert column in header
    assert f"{len(changes)} decision" in row
    for kind, (_, amount) in expected.items():
        assert f"{amount:,} {words[kind]}" in row
        assert f"{amount:,} {words[kind]}" in result.output
    assert runs_json(history)[0]["changes_by_kind"] == plan["changes_by_kind"]


def test_log_json_times_each_solve_step(tiny_folder, tmp_path):
    history = tmp_path / "runs.sqlite"
    command = planner_command() + ["replan", str(tiny_folder), "--history", str(history),
                                   "--log-json"]
    for _ in range(2):   # the second run has a baseline: the probe step runs
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    steps = {line["stage"]: line for line in lines}
    for step in ("solve.build", "solve.cost_optimum", "solve.baseline_probe", "baseline"):
        assert step in steps and steps[step]["seconds"] >= 0
    assert steps["solve.baseline_probe"]["baseline_kept"] is True
    assert steps["solve"]["seconds"] >= steps["solve.cost_optimum"]["seconds"]


def test_an_overlapping_run_waits_for_the_first_by_default(tiny_folder, tmp_path):
    """Two cron runs overlap: without --wait, the second queues behind the first (the default
    wait) instead of exiting 5 at once."""
    history = tmp_path / "runs.sqlite"
    assert invoke("replan", tiny_folder, "--history", history).exit_code == 0
    h = open_history(history)
    lock = h.lock("tiny", wait=0)
    lock.__enter__()
    released = threading.Event()

    def release_later():
        time.sleep(3.0)
        lock.__exit__(None, None, None)
        released.set()

    try:
        threading.Thread(target=release_later, daemon=True).start()
        done = subprocess.run(planner_command() + ["replan", str(tiny_folder), "--history",
                                                   str(history), "--log-json"],
                              capture_output=True, text=True, timeout=300)
    finally:
        released.wait(10)
        h.close()
    assert done.returncode == 0, done.stderr
    lock_line = next(json.loads(line) for line in done.stderr.splitlines()
                     if '"stage": "lock"' in line)
    assert lock_line["wait"] >= 600 and lock_line["seconds"] > 0.5
    assert [r["status"] for r in runs_json(history)] == ["optimal", "optimal"]


def test_a_mistyped_scenario_creates_no_history(tmp_path):
    history = tmp_path / "runs.sqlite"
    result = invoke("replan", tmp_path / "no-such-folder", "--history", history)
    assert result.exit_code == 2
    assert not history.exists() and "No history was created" in result.output
    # an existing history records the failed run (every run is recorded)
    open_history(history).close()
    assert invoke("replan", tmp_path / "no-such-folder", "--history", history).exit_code == 2
    assert [r["status"] for r in runs_json(history)] == ["bad_input"]


# --- sharing a sub-consortium ------------------------------------------------------------------
def test_share_members_shares_a_sub_consortium_under_its_own_name(tmp_path):
    folder = tmp_path / "consortium"
    toy.consortium(3).save(folder)
    out = tmp_path / "shared"
    result = invoke("share", folder, "--members", "H,T1", "--rule", "shapley", "--out", out,
                    "--workers", "1", "--no-progress")
    assert result.exit_code == 0, result.output
    sharing = json.loads((out / "sharing.json").read_text())
    assert sharing["scenario"].endswith("(members: H, T1)")
    transfers = pd.read_csv(out / "transfers.csv")
    assert sorted(transfers["member"]) == ["H", "T1"]
    # the same game as restricting in Python: two-player Shapley splits the savings equally
    assert transfers["allocation"].iloc[0] == pytest.approx(transfers["allocation"].iloc[1],
                                                            abs=0.02)   # cents
    unknown = invoke("share", folder, "--members", "H,T9", "--out", tmp_path / "x")
    assert unknown.exit_code == 2 and "T9" in unknown.output and "T3" in unknown.output


def test_a_saved_slice_keeps_equipment_allowed_nowhere_nowhere(tiny_folder, tmp_path):
    """A slice of township centres keeps none of MRI's tiers (county only): MRI goes nowhere in
    the slice, and a saved and reloaded slice must not read an empty cell as 'every tier'."""
    town = planner.load_scenario(tiny_folder).restricted_to(["M_TOWN"])
    allowed = town.tables["equipment"].set_index("equipment")["allowed_tiers"]
    assert allowed["MRI"] == "none" and allowed["CT"] == "township"
    town.save(tmp_path / "town")
    again = planner.load_scenario(tmp_path / "town")
    assert again.tables["equipment"].set_index("equipment")["allowed_tiers"]["MRI"] == "none"
    # the pool of outreach days stays with the county: no policy minimum in the slice
    plan = planner.solve(again.with_(budget=1e8, min_outreach_days={}))
    assert plan.equipment.query("equipment == 'MRI'")["new"].sum() == 0


def test_the_tier_none_is_reserved(tiny_folder):
    from helpers import write_scenario
    write_scenario(tiny_folder, sites="""
        site_id,name,member,tier,lon,lat
        S_C,County hospital,M_COUNTY,county,119.00,32.70
        S_T1,West township centre,M_TOWN,none,118.92,32.65
        S_T2,East township centre,M_TOWN,township,119.08,32.76
        """)
    result = invoke("validate", tiny_folder)
    assert result.exit_code == 2 and "reserved" in result.output and "sites.csv" in result.output


def test_a_slice_keeps_the_funds_other_spending_in_proportion_to_its_residents():
    """The county's fund spends other_spending on care the model does not plan, for all its
    residents; a slice keeps the share of its own residents, as its capitation revenue does."""
    county = planner.load_scenario()
    small = county.restricted_to(["PH", "THC_QINLAN", "THC_JINJI"])
    share = small.tables["zones"]["population"].sum() / county.tables["zones"]["population"].sum()
    assert 0 < share < 1
    assert small.settings.fund.other_spending == pytest.approx(
        county.settings.fund.other_spending * share, rel=1e-12)
    plan = planner.solve(small)
    # not the whole county's bill (that would be a deficit of several times the revenue); the
    # slice's People's Hospital keeps all its own in-patients' exams (site_demand.csv, the
    # whole county's in-patients) while its revenue is its own residents': a deficit of that order
    assert plan.fund["surplus"] > -0.25 * plan.fund["revenue"]

"""`planner replan`, `planner runs`, `planner diff` as a scheduled job uses them (docs/design.md
§7): a real SQLite history, real processes, real signals; exit codes as documented."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import toy
from helpers import planner_command, write_scenario
from planner.cli import app
from planner.history import open_history

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def runs_json(history: Path) -> list[dict]:
    result = invoke("runs", "--history", history, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.fixture
def job(tiny_folder, tmp_path):
    """A scenario folder, a history path and an output folder."""
    return tiny_folder, tmp_path / "runs.sqlite", tmp_path / "current"


@pytest.fixture(params=["sqlite", "postgres"])
def any_history(request, job):
    """The job on a SQLite file, and on a real PostgreSQL server (a fresh schema)."""
    scenario, history, out = job
    if request.param == "postgres":
        history = request.getfixturevalue("postgres_target")
    return scenario, history, out


def test_first_and_second_runs_are_recorded_and_the_second_changes_nothing(any_history):
    scenario, history, out = any_history
    first = invoke("replan", scenario, "--history", history, "--out", out)
    assert first.exit_code == 0, first.output
    plan = json.loads((out / "plan.json").read_text())
    assert plan["baseline_run"] is None
    second = invoke("replan", scenario, "--history", history, "--out", out)
    assert second.exit_code == 0, second.output
    plan = json.loads((out / "plan.json").read_text())
    runs = runs_json(history)
    assert [r["run_id"] for r in runs] == sorted(r["run_id"] for r in runs)   # oldest first
    assert len(runs) == 2
    for r in runs:
        assert {"run_id", "started", "scenario", "status", "objective", "changes"} <= set(r)
        assert r["scenario"] == "tiny" and r["status"] == "optimal"
    assert plan["baseline_run"] == runs[0]["run_id"]
    assert plan["changes"] == 0 == runs[1]["changes"]
    assert (out / "changes.csv").read_text() == \
        "decision,site_id,resource,from_site,before,after\n"
    assert runs[1]["objective"] == pytest.approx(plan["objective"], rel=1e-12)


def test_run_show_has_the_decisions_of_the_published_plan(job):
    scenario, history, out = job
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    run_id = runs_json(history)[0]["run_id"]
    shown = invoke("runs", "show", str(run_id), "--history", history, "--json")
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.output)
    published = pd.read_csv(out / "decisions.csv", keep_default_na=False)
    assert [(d["decision"], d["site_id"], d["resource"], d["amount"])
            for d in record["decisions"]] == list(published[
                ["decision", "site_id", "resource", "amount"]].itertuples(index=False, name=None))
    assert record["input_hash"] and record["versions"]["highs"]
    text = invoke("runs", "show", str(run_id), "--history", history)
    assert "decisions (" in text.output


def test_diff_of_two_runs_and_of_two_folders_agree(job, tmp_path):
    scenario, history, out = job
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    first_folder = tmp_path / "first"
    assert invoke("plan", scenario, "--out", first_folder).exit_code == 0
    write_scenario(scenario, implemented="""
        decision,site_id,resource,from_site,amount
        outreach_days,S_T1,neurology,,40
        """)
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    runs = runs_json(history)
    assert runs[1]["changes"] > 0
    by_runs = json.loads(invoke("diff", runs[0]["run_id"], runs[1]["run_id"], "--history",
                                history, "--json").output)
    by_folders = json.loads(invoke("diff", first_folder, out, "--json").output)
    assert by_runs["changes"] == by_folders["changes"] == runs[1]["changes"]
    assert by_runs["decisions"] == by_folders["decisions"]
    row = next(d for d in by_runs["decisions"] if d["site_id"] == "S_T1")
    assert row["after"] >= 40 > row["before"]
    cost_change = sum(c["change"] for c in by_runs["costs"])
    cents = 0.01 * len(by_runs["costs"])         # the JSON's money is rounded to the cent
    assert cost_change == pytest.approx(runs[1]["objective"] - runs[0]["objective"], abs=cents)
    assert cost_change > 0                       # the commitment is not the optimum
    kpi = next(k for k in by_folders["kpis"] if k["kpi"] == "annual_cost")
    assert kpi["change"] == pytest.approx(cost_change, abs=cents)


def test_failed_runs_are_recorded_with_their_message_and_exit_code(job):
    scenario, history, out = job
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    before = (out / "plan.json").read_bytes()
    write_scenario(scenario, implemented="""
        decision,site_id,resource,from_site,amount
        new_units,S_T1,MRI,,1
        """)
    infeasible = invoke("replan", scenario, "--history", history, "--out", out)
    assert infeasible.exit_code == 3
    write_scenario(scenario, implemented=None, sites="""
        site_id,name,member,tier,lon,lat
        S_C,County hospital,M_NOBODY,county,119.00,32.70
        """)
    bad = invoke("replan", scenario, "--history", history, "--out", out)
    assert bad.exit_code == 2
    runs = runs_json(history)
    assert [r["status"] for r in runs] == ["optimal", "infeasible", "bad_input"]
    assert "implemented.csv row 2" in runs[1]["message"]
    assert "M_NOBODY" in runs[2]["message"]
    assert all(r["ended"] for r in runs)      # failed runs are finished records, not "running"
    assert (out / "plan.json").read_bytes() == before    # nothing published by a failed run


def test_a_gap_above_max_gap_publishes_nothing_and_is_no_baseline(job):
    """The West zone triples: with a 50% tolerance the re-plan keeps run 1's decisions at a
    cost above the new optimum; --max-gap 0 refuses that plan (exit 4), publishes nothing."""
    scenario, history, out = job
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    before = (out / "plan.json").read_bytes()
    zones = (scenario / "zones.csv").read_text()
    write_scenario(scenario, zones=zones.replace("Z2,West,118.93,32.64,15000",
                                                 "Z2,West,118.93,32.64,45000"))
    result = invoke("replan", scenario, "--history", history, "--out", out, "--max-gap", "0",
                    "--tolerance", "0.5")
    assert result.exit_code == 4, result.output
    assert (out / "plan.json").read_bytes() == before
    runs = runs_json(history)
    assert runs[1]["status"] == "gap_above_max" and not runs[1]["succeeded"]
    assert runs[1]["changes"] == 0
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    assert json.loads((out / "plan.json").read_text())["baseline_run"] == runs[0]["run_id"]


def test_log_json_writes_one_parsable_line_per_stage(job):
    scenario, history, out = job
    done = subprocess.run(planner_command() + ["replan", str(scenario), "--history",
                                               str(history), "--out", str(out), "--log-json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    stages = [line["stage"] for line in lines]
    for stage in ("load", "lock", "solve", "publish", "record"):
        assert stage in stages
    assert all(line["status"] == "ok" for line in lines)
    assert all(line.get("run_id") for line in lines if line["stage"] in ("solve", "record"))


def test_a_second_run_waits_then_exits_5_when_the_scenario_stays_locked(any_history):
    scenario, history, out = any_history
    assert invoke("replan", scenario, "--history", history, "--out", out).exit_code == 0
    h = open_history(history)
    try:
        with h.lock("tiny", wait=0):
            began = time.monotonic()
            done = subprocess.run(planner_command() + ["replan", str(scenario), "--history",
                                                       str(history), "--out", str(out),
                                                       "--wait", "1"],
                                  capture_output=True, text=True, timeout=300)
            waited = time.monotonic() - began
    finally:
        h.close()
    assert done.returncode == 5, done.stderr
    assert waited >= 1.0
    assert "lock" in done.stderr.lower()
    assert runs_json(history)[-1]["status"] == "locked"


def test_two_concurrent_jobs_on_one_history_both_finish_in_order(any_history):
    scenario, history, out = any_history
    command = planner_command() + ["replan", str(scenario), "--history", str(history),
                                   "--out", str(out), "--wait", "120"]
    jobs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [p.communicate(timeout=300) for p in jobs]
    assert [p.returncode for p in jobs] == [0, 0], outputs
    runs = runs_json(history)
    assert [r["status"] for r in runs] == ["optimal", "optimal"]
    # one ran after the other: the later one's baseline is the earlier one
    later = max(runs, key=lambda r: r["ended"])
    earlier = min(runs, key=lambda r: r["ended"])
    assert later["baseline_run"] == earlier["run_id"] and later["changes"] == 0
    check = open_history(history)
    check.close()


def test_replan_share_records_the_transfers(tmp_path):
    scenario = toy.consortium(3)
    folder = tmp_path / "consortium"
    scenario.save(folder)
    history, out = tmp_path / "h.sqlite", tmp_path / "out"
    result = invoke("replan", folder, "--history", history, "--out", out, "--share", "shapley",
                    "--workers", "1")
    assert result.exit_code == 0, result.output
    transfers = pd.read_csv(out / "transfers.csv")
    assert transfers["transfer"].sum() == pytest.approx(0, abs=0.01)
    run_id = runs_json(history)[0]["run_id"]
    record = json.loads(invoke("runs", "show", run_id, "--history", history, "--json").output)
    assert sorted(t["member"] for t in record["transfers"]) == sorted(transfers["member"])
    assert record["sharing"]["rule"] == "shapley"


@pytest.mark.slow
@pytest.mark.parametrize("delay", [0.5, 1.5, 2.5, 3.5, 4.5])
def test_a_job_killed_at_any_moment_leaves_history_and_plan_folder_intact(tmp_path, delay):
    """SIGKILL a re-plan of the default county: the history opens and lists the earlier run, the
    published folder is the complete earlier plan or the complete new one, and the next run
    marks the killed one interrupted and uses the earlier successful run as its baseline."""
    history, out = tmp_path / "runs.sqlite", tmp_path / "current"
    command = planner_command() + ["replan", "--history", str(history), "--out", str(out)]
    assert subprocess.run(command, capture_output=True, timeout=600).returncode == 0
    first = (out / "decisions.csv").read_bytes()
    files = sorted(p.name for p in out.iterdir())
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(delay)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    runs = runs_json(history)
    assert runs[0]["status"] == "optimal"
    assert sorted(p.name for p in out.iterdir()) == files      # a complete plan folder
    assert (out / "decisions.csv").read_bytes() == first       # (same inputs, same decisions)
    json.loads((out / "plan.json").read_text())
    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    runs = runs_json(history)
    statuses = [r["status"] for r in runs]
    assert statuses[-1] == "optimal" and set(statuses[1:-1]) <= {"interrupted", "optimal"}
    assert runs[-1]["changes"] == 0

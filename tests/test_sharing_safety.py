"""`planner share` refuses bad arguments before solving anything, and leaves no worker processes
when stopped (SIGKILL or SIGTERM). How soon it refuses is measured in
benchmarks/bench_sharing.py."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import highspy
import pytest
from typer.testing import CliRunner

import planner
from helpers import planner_command
from planner.cli import app


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found |= {int(c) for c in text.split()}
    return found


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.fixture
def no_solve(monkeypatch):
    """Any HiGHS run in this process fails the test: bad arguments are refused before solving."""
    def refused(self, *args, **kwargs):
        raise AssertionError("HiGHS ran before the arguments were checked")

    monkeypatch.setattr(highspy.Highs, "run", refused)


def test_policy_rule_without_member_fails_before_solving(tmp_path, monkeypatch, no_solve):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["share", "--rule", "policy", "--no-progress"])
    assert result.exit_code == 2, result.output
    assert "--policy-member" in result.stderr
    assert result.stdout == ""                   # no summary: nothing was shared
    assert list(tmp_path.iterdir()) == []        # and nothing written


@pytest.mark.parametrize("kwargs", [{"rule": "policy"}, {"rule": "policy", "policy_member": "X"},
                                    {"rule": "shapley", "workers": 0},
                                    {"rule": "shapley", "rel_tol": 0.0},
                                    {"rule": "nope"}])
def test_share_arguments_are_checked_first(tiny_folder, kwargs, no_solve):
    scenario = planner.load_scenario(tiny_folder)
    with pytest.raises(planner.PlannerError) as info:
        planner.share(scenario, **kwargs)
    assert info.value.exit_code == 2


def test_share_is_exported_and_works(tiny_folder):
    sharing = planner.share(planner.load_scenario(tiny_folder), rule="shapley", workers=1)
    assert isinstance(sharing, planner.Sharing)
    assert abs(sharing.transfers["transfer"].sum()) < 0.005


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_stopping_share_stops_its_workers(tmp_path, signum):
    proc = subprocess.Popen(planner_command() + ["share", "--workers", "2", "--no-progress",
                                                 "--out", str(tmp_path / "s")],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    workers: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and len(workers) < 2 and proc.poll() is None:
        workers = _children(proc.pid)
        time.sleep(0.2)
    assert workers, "the share run started no worker processes"
    time.sleep(1.0)   # the workers are solving coalitions now
    os.kill(proc.pid, signum)
    proc.wait(timeout=30)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    assert proc.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert not (tmp_path / "s").exists()

"""`planner share` fails fast on bad arguments and leaves no worker processes when killed."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import planner
from test_cli import planner_command, run_planner


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


def test_policy_rule_without_member_fails_before_solving(tmp_path):
    start = time.perf_counter()
    result = run_planner("share", "--rule", "policy", "--no-progress", cwd=tmp_path)
    assert result.returncode == 2
    assert "--policy-member" in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""                   # no summary: nothing was shared
    assert time.perf_counter() - start < 30      # one coalition of the county takes ~0.3 s


@pytest.mark.parametrize("kwargs", [{"rule": "policy"}, {"rule": "policy", "policy_member": "X"},
                                    {"rule": "shapley", "workers": 0},
                                    {"rule": "shapley", "rel_tol": 0.0},
                                    {"rule": "nope"}])
def test_share_arguments_are_checked_first(tiny_folder, kwargs):
    scenario = planner.load_scenario(tiny_folder)
    with pytest.raises(planner.PlannerError) as info:
        planner.share(scenario, **kwargs)
    assert info.value.exit_code == 2


def test_share_is_exported_and_works(tiny_folder):
    sharing = planner.share(planner.load_scenario(tiny_folder), rule="shapley", workers=1)
    assert isinstance(sharing, planner.Sharing)
    assert abs(sharing.transfers["transfer"].sum()) < 0.005


@pytest.mark.slow
def test_killing_share_kills_its_workers(tmp_path):
    proc = subprocess.Popen(planner_command() + ["share", "--workers", "2", "--no-progress",
                                                 "--out", str(tmp_path / "s")],
                            cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.time() + 120
    while time.time() < deadline and len(workers) < 2:
        workers = _children(proc.pid)
        time.sleep(0.2)
    assert workers, "the share run started no worker processes"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 15
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    assert not (tmp_path / "s").exists()


def test_sharing_files_are_byte_identical_across_hash_seeds_and_workers(tmp_path):
    import toy

    toy.consortium(5).save(tmp_path / "scenario")
    outputs = []
    for seed, workers in (("1", "1"), ("2", "1"), ("3", "2")):
        out = tmp_path / f"share{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(planner_command() + [
            "share", str(tmp_path / "scenario"), "--rule", "nucleolus", "--workers", workers,
            "--no-progress", "--out", str(out)], cwd=tmp_path, env=env, capture_output=True,
            text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]

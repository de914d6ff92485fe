"""Stage-2 outputs do not depend on Python's string-hash seed (the order of sets) or on the
number of worker processes; SIGTERM to `planner share` takes its workers along (issue 7)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

import toy
from test_cli import planner_command


def _run(args: list[str], cwd: Path, seed: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONHASHSEED=seed)
    return subprocess.run(planner_command() + args, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def _game(tmp_path: Path) -> Path:
    # an empty-core cost game with many ties (symmetric players), odd names included
    players = ["P1", "=B", "@c", "d-4", "E"]
    values = {}
    for mask in range(1, 1 << len(players)):
        members = [p for i, p in enumerate(players) if mask >> i & 1]
        k = len(members)
        values[",".join(members)] = {1: 10.0, 2: 14.0, 3: 21.0, 4: 27.0, 5: 35.0}[k] + 0.1 * (
            mask % 3)
    path = tmp_path / "game.json"
    path.write_text(json.dumps({"players": players, "kind": "cost", "values": values}),
                    encoding="utf-8")
    return path


@pytest.mark.parametrize("rule", ["shapley", "nucleolus", "least-core", "banzhaf"])
def test_game_json_is_byte_identical_across_hash_seeds(tmp_path, rule):
    path = _game(tmp_path)
    outputs = set()
    for seed in ("1", "2", "3"):
        result = _run(["game", str(path), "--rule", rule, "--json"], tmp_path, seed)
        assert result.returncode == 0, result.stderr
        outputs.add(result.stdout)
    assert len(outputs) == 1


@pytest.mark.parametrize("rule", ["nucleolus", "least-core"])
def test_generation_path_is_byte_identical_across_seeds_and_workers(tmp_path, rule):
    # exact_limit below n: the core, least core and nucleolus come from constraint generation
    # (separation MILPs with no-good cuts, the cached-coalition shortcut and its tie-breaks)
    toy.consortium(3).save(tmp_path / "scenario")
    outputs = []
    for seed, workers in (("1", "1"), ("2", "1"), ("2", "2")):
        out = tmp_path / f"share-{seed}-{workers}"
        result = _run(["share", str(tmp_path / "scenario"), "--rule", rule, "--exact-limit",
                       "2", "--workers", workers, "--no-progress", "--out", str(out)],
                      tmp_path, seed)
        assert result.returncode == 0, result.stderr
        outputs.append({p: (out / p).read_bytes() for p in ("sharing.json", "transfers.csv")})
    assert outputs[0] == outputs[1] == outputs[2]


def test_policy_rule_is_byte_identical_across_hash_seeds(tmp_path):
    toy.consortium(3).save(tmp_path / "scenario")
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"share-{seed}"
        result = _run(["share", str(tmp_path / "scenario"), "--rule", "policy",
                       "--policy-member", "H", "--workers", "1", "--no-progress",
                       "--out", str(out)], tmp_path, seed)
        assert result.returncode == 0, result.stderr
        outputs.append({p: (out / p).read_bytes() for p in ("sharing.json", "transfers.csv")})
    assert outputs[0] == outputs[1]


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found |= {int(c) for c in (task / "children").read_text().split()}
        except OSError:
            pass
    return found


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_sigterm_to_share_stops_its_workers(tmp_path):
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
    os.kill(proc.pid, signal.SIGTERM)
    proc.wait(timeout=30)
    stderr = proc.stderr.read().decode()
    proc.stderr.close()
    deadline = time.time() + 10
    while time.time() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)
    assert proc.returncode != 0
    assert "Traceback" not in stderr, stderr
    assert not (tmp_path / "s").exists()

"""Stage-2 outputs do not depend on Python's string-hash seed (the order of sets) or on the
number of worker processes (issue 7); stopping `planner share` is in test_sharing_safety.py."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

import toy
from helpers import planner_command


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


def test_nucleolus_files_are_byte_identical_across_hash_seeds_and_workers(tmp_path):
    toy.consortium(5).save(tmp_path / "scenario")
    outputs = []
    for seed, workers in (("1", "1"), ("2", "1"), ("3", "2")):
        out = tmp_path / f"share{seed}"
        result = _run(["share", str(tmp_path / "scenario"), "--rule", "nucleolus",
                       "--workers", workers, "--no-progress", "--out", str(out)], tmp_path, seed)
        assert result.returncode == 0, result.stderr
        outputs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outputs[0] == outputs[1] == outputs[2]

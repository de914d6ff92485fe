"""Limits that hold (issue 22 item 5): a scenario whose build alone would overrun --time-limit,
or the machine's memory, is refused before the build with its size, the estimate and what to
do (exit 4, nothing written, no traceback); a normal scenario plans as before."""

from __future__ import annotations

import re
import time

import pytest

import planner
from helpers import run_planner
from planner.model.inputs import model_inputs
from planner.model.size import TooLargeError, check_size
from test_prefecture_generator import load_generator

ZONES = 25_000          # about 1.1 M eligible arcs after pruning: estimated past the 10 s floor
SERVICES = 4            # CT, MRI, cardiology, neurology


@pytest.fixture(scope="module")
def large():
    return load_generator().prefecture(ZONES, 0)


def _numbers(text: str) -> list[int]:
    return [int(n.replace(",", "")) for n in re.findall(r"\d[\d,]*", text)]


def test_a_build_past_the_time_limit_is_refused_up_front(large, tmp_path):
    folder, out = tmp_path / "prefecture", tmp_path / "plan"
    large.save(folder)
    began = time.perf_counter()
    result = run_planner("plan", folder, "--time-limit", "1", "--out", out, cwd=tmp_path)
    seconds = time.perf_counter() - began
    assert result.returncode == 4, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    message = " ".join(result.stderr.split())
    zones, sites, arcs = _numbers(message)[:3]
    assert (zones, sites) == (len(large.zones), len(large.sites)) == (ZONES, 50)
    assert ZONES <= arcs <= ZONES * 50 * SERVICES   # one arc per zone, site and service at most
    estimate = int(re.search(r"about ([\d,]+) s", message).group(1).replace(",", ""))
    assert estimate > 1 and "time limit of 1 s" in message and "nothing was written" in message
    assert "--time-limit" in message and "aggregate zones" in message
    assert not out.exists()
    # refused before the build, not after it: what comes before the check (reading, validating,
    # model_inputs; timed here, under the same load) plus interpreter start-up, and not the
    # build's estimate on top of it
    began = time.perf_counter()
    model_inputs(planner.load_scenario(folder))
    before_check = time.perf_counter() - began
    assert seconds < before_check + 5 + estimate / 2


def test_a_model_beyond_the_machines_memory_is_refused(large):
    inputs = model_inputs(large)
    with pytest.raises(TooLargeError) as caught:
        check_size(inputs, time_limit=1e6, memory=1e9)   # a machine of 1 GB
    assert caught.value.exit_code == 4
    text = str(caught.value)
    assert "1.0 GB" in text and f"{len(inputs.arcs):,} eligible arcs" in text


def test_a_normal_scenario_plans_as_before(tiny_folder, tmp_path):
    """A build under the floor proceeds whatever the limit: the limit bounds the solve."""
    result = run_planner("plan", tiny_folder, "--time-limit", "0.5", "--out", tmp_path / "p",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "p" / "plan.json").exists()
    plan = planner.solve(planner.load_scenario(tiny_folder), time_limit=0.5)
    assert plan.objective is not None

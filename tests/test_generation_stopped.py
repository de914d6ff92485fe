"""Issue 22 item 6: a constraint-generation run that exhausts --max-separations (or the time
limit) ends with an answer: the allocation with the smallest proven largest excess met so far,
flagged incomplete, exit 4 — never an internal error. The proven bound is checked against the
largest excess over every coalition, enumerated."""

from __future__ import annotations

import itertools
import json

import pytest

from helpers import run_planner
from planner.sharing.coalitions import CoalitionValues
from planner.sharing.division import SharingTimeLimit, share
from toy import consortium


@pytest.fixture(scope="module")
def scenario():
    return consortium(5, seed=5)


def _largest_excess(scenario, allocation) -> float:
    """max over proper coalitions S of v(S) - x(S), every coalition solved."""
    values = CoalitionValues(scenario, workers=1)
    members = list(scenario.members.member)
    return max(values.savings(frozenset(s)) - sum(allocation[m] for m in s)
               for r in range(1, len(members)) for s in itertools.combinations(members, r))


@pytest.mark.parametrize("rule", ["nucleolus", "least-core"])
def test_a_capped_generation_run_returns_its_best_certified_allocation(scenario, rule):
    stopped = share(scenario, rule, workers=1, exact_limit=2, max_separations=1)
    assert not stopped.complete
    assert stopped.method.startswith("constraint generation stopped")
    assert "max-separations" in stopped.error_bounds["stopped"]
    # efficient: the allocation shares exactly the savings of the grand plan
    assert stopped.allocation.sum() == pytest.approx(stopped.savings, abs=1e-6 * stopped.savings)
    bound = stopped.error_bounds["max_excess_bound"]
    assert stopped.core["max_excess_bound"] == bound
    # the bound is proven: no coalition (all enumerated here) gains more by leaving
    reached = _largest_excess(scenario, stopped.allocation.to_dict())
    assert reached <= bound + 1e-6 * stopped.savings
    # the full run from the same start is no worse than what the capped run claims
    full = share(scenario, rule, workers=1, exact_limit=2)
    assert full.complete
    assert _largest_excess(scenario, full.allocation.to_dict()) <= bound + 1e-6 * full.savings


def test_the_command_writes_the_flagged_result_and_exits_4(scenario, tmp_path):
    scenario.save(tmp_path / "county")
    out = tmp_path / "sharing"
    done = run_planner("share", tmp_path / "county", "--rule", "nucleolus", "--exact-limit", "2",
                       "--max-separations", "1", "--workers", "1", "--no-progress",
                       "--out", out, cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert "internal error" not in done.stderr + done.stdout
    assert "INCOMPLETE" in done.stdout
    written = json.loads((out / "sharing.json").read_text())
    assert written["complete"] is False
    assert written["error_bounds"]["max_excess_bound"] is not None
    assert (out / "transfers.csv").exists()


def test_nothing_to_stand_behind_is_a_clear_time_limit(scenario):
    # the separation MILP never runs: no certified allocation, a clear SharingTimeLimit (exit 4)
    with pytest.raises(SharingTimeLimit, match="nothing was written"):
        share(scenario, "nucleolus", workers=1, exact_limit=2, max_separations=1,
              milp_seconds=0.5)

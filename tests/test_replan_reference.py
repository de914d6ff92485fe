"""planner.replan checked against an independent brute force (tests/replan_reference.py).

For tiny scenarios every assignment of the integer decisions (new units, relocations, outreach
days) is enumerated; each feasible one is priced with the exact objective of docs/design.md
section 5 (a transportation LP per service, scipy's linprog). Then C* = the least cost, the
candidates are the assignments of cost <= (1 + R) C* (and a 1e-9 relative allowance), and the
expected re-plan has the fewest changes (sum |after - before|, docs/design.md section 7) among
them.
Each re-plan is checked three ways: its change count is the brute-force minimum, its objective is
within (1 + R) C*, and its objective is the brute-force cost of its own decisions.
"""

from __future__ import annotations

import pandas as pd
import pytest

import planner
import toy
from replan_reference import SPEC, Mini, as_decisions, changes_between, decision_key

# The brute force's candidates are the plans of cost <= (1 + R) C* (1 + 1e-9). A plan's reported
# objective is recomputed from its flows, which carry HiGHS's feasibility tolerances (1e-7):
# comparisons of an objective with a brute-force cost allow NUM relative.
NUM = 1e-7


def travel(rows: dict[str, tuple], sites: list[str]) -> tuple:
    return tuple(((z, i), float(m)) for z, ms in rows.items() for i, m in zip(sites, ms))


# A county hospital H with 2 existing CTs (movable at 100 a unit) and the cardiology pool
# (4 days, and a clinic of 50 visits), two township centres T1 and T2 with a zone each and the
# hospital's own zone ZH. CT within 45 minutes is urgent (stroke). The optimum moves one of H's
# CTs to T1 and sends 2 outreach days to T1; Z2 (82 residents) is just below the size at which a
# new CT at T2 (annuity 154.72 + opex 100 a year) pays for itself.
COUNTY = Mini(
    sites=(("H", "MH", "county", 119.0, 32.7), ("T1", "M1", "township", 118.8, 32.7),
           ("T2", "M2", "township", 119.2, 32.7)),
    zones=(("Z1", 1000.0), ("Z2", 82.0), ("ZH", 1000.0)),
    minutes=travel({"Z1": (50, 10, 40), "Z2": (50, 40, 10), "ZH": (5, 45, 45)},
                   ["H", "T1", "T2"]),
    conditions=(("scan", 100.0, None, 1.0, 0.0), ("stroke", 2.0, 45.0, 1.0, 0.0),
                ("chest", 20.0, None, 0.0, 1.0)),
    budget=3000.0, relocation_cost=100.0, existing=(("H", 2),),
    pool=(("H", 4),), clinic=(("H", 50.0),), spec_max_minutes=30.0, name="county")


def twins(mirrored: bool) -> Mini:
    """Township centres A and B at the same place with the same tier and data (the same member,
    or mirrored members MA / MB): a CT (urgent within 30 minutes for ZA) and the 2 outreach days
    ZA needs can go to either, or the days split 1 + 1 - the optimum is tied."""
    ma, mb = ("MA", "MB") if mirrored else ("MT", "MT")
    return Mini(
        sites=(("H", "MH", "county", 119.0, 32.7), ("A", ma, "township", 119.2, 32.7),
               ("B", mb, "township", 119.2, 32.7)),
        zones=(("ZA", 1000.0), ("ZH", 1000.0)),
        minutes=travel({"ZA": (60, 10, 10), "ZH": (5, 50, 50)}, ["H", "A", "B"]),
        conditions=(("scan", 100.0, None, 1.0, 0.0), ("stroke", 2.0, 30.0, 1.0, 0.0),
                    ("chest", 20.0, None, 0.0, 1.0)),
        budget=2000.0, existing=(("H", 1),), max_per_site=1,
        pool=(("H", 2),), clinic=(("H", 50.0),), spec_max_minutes=30.0, name="twins")


def decisions(*rows) -> pd.DataFrame:
    """A baseline: (decision, site_id, resource, from_site, amount) rows."""
    return pd.DataFrame(list(rows), columns=["decision", "site_id", "resource", "from_site",
                                             "amount"])


def check_replan(mini: Mini, baseline: pd.DataFrame, tolerance: float | None,
                 scenario=None, **options) -> planner.Plan:
    """Re-plan `mini` from `baseline` and compare with the brute force; returns the plan.
    tolerance None: the scenario's [solver] mip_gap."""
    ref = mini.reference
    scenario = scenario or mini.scenario()
    rate = scenario.settings.solver.mip_gap if tolerance is None else tolerance
    assert ref.clear_threshold(rate), "a plan's cost sits on the tolerance ceiling: retune"
    plan = planner.replan(scenario, baseline, tolerance=tolerance, **options)
    before, after = as_decisions(baseline), as_decisions(plan.decisions)
    expected = ref.fewest_changes(before, rate)
    own_cost = ref.cost(after)
    assert own_cost is not None, f"the re-plan's decisions {after} break a rule of the scenario"
    assert plan.objective == pytest.approx(own_cost, rel=NUM), (after, plan.objective, own_cost)
    assert plan.objective <= ref.ceiling(rate) * (1 + NUM), (plan.objective, ref.optimum)
    assert plan.change_count == changes_between(before, after)
    assert plan.change_count == expected, (
        f"{mini.name}: replan made {plan.change_count} changes ({after}, cost {plan.objective}); "
        f"the brute force finds {expected} within (1 + {rate}) x {ref.optimum}")
    return plan


# --- 1. twin sites ----------------------------------------------------------------------------
TWIN_BASELINES = {
    "CT and days at B": (("new_units", "B", "CT", "", 1), ("outreach_days", "B", SPEC, "", 2)),
    "CT at A, days split": (("new_units", "A", "CT", "", 1), ("outreach_days", "A", SPEC, "", 1),
                            ("outreach_days", "B", SPEC, "", 1)),
    "CT at B, days at A": (("new_units", "B", "CT", "", 1), ("outreach_days", "A", SPEC, "", 2)),
}


@pytest.mark.parametrize("mirrored", [False, True], ids=["same member", "mirrored members"])
def test_the_twin_optimum_is_tied(mirrored):
    """The premise: each baseline below is one of several cost-optimal plans, and a plain solve
    returns one of them (which one is not asserted)."""
    mini = twins(mirrored)
    ref = mini.reference
    optimal = [d for d, _ in ref.candidates(0.0)]
    for rows in TWIN_BASELINES.values():
        assert as_decisions(decisions(*rows)) in optimal
    plan = planner.solve(mini.scenario())
    assert plan.objective == pytest.approx(ref.optimum, rel=NUM)
    assert as_decisions(plan.decisions) in optimal


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("which", list(TWIN_BASELINES))
@pytest.mark.parametrize("mirrored", [False, True], ids=["same member", "mirrored members"])
def test_a_tied_baseline_is_kept_whatever_the_seed(mirrored, which, seed):
    baseline = decisions(*TWIN_BASELINES[which])
    plan = check_replan(twins(mirrored), baseline, tolerance=0.0, seed=seed)
    assert plan.change_count == 0
    pd.testing.assert_frame_equal(plan.decisions, baseline.astype(plan.decisions.dtypes))
    assert plan.changes.empty


# --- 2. renamed ids ---------------------------------------------------------------------------
COUNTY_OPTIMUM = (("relocated", "T1", "CT", "H", 1), ("outreach_days", "T1", SPEC, "", 2))


def test_the_county_optimum_is_what_the_brute_force_finds():
    ref = COUNTY.reference
    optimal = [d for d, _ in ref.candidates(0.0)]
    assert optimal == [as_decisions(decisions(*COUNTY_OPTIMUM))]
    plan = planner.solve(COUNTY.scenario())
    assert plan.objective == pytest.approx(ref.optimum, rel=NUM)
    assert as_decisions(plan.decisions) == optimal[0]


@pytest.mark.parametrize("old, new, gone", [
    ("T1", "T1b", [("relocated", "T1", "CT", "H", 1), ("outreach_days", "T1", SPEC, "", 2)]),
    ("H", "Hb", [("relocated", "T1", "CT", "H", 1)]),
    ("T2", "T2b", []),
])
@pytest.mark.parametrize("tolerance", [0.0, 0.02])
def test_a_renamed_site_counts_its_baseline_decisions_as_changes(old, new, gone, tolerance):
    """The baseline is the optimum before `old` was renamed `new` in sites.csv (and travel.csv,
    resources.csv): its decisions at the old id are changes (before b, after 0)."""
    baseline = decisions(*COUNTY_OPTIMUM)
    mini = COUNTY.renamed(old, new).replace(name=f"county renamed {old}")
    plan = check_replan(mini, baseline, tolerance=tolerance)
    changes = plan.changes.set_index(["decision", "site_id", "resource", "from_site"])
    for kind, site, resource, from_site, amount in gone:
        row = changes.loc[(kind, site, resource, from_site)]
        assert (row["before"], row["after"]) == (amount, 0)
    # the plan repeats the baseline under the new names: each vanished decision counts twice
    assert plan.change_count == 2 * sum(r[-1] for r in gone)


# --- 3. grown populations with a tolerance ----------------------------------------------------
GROWTH = [0.02, 0.05, 0.10]


def grown(growth: float) -> Mini:
    """Every zone (+growth); Z2 crosses the size at which its own CT at T2 pays."""
    return COUNTY.grown({z: growth for z, _ in COUNTY.zones}).replace(
        name=f"county grown {growth:.0%}")


@pytest.mark.parametrize("growth", GROWTH)
def test_grown_populations_move_the_optimum(growth):
    """The premise: B's optimal plans all differ from A's optimum (the baseline), and a plain
    solve of B pays for it in changes."""
    mini = grown(growth)
    ref = mini.reference
    baseline = decisions(*COUNTY_OPTIMUM)
    before = as_decisions(baseline)
    assert ref.fewest_changes(before, 0.0) > 0
    plain = planner.solve(mini.scenario())
    assert plain.objective == pytest.approx(ref.optimum, rel=NUM)
    assert changes_between(before, as_decisions(plain.decisions)) > 0


# Found failing (highspy 1.16.0): where the baseline is not itself within the ceiling, the
# second solve of planner.replan, warm-started from the cost-optimal plan with presolve on, is
# reported optimal at an objective the returned column values do not have ("MIP start solution is
# feasible in the reduced space: objective value is 1.49995", while c.x of the values returned is
# 3.49995), and the cost-optimal plan (3 changes) comes back instead of the 1-change plan of the
# same cost. With presolve=False every test of this file passes.
@pytest.mark.parametrize("tolerance", [0.0, 0.001, 0.01, 0.05])
@pytest.mark.parametrize("growth", GROWTH)
def test_grown_populations_replan_with_fewest_changes(growth, tolerance):
    mini = grown(growth)
    baseline = decisions(*COUNTY_OPTIMUM)
    plan = check_replan(mini, baseline, tolerance=tolerance)
    plain = planner.solve(mini.scenario())
    plain_changes = changes_between(as_decisions(baseline), as_decisions(plain.decisions))
    assert plan.change_count <= plain_changes
    if tolerance >= 0.01:   # the old plan is within 1% of B's optimum: nothing changes
        assert plan.change_count == 0 < plain_changes


def test_with_zero_tolerance_the_cheapest_plans_are_ranked_by_changes():
    """At +10% two plans are optimal: keep the move to T1 and buy a CT at T2 (1 change), or
    move to T2 and buy at T1 (3 changes); R = 0 must return the first."""
    mini = grown(0.10)
    ref = mini.reference
    before = as_decisions(decisions(*COUNTY_OPTIMUM))
    counts = sorted(changes_between(before, d) for d, _ in ref.candidates(0.0))
    assert counts == [1, 3]
    plan = check_replan(mini, decisions(*COUNTY_OPTIMUM), tolerance=0.0)
    assert as_decisions(plan.decisions) == {**before, decision_key("new_units", "T2", "CT"): 1}


@pytest.mark.parametrize("growth", GROWTH)
def test_the_tolerance_defaults_to_the_scenarios_mip_gap(growth):
    """No tolerance given: R is [solver] mip_gap (here 0.001)."""
    mini = grown(growth)
    check_replan(mini, decisions(*COUNTY_OPTIMUM), tolerance=None,
                 scenario=mini.scenario(mip_gap=0.001))


# --- 4. same inputs, zero changes ---------------------------------------------------------------
SAME = {"county": lambda: COUNTY.scenario(), "county +5%": lambda: grown(0.05).scenario(),
        "twins": lambda: twins(False).scenario(), "consortium(3)": lambda: toy.consortium(3),
        "consortium(4)": lambda: toy.consortium(4)}


@pytest.mark.parametrize("name", list(SAME))
def test_replanning_the_same_inputs_changes_nothing(name):
    scenario = SAME[name]()
    first = planner.solve(scenario)
    again = planner.replan(scenario, first.decisions)
    assert again.change_count == 0
    assert again.changes.empty
    pd.testing.assert_frame_equal(again.decisions, first.decisions)
    assert again.objective == pytest.approx(first.objective, rel=NUM)


# --- 5. commitments (implemented.csv) with a re-plan --------------------------------------------
COMMITMENTS = {
    "at least 2 days at T2": (("outreach_days", "T2", SPEC, "", 2, "at_least"),),
    "at least 1 new CT at T2": (("new_units", "T2", "CT", "", 1, "at_least"),),
    "no move to T1": (("relocated", "T1", "CT", "H", 0, "at_most"),),
    "no days at T1": (("outreach_days", "T1", SPEC, "", 0, "at_most"),),
    "a new CT at T1, no days at T1": (("new_units", "T1", "CT", "", 1, "at_least"),
                                      ("outreach_days", "T1", SPEC, "", 0, "at_most")),
    "at most 1 day at T1, 1 at T2": (("outreach_days", "T1", SPEC, "", 1, "at_most"),
                                     ("outreach_days", "T2", SPEC, "", 1, "at_least")),
}


@pytest.mark.parametrize("tolerance", [0.0, 0.02])
@pytest.mark.parametrize("name", list(COMMITMENTS))
def test_commitments_bound_the_replan(name, tolerance):
    """The baseline (the optimum without commitments) breaks each commitment set; the re-plan
    keeps the commitments and makes the fewest changes among the plans that keep them."""
    rows = COMMITMENTS[name]
    mini = COUNTY.replace(implemented=rows, name=f"county, {name}")
    baseline = decisions(*COUNTY_OPTIMUM)
    assert mini.reference.cost(as_decisions(baseline)) is None   # the baseline breaks a row
    plan = check_replan(mini, baseline, tolerance=tolerance)
    after = as_decisions(plan.decisions)
    for kind, site, resource, from_site, amount, limit in rows:
        x = after.get(decision_key(kind, site, resource, from_site), 0)
        assert x >= amount if limit == "at_least" else x <= amount
    assert plan.change_count > 0


@pytest.mark.parametrize("tolerance", [0.0, 0.02])
def test_the_policy_minimum_holds_in_a_replan(tolerance):
    """[policy] min_outreach_days = 1 at every township centre: the baseline has none at T2."""
    mini = COUNTY.replace(min_days=1, name="county, policy minimum")
    plan = check_replan(mini, decisions(*COUNTY_OPTIMUM), tolerance=tolerance)
    after = as_decisions(plan.decisions)
    assert after.get(decision_key("outreach_days", "T2", SPEC), 0) >= 1

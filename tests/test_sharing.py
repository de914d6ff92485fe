"""Stage 2 on small planning games: coalition values checked by an independent route, the
nucleolus by constraint generation against full enumeration, sampled Shapley against exact,
transfers' invariants, and the Dask executor against the local one."""

from __future__ import annotations

import itertools
import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import planner
from planner.games import core as game_core
from planner.games import rules
from planner.games.game import Game
from planner.sharing.accounting import TRANSFER_COLUMNS, transfers
from planner.sharing.coalitions import CoalitionValues
from planner.sharing.division import share
from toy import consortium


@pytest.fixture(scope="module")
def game_scenario():
    return consortium(4)


def test_coalition_values_equal_independent_solves():
    # no policy minimum, soft urgent coverage: the game's rules are then stage-1 rules, so each
    # coalition can be solved as a scenario of its own with planner.solve
    base = consortium(3).with_(min_outreach_days={}, urgent_soft=True)
    values = CoalitionValues(base, workers=1)
    members = list(base.members.member)
    coalitions = [c for r in range(1, len(members) + 1)
                  for c in itertools.combinations(members, r)]
    values.compute(coalitions)
    for c in coalitions:
        sub = base.restricted_to(c)  # a scenario of its own, not the membership switches
        if sub.zones.empty:
            expected = float((sub.resources.resource == "CT").sum() and
                             sub.resources.loc[sub.resources.resource == "CT", "amount"].sum()
                             * sub.equipment.opex_per_year.iloc[0])
        else:
            plan = planner.solve(sub, mip_gap=1e-9)
            expected = plan.objective + plan.costs.get("uncovered_penalty", 0.0)
        assert values.cost(c) == pytest.approx(expected, rel=1e-6, abs=1e-3), c


def test_game_is_superadditive_and_savings_non_negative(game_scenario):
    values = CoalitionValues(game_scenario, workers=1)
    members = list(game_scenario.members.member)
    game = Game.from_function(members, values.savings, kind="profit")
    for a in range(1, len(members)):
        for s in itertools.combinations(members, a):
            assert game.value(s) >= -1e-3
            rest = [m for m in members if m not in s]
            assert game.grand >= game.value(s) + game.value(rest) - 1e-3


@pytest.mark.parametrize("townships", [4, 5, 6])
def test_nucleolus_by_generation_equals_enumeration(townships):
    scenario = consortium(townships, seed=townships)
    exact = share(scenario, "nucleolus", workers=1)
    generated = share(scenario, "nucleolus", workers=1, exact_limit=2)
    assert exact.method == "exact enumeration"
    assert generated.method.startswith("constraint generation")
    scale = exact.savings
    for m in exact.allocation.index:
        assert generated.allocation[m] == pytest.approx(exact.allocation[m], abs=1e-5 * scale)
    assert generated.core["in_core"] and exact.core["in_core"]
    # the least core by generation (cached rows first, then the MILP) reaches the epsilon of
    # enumeration: its allocation's largest excess over all coalitions
    least = share(scenario, "least-core", workers=1, exact_limit=2)
    values = CoalitionValues(scenario, workers=1)
    game = Game.from_function(list(scenario.members.member), values.savings)
    reached = game_core.core_report(game, least.allocation.to_dict()).max_excess
    assert reached == pytest.approx(game_core.least_core(game).epsilon, abs=1e-5 * scale)


def test_sampled_shapley_interval_covers_exact(game_scenario):
    exact = share(game_scenario, "shapley", workers=1)
    sampled = share(game_scenario, "shapley", workers=1, exact_limit=2, confidence=0.99,
                    rel_tol=0.005, seed=1)
    half = sampled.error_bounds["half_widths"]
    scale = exact.savings
    for m in exact.allocation.index:
        assert abs(sampled.allocation[m] - exact.allocation[m]) <= half[m] + 1e-9 * scale, m


def test_transfers_invariants_and_default_rule_in_core(game_scenario, tmp_path):
    sharing = share(game_scenario, workers=2)
    t = sharing.transfers
    assert list(t.columns)[:len(TRANSFER_COLUMNS)] == TRANSFER_COLUMNS   # then name, direction
    assert round(t["transfer"].sum(), 2) == 0.0
    assert (t["gain"] == t["allocation"]).all() and (t["gain"] >= 0).all()
    assert (t["final_cost"] == (t["standalone_cost"] - t["gain"]).round(2)).all()
    assert t["borne_cost"].sum() == pytest.approx(sharing.grand_cost, abs=0.01)
    assert not sharing.core["core_empty"] and sharing.core["in_core"]
    sharing.save(tmp_path / "share")
    saved = json.loads((tmp_path / "share" / "sharing.json").read_text())
    assert saved["rule"] == "nucleolus" and saved["in_core"] is True
    assert pd.read_csv(tmp_path / "share" / "transfers.csv").shape == (5, 9)


def test_exact_rules_match_the_games_module(game_scenario):
    values = CoalitionValues(game_scenario, workers=1)
    members = list(game_scenario.members.member)
    game = Game.from_function(members, values.savings, kind="profit")
    shapley = share(game_scenario, "shapley", workers=1).allocation
    for m, x in rules.shapley(game).items():
        assert shapley[m] == pytest.approx(x, rel=1e-9)


def test_proportional_rule_is_repaired_to_the_nearest_core_allocation(game_scenario):
    sharing = share(game_scenario, "proportional-cost", workers=1)
    assert not sharing.core["in_core"] and sharing.core["blocking"]
    values = CoalitionValues(game_scenario, workers=1)
    game = Game.from_function(list(game_scenario.members.member), values.savings)
    assert game_core.core_report(game, sharing.nearest_core).in_core


def test_dask_cluster_gives_the_local_result(game_scenario):
    import distributed  # here, not at the top: dask takes a second to import
    local = share(game_scenario, "shapley", workers=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        remote = share(game_scenario, "shapley", scheduler=cluster.scheduler_address)
    pd.testing.assert_series_equal(local.allocation, remote.allocation, rtol=1e-9)
    pd.testing.assert_frame_equal(local.transfers, remote.transfers)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1e7), st.floats(-1e6, 1e7), st.floats(0, 1)),
                min_size=2, max_size=12))
def test_transfers_always_sum_to_zero(rows):
    members = [f"M{k}" for k in range(len(rows))]
    standalone = pd.Series([r[0] for r in rows], index=members)
    borne = pd.Series([r[1] for r in rows], index=members)
    savings = standalone.sum() - borne.sum()
    weights = pd.Series([r[2] for r in rows], index=members) + 1e-9
    allocation = weights / weights.sum() * savings
    table = transfers(standalone, borne, allocation)
    assert round(table["transfer"].sum(), 2) == 0.0
    assert (table["gain"] == table["allocation"]).all()


def test_policy_rule_gives_the_lead_hospital_its_share(game_scenario):
    sharing = share(game_scenario, "policy", workers=1, policy_member="H", policy_share=0.6)
    assert sharing.allocation["H"] == pytest.approx(0.6 * sharing.savings)
    others = sharing.allocation.drop("H")
    standalone = sharing.standalone.drop("H")
    ratio = others / standalone
    assert ratio.max() == pytest.approx(ratio.min())  # the rest in proportion to standalone cost
    assert "blocking" in sharing.core and "least_core_epsilon" in sharing.core


def test_default_beyond_the_exact_limit_is_certified_in_the_core(game_scenario):
    """Beyond the exact limit the default starts from the LP-duality shares and pays the nearest
    core allocation; the certificate (the separation MILP's bound) is checked by enumeration."""
    sharing = share(game_scenario, workers=1, exact_limit=2)
    assert sharing.rule == "lp-duality"
    values = CoalitionValues(game_scenario, workers=1)
    members = list(game_scenario.members.member)
    game = Game.from_function(members, values.savings)
    scale = sharing.savings
    report = game_core.core_report(game, sharing.allocation.to_dict())
    assert report.max_excess <= 1e-6 * scale                   # in the core, by enumeration
    assert sharing.core["in_core"] is True
    assert sharing.core["max_excess_bound"] >= report.max_excess - 1e-6 * scale   # a valid bound
    assert sum(sharing.allocation) == pytest.approx(sharing.savings, abs=0.05)
    if sharing.adjusted:   # the L1-nearest core allocation to the LP-duality shares
        start = sharing.rule_allocation
        expected = game_core.nearest_core_allocation(game, start)
        distance = sum(abs(sharing.allocation[m] - start[m]) for m in members)
        best = sum(abs(expected[m] - start[m]) for m in members)
        assert distance == pytest.approx(best, rel=1e-6, abs=1e-3)

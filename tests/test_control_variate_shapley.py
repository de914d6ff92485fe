"""Sampled Shapley with a control game (planner.games.control_variate) and the LP relaxation of
coalitions as that control (planner.sharing.relaxed), against exact values.

References written here: the Shapley value by enumeration of every coalition (the subset formula
sum_S |S|! (n-|S|-1)! / n! (v(S+i) - v(S))), the Littlechild-Owen closed form of airport games
(Management Science 20, 1973), and for planning games every coalition's MILP cost enumerated, the
LP relaxation of each solved on a fresh HiGHS copy of the coalition's model.
"""

from __future__ import annotations

import itertools
import math

import highspy
import numpy as np
import pytest

from planner.games.control_variate import control_variate_shapley
from planner.games.game import GameError
from planner.model.highs import run as run_highs
from planner.progress import TimeBudgetSpent
from planner.sharing.coalitions import CoalitionValues
from planner.sharing.division import share
from planner.sharing.relaxed import LPValues, lp_cost
from planner.workers import process_pool
from test_stratified_shapley import Recorder
from toy import consortium

# --- games and references -------------------------------------------------------------------------


def names(n: int) -> tuple[str, ...]:
    return tuple(f"P{i}" for i in range(n))


def enumerated_shapley(table: np.ndarray) -> np.ndarray:
    """The subset formula over every coalition (table indexed by bit mask, table[0] = 0)."""
    n = int(len(table)).bit_length() - 1
    out = np.zeros(n)
    for i in range(n):
        for mask in range(1 << n):
            if not mask >> i & 1:
                s = bin(mask).count("1")
                weight = math.factorial(s) * math.factorial(n - s - 1) / math.factorial(n)
                out[i] += weight * (table[mask | 1 << i] - table[mask])
    return out


def airport(costs: list[float]) -> np.ndarray:
    """c(S) = max_{i in S} c_i (a runway long enough for the largest plane)."""
    table = np.zeros(1 << len(costs))
    for mask in range(1, 1 << len(costs)):
        table[mask] = max(c for i, c in enumerate(costs) if mask >> i & 1)
    return table


def littlechild_owen(costs: list[float]) -> np.ndarray:
    """The j-th runway segment c_(j) - c_(j-1) is split equally among the n - j + 1 players
    needing it."""
    order = np.argsort(costs, kind="stable")
    ladder = np.concatenate(([0.0], np.asarray(costs)[order]))
    n = len(costs)
    shares = np.cumsum([(ladder[j] - ladder[j - 1]) / (n - j + 1) for j in range(1, n + 1)])
    out = np.empty(n)
    out[order] = shares
    return out


def facility_savings(n: int, seed: int) -> np.ndarray:
    """v(S) = (|S| - 1) * 60 - min_{j in S} sum_{i in S} w_i d_ij: members at random sites
    share one facility at the best member's site (a 1-median savings game)."""
    rng = np.random.default_rng(seed)
    sites, weights = rng.uniform(0, 10, (n, 2)), rng.uniform(1, 3, n)
    distance = np.linalg.norm(sites[:, None] - sites[None], axis=2)
    table = np.zeros(1 << n)
    for mask in range(1, 1 << n):
        inside = [i for i in range(n) if mask >> i & 1]
        cost = min(sum(weights[i] * distance[i, j] for i in inside) for j in inside)
        table[mask] = (len(inside) - 1) * 60.0 - cost
    return table


def relaxed(table: np.ndarray, seed: int, size: float) -> np.ndarray:
    """A control like an LP relaxation's savings: v plus a random 'integrality gap' >= 0
    (c(S) = v(S) + gap(S); the empty coalition has none)."""
    gap = np.abs(np.random.default_rng(seed).normal(0.0, size, len(table)))
    gap[0] = 0.0
    return table + gap


def Table(table: np.ndarray, fail_on: int | None = None) -> Recorder:
    """A batch evaluator over a value table of players names(n) (test_stratified_shapley's
    Recorder: records the coalitions asked, raises TimeBudgetSpent on call `fail_on`)."""
    return Recorder(names(int(len(table)).bit_length() - 1), table, fail_on)


def estimate_of(table, control, **options):
    n = int(len(table)).bit_length() - 1
    costly, cheap = Table(table, options.pop("fail_on", None)), Table(control)
    return control_variate_shapley(names(n), costly, cheap, **options), costly, cheap


def vectors(estimate):
    return (np.array(list(estimate.estimates.values())),
            np.array(list(estimate.half_widths.values())))


# --- exact cases ----------------------------------------------------------------------------------

def test_exact_strata_covering_every_coalition_give_the_closed_form():
    costs = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0]
    control = airport([c * 0.9 + 0.3 for c in costs])          # another airport game
    estimate, costly, _ = estimate_of(airport(costs), control, exact_strata=4,
                                      control_exact_strata=4)
    got, half = vectors(estimate)
    np.testing.assert_allclose(got, littlechild_owen(costs), rtol=0, atol=1e-12)
    assert estimate.converged and not half.any() and estimate.method == "control variate"
    assert len(costly.asked) == len(set(costly.asked)) == 2 ** 7 - 1 == estimate.evaluations


def test_sampling_until_every_coalition_is_valued_ends_at_the_exact_value():
    table = facility_savings(5, seed=2)
    estimate, costly, cheap = estimate_of(table, relaxed(table, 1, 3.0), rel_tol=0.0, seed=4)
    got, half = vectors(estimate)
    np.testing.assert_allclose(got, enumerated_shapley(table), rtol=1e-12, atol=1e-9)
    assert estimate.converged and not half.any() and estimate.evaluations == 31
    assert len(cheap.asked) == len(set(cheap.asked))            # the control is never re-asked


# --- the interval is honest -----------------------------------------------------------------------

@pytest.mark.parametrize("label, table, control, options", [
    ("facility, close control", facility_savings(9, seed=5),
     relaxed(facility_savings(9, seed=5), 3, 2.0), {"rel_tol": 0.0, "max_evaluations": 250}),
    ("facility, no control (c = 0)", facility_savings(9, seed=5), np.zeros(2 ** 9),
     {"rel_tol": 0.0, "max_evaluations": 250}),
    ("airport, control from other costs",
     airport([2.5, 7.0, 3.0, 9.5, 1.0, 4.5, 6.0, 8.0, 5.0]),
     airport([2.0, 7.5, 3.0, 9.0, 1.5, 4.5, 5.0, 8.0, 5.5]),
     {"rel_tol": 0.03, "max_evaluations": 300}),
])
def test_intervals_cover_and_the_estimator_is_unbiased(label, table, control, options):
    exact = enumerated_shapley(table)
    seeds = 120
    errors, variances, hits = [], [], []
    for seed in range(seeds):
        estimate, _, _ = estimate_of(table, control, seed=seed, **options)
        got, half = vectors(estimate)
        errors.append(got - exact)
        variances.append((half / 1.959963984540054) ** 2)
        hits.append(np.abs(got - exact) <= half + 1e-12)
    coverage = np.mean(hits, axis=0)
    assert coverage.mean() >= 0.90 and coverage.min() >= 0.80, (label, coverage)
    # unbiased: the mean error over independent runs is within 4 of its standard errors,
    # computed from the variances the runs themselves reported
    mean_error = np.mean(errors, axis=0)
    standard_error = np.sqrt(np.sum(variances, axis=0)) / seeds
    assert np.all(np.abs(mean_error) <= 4 * standard_error + 1e-12), (label, mean_error,
                                                                      standard_error)


def test_a_close_control_needs_fewer_costly_values_for_the_same_tolerance():
    table = facility_savings(11, seed=7)
    close = relaxed(table, 5, 0.5)
    with_control, _, _ = estimate_of(table, close, rel_tol=0.01, seed=1)
    without, _, _ = estimate_of(table, np.zeros_like(table), rel_tol=0.01, seed=1)
    assert with_control.converged and without.converged
    assert with_control.evaluations < 0.6 * without.evaluations
    assert with_control.control_evaluations > with_control.evaluations
    got, half = vectors(with_control)
    assert np.all(half <= 0.01 * np.abs(got) + 1e-12)


# --- budgets, time, determinism, errors -----------------------------------------------------------

def test_a_spent_time_budget_keeps_what_was_valued_and_an_early_one_is_raised():
    table = facility_savings(10, seed=3)
    control = relaxed(table, 2, 2.0)
    with pytest.raises(TimeBudgetSpent):
        estimate_of(table, control, fail_on=1)
    stopped, costly, _ = estimate_of(table, control, rel_tol=0.001, seed=2, fail_on=3)
    assert not stopped.converged and stopped.evaluations == len(costly.calls[0]) + len(
        costly.calls[1])
    got, half = vectors(stopped)
    assert np.all(np.isfinite(half)) and np.all(half > 0)
    capped, costly, _ = estimate_of(table, control, rel_tol=0.001, seed=2, max_evaluations=150)
    assert not capped.converged and capped.evaluations <= max(150, len(costly.calls[0]))


def test_the_same_seed_gives_the_same_estimate():
    table = facility_savings(10, seed=9)
    control = relaxed(table, 4, 1.0)
    first = estimate_of(table, control, seed=13, rel_tol=0.01)[0]
    assert estimate_of(table, control, seed=13, rel_tol=0.01)[0] == first
    assert estimate_of(table, control, seed=np.random.default_rng(13), rel_tol=0.01)[0] == first
    assert estimate_of(table, control, seed=14, rel_tol=0.01)[0] != first


def test_a_wrong_evaluator_or_option_is_reported():
    table = facility_savings(4, seed=1)
    with pytest.raises(GameError):
        control_variate_shapley(names(4), lambda cs: [1.0], Table(table))
    with pytest.raises(GameError):
        control_variate_shapley(names(4), Table(table), Table(table), cost_ratio=0.0)


# --- planning games: the LP relaxation as the control ---------------------------------------------

def _coalitions(members):
    return [frozenset(c) for r in range(1, len(members) + 1)
            for c in itertools.combinations(members, r)]


def _fresh_lp(model, coalition) -> float:
    """The coalition's LP relaxation on a separate HiGHS copy of its model (rows as switched)."""
    model._fix_members(coalition)
    lp = model.highs.highs.getLp()
    lp.integrality_ = []
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.passModel(lp)
    run_highs(h, 1)
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return h.getInfo().objective_function_value


@pytest.fixture(scope="module")
def toy_game():
    scenario = consortium(5, seed=5)                   # 6 members: 63 coalitions
    values = CoalitionValues(scenario, workers=1)
    members = values.members
    coalitions = _coalitions(members)
    values.compute(coalitions)
    return scenario, values, members, coalitions


def test_coalition_lp_values_are_relaxations_and_independent_of_order(toy_game):
    _, values, members, coalitions = toy_game
    model = values.local_model()
    forward = [lp_cost(model, c) for c in coalitions]
    backward = [lp_cost(model, c) for c in reversed(coalitions)][::-1]
    assert forward == backward                                   # bit for bit
    for c, lp in zip(coalitions, forward):
        assert lp <= values.cost(c) * (1 + 1e-9) + 1e-6, c      # a lower bound on C(S)
        assert lp == pytest.approx(_fresh_lp(model, c), rel=1e-9, abs=1e-6), c
    # the coalition's MILP values are untouched by the LP solves in between
    assert values.local_model().cost(coalitions[-1]).cost == pytest.approx(
        values.cost(coalitions[-1]), rel=1e-9)


def test_lp_values_are_the_same_with_two_worker_processes(toy_game):
    scenario, values, _, coalitions = toy_game
    alone = LPValues(values).costs_many(coalitions)
    with process_pool(2) as pool:
        pooled = LPValues(CoalitionValues(scenario, pool, 2)).costs_many(coalitions)
    assert pooled == alone


def test_the_planning_game_estimate_matches_enumeration(toy_game):
    _, values, members, coalitions = toy_game
    n = len(members)
    table = np.zeros(1 << n)
    for c in coalitions:
        table[sum(1 << members.index(m) for m in c)] = values.savings(c)
    exact = enumerated_shapley(table)
    lp = LPValues(values)
    full = control_variate_shapley(members, values.savings_many, lp.savings_many,
                                   exact_strata=3, control_exact_strata=3)
    np.testing.assert_allclose([full.estimates[m] for m in members], exact, rtol=1e-9,
                               atol=1e-3)
    hits = []
    for seed in range(6):
        sampled = control_variate_shapley(members, values.savings_many, lp.savings_many,
                                          exact_strata=0, control_exact_strata=1, seed=seed,
                                          rel_tol=0.0, max_evaluations=30)
        got, half = vectors(sampled)
        hits += list(np.abs(got - exact) <= half + 1e-6)
    assert np.mean(hits) >= 0.8


def test_share_samples_the_same_shapley_with_one_or_two_workers(toy_game):
    scenario = toy_game[0]
    alone = share(scenario, "shapley", workers=1, exact_limit=2, rel_tol=0.05, seed=3)
    pooled = share(scenario, "shapley", workers=2, exact_limit=2, rel_tol=0.05, seed=3)
    assert "control variate" in alone.method
    assert alone.error_bounds["lp_relaxations"] >= alone.error_bounds["evaluations"] > 0
    assert alone.allocation.to_dict() == pooled.allocation.to_dict()
    assert alone.error_bounds == pooled.error_bounds

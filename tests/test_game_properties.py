"""Property tests (Hypothesis) of the sharing rules and the core tools.

Random games come from a drawn seed and a seeded numpy Generator (no global random state); convex
games are built from non-negative Harsanyi dividends d_T, v(S) = sum over T subset of S of d_T,
which makes v supermodular, hence convex, hence with a non-empty core containing the Shapley value
(Shapley 1971) and the nucleolus.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from helpers import brute_force_oracle
from planner.games import (
    Game,
    core_report,
    excesses,
    least_core,
    least_core_by_generation,
    least_core_epsilon,
    nucleolus_by_generation,
    nucleolus_solution,
    sample_shapley,
    shapley,
)
from planner.games.game import CoalitionValues, mask_bits

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
NAMES = "ABCDEFGH"


def game_from_table(table: np.ndarray, kind: str = "profit") -> Game:
    n = int(np.log2(len(table)))
    players = tuple(NAMES[:n])
    table = np.asarray(table, dtype=float).copy()
    table[0] = 0.0
    return Game(players, kind, CoalitionValues(players, table))


def from_dividends(dividends: np.ndarray) -> np.ndarray:
    """v(S) = sum of d_T over T subset of S (the zeta transform, one pass per player)."""
    v = np.asarray(dividends, dtype=float).copy()
    v[0] = 0.0  # no dividend on the empty coalition: v(empty) = 0
    masks = np.arange(len(v))
    for i in range(int(np.log2(len(v)))):
        with_i = masks[(masks >> i & 1) == 1]
        v[with_i] += v[with_i ^ (1 << i)]
    return v


def swap01(masks: np.ndarray) -> np.ndarray:
    """The masks with players 0 and 1 exchanged."""
    b0, b1 = masks & 1, masks >> 1 & 1
    return (masks & ~np.int64(3)) | (b0 << 1) | b1


@st.composite
def seeded(draw, min_players: int, max_players: int):
    n = draw(st.integers(min_players, max_players))
    return n, np.random.default_rng(draw(st.integers(0, 2**32 - 1)))


@st.composite
def convex_games(draw, min_players: int = 2, max_players: int = 6) -> Game:
    n, rng = draw(seeded(min_players, max_players))
    dividends = rng.integers(0, 6, 1 << n) * (rng.random(1 << n) < 0.5)
    return game_from_table(from_dividends(dividends))


@st.composite
def games_with_symmetric_and_null_players(draw) -> Game:
    """Players A and B symmetric, the last player null; other dividends of any sign."""
    n, rng = draw(seeded(3, 6))
    dividends = rng.integers(-5, 6, 1 << n).astype(float)
    masks = np.arange(1 << n)
    dividends = dividends + dividends[swap01(masks)]
    dividends[(masks >> (n - 1) & 1) == 1] = 0.0
    return game_from_table(from_dividends(dividends))


@st.composite
def imputation_games(draw, min_players: int = 5, max_players: int = 8) -> Game:
    """Arbitrary (not superadditive) games whose imputation set is not empty."""
    n, rng = draw(seeded(min_players, max_players))
    table = rng.integers(0, 20, 1 << n).astype(float)
    singles = 1 << np.arange(n)
    table[singles] = rng.integers(0, 5, n)
    table[-1] = max(table[-1], table[singles].sum() + rng.integers(0, 10))
    kind = draw(st.sampled_from(["profit", "cost"]))
    if kind == "cost":  # cost games: c(N) <= sum of c({i})
        table[singles] += 20
        table[-1] = min(table[-1], table[singles].sum())
    return game_from_table(table, kind)


# --- Shapley axioms -------------------------------------------------------------------------------

@SETTINGS
@given(games_with_symmetric_and_null_players())
def test_shapley_is_efficient_symmetric_and_zero_for_null_players(game):
    value = shapley(game)
    assert sum(value.values()) == pytest.approx(game.grand, abs=1e-9)
    assert value["A"] == pytest.approx(value["B"], abs=1e-9)
    assert value[game.players[-1]] == pytest.approx(0, abs=1e-9)


@SETTINGS
@given(convex_games(2, 6))
def test_sampled_shapley_is_efficient(game):
    estimate = sample_shapley(game.players, game.value, max_permutations=40, rel_tol=0, seed=1)
    assert sum(estimate.estimates.values()) == pytest.approx(game.grand, abs=1e-9)


# --- convex games: Shapley and the nucleolus are in the core --------------------------------------

@SETTINGS
@given(convex_games())
def test_convex_games_have_shapley_and_nucleolus_in_the_core(game):
    assert core_report(game, shapley(game)).in_core
    nucleolus = nucleolus_solution(game).allocation
    report = core_report(game, nucleolus)
    assert report.in_core and not report.core_empty
    assert report.least_core_epsilon <= 1e-9
    # the core lies in the imputation set, so nucleolus = prenucleolus
    pre = nucleolus_solution(game, individually_rational=False).allocation
    assert pre == pytest.approx(nucleolus, abs=1e-7)


@SETTINGS
@given(imputation_games(3, 6))
def test_least_core_epsilon_decides_core_emptiness(game):
    epsilon = least_core_epsilon(game)
    solution = least_core(game, individually_rational=False)
    assert solution.epsilon == pytest.approx(epsilon, abs=1e-9)
    report = core_report(game, solution.allocation)
    assert report.max_excess <= epsilon + 1e-7 * np.abs(game.table).max()
    assert report.in_core == (epsilon <= report.tolerance)
    if epsilon <= 0:  # then the IR least core has the same epsilon
        assert least_core(game).epsilon == pytest.approx(epsilon, abs=1e-9)


# --- generation against enumeration ---------------------------------------------------------------

@settings(max_examples=25, deadline=None, derandomize=True)
@given(imputation_games(5, 8), st.booleans())
def test_nucleolus_by_generation_equals_enumeration(game, individually_rational):
    single = {p: game.value([p]) for p in game.players}
    oracle = brute_force_oracle(game)
    found = nucleolus_by_generation(game.players, game.grand, oracle, single, kind=game.kind,
                                    individually_rational=individually_rational)
    expected = nucleolus_solution(game, individually_rational=individually_rational)
    assert found.allocation == pytest.approx(expected.allocation, abs=1e-7)
    assert found.epsilon == pytest.approx(expected.epsilons[0], abs=1e-7)
    lc = least_core_by_generation(game.players, game.grand, oracle, single, kind=game.kind,
                                  individually_rational=individually_rational)
    assert lc.epsilon == pytest.approx(expected.epsilons[0], abs=1e-7)


# --- the prenucleolus satisfies Kohlberg's criterion ----------------------------------------------

def balanced(masks: np.ndarray, n: int) -> bool:
    """Is there lambda_S > 0 on the collection with sum lambda_S 1_S = 1_N? (max min lambda > 0)"""
    m = len(masks)
    a_eq = np.hstack([mask_bits(masks, n).T, np.zeros((n, 1))])
    a_ub = np.hstack([-np.eye(m), np.ones((m, 1))])  # t <= lambda_S
    result = linprog(np.r_[np.zeros(m), -1.0], A_ub=a_ub, b_ub=np.zeros(m), A_eq=a_eq,
                     b_eq=np.ones(n), bounds=[(0, None)] * m + [(None, 1)], method="highs")
    return result.status == 0 and -result.fun > 1e-9


def kohlberg(game: Game, allocation: dict[str, float], tol: float = 1e-7) -> bool:
    """Kohlberg (1971): a pre-imputation is the prenucleolus iff every collection
    D(a) = {proper S : e(S, x) >= a} that is not empty is balanced."""
    excess = excesses(game, allocation)[1:-1]
    masks = np.arange(1, (1 << game.n) - 1)
    levels = sorted({round(float(e) / tol) for e in excess}, reverse=True)
    return all(balanced(masks[excess >= level * tol - tol], game.n) for level in levels)


@SETTINGS
@given(seeded(2, 5))
def test_prenucleolus_satisfies_kohlberg_and_a_perturbation_does_not(drawn):
    n, rng = drawn
    game = game_from_table(rng.integers(-10, 20, 1 << n))
    pre = nucleolus_solution(game, individually_rational=False).allocation
    assert kohlberg(game, pre)
    moved = dict(pre)
    moved["A"] += 0.01
    moved["B"] -= 0.01
    assert not kohlberg(game, moved)

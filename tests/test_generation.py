"""Constraint generation against enumeration on games of 8 to 12 players (issue 10).

The nucleolus, the least core and the nearest (least-)core allocation computed row by row from
a separation oracle must equal those of the full LPs over all 2^n - 2 coalitions, whichever
oracle hands out the rows: the single most dissatisfied coalition, or a `SeparationOracle`
giving several violated coalitions a round (the planner's cache and MILP solution pool). Games:
random convex games (non-negative Harsanyi dividends, non-empty core) and random games whose
core is empty (partitions worth more than N), so both branches of the nearest allocation are
exercised.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.games import Game
from planner.games.core import (
    SeparationOracle,
    core_report,
    enumeration_oracle,
    least_core_by_generation,
    least_core_epsilon,
    nearest_by_generation,
    nearest_core_allocation,
    nearest_least_core_allocation,
    nucleolus_by_generation,
    nucleolus_solution,
)
from planner.games.game import CoalitionValues, subset_sums

NAMES = tuple(f"P{i:02d}" for i in range(12))


def random_game(n: int, seed: int, convex: bool) -> Game:
    rng = np.random.default_rng(seed)
    dividends = rng.exponential(1.0, 1 << n) * (rng.random(1 << n) < 0.3)
    dividends[0] = 0.0
    v = dividends.copy()
    masks = np.arange(len(v))
    for i in range(n):
        with_i = masks[(masks >> i & 1) == 1]
        v[with_i] += v[with_i ^ (1 << i)]
    if not convex:   # a few partitions {A, N \ A} worth more than N: the core is empty
        full = (1 << n) - 1
        for a in rng.integers(1, full, size=3):
            for m in (int(a), full ^ int(a)):
                v[m] = max(v[m], 0.6 * v[full] * rng.uniform(0.9, 1.1))
    players = NAMES[:n]
    return Game(players, "profit", CoalitionValues(players, v))


class TopK:
    """A SeparationOracle that hands out up to k violated coalitions a round, by enumeration."""

    def __init__(self, game: Game, k: int):
        self.game, self.k, self.rounds = game, k, 0

    def separate(self, x, exclude, threshold):
        self.rounds += 1
        g = self.game
        excess = g.profit_table - subset_sums(g.vector(x))
        excess[[0, -1]] = -np.inf
        for c in exclude:
            excess[g.mask(c)] = -np.inf
        order = np.argsort(-excess, kind="stable")[:self.k]
        return [(frozenset(g.coalition(int(m))), float(excess[m])) for m in order
                if excess[m] > threshold]


CASES = [(8, 1, True), (9, 2, False), (10, 3, True), (11, 4, False), (12, 5, True),
         (12, 6, False)]


@pytest.mark.parametrize("n, seed, convex", CASES)
def test_nucleolus_and_least_core_by_generation_equal_enumeration(n, seed, convex):
    game = random_game(n, seed, convex)
    single = {p: game.value([p]) for p in game.players}
    expected = nucleolus_solution(game, individually_rational=False)
    for oracle in (enumeration_oracle(game), TopK(game, 8)):
        found = nucleolus_by_generation(game.players, game.grand, oracle, single,
                                        individually_rational=False, value=game.value)
        assert found.allocation == pytest.approx(expected.allocation, abs=1e-6)
        least = least_core_by_generation(game.players, game.grand, oracle, single,
                                         individually_rational=False, value=game.value)
        assert least.epsilon == pytest.approx(least_core_epsilon(game), abs=1e-6)


@pytest.mark.parametrize("n, seed, convex", CASES)
def test_nearest_core_by_generation_equals_enumeration(n, seed, convex):
    game = random_game(n, seed, convex)
    single = {p: game.value([p]) for p in game.players}
    rng = np.random.default_rng(seed)
    target = dict(zip(game.players, rng.dirichlet(np.ones(n)) * game.grand))
    epsilon = least_core_epsilon(game)
    core_empty = epsilon > 1e-7 * np.abs(game.table).max()
    assert core_empty == (not convex)
    expected = (nearest_least_core_allocation(game, target) if core_empty
                else nearest_core_allocation(game, target))
    oracle = TopK(game, 16)
    found = nearest_by_generation(game.players, game.grand, oracle, single, target,
                                  epsilon=max(epsilon, 0.0) + (1e-9 if core_empty else 0.0),
                                  value=game.value)
    distance = sum(abs(found[p] - target[p]) for p in game.players)
    best = sum(abs(expected[p] - target[p]) for p in game.players)
    assert distance == pytest.approx(best, rel=1e-6, abs=1e-6)    # the L1 optimum is unique
    report = core_report(game, found)                               # in value; the point may
    assert report.max_excess <= max(epsilon, 0.0) + 1e-6            # differ among ties
    assert sum(found.values()) == pytest.approx(game.grand, abs=1e-7)
    assert oracle.rounds < 2 ** n / 8     # generation needs far fewer rounds than rows


def test_nearest_by_generation_is_none_below_the_least_core():
    game = random_game(9, 2, convex=False)
    epsilon = least_core_epsilon(game)
    assert epsilon > 0
    single = {p: game.value([p]) for p in game.players}
    target = {p: game.grand / 9 for p in game.players}
    assert nearest_by_generation(game.players, game.grand, TopK(game, 4), single, target,
                                 epsilon=epsilon * 0.5, value=game.value) is None


def test_a_separation_oracle_is_recognised_and_checked():
    game = random_game(8, 1, convex=True)
    assert isinstance(TopK(game, 2), SeparationOracle)

    class Wrong:
        def separate(self, x, exclude, threshold):
            return [(frozenset(game.players), 1.0)]     # the grand coalition is not proper

    single = {p: game.value([p]) for p in game.players}
    with pytest.raises(Exception, match="grand coalition"):
        least_core_by_generation(game.players, game.grand, Wrong(), single)

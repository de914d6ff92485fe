"""Sharing rules: each maps a game to an allocation {player: share of v(N)} (cost shares of c(N)
for a cost game), so any rule's result can be checked against the core (`core.core_report`).

The value-based rules (Shapley, Banzhaf) work on the mask array in O(n 2^n); the LP-based ones
(least core, nucleolus, prenucleolus) are in `core` and wrapped here; the rest are the simple
rules the consortium literature describes (equal, proportional, weighted criteria, a policy share).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from planner.games.core import LeastCore, nucleolus_solution
from planner.games.core import least_core as _least_core
from planner.games.game import Game, GameError, finite, popcounts


def shapley(game: Game) -> dict[str, float]:
    """phi_i = sum over S not containing i of |S|!(n-|S|-1)!/n! * (v(S+i) - v(S)); exact."""
    n, table = game.n, game.table
    weight = np.array([1.0 / (n * math.comb(n - 1, s)) for s in range(n)])
    sizes = popcounts(n)
    masks = np.arange(1 << n)
    values = []
    for i in range(n):
        without = masks[(masks >> i & 1) == 0]
        values.append(float(weight[sizes[without]] @ (table[without | 1 << i] - table[without])))
    return game.allocation(values)


def banzhaf_raw(game: Game) -> dict[str, float]:
    """beta_i = 2^-(n-1) * sum over S not containing i of (v(S+i) - v(S)) (not efficient)."""
    n, table = game.n, game.table
    masks = np.arange(1 << n)
    values = []
    for i in range(n):
        without = masks[(masks >> i & 1) == 0]
        values.append(float((table[without | 1 << i] - table[without]).sum()) / (1 << (n - 1)))
    return game.allocation(values)


def banzhaf(game: Game) -> dict[str, float]:
    """The Banzhaf value rescaled to sum to v(N): x_i = beta_i * v(N) / sum_j beta_j."""
    raw = np.array(list(banzhaf_raw(game).values()))
    total = raw.sum()
    if abs(total) <= 1e-12 * max(1.0, float(np.abs(raw).max(initial=0.0))):
        if abs(game.grand) <= 1e-12 * max(1.0, float(np.abs(game.table).max())):
            return game.allocation(np.zeros(game.n))
        raise GameError("the normalised Banzhaf value is undefined: the raw Banzhaf values sum "
                        "to 0 while v(N) does not")
    return game.allocation(raw * game.grand / total)


def equal_split(game: Game) -> dict[str, float]:
    return game.allocation(np.full(game.n, game.grand / game.n))


def proportional(game: Game, weights: Mapping[str, float]) -> dict[str, float]:
    """x_i = v(N) * w_i / sum_j w_j, weights >= 0 (population, volume, standalone cost)."""
    w = _weights(game, weights, "weights")
    return game.allocation(game.grand * w / w.sum())


def weighted(game: Game, criteria: Mapping[str, Mapping[str, float]],
             importance: Mapping[str, float] | None = None) -> dict[str, float]:
    """Proportional to a weighted sum of normalised criteria (volume, quality, cost control).

    Each criterion c gives every player a non-negative score where higher is better (turn a
    lower-is-better measure such as a readmission rate into one first, e.g. best - value);
    it is normalised to shares s_ci = score_ci / sum_j score_cj. With importances a_c (default
    equal; normalised to sum 1) the allocation is x_i = v(N) * sum_c a_c s_ci.
    """
    if not criteria:
        raise GameError("weighted rule: no criteria given")
    importance = dict(importance) if importance is not None else {c: 1.0 for c in criteria}
    unknown = set(importance) ^ set(criteria)
    if unknown:
        raise GameError(f"weighted rule: criteria and importances differ in {sorted(unknown)}")
    a = np.array([_non_negative(importance[c], f"importance of {c!r}") for c in criteria])
    if a.sum() <= 0:
        raise GameError("weighted rule: the importances sum to 0")
    shares = np.array([_weights(game, scores, f"criterion {c!r}")
                       for c, scores in criteria.items()])
    shares /= shares.sum(axis=1, keepdims=True)
    return game.allocation(game.grand * (a / a.sum()) @ shares)


def policy_share(game: Game, player: str, share: float,
                 rest: str | Mapping[str, float] = "equal") -> dict[str, float]:
    """`player` gets `share` of v(N) (e.g. 60% of the surplus to the lead hospital); the others
    split the remaining (1 - share) v(N): "equal", "standalone" (in proportion to v({i}), resp. the
    standalone cost c({i}) of a cost game), or in proportion to given weights."""
    if player not in game.players:
        raise GameError(f"policy rule: unknown player {player!r}")
    share = _non_negative(share, "policy share")
    if share > 1:
        raise GameError(f"policy rule: share {share} is above 1")
    others = [p for p in game.players if p != player]
    w: dict[str, float | None]   # None: a weight not given, which _non_negative refuses by name
    if rest == "equal":
        w = {p: 1.0 for p in others}
    elif rest == "standalone":
        w = {p: abs(game.value([p])) for p in others}
    elif isinstance(rest, Mapping):
        w = {p: rest.get(p) for p in others}
    else:
        raise GameError(f"policy rule: rest must be 'equal', 'standalone' or weights, not {rest!r}")
    allocation = {player: share * game.grand}
    if others:
        w_rest = np.array([_non_negative(w[p], f"weight of {p!r}") for p in others])
        if w_rest.sum() <= 0:
            raise GameError("policy rule: the other players' weights sum to 0")
        allocation.update(zip(others, ((1 - share) * game.grand * w_rest / w_rest.sum()).tolist()))
    return {p: float(allocation[p]) for p in game.players}


def least_core(game: Game, *, individually_rational: bool = True) -> LeastCore:
    """A least-core allocation and its epsilon (the nucleolus's first LP; see core.least_core)."""
    return _least_core(game, individually_rational=individually_rational)


def nucleolus(game: Game) -> dict[str, float]:
    """The nucleolus over imputations (x_i >= v({i}); Schmeidler 1969), by sequential LPs."""
    return nucleolus_solution(game, individually_rational=True).allocation


def prenucleolus(game: Game) -> dict[str, float]:
    """The prenucleolus (no individual-rationality bounds), by sequential LPs."""
    return nucleolus_solution(game, individually_rational=False).allocation


RULES = {
    "shapley": shapley,
    "banzhaf": banzhaf,
    "nucleolus": nucleolus,
    "prenucleolus": prenucleolus,
    "least-core": lambda game: least_core(game).allocation,
    "equal-split": equal_split,
}
"""Rules that need nothing but the game, by their CLI names (proportional needs weights).

The one declaration of the rule names: `planner game` (GAME_RULES) and the planning games'
rules of planner/sharing/division.py (which adds the rules that read the scenario) build on it."""

PROPORTIONAL = "proportional"
GAME_RULES = (*RULES, PROPORTIONAL)
"""The rules of `planner game`: RULES, and shares proportional to weights given with the game."""


def _weights(game: Game, weights: Mapping[str, float], what: str) -> np.ndarray:
    missing = [p for p in game.players if p not in weights]
    unknown = [p for p in weights if p not in game.players]
    if missing or unknown:
        raise GameError(f"{what}: every player needs a value; missing {missing}, "
                        f"unknown {unknown}")
    w = np.array([_non_negative(weights[p], f"{what} of {p!r}") for p in game.players])
    if w.sum() <= 0:
        raise GameError(f"{what}: the values sum to 0")
    return w


def _non_negative(value: object, what: str) -> float:
    number = finite(value, what)
    if number < 0:
        raise GameError(f"{what} = {value!r}; a finite number >= 0 is required")
    return number

"""The Shapley value by permutation sampling, for games too large to enumerate.

Why: exact Shapley needs v(S) for all 2^n coalitions; for a planning game each v(S) is a MILP, so
beyond n of about 15 the value is estimated as the mean marginal contribution over random orders
(Castro, Gomez & Tejada, Computers & OR 36, 2009). Orders come in antithetic pairs, an order and
its reverse (a player early in one is late in the other), whose averaged contributions vary less
(Mitchell et al., JMLR 23, 2022); the pair averages are independent, so the 95% interval is the
normal one on them. Coalition values are cached: orders share their prefixes near the ends.

Efficiency: along one order the contributions telescope to v(N) - v(empty) = v(N), so the raw
estimates already sum to v(N) (up to round-off). No efficiency correction is applied; the
estimates and intervals reported are the raw ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from planner.games.game import GameError


@dataclass(frozen=True)
class ShapleyEstimate:
    """Sampled Shapley values with their confidence half-widths (in the game's units)."""

    estimates: dict[str, float]
    half_widths: dict[str, float]
    permutations: int        # orders sampled (pairs x 2)
    evaluations: int         # distinct coalitions valued (calls of the oracle)
    converged: bool          # the stopping rule was met before max_permutations
    confidence: float

    def interval(self, player: str) -> tuple[float, float]:
        return (self.estimates[player] - self.half_widths[player],
                self.estimates[player] + self.half_widths[player])


def sample_shapley(players: Sequence[str], value: Callable[[frozenset[str]], float], *,
                   rel_tol: float = 0.01, min_permutations: int = 100,
                   max_permutations: int = 10_000, batch: int = 50, confidence: float = 0.95,
                   seed: int | np.random.Generator = 0,
                   executor: Executor | None = None) -> ShapleyEstimate:
    """Estimate the Shapley value of the game `value` (v(empty) = 0 is assumed, never asked).

    Sampling stops once at least `min_permutations` orders are done and every player's interval
    half-width is <= rel_tol * |v(N)| (checked after each `batch` of orders), or at
    `max_permutations`. When v(N) = 0 the largest |v(S)| seen is the scale instead. `seed` is an
    int or a numpy Generator (no global random state). With an `executor`, the coalitions new to a
    batch are valued through `executor.map` (the oracle must then be picklable for processes).
    """
    players = tuple(players)
    n = len(players)
    if n == 0:
        raise GameError("sample_shapley needs at least one player")
    if not 0 < confidence < 1 or rel_tol < 0 or batch < 2:
        raise GameError("sample_shapley: need 0 < confidence < 1, rel_tol >= 0 and batch >= 2")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    cache: dict[int, float] = {0: 0.0}
    full = (1 << n) - 1
    _value_missing([full], cache, players, value, executor)
    grand = cache[full]

    pairs, mean, m2 = 0, np.zeros(n), np.zeros(n)   # Welford over the pair averages
    max_pairs, min_pairs = max(1, math.ceil(max_permutations / 2)), math.ceil(min_permutations / 2)
    half = np.full(n, np.inf)
    converged = False
    while pairs < max_pairs:
        size = min(max(1, batch // 2), max_pairs - pairs)
        orders = rng.permuted(np.tile(np.arange(n), (size, 1)), axis=1)
        prefixes = [_prefixes(order) for order in orders]
        prefixes += [_prefixes(order[::-1]) for order in orders]
        _value_missing((m for chain in prefixes for m in chain), cache, players, value, executor)
        for k, order in enumerate(orders):
            average = 0.5 * (_contributions(order, prefixes[k], cache)
                             + _contributions(order[::-1], prefixes[size + k], cache))
            pairs += 1
            delta = average - mean
            mean += delta / pairs
            m2 += delta * (average - mean)
        if pairs >= 2:
            half = z * np.sqrt(m2 / (pairs - 1) / pairs)
            scale = abs(grand) or max(abs(v) for v in cache.values()) or 1.0
            if pairs >= min_pairs and half.max() <= rel_tol * scale:
                converged = True
                break
    return ShapleyEstimate(
        estimates={p: float(x) for p, x in zip(players, mean)},
        half_widths={p: float(h) for p, h in zip(players, half)},
        permutations=2 * pairs, evaluations=len(cache) - 1, converged=converged,
        confidence=confidence)


def _prefixes(order: Iterable[int]) -> list[int]:
    """Masks of the coalitions formed along an order: empty, first player, first two, ..., N."""
    masks, mask = [0], 0
    for i in order:
        mask |= 1 << int(i)
        masks.append(mask)
    return masks


def _contributions(order: np.ndarray, masks: list[int], cache: dict[int, float]) -> np.ndarray:
    values = np.array([cache[m] for m in masks])
    out = np.empty(len(order))
    out[order] = np.diff(values)
    return out


def _value_missing(masks: Iterable[int], cache: dict[int, float], players: tuple[str, ...],
                   value: Callable[[frozenset[str]], float], executor: Executor | None) -> None:
    missing = list(dict.fromkeys(m for m in masks if m not in cache))
    coalitions = [frozenset(p for i, p in enumerate(players) if m >> i & 1) for m in missing]
    results = executor.map(value, coalitions) if executor is not None else map(value, coalitions)
    for mask, coalition, v in zip(missing, coalitions, results):
        try:
            number = float(v)
        except (TypeError, ValueError):
            number = math.nan
        if not math.isfinite(number):
            raise GameError(f"v({sorted(coalition)}) = {v!r}; a finite number is required")
        cache[mask] = number

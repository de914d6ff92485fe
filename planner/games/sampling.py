"""The Shapley value by sampling, for games too large to enumerate.

Why: exact Shapley needs v(S) for all 2^n coalitions; for a planning game each v(S) is a MILP, so
beyond n of about 15 the value is estimated. Two estimators:

* `sample_shapley`: the mean marginal contribution over random orders (Castro, Gomez & Tejada,
  Computers & OR 36, 2009). Orders come in antithetic pairs, an order and its reverse (a player
  early in one is late in the other), whose averaged contributions vary less (Mitchell et al.,
  JMLR 23, 2022); the pair averages are independent, so the 95% interval is the normal one on
  them. Coalition values are cached: orders share their prefixes near the ends. Along one order
  the contributions telescope to v(N) - v(empty) = v(N), so the raw estimates already sum to v(N)
  (up to round-off); no efficiency correction is applied.
* `stratified_shapley`: stratified sampling by coalition size with optimum (Neyman) allocation
  (Maleki et al. 2013; Castro, Gomez, Molina & Tejada, Computers & OR 82, 2017), the strata near
  the ends computed exactly, coalitions asked of a batch oracle one round at a time, and each
  sampled coalition shared by the strata of many players ("stars", see `stratified_shapley`).
  It needs far fewer coalitions for a tolerance relative to each player's own value. Its
  estimates need not sum to v(N) (`efficient_estimates` spreads the gap by variance).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from planner.games.game import GameError
from planner.progress import TimeBudgetSpent

# a batch evaluator: the values of a list of coalitions, in order
BatchValues = Callable[[list[frozenset[str]]], list[float]]


@dataclass(frozen=True)
class ShapleyEstimate:
    """Sampled Shapley values with their confidence half-widths (in the game's units)."""

    estimates: dict[str, float]
    half_widths: dict[str, float]
    permutations: int        # orders sampled (pairs x 2); stratified: sampled contributions
    evaluations: int         # distinct coalitions valued (calls of the oracle)
    converged: bool          # the stopping rule was met before max_permutations
    confidence: float
    method: str = "permutation"   # "permutation" (sample_shapley), "stratified", "control variate"
    rounds: int = 0               # stratified: oracle batches whose values were used
    control_evaluations: int = 0  # control variate: coalitions valued in the control game
    control_samples: int = 0      # control variate: sampled contributions of the control game

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
    oracle = _BatchOracle(players, _one_at_a_time(value, executor))
    cache = oracle.cache
    full = (1 << n) - 1
    oracle.value([full])
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
        oracle.value(m for chain in prefixes for m in chain)
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
        permutations=2 * pairs, evaluations=oracle.evaluations, converged=converged,
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


def _one_at_a_time(value: Callable[[frozenset[str]], float],
                   executor: Executor | None) -> BatchValues:
    """An oracle of one coalition as a batch evaluator (through `executor.map` when given)."""
    if executor is None:
        return lambda coalitions: [value(c) for c in coalitions]
    return lambda coalitions: list(executor.map(value, coalitions))


def _finite(coalition: frozenset[str], v) -> float:
    """An oracle's answer as a float, or GameError naming the coalition."""
    try:
        number = float(v)
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number):
        raise GameError(f"v({sorted(coalition)}) = {v!r}; a finite number is required")
    return number


# --- stratified sampling -------------------------------------------------------------------------

def stratified_shapley(players: Sequence[str],
                       values: BatchValues, *,
                       rel_tol: float = 0.01, abs_tol: float = 0.0,
                       max_evaluations: int = 20_000, exact_strata: int = 2,
                       confidence: float = 0.95, seed: int | np.random.Generator = 0,
                       pilot: int = 2, progress=None) -> ShapleyEstimate:
    """Estimate the Shapley value by stratified sampling, asking `values` for batches of coalitions.

    Sh_i = (1/n) sum_k mu_ik, mu_ik the mean of v(S+i) - v(S) over the subsets S of N minus i of
    size k (stratum (i, k)). Why stratify: the marginal contribution depends mostly on |S|, so the
    within-stratum spread is far below the spread over random orders, and each stratum gets the
    samples its own spread calls for (Neyman allocation, Castro et al. 2017).

    Scheme:
    * Exact strata: the levels k < exact_strata and k >= n - exact_strata (and any level whose two
      coalition sizes are both valued anyway) are averaged over all their coalitions, from the
      sizes 1..exact_strata and n-exact_strata..n. If 2 * exact_strata >= n this is every
      coalition and the result is the exact Shapley value with zero half-widths.
    * Round 1 (one batch, with the exact coalitions): `pilot` draws in each other stratum.
      Later rounds: for each player, the Neyman allocation m_ik proportional to the stratum
      standard deviation that meets its own tolerance, starting from the samples it has and at
      most doubling its total per round; then one batch with all the round's new coalitions.
    * Stars: a round draws a uniform coalition T of a chosen size t and takes, for each player i
      in T whose stratum (i, t-1) still needs samples, the pair (T minus i, T), and for each j
      outside T whose stratum (j, t) needs one, the pair (T, T plus j). Given i in T, T minus i
      is uniform among the (t-1)-subsets of N minus i (and T itself given j not in T), and the
      choice to take a pair depends only on membership and on the needs, never on a value or on
      what is cached: every stratum's samples are independent uniform draws, so each stratum mean
      is unbiased. A star feeds up to n strata for 1 + (pairs taken) coalitions (leaves at the
      exactly valued sizes are free); with independent samples per player, no design does better
      than one coalition per pair (a cluster with distinct player labels is a tree).
    * Estimate and interval: Sh_i as above, var_i = (1/n^2) sum_k s_ik^2 / m_ik (sampling with
      replacement: no finite-population correction), half-width z * sqrt(var_i). A stratum's
      own s_ik^2 rests on few draws; it is blended with the player's pooled within-stratum
      variance (sampled and exact strata) as if that were 4 more draws, and the larger of
      s_ik^2 and the blend is used for the interval and the allocation: two pilot draws that
      agree (a contribution that is rarely non-zero, as in an airport game) neither stop
      sampling there nor close the player. Why it matters: the allocation uses earlier draws,
      so a stratum that looked constant and got no more draws would keep a low mean (a bias of
      the sample size, not of the draws); with the blend the intervals cover at about the
      nominal rate in the tests (random, facility-location and airport games).
    * Once every coalition has been valued (small n) the exact Shapley value is returned.

    Stops when every player's half-width <= max(rel_tol * |Sh_i|, abs_tol) (relative to the
    player's own value: a player worth ~0 needs `abs_tol`), or when `max_evaluations` distinct
    coalitions are valued (the first round is always done in full; later rounds are cut at a
    star so the total stays within it), or when `values` raises TimeBudgetSpent: then the
    estimate from the rounds already valued is returned, converged=False (raised again if the
    first round, the exact strata, was not valued). v(empty) = 0 is assumed and never asked; no
    coalition is asked twice. `progress.note` gets the worst relative half-width each round
    (`advance` is left to the evaluator). `seed`: int or numpy Generator; the same seed gives the
    same result (no set or hash order is used).

    The estimates need not sum to v(N) (strata are estimated separately); `efficient_estimates`
    spreads the gap. `permutations` holds the number of sampled marginal contributions.
    """
    players = tuple(players)
    _check_stratified(players, rel_tol, abs_tol, max_evaluations, exact_strata, confidence,
                      pilot)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    sampler = StratifiedSampler(_BatchOracle(players, values), exact_strata, pilot, rng)
    sampler.first_round()               # TimeBudgetSpent here: nothing to return, raised again
    converged = False
    while True:
        estimates, variances = sampler.estimate()
        half = z * np.sqrt(variances)
        tolerance = np.maximum(rel_tol * np.abs(estimates), abs_tol)
        _note(progress, half, estimates, sampler.oracle.evaluations)
        if np.all(half <= tolerance):
            converged = True
            break
        budget = max_evaluations - sampler.oracle.evaluations
        if budget <= 0:
            break
        try:
            if not sampler.grow(tolerance / z, half > tolerance, budget):
                break
        except TimeBudgetSpent:
            break
    return ShapleyEstimate(
        estimates={p: float(x) for p, x in zip(players, estimates)},
        half_widths={p: float(h) for p, h in zip(players, half)},
        permutations=sampler.stats.drawn, evaluations=sampler.oracle.evaluations,
        converged=converged, confidence=confidence, method="stratified", rounds=sampler.rounds)


class StratifiedSampler:
    """One stratified sample of a game's marginal contributions, grown a round at a time (the
    scheme of `stratified_shapley`, which drives one; `control_variate.control_variate_shapley`
    drives two). `oracle` holds the game's values (a _BatchOracle); `rng` draws the stars."""

    def __init__(self, oracle: _BatchOracle, exact_strata: int, pilot: int,
                 rng: np.random.Generator):
        self.oracle = oracle
        self.n = len(oracle.players)
        self.design = _Design(self.n, exact_strata)
        self.pilot = pilot
        self.rng = rng
        self.stats: _StratumStats                     # set by first_round
        self.rounds = 0

    def first_round(self) -> None:
        """The exact strata's coalitions and `pilot` draws in every sampled stratum, one batch
        (TimeBudgetSpent from the oracle propagates: there is no estimate before it)."""
        n, design, cache = self.n, self.design, self.oracle.cache
        first = _Plan(cache)
        first.add_masks(design.exact_masks())
        need = np.zeros((n, n), dtype=np.int64)
        need[:, design.sampled] = self.pilot
        _draw_stars(first, need, design, self.rng)
        self.oracle.value(first.masks)
        self.stats = _StratumStats(design, cache)
        self.stats.record(first, cache)
        self.rounds = 1

    def estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """Per player the Shapley estimate and its variance; once every coalition is valued
        (small n) the exact value, variance 0."""
        n = self.n
        if self.design.sampled and self.oracle.evaluations == (1 << n) - 1:   # all known: exact
            drawn = self.stats.drawn
            self.design = _Design(n, n)
            self.stats = _StratumStats(self.design, self.oracle.cache)
            self.stats.drawn = drawn
        return self.stats.estimate()

    def spread(self) -> np.ndarray:
        """Per player sum_k sigma_ik over the sampled strata (trusted sigmas): with Neyman
        allocation of m draws the variance is (that sum)^2 / (n^2 m), what the control-variate
        split weighs."""
        if not self.design.sampled:
            return np.zeros(self.n)
        return np.sqrt(self.stats.variances()[2]).sum(axis=1)

    def grow(self, sd_target: np.ndarray, open_: np.ndarray, budget: int) -> bool:
        """One more round: Neyman draws for the `open_` players towards standard deviations
        `sd_target`, at most `budget` new coalitions, valued in one batch. False when nothing
        could be drawn (or every stratum is exact); TimeBudgetSpent from the oracle propagates
        (the round is then lost)."""
        if not self.design.sampled:
            return False
        plan = _Plan(self.oracle.cache, budget)
        _draw_stars(plan, _neyman_needs(self.stats, sd_target, open_), self.design, self.rng)
        if not plan.pairs:
            return False
        self.oracle.value(plan.masks)
        self.stats.record(plan, self.oracle.cache)
        self.rounds += 1
        return True


def efficient_estimates(estimate: ShapleyEstimate, total: float) -> dict[str, float]:
    """The estimates moved to sum to `total` (v(N)), the gap shared in proportion to each player's
    variance (half-width squared): the variance-weighted least-squares adjustment, so exactly
    known players keep their value. Optional: the raw estimates are the unbiased ones."""
    names = list(estimate.estimates)
    raw = np.array([estimate.estimates[p] for p in names])
    weights = np.array([estimate.half_widths[p] for p in names]) ** 2
    if np.isinf(weights).any():
        weights = np.isinf(weights).astype(float)
    if weights.sum() <= 0:
        weights = np.ones(len(names))
    adjusted = raw + weights / weights.sum() * (total - math.fsum(raw))
    return {p: float(x) for p, x in zip(names, adjusted)}


def _check_stratified(players: tuple[str, ...], rel_tol: float, abs_tol: float,
                      max_evaluations: int, exact_strata: int, confidence: float,
                      pilot: int) -> None:
    if not players:
        raise GameError("stratified_shapley needs at least one player")
    if len(set(players)) != len(players):
        raise GameError("stratified_shapley: players must be distinct")
    if not 0 < confidence < 1 or not rel_tol >= 0 or not abs_tol >= 0:
        raise GameError("stratified_shapley: need 0 < confidence < 1, rel_tol >= 0, abs_tol >= 0")
    if exact_strata < 0 or pilot < 2 or max_evaluations < 0:
        raise GameError("stratified_shapley: need exact_strata >= 0, pilot >= 2 (a variance "
                        "needs two samples) and max_evaluations >= 0")


class _Design:
    """Which levels k (|S| for a stratum (i, k)) are exact and which are sampled.

    Coalition sizes valued in full: s <= e or s >= n - e. Level k is exact when both k and k + 1
    are such sizes; the others are sampled."""

    def __init__(self, n: int, exact_strata: int):
        self.n = n
        self.full_size = [s <= exact_strata or s >= n - exact_strata for s in range(n + 1)]
        self.exact = [k for k in range(n) if self.full_size[k] and self.full_size[k + 1]]
        self.sampled = [k for k in range(n) if k not in self.exact]
        sampled = set(self.sampled)
        self.centers = [t for t in range(n + 1) if t - 1 in sampled or t in sampled]

    def exact_masks(self) -> list[int]:
        """Every coalition of a fully valued size (not the empty one), by size then lexically."""
        return [sum(1 << i for i in members) for s in range(1, self.n + 1) if self.full_size[s]
                for members in itertools.combinations(range(self.n), s)]

    def exact_strata(self, cache: dict[int, float]) -> tuple[list[float], np.ndarray, np.ndarray]:
        """Per player: the sum over the exact levels k of the mean contribution mu_ik, and the
        squared deviations from those means with their degrees of freedom (the spread the
        sampled strata are compared with, see `_StratumStats.variances`)."""
        n = self.n
        terms: list[list[float]] = [[] for _ in range(n)]
        squares, dof = np.zeros(n), np.zeros(n)
        for k in self.exact:
            parts: list[list[float]] = [[] for _ in range(n)]
            for members in itertools.combinations(range(n), k + 1):
                mask = sum(1 << i for i in members)
                for i in members:
                    parts[i].append(cache[mask] - cache[mask ^ 1 << i])
            for i in range(n):
                mean = math.fsum(parts[i]) / len(parts[i])
                terms[i].append(mean)
                squares[i] += math.fsum((x - mean) ** 2 for x in parts[i])
                dof[i] += len(parts[i]) - 1
        return [math.fsum(t) for t in terms], squares, dof


class _Plan:
    """The coalitions new to one round (in order, no repeats) and the pairs (i, k, S, S+i) taken."""

    def __init__(self, cache: dict[int, float], budget: int | None = None):
        self.cache = cache
        self.budget = budget
        self.masks: dict[int, None] = {}
        self.pairs: list[tuple[int, int, int, int]] = []

    def add_masks(self, masks: Iterable[int]) -> None:
        for mask in masks:
            if mask not in self.cache:
                self.masks[mask] = None

    def take(self, pairs: list[tuple[int, int, int, int]]) -> bool:
        """Add one star's pairs unless its new coalitions overrun the budget (then False)."""
        new = dict.fromkeys(m for pair in pairs for m in pair[2:]
                            if m not in self.cache and m not in self.masks)
        if self.budget is not None and len(self.masks) + len(new) > self.budget:
            return False
        self.masks.update(new)
        self.pairs.extend(pairs)
        return True


def _draw_stars(plan: _Plan, need: np.ndarray, design: _Design,
                rng: np.random.Generator) -> None:
    """Draw stars until every stratum (i, k) got need[i, k] pairs or the budget is reached.

    The star size is the one serving the most needed pairs per expected new coalition; it and
    the pairs taken depend on the needs and on membership only (see `stratified_shapley`)."""
    n = design.n
    left = [[int(x) for x in row] for row in need]        # left[p][k]: pairs still wanted
    needy = [sum(1 for p in range(n) if left[p][k] > 0) for k in range(n)] + [0]
    while any(needy):
        t = _best_center(needy, design)
        members = rng.permutation(n)[:t].tolist()
        center = sum(1 << i for i in members)
        pairs = []
        for p in range(n):
            k = t - 1 if center >> p & 1 else t
            if k < n and left[p][k] > 0:
                low = center & ~(1 << p)
                pairs.append((p, k, low, low | 1 << p))
        if not pairs:
            continue
        if not plan.take(pairs):
            return
        for p, k, _, _ in pairs:
            left[p][k] -= 1
            needy[k] -= left[p][k] == 0


def _best_center(needy: list[int], design: _Design) -> int:
    """The star size t with the most expected pairs (strata (i, t-1), i in T, and (j, t), j out of
    T, still needing draws; needy[k] players need level k) per expected new coalition (those of
    fully valued sizes are free)."""
    n, full = design.n, design.full_size
    best, best_score = design.centers[0], -1.0
    for t in design.centers:
        below = t / n * needy[t - 1] if t >= 1 else 0.0
        above = (n - t) / n * needy[t]
        if below + above == 0:
            continue
        cost = (not full[t]) + below * (not full[t - 1]) + above * (t < n and not full[t + 1])
        score = math.inf if cost == 0 else (below + above) / cost
        if score > best_score:
            best, best_score = t, score
    return best


class _StratumStats:
    """What is known of every stratum (i, k): exact levels their mean (and spread), sampled ones
    the count, mean and sum of squared deviations of their draws (n x n arrays), merged one
    round at a time (Chan et al.'s pairwise update: no loss of precision)."""

    PRIOR_DOF = 4.0   # weight, in draws, of the player's pooled variance in a stratum's

    def __init__(self, design: _Design, cache: dict[int, float]):
        n = design.n
        self.design = design
        self.exact_sums, self.exact_squares, self.exact_dof = design.exact_strata(cache)
        self.count = np.zeros((n, n))
        self.mean = np.zeros((n, n))
        self.m2 = np.zeros((n, n))
        self.drawn = 0

    def record(self, plan: _Plan, cache: dict[int, float]) -> None:
        """Add the marginal contributions v(S+i) - v(S) of the plan's pairs (now valued)."""
        n = self.design.n
        if not plan.pairs:
            return
        cell = np.array([p * n + k for p, k, _, _ in plan.pairs], dtype=np.int64)
        draws = np.array([cache[high] - cache[low] for _, _, low, high in plan.pairs])
        count = np.bincount(cell, minlength=n * n).reshape(n, n).astype(float)
        total = np.bincount(cell, draws, minlength=n * n).reshape(n, n)
        mean = np.divide(total, count, out=np.zeros_like(total), where=count > 0)
        m2 = np.bincount(cell, (draws - mean.ravel()[cell]) ** 2, minlength=n * n).reshape(n, n)
        merged = self.count + count
        delta = mean - self.mean
        safe = np.maximum(merged, 1.0)
        self.m2 = self.m2 + m2 + delta ** 2 * self.count * count / safe
        self.mean = self.mean + delta * count / safe
        self.count = merged
        self.drawn += len(plan.pairs)

    def variances(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Counts, means and trusted variances of the sampled strata (n x sampled levels).

        A stratum's own s^2 rests on few draws at first. It is blended with the player's pooled
        within-stratum variance (over its sampled and its exact strata) as if that were
        PRIOR_DOF more draws, and the larger of s^2 and the blend is trusted, for the interval
        and for the allocation alike: draws that happen to agree (a rare non-zero contribution
        not seen yet) neither end sampling there nor close the player, and the allocation aims
        at the very variance the stopping rule checks (no creeping one draw per round).
        Fewer than two draws: infinite (unknown)."""
        cols = self.design.sampled
        count, mean, m2 = self.count[:, cols], self.mean[:, cols], self.m2[:, cols]
        known = count >= 2
        dof = np.where(known, count - 1, 0.0)
        squares = np.where(known, m2, 0.0)
        pooled = (squares.sum(axis=1) + self.exact_squares) / np.maximum(
            dof.sum(axis=1) + self.exact_dof, 1.0)
        blend = (squares + self.PRIOR_DOF * pooled[:, None]) / (dof + self.PRIOR_DOF)
        own = np.divide(m2, dof, out=np.zeros_like(m2), where=known)
        return count, mean, np.where(known, np.maximum(own, blend), np.inf)

    def estimate(self) -> tuple[np.ndarray, np.ndarray]:
        """Sh_i = (sum of exact and sampled stratum means) / n and its variance."""
        n = self.design.n
        if not self.design.sampled:
            return np.array(self.exact_sums) / n, np.zeros(n)
        counts, means, trusted = self.variances()
        estimates = np.array([math.fsum([self.exact_sums[i], *means[i]]) for i in range(n)]) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            variances = np.where(counts > 0, trusted / counts, np.inf).sum(axis=1) / n ** 2
        return estimates, variances


def _neyman_needs(stats: _StratumStats, sd_target: np.ndarray, open_: np.ndarray
                  ) -> np.ndarray:
    """More draws per stratum (n x n, zero at exact levels) for the players not yet within
    tolerance.

    For player i: m_ik = max(m_ik now, lambda * sigma_ik) with the smallest lambda that brings
    (1/n^2) sum_k sigma_ik^2 / m_ik down to sd_target_i^2 (Neyman allocation given the draws
    already made), lambda capped so the player's total at most doubles this round."""
    design = stats.design
    n = design.n
    counts, _, trusted = stats.variances()
    sigma = np.sqrt(trusted)
    need = np.zeros((n, n), dtype=np.int64)
    for i in np.flatnonzero(open_):
        bound = (n * sd_target[i]) ** 2        # sum_k sigma^2 / m must reach this
        wanted = _allocation(counts[i], sigma[i], bound)
        extra = np.maximum(np.ceil(wanted - 1e-9) - counts[i], 0).astype(np.int64)
        if not extra.any():   # rounding left it just short: the most useful single draw
            extra[np.argmax(trusted[i] / counts[i] ** 2)] = 1
        need[i, design.sampled] = extra
    return need


def _allocation(counts: np.ndarray, sigma: np.ndarray, bound: float) -> np.ndarray:
    """m_k = max(counts_k, lambda * sigma_k) for the smallest lambda with sum sigma^2 / m <= bound,
    lambda lowered if need be so that sum m <= 2 * sum counts (the doubling cap).

    Closed form (water filling): with the strata sorted by counts / sigma, on each segment
    between breakpoints the first j strata are at lambda * sigma, the rest at their counts, and
    both the variance and the total are simple in lambda."""
    order = sorted((float(c / s), float(s), float(c)) for c, s in zip(counts, sigma) if s > 0)
    if not order:
        return counts.copy()
    fixed_total = float(counts[sigma <= 0].sum())
    cap = 2 * float(counts.sum())
    spread = 0.0                                            # sum of sigma over the active strata
    rest_var = sum(s * s / c for _, s, c in order)          # sum sigma^2 / m over the others
    rest_total = fixed_total + sum(c for _, _, c in order)
    lam_need = lam_cap = math.inf
    if rest_var <= bound:
        return counts.copy()
    for j, (_ratio, s, c) in enumerate(order):
        spread += s
        rest_var -= s * s / c
        rest_total -= c
        upper = order[j + 1][0] if j + 1 < len(order) else math.inf
        if math.isinf(lam_need) and bound > rest_var and spread / (bound - rest_var) <= upper:
            lam_need = spread / (bound - rest_var)
        if math.isinf(lam_cap) and (cap - rest_total) / spread <= upper:
            lam_cap = (cap - rest_total) / spread
    lam = min(lam_need, lam_cap)
    return np.maximum(counts, lam * sigma)


def _note(progress, half: np.ndarray, estimates: np.ndarray, evaluations: int) -> None:
    if progress is None:
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        relative = np.where(half == 0, 0.0, half / np.abs(estimates))
    progress.note(f"{evaluations} coalitions, widest interval +-{100 * relative.max():.2g}% "
                  "of the member's share")


class _BatchOracle:
    """The caller's batch evaluator behind a cache keyed by bit mask (v(empty) = 0 stored)."""

    def __init__(self, players: tuple[str, ...], values: BatchValues):
        self.players = players
        self.values = values
        self.cache: dict[int, float] = {0: 0.0}

    @property
    def evaluations(self) -> int:
        return len(self.cache) - 1

    def value(self, masks: Iterable[int]) -> None:
        """Value the masks not cached yet, in one call; only a complete answer is stored."""
        missing = [m for m in dict.fromkeys(masks) if m not in self.cache]
        if not missing:
            return
        coalitions = [frozenset(p for i, p in enumerate(self.players) if m >> i & 1)
                      for m in missing]
        results = list(self.values(coalitions))
        if len(results) != len(coalitions):
            raise GameError(f"the coalition evaluator returned {len(results)} values for "
                            f"{len(coalitions)} coalitions")
        numbers = [_finite(coalition, v) for coalition, v in zip(coalitions, results)]
        self.cache.update(zip(missing, numbers))

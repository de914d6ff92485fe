"""The Shapley value by sampling with a control game: phi(v) = phi(c) + phi(v - c).

Why: when a cheap game c is close to v (for a planning game: the LP relaxation of each
coalition's model), the difference game d = v - c has marginal contributions that vary far less
than v's, so phi(d) needs few of the costly values of v, while phi(c) is estimated from many
cheap values of c. Both parts are stratified samples (`sampling.StratifiedSampler`), drawn from
two independent random streams of one seed: the estimates add, and so do their variances, which
makes the reported interval the honest one of the combined estimator (models/fair_division.md,
"Shapley with a control game"). A value of d is one coalition valued in both games; the cache of
c is shared, so such a coalition costs c once whichever sample asked first.
"""

from __future__ import annotations

from collections.abc import Sequence
from statistics import NormalDist

import numpy as np

from planner.games.game import GameError
from planner.games.sampling import (
    BatchValues,
    ShapleyEstimate,
    StratifiedSampler,
    _BatchOracle,
    _check_stratified,
    _note,
)
from planner.progress import TimeBudgetSpent


def control_variate_shapley(players: Sequence[str], values: BatchValues, control: BatchValues,
                            *, cost_ratio: float = 4.0, rel_tol: float = 0.01,
                            abs_tol: float = 0.0, max_evaluations: int = 20_000,
                            max_control_evaluations: int = 200_000, exact_strata: int = 2,
                            control_exact_strata: int = 2, confidence: float = 0.95,
                            seed: int | np.random.Generator = 0, pilot: int = 2,
                            progress=None) -> ShapleyEstimate:
    """Estimate the Shapley value of `values` as phi(control) + phi(values - control).

    `values` and `control` are batch evaluators of the same players (v(empty) = c(empty) = 0,
    never asked). The control part is a stratified sample of c with `control_exact_strata`
    exact levels at each end; the difference part a stratified sample of d = v - c with
    `exact_strata` (each d value asks v and c of one coalition). Each round:

    * per player i not yet within tolerance, the variance target T_i = (tol_i / z)^2 is split
      between the parts in proportion to sqrt(A_c) : sqrt(A_d * (1 + cost_ratio)), A the
      squared sum of the part's stratum sigmas (its variance times n^2 m under Neyman
      allocation) and `cost_ratio` the cost of a v value in c values (4: the county's MILP
      against its LP relaxation, benchmarks/README.md): the split that meets
      a_c/m_c + a_d/m_d = T at the least cost m_c + (1 + cost_ratio) m_d. A part already below
      its share leaves the rest to the other;
    * each part grows by Neyman allocation towards its share (`StratifiedSampler.grow`).

    The estimate is the sum of the parts' estimates, its variance the sum of their variances
    (independent draws: the two samples use independent streams spawned from `seed`), the
    half-width z * sqrt(variance). `cost_ratio` only steers the split, never the estimate.

    Stops when every half-width <= max(rel_tol * |phi_i|, abs_tol), at `max_evaluations`
    coalitions valued in v (the first round is always done in full; later rounds are cut at a
    star), or when an evaluator raises TimeBudgetSpent after both first rounds (before: raised
    again). The control part stops growing at `max_control_evaluations` coalitions valued in c
    (those of the d sample included).
    Once every coalition has been valued in v the exact Shapley value is returned. The same
    seed gives the same result. `evaluations` counts coalitions valued in v, `permutations` the
    difference sample's contributions; `control_evaluations` and `control_samples` the same
    for c. The estimates need not sum to v(N) (`sampling.efficient_estimates`).
    """
    players = tuple(players)
    _check_stratified(players, rel_tol, abs_tol, max_evaluations, exact_strata, confidence,
                      pilot)
    _check_stratified(players, rel_tol, abs_tol, max_control_evaluations, control_exact_strata,
                      confidence, pilot)
    if not cost_ratio > 0:
        raise GameError("control_variate_shapley: cost_ratio must be above 0")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    control_rng, difference_rng = rng.spawn(2)
    z = NormalDist().inv_cdf((1 + confidence) / 2)
    cheap = _BatchOracle(players, control)
    parts = (StratifiedSampler(cheap, control_exact_strata, pilot, control_rng),
             StratifiedSampler(_BatchOracle(players, _difference(players, values, cheap)),
                               exact_strata, pilot, difference_rng))
    for part in parts:
        part.first_round()              # TimeBudgetSpent here: nothing to return, raised again
    weights = np.array([1.0, np.sqrt(1.0 + cost_ratio)])
    converged = False
    while True:
        (c_est, c_var), (d_est, d_var) = (part.estimate() for part in parts)
        estimates, variances = c_est + d_est, c_var + d_var
        half = z * np.sqrt(variances)
        tolerance = np.maximum(rel_tol * np.abs(estimates), abs_tol)
        _note(progress, half, estimates, parts[1].oracle.evaluations)
        if np.all(half <= tolerance):
            converged = True
            break
        budgets = (max_control_evaluations - cheap.evaluations,
                   max_evaluations - parts[1].oracle.evaluations)
        if budgets[1] <= 0:     # no more values of v: the control alone cannot reach the goal
            break
        total = (tolerance / z) ** 2
        targets = _targets(total, (c_var, d_var),
                           [part.spread() * w for part, w in zip(parts, weights)])
        grown = False
        try:
            for part, budget, target, var in zip(parts, budgets, targets, (c_var, d_var)):
                wanted = (half > tolerance) & (var > target)
                if budget > 0 and wanted.any():
                    grown |= part.grow(np.sqrt(np.maximum(target, 0.0)), wanted, budget)
        except TimeBudgetSpent:
            break
        if not grown:
            break
    return ShapleyEstimate(
        estimates={p: float(x) for p, x in zip(players, estimates)},
        half_widths={p: float(h) for p, h in zip(players, half)},
        permutations=parts[1].stats.drawn, evaluations=parts[1].oracle.evaluations,
        converged=converged, confidence=confidence, method="control variate",
        rounds=parts[1].rounds, control_evaluations=cheap.evaluations,
        control_samples=parts[0].stats.drawn)


def _difference(players: tuple[str, ...], values: BatchValues,
                cheap: _BatchOracle) -> BatchValues:
    """The batch evaluator of d = v - c: c from the shared cache (valued first, in one batch),
    then v of the same coalitions in one call."""
    index = {p: i for i, p in enumerate(players)}

    def differences(coalitions: list[frozenset[str]]) -> list[float]:
        masks = [sum(1 << index[p] for p in c) for c in coalitions]
        cheap.value(masks)
        costly = list(values(coalitions))
        if len(costly) != len(coalitions):
            raise GameError(f"the coalition evaluator returned {len(costly)} values for "
                            f"{len(coalitions)} coalitions")
        return [float(v) - cheap.cache[m] for v, m in zip(costly, masks)]
    return differences


def _targets(total: np.ndarray, variances: tuple[np.ndarray, np.ndarray],
             weighted_spreads: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per player the variance each part should reach: the least-cost split of `total`
    (shares proportional to spread * sqrt(cost)), a part already below its share leaving the
    rest to the other."""
    c_var, d_var = variances
    c_weight, d_weight = weighted_spreads
    together = c_weight + d_weight
    with np.errstate(divide="ignore", invalid="ignore"):
        c_share = np.where(together > 0, c_weight / together, 0.5)
    c_target, d_target = total * c_share, total * (1 - c_share)
    c_target = np.where(d_var <= d_target, np.maximum(c_target, total - d_var), c_target)
    d_target = np.where(c_var <= c_target, np.maximum(d_target, total - c_var), d_target)
    return c_target, d_target

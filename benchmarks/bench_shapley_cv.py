"""Sampled Shapley of the default county (18 members) with the LP relaxation as control variate
(issue 22 item 6; planner.games.control_variate, planner.sharing.relaxed).

Two parts:

* `--pairs N`: N random strata (member i, size k of S, 3 <= k < n - 3), two draws S each, every
  coalition solved as MILP (C(S)) and as LP relaxation (C_LP(S)) in one process: the time of
  each, the LP gap (C - C_LP) / C, and the within-stratum variance of the marginal
  contributions of v (Delta C) and of d = v - v_LP (Delta C - Delta C_LP), estimated from the
  two draws of each stratum as E[(x1 - x2)^2] / 2 (pooled over the strata).
* `--budget S`: the control-variate estimator on the county with `--workers` processes and a
  deadline of S seconds (no new coalition after it): coalitions valued, LP relaxations solved,
  the widest 95% half-width relative to each member's value, to v(N) / n and to v(N), and what
  the widest member would need at this rate to reach +-1%.

    python benchmarks/bench_shapley_cv.py [--pairs 40] [--budget 600] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import subprocess
import time

import numpy as np

import planner
from planner.games.control_variate import control_variate_shapley
from planner.progress import Deadline
from planner.sharing.coalitions import CoalitionModel, CoalitionValues
from planner.sharing.relaxed import LPValues, lp_cost
from planner.workers import process_pool


def load() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def timed(function, *args):
    start = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - start


def measure(county, pairs: int, seed: int) -> None:
    model = CoalitionModel(county)
    members = model.members
    n = len(members)
    seen: dict[frozenset[str], tuple[float, float, float, float]] = {}

    def both(coalition):
        if coalition not in seen:
            cost, milp = timed(lambda c: model.cost(c).cost, coalition)
            relaxed, lp = timed(lp_cost, model, coalition)
            seen[coalition] = (cost, relaxed, milp, lp)
        return seen[coalition]

    rng = np.random.default_rng(seed)
    differences = []
    for _ in range(pairs):
        i, k = int(rng.integers(n)), int(rng.integers(3, n - 3))
        others = [m for j, m in enumerate(members) if j != i]
        draws = []
        for _ in range(2):
            low = frozenset(rng.permutation(others)[:k].tolist())
            (c0, l0, _, _), (c1, l1, _, _) = both(low), both(low | {members[i]})
            draws.append((c1 - c0, l1 - l0))
        differences.append(np.subtract(*draws))
    x = np.array(differences)
    table = np.array(list(seen.values()))
    gap = (table[:, 0] - table[:, 1]) / table[:, 0]
    var_v = np.mean(x[:, 0] ** 2) / 2
    var_lp = np.mean(x[:, 1] ** 2) / 2
    var_d = np.mean((x[:, 0] - x[:, 1]) ** 2) / 2
    beta = float(np.sum(x[:, 0] * x[:, 1]) / np.sum(x[:, 1] ** 2))
    var_beta = np.mean((x[:, 0] - beta * x[:, 1]) ** 2) / 2
    print(f"{pairs} strata, {len(seen)} coalitions ({load()})")
    print(f"  MILP s/coalition: mean {table[:, 2].mean():.3f}, median {np.median(table[:, 2]):.3f}")
    print(f"  LP   s/coalition: mean {table[:, 3].mean():.3f}, median {np.median(table[:, 3]):.3f}"
          f"  (MILP/LP time ratio of the means {table[:, 2].mean() / table[:, 3].mean():.1f})")
    print(f"  LP gap (C - C_LP)/C: median {np.median(gap):.2%}, 90th percentile "
          f"{np.percentile(gap, 90):.2%}, max {gap.max():.2%}, below 0.1% in "
          f"{np.mean(gap < 1e-3):.0%} of coalitions")
    print(f"  within-stratum sd of marginal contributions: v {np.sqrt(var_v) / 1e6:.2f} M, "
          f"v_LP {np.sqrt(var_lp) / 1e6:.2f} M, d = v - v_LP {np.sqrt(var_d) / 1e6:.2f} M "
          f"(variance ratio v/d {var_v / var_d:.1f}); regression beta {beta:.2f} leaves "
          f"variance ratio {var_v / var_beta:.1f}")
    cost_ratio = table[:, 2].mean() / table[:, 3].mean()
    mixed = (np.sqrt(var_lp) + np.sqrt(var_d * (1 + cost_ratio))) ** 2 / cost_ratio
    print(f"  least cost of a target variance, in MILP solves, control variate / plain: "
          f"{mixed / var_v:.2f}")


def budget_run(county, seconds: float, workers: int, seed: int) -> None:
    print(f"control-variate Shapley, {workers} workers, {seconds:g} s budget ({load()})")
    start = time.perf_counter()
    with process_pool(workers) as pool:
        values = CoalitionValues(county, pool, workers, deadline=Deadline(seconds))
        relaxed = LPValues(values)
        members = values.members
        grand = values.savings_many([frozenset(members)])[0]
        estimate = control_variate_shapley(
            members, values.savings_many, relaxed.savings_many, rel_tol=0.01,
            abs_tol=0.01 * grand / len(members), max_evaluations=1_000_000,
            max_control_evaluations=10_000_000, seed=seed)
    wall = time.perf_counter() - start
    est = np.array([estimate.estimates[m] for m in members])
    half = np.array([estimate.half_widths[m] for m in members])
    own = half / np.abs(est)
    print(f"  {wall:.0f} s wall ({load()}): {values.solved} MILPs ({estimate.evaluations} in the "
          f"difference sample), {relaxed.solved} LP relaxations ({estimate.control_evaluations} "
          f"coalitions in the control game), {estimate.rounds} rounds of the difference sample, "
          f"converged {estimate.converged}")
    print(f"  v(N) = {grand:,.0f}; samples: difference {estimate.permutations}, control "
          f"{estimate.control_samples}")
    for m, e, h, r in zip(members, est, half, own):
        print(f"    {m:>14s} {e:14,.0f} +- {h:12,.0f}  ({r:7.2%} of its value, "
              f"{h / (grand / len(members)):6.2%} of v(N)/n)")
    print(f"  widest half-width: {own.max():.2%} of the member's value ({members[own.argmax()]}),"
          f" {half.max() / (grand / len(members)):.2%} of v(N)/n, {half.max() / grand:.3%} of "
          f"v(N); +-1% of each member's value would need about {own.max() ** 2 / 1e-4:.0f}x "
          f"this run's samples")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=0)
    parser.add_argument("--budget", type=float, default=0.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    county = planner.load_scenario()
    if args.pairs:
        measure(county, args.pairs, args.seed)
    if args.budget:
        budget_run(county, args.budget, args.workers, args.seed)


if __name__ == "__main__":
    main()

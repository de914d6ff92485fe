"""Stage-2 speed on the default county: coalition solves per second, exact Shapley for 12 members,
sampled Shapley to +-1% and a core check by constraint generation for all 18 members.

    python benchmarks/bench_sharing.py [--skip-exact] [--skip-sampled] [--coalitions 60]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

import planner
from planner.coalitions import CoalitionValues
from planner.sharing import _core_by_generation, share


def random_coalitions(members, count, seed=0):
    rng = np.random.default_rng(seed)
    out = set()
    while len(out) < count:
        mask = rng.random(len(members)) < rng.uniform(0.1, 0.9)
        if mask.any():
            out.add(frozenset(np.array(members)[mask]))
    return sorted(out, key=lambda c: (len(c), sorted(c)))


def solves_per_second(scenario, count, workers):
    coalitions = random_coalitions(list(scenario.members.member), count)
    if workers == 1:
        values = CoalitionValues(scenario, None, 1)
        values.local_model()  # build outside the timing, as a persistent worker would
        start = time.perf_counter()
        values.compute(coalitions)
        return count / (time.perf_counter() - start)
    with ProcessPoolExecutor(workers) as pool:
        values = CoalitionValues(scenario, pool, workers)
        values.compute(coalitions[:workers])  # warm: one model built per worker
        values.costs.clear()
        start = time.perf_counter()
        values.compute(coalitions)
        return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coalitions", type=int, default=60)
    parser.add_argument("--skip-exact", action="store_true")
    parser.add_argument("--skip-sampled", action="store_true")
    args = parser.parse_args()
    county = planner.load_scenario()
    members = list(county.members.member)
    print(f"default county: {len(members)} members")
    for workers in (1, 2):
        rate = solves_per_second(county, args.coalitions, workers)
        print(f"coalition solves per second, {workers} process(es): {rate:.2f}")

    if not args.skip_exact:
        twelve = county.restricted_to(members[:12])
        start = time.perf_counter()
        exact = share(twelve, "shapley", workers=2)
        print(f"exact Shapley, 12 members (4,095 coalitions, 2 processes): "
              f"{time.perf_counter() - start:.1f} s; in core: {exact.core['in_core']}")

    if not args.skip_sampled:
        start = time.perf_counter()
        sampled = share(county, "shapley", workers=2, rel_tol=0.01, max_permutations=4000)
        seconds = time.perf_counter() - start
        eb = sampled.error_bounds
        worst = max(eb["half_widths"].values()) / sampled.savings
        print(f"sampled Shapley, 18 members: {seconds:.1f} s, {eb['permutations']} permutations, "
              f"{len(sampled.values)} coalitions, widest half-width {100 * worst:.2f}% of v(N), "
              f"converged: {eb['converged']}")
        values = CoalitionValues(county, None, 1)
        standalone = sampled.standalone.to_dict()
        local = values.local_model()

        def oracle(x, exclude):
            return local.most_dissatisfied(standalone, x, exclude)

        start = time.perf_counter()
        report, _ = _core_by_generation(members, sampled.savings, sampled.standalone,
                                        sampled.allocation.to_dict(), oracle, values.savings)
        print(f"core check of the sampled Shapley by constraint generation (18 members): "
              f"{time.perf_counter() - start:.1f} s; in core: {report['in_core']}, "
              f"least-core epsilon {report['least_core_epsilon']:,.0f}")


if __name__ == "__main__":
    main()

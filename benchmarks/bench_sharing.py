"""Stage-2 speed on the default county (2 cores), as issue 10 asks for it:

* coalition solves per second, 1 and 2 processes, and the share of that time HiGHS itself spends
  (our time / HiGHS's own run time on the same model, measured in the same run);
* exact Shapley for 10 and 12 members (every coalition, 2 processes);
* the separation MILP's time on the 18-member county;
* sampled (stratified) Shapley to +-1% for the 18 members, and `planner share` with the default
  rule (sampled Shapley + certified core report), each with its wall time;
* how soon `planner share --rule policy` without --policy-member is refused (exit 2): the command
  as users start it, Python's start-up included (tests/test_sharing_safety.py checks that no
  coalition is solved first; the seconds are measured here).

    python benchmarks/bench_sharing.py [--skip-exact] [--skip-county] [--coalitions 60]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np

import planner
from planner.sharing.coalitions import CoalitionModel, CoalitionValues
from planner.sharing.division import share
from planner.workers import process_pool


def random_coalitions(members, count, seed=0):
    rng = np.random.default_rng(seed)
    out = set()
    while len(out) < count:
        mask = rng.random(len(members)) < rng.uniform(0.1, 0.9)
        if mask.any():
            out.add(frozenset(np.array(members)[mask]))
    return sorted(out, key=lambda c: (len(c), sorted(c)))


def solves_per_second(scenario, coalitions, workers):
    if workers == 1:
        model = CoalitionModel(scenario)        # built outside the timing (a worker keeps it)
        highs_seconds = 0.0
        start = time.perf_counter()
        for c in coalitions:
            model.cost(c)
        wall = time.perf_counter() - start
        for c in coalitions:                    # HiGHS alone on the same model, same coalitions
            model._fix_members(c)               # (block by block, as cost solves them)
            highs_seconds += model._solve_coalition(model.by_blocks).seconds
        return len(coalitions) / wall, wall / highs_seconds
    with process_pool(workers) as pool:
        values = CoalitionValues(scenario, pool, workers)
        values.compute(coalitions[:workers])    # warm: one model built per worker
        values.costs.clear()
        start = time.perf_counter()
        values.compute(coalitions)
        return len(coalitions) / (time.perf_counter() - start), None


def refused_seconds() -> tuple[float, int]:
    """Wall time and exit code of `planner share` refusing a policy rule without its member."""
    command = [sys.executable, "-c", "from planner.cli import main; main()",
               "share", "--rule", "policy", "--no-progress"]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    return time.perf_counter() - start, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coalitions", type=int, default=60)
    parser.add_argument("--skip-exact", action="store_true")
    parser.add_argument("--skip-county", action="store_true")
    args = parser.parse_args()
    seconds, code = refused_seconds()
    print(f"planner share --rule policy without --policy-member: refused in {seconds:.2f} s "
          f"(exit {code}; one coalition of the county takes ~0.3 s)")
    county = planner.load_scenario()
    members = list(county.members.member)
    print(f"default county: {len(members)} members")
    coalitions = random_coalitions(members, args.coalitions)
    for workers in (1, 2):
        rate, ratio = solves_per_second(county, coalitions, workers)
        extra = "" if ratio is None else f" (our time / HiGHS run time: {ratio:.2f})"
        print(f"coalition solves per second, {workers} process(es): {rate:.2f}{extra}")

    if not args.skip_exact:
        for size in (10, 12):
            part = county.restricted_to(members[:size])
            start = time.perf_counter()
            exact = share(part, "shapley", workers=2)
            print(f"exact Shapley, {size} members ({2 ** size - 1:,} coalitions, 2 processes): "
                  f"{time.perf_counter() - start:.1f} s; in core: {exact.core['in_core']}")

    model = CoalitionModel(county)
    standalone = {m: model.cost([m]).cost for m in members}
    grand = model.cost(members).cost
    savings = sum(standalone.values()) - grand
    equal = {m: savings / len(members) for m in members}
    found = model.separate(standalone, equal)
    print(f"separation MILP, 18 members, equal split: {found.seconds:.1f} s ({found.status}; "
          f"{len(found.candidates)} candidate coalitions; bound {found.bound / 1e6:,.3f} M)")

    if not args.skip_county:
        start = time.perf_counter()
        sampled = share(county, "shapley", workers=2)
        seconds = time.perf_counter() - start
        eb = sampled.error_bounds
        relative = max(eb["half_widths"][m] / max(abs(sampled.allocation[m]), 1e-9)
                       for m in members)
        print(f"sampled Shapley, 18 members: {seconds:.1f} s, {eb['evaluations']} coalitions, "
              f"widest half-width {100 * relative:.2f}% of a member's value, converged: "
              f"{eb['converged']}; in core: {sampled.core['in_core']}")
        start = time.perf_counter()
        default = share(county, workers=2)
        print(f"planner share, default rule, 18 members: {time.perf_counter() - start:.1f} s; "
              f"in core: {default.core['in_core']} (bound "
              f"{default.core['max_excess_bound'] / 1e6:,.3f} M); adjusted: "
              f"{default.adjusted}; stats: {default.stats}")


if __name__ == "__main__":
    main()

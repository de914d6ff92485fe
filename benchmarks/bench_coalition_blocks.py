"""Coalition values faster, same values, part 2 (issue 22 item 6): each coalition's own
`equipment_rounding` rows and the solve block by block (models/fair_division.md, "Speed of
coalition values"), on the default county's first 12 members.

* the same random coalitions (each member in with probability 1/2, as in exact Shapley), each
  solved three ways one after the other, so that the machine's load falls on all alike: as
  before (one model, rows off), with the coalition's rounding rows, and with the rows block by
  block; per way the time, HiGHS's nodes and LP iterations (load-independent) and the largest
  relative difference of the values from the first way;
* with --shapley, the exact Shapley value of the 12 members, 2 worker processes, as
  `planner share` computes it (its wall time beside the machine's load average).

    python benchmarks/bench_coalition_blocks.py [--coalitions 150] [--seed 1] [--shapley]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
from bench_coalition_speedups import uniform_coalitions

import planner
from planner.sharing.coalitions import CoalitionModel

WAYS = {"before (one model, no rows)": (False, False), "rounding rows": (True, False),
        "rounding rows, block by block": (True, True)}


def solve(model: CoalitionModel, coalition, rounding: bool, by_blocks: bool):
    """(value, seconds, nodes, LP iterations) of one coalition solved one way; the proven-solve
    reuse is cleared so that each is a full solve."""
    model.rounding, model.by_blocks = rounding, by_blocks
    model.highs._reusable = None
    start = time.perf_counter()
    value = model.cost(coalition).cost
    seconds = time.perf_counter() - start
    if by_blocks:
        nodes, iterations = model._blocks.work
    else:
        info = model.highs.highs.getInfo()
        nodes, iterations = info.mip_node_count, info.simplex_iteration_count
    return value, seconds, nodes, iterations


def load() -> str:
    return "load average " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coalitions", type=int, default=150)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shapley", action="store_true")
    args = parser.parse_args()
    county = planner.load_scenario()
    part = county.restricted_to(list(county.members.member)[:12])
    model = CoalitionModel(part)
    coalitions = uniform_coalitions(model.members, args.coalitions, args.seed)
    print(f"12-member slice, {len(coalitions)} coalitions (seed {args.seed}), one process, "
          f"{model._blocks.count()} blocks; {load()}")
    runs = np.array([[solve(model, c, *way) for way in WAYS.values()] for c in coalitions])
    first = runs[:, 0, 0]
    for k, name in enumerate(WAYS):
        value, seconds, nodes, iterations = runs[:, k].T
        rel = np.max(np.abs(value - first) / np.abs(first))
        print(f"  {name:31s} {seconds.sum():6.1f} s ({seconds.mean():.4f} s a coalition; x 4,095 "
              f"/ 2 = {seconds.mean() * 4095 / 2:.0f} s), nodes {nodes.sum():,.0f}, LP iterations "
              f"{iterations.sum():,.0f}, values within {rel:.1e} relative")
    print(f"  {load()}")
    if args.shapley:
        before = load()
        start = time.perf_counter()
        exact = planner.share(part, "shapley", workers=2)
        print(f"exact Shapley, 12 members (4,095 coalitions, 2 processes): "
              f"{time.perf_counter() - start:.1f} s; in core: {exact.core['in_core']}; "
              f"{before} before, {load()} after")


if __name__ == "__main__":
    main()

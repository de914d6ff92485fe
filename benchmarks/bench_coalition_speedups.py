"""Coalition values faster, same values (issue 22 item 6): measured on the default county's first
12 members, the slice whose exact Shapley takes every one of its 4,095 coalitions.

* the same random coalitions (each member in with probability 1/2, as in exact Shapley) solved
  with HiGHS's options of today and with COALITION_HIGHS_OPTIONS, interleaved coalition by
  coalition so that the machine's load falls on both alike; the largest relative difference of
  the values;
* HiGHS's presolve alone on each coalition: what a model holding only the coalition's own sites
  and zones could save at most (presolve removes the other members' columns before the search);
  and the build of one model (what a model per coalition would cost);
* how many coalitions split into parts that cannot serve each other (no eligible arc between
  the parts' sites and zones).

    python benchmarks/bench_coalition_speedups.py [--coalitions 200] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

import planner
from planner.model.inputs import model_inputs
from planner.sharing.coalitions import COALITION_HIGHS_OPTIONS, CoalitionModel


def uniform_coalitions(members, count, seed):
    rng = np.random.default_rng(seed)
    out: set[frozenset[str]] = set()
    while len(out) < count:
        mask = rng.random(len(members)) < 0.5
        if mask.any():
            out.add(frozenset(np.array(members)[mask].tolist()))
    return sorted(out, key=lambda c: (len(c), sorted(c)))


def timed_cost(model, coalition, options):
    """(cost, seconds) of one coalition under one set of coalition options (the caller
    interleaves the sets); the proven-solve reuse is cleared so that each is a full solve."""
    model.highs_options = options
    model.highs._reusable = None
    start = time.perf_counter()
    cost = model.cost(coalition).cost
    return cost, time.perf_counter() - start


def split_count(scenario) -> tuple[int, int]:
    """Coalitions of 2+ members whose members' sites and zones fall into 2+ groups with no
    eligible arc between them, and all coalitions of 2+ members."""
    inputs = model_inputs(scenario, game=True)
    site_member = scenario.sites.set_index("site_id")["member"]
    zone_member = scenario.zones.set_index("zone_id")["home_member"]
    pairs = {(zone_member[z], site_member[s]) for z, s in zip(inputs.arcs.zone_id,
                                                               inputs.arcs.site_id)}
    members = list(scenario.members.member)
    split = total = 0
    for r in range(2, len(members) + 1):
        for c in itertools.combinations(members, r):
            ix = {m: k for k, m in enumerate(c)}
            edges = [(ix[a], ix[b]) for a, b in pairs if a in ix and b in ix]
            graph = coo_matrix((np.ones(len(edges)), ([a for a, _ in edges],
                                                      [b for _, b in edges])), shape=(r, r))
            total += 1
            split += connected_components(graph, directed=False)[0] > 1
    return split, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--coalitions", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    county = planner.load_scenario()
    part = county.restricted_to(list(county.members.member)[:12])
    start = time.perf_counter()
    model = CoalitionModel(part)
    build = time.perf_counter() - start
    coalitions = uniform_coalitions(model.members, args.coalitions, args.seed)
    today, kept, presolve = [], [], 0.0
    for c in coalitions:
        today.append(timed_cost(model, c, {}))
        kept.append(timed_cost(model, c, dict(COALITION_HIGHS_OPTIONS)))
        start = time.perf_counter()
        model.highs.highs.clearSolver()
        model.highs.highs.presolve()
        presolve += time.perf_counter() - start
    before = np.array(today)
    after = np.array(kept)
    rel = np.max(np.abs(after[:, 0] - before[:, 0]) / np.abs(before[:, 0]))
    n = len(coalitions)
    print(f"12-member slice, {n} coalitions (seed {args.seed}), one process:")
    print(f"  today's options:         {before[:, 1].sum():6.1f} s ({before[:, 1].mean():.4f} s "
          f"a coalition; x 4,095 = {before[:, 1].mean() * 4095:.0f} s)")
    print(f"  COALITION_HIGHS_OPTIONS: {after[:, 1].sum():6.1f} s ({after[:, 1].mean():.4f} s; "
          f"x 4,095 = {after[:, 1].mean() * 4095:.0f} s), "
          f"{100 * (1 - after[:, 1].sum() / before[:, 1].sum()):.1f}% less; "
          f"largest relative difference of the values {rel:.1e}")
    print(f"  presolve alone: {presolve:.1f} s ({100 * presolve / before[:, 1].sum():.0f}% of "
          f"today's time); building the model once: {build:.2f} s")
    split, total = split_count(part)
    print(f"  coalitions of 2+ members that split into parts with no arc between them: "
          f"{split} of {total:,}")


if __name__ == "__main__":
    main()

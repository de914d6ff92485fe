"""OR-Library pmed1-40 vertex p-centre: the planner's worst-minutes goal against an independent
set-cover bisection written here on the raw files, and the published optima.

    python benchmarks/bench_pcentre.py --instances 1-40 --time-limit 60 [--csv out.csv]
    python benchmarks/bench_pcentre.py --instances 6,8 --no-reference

Planner: `PlanningSession(load_pmed(f), goal="worst-minutes", service="F",
time_limit=T).solve()` (= planner.solve): the worst trip (solve 1) and the least annual cost at
that worst trip (solve 2), wall clock from the file to the plan (model_inputs, the build and
every solve included). `radius` is the wall clock at which the worst trip is proven: the first
plan HiGHS finds at the covering relaxation's radius (a lower bound), caught by a HiGHS callback.

Reference (independent of the planner's code): the file read here (the LAST cost of an edge
listed twice, OR-Library's rule), all-pairs shortest paths by scipy, then the textbook bisection
over the sorted distinct distances (Minieka 1970; Daskin 2013, ch. 5): radius r is reachable
when the set cover "every node within r of an open node" needs at most p nodes (a scipy
`milp` per step, minimising the number of nodes). Its time is the bisection's, reading
excluded.

Published optima: Daskin (2000), Networks 36(3); Elloumi, Labbe & Pochet (2004), INFORMS J.
Comput. 16(1); Pullan (2008), Evolutionary Computation 16(3) (benchmarks/orlib/pcentre_opt.csv,
its sources in benchmarks/orlib/SOURCE.md).
"""

from __future__ import annotations

import argparse
import gc
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from bench_pmed import parse_instances
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

import planner.model.goals as goals
from planner.planning.session import PlanningSession
from planner.scenario.orlib import load_pmed

ORLIB = Path(__file__).resolve().parent / "orlib"
PUBLISHED = pd.read_csv(ORLIB / "pcentre_opt.csv").set_index("instance")


# --- the independent reference ------------------------------------------------------------------
def raw_distances(path: Path) -> tuple[np.ndarray, int]:
    """All-pairs shortest paths of an OR-Library pmed file, read here: first line n m p, then
    m lines i j cost; an edge listed again overwrites the earlier cost."""
    numbers = path.read_text().split()
    n, m, p = (int(x) for x in numbers[:3])
    cost: dict[tuple[int, int], float] = {}
    for k in range(m):
        i, j, c = numbers[3 + 3 * k: 6 + 3 * k]
        a, b = sorted((int(i) - 1, int(j) - 1))
        cost[(a, b)] = float(c)
    rows = [a for a, _ in cost] + [b for _, b in cost]
    cols = [b for _, b in cost] + [a for a, _ in cost]
    graph = csr_matrix((list(cost.values()) * 2, (rows, cols)), shape=(n, n))
    return shortest_path(graph, directed=False), p


def fewest_centres(distances: np.ndarray, radius: float) -> float:
    """The least number of nodes with every node within `radius` of one of them (a set cover
    MIP, scipy's milp)."""
    n = len(distances)
    cover = LinearConstraint(csr_matrix((distances <= radius + 1e-9).astype(float)), 1, np.inf)
    result = milp(np.ones(n), constraints=[cover], integrality=np.ones(n), bounds=Bounds(0, 1))
    assert result.status == 0, result.message
    return float(result.fun)


def reference_pcentre(distances: np.ndarray, p: int) -> float:
    """The smallest distinct distance r whose set cover needs at most p nodes (bisection)."""
    levels = np.unique(distances)
    low, high = 0, len(levels) - 1
    while low < high:
        middle = (low + high) // 2
        if fewest_centres(distances, levels[middle]) <= p + 1e-6:
            high = middle
        else:
            low = middle + 1
    return float(levels[low])


# --- the planner ----------------------------------------------------------------------------------
RELAXATION_SECONDS: list[float] = []
RELAXATION_LEVELS: list[float] = []


def _timed_bound(inp, goal, levels, _bound=goals.covering_bound):
    """goals.covering_bound, its time and radius recorded."""
    start = time.perf_counter()
    bound = _bound(inp, goal, levels)
    RELAXATION_SECONDS.append(time.perf_counter() - start)
    RELAXATION_LEVELS.append(float(levels[bound.level]))
    return bound


goals.covering_bound = _timed_bound


def run_one(name: str, time_limit: float, reference: bool) -> dict:
    load = os.getloadavg()[0]
    RELAXATION_SECONDS.clear()
    RELAXATION_LEVELS.clear()
    start = time.perf_counter()
    session = PlanningSession(load_pmed(ORLIB / f"{name}.txt"), goal="worst-minutes",
                              service="F", time_limit=time_limit)
    found: list[float] = []   # wall clock at each plan HiGHS finds
    session.highs.highs.cbMipImprovingSolution.subscribe(
        lambda _: found.append(time.perf_counter() - start))
    plan = session.solve()
    total = time.perf_counter() - start
    p = int(PUBLISHED.at[name, "p"])
    row = {"instance": name, "n": int(PUBLISHED.at[name, "n"]), "p": p,
           "published": float(PUBLISHED.at[name, "optimal"]), "planner": plan.goal["value"],
           "status": plan.status, "gap": plan.mip_gap, "cost_minus_p": plan.objective - p,
           "build": session.build_seconds, "relaxation": sum(RELAXATION_SECONDS),
           "solve": plan.solve_seconds, "total": total,
           "radius_proven": _radius_proven(plan, found, start),
           "load": load}
    del session, plan
    gc.collect()
    if reference:
        distances, _ = raw_distances(ORLIB / f"{name}.txt")
        start = time.perf_counter()
        row["reference"] = reference_pcentre(distances, p)
        row["ref_seconds"] = time.perf_counter() - start
        row["ratio"] = total / row["ref_seconds"]
    row["matches"] = row["planner"] == row["published"] and row.get(
        "reference", row["published"]) == row["published"]
    return row


def _radius_proven(plan, found: list[float], start: float) -> float:
    """Seconds from the file to the proven worst trip: the relaxation's bound is a lower bound,
    so the first plan HiGHS finds at it proves it (models/goals.md); NaN when the bisection
    went above the bound (then only the end proves the radius)."""
    at_bound = RELAXATION_LEVELS and plan.goal["value"] == RELAXATION_LEVELS[-1]
    return found[0] if at_bound and found else float("nan")


HEADER = (f"{'inst':>7s} {'n':>4s} {'p':>4s} {'publ':>5s} {'ref':>5s} {'plan':>5s} "
          f"{'status':>10s} {'cost-p':>8s} | {'build':>6s} {'relax':>6s} {'radius':>6s} "
          f"{'solve':>6s} {'total':>6s} | "
          f"{'ref_s':>6s} {'ratio':>6s} {'load':>5s} ok")


def format_row(r: dict) -> str:
    ref = r.get("reference", float("nan"))
    return (f"{r['instance']:>7s} {r['n']:4d} {r['p']:4d} {r['published']:5.0f} {ref:5.0f} "
            f"{r['planner']:5.0f} {r['status']:>10s} {r['cost_minus_p']:8.0f} | "
            f"{r['build']:6.1f} {r['relaxation']:6.1f} {r['radius_proven']:6.1f} "
            f"{r['solve']:6.1f} {r['total']:6.1f} | "
            f"{r.get('ref_seconds', float('nan')):6.1f} {r.get('ratio', float('nan')):6.2f} "
            f"{r['load']:5.2f} {'yes' if r['matches'] else 'NO'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1-40", help="e.g. 1-40 or 1-5,16,21")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the independent set-cover bisection")
    parser.add_argument("--csv", help="also write the rows to this CSV file")
    args = parser.parse_args()
    print(HEADER, flush=True)
    rows = []
    for k in parse_instances(args.instances):
        rows.append(run_one(f"pmed{k}", args.time_limit, not args.no_reference))
        print(format_row(rows[-1]), flush=True)
        if args.csv:
            pd.DataFrame(rows).to_csv(args.csv, index=False)
    frame = pd.DataFrame(rows)
    slowest = frame.loc[frame["total"].idxmax(), "instance"]
    print(f"\ninstances {len(frame)}; at the published optimum {int(frame['matches'].sum())}; "
          f"slowest {frame['total'].max():.1f} s ({slowest}); "
          f"under 60 s {int((frame['total'] < 60).sum())}")


if __name__ == "__main__":
    main()

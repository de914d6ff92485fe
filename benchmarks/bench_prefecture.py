"""The synthetic prefecture (benchmarks/prefecture.py) through the planner and through the direct
highspy build of the same MILP, side by side in the same run (issue 22 targets: 1,000 villages
to a gap <= 0.5% in 120 s, 3,000 to <= 1% in 300 s, memory < 4 GB).

    python benchmarks/bench_prefecture.py --zones 1000 --time-limit 120
    python benchmarks/bench_prefecture.py --zones 1000,3000 --time-limit 300 --seed 0

Each size runs in a process of its own per route (planner, direct), so that the peak memory
(ru_maxrss) is that route's alone. The planner route is `planner.solve(scenario, time_limit=T)`
(written out as PlanningSession to read build and solve apart); the direct route is
model_inputs + highs_direct.build + HiGHS with the same options. Printed per route: status, MIP
gap at the end, objective, build and solve seconds, total, peak memory; then the ratios.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run_route(route: str, zones: int, seed: int, time_limit: float) -> dict:
    """One route on one size, in this process (called through the subprocess below)."""
    sys.path.insert(0, str(HERE))
    import highs_direct
    from prefecture import prefecture

    from planner.model.inputs import model_inputs
    from planner.planning.session import PlanningSession, solver_options

    start = time.perf_counter()
    scenario = prefecture(zones, seed)
    generated = time.perf_counter() - start
    start = time.perf_counter()
    if route == "planner":
        plan = PlanningSession(scenario, time_limit=time_limit).solve()
        row = {"status": plan.status, "objective": plan.objective, "gap": plan.mip_gap,
               "build": plan.build_seconds, "solve": plan.solve_seconds}
    else:
        inp = model_inputs(scenario)
        h, _ = highs_direct.build(inp)
        built = time.perf_counter() - start
        result = highs_direct.solve(h, solver_options(scenario, time_limit=time_limit))
        info = h.getInfo()
        row = {"status": result.status, "objective": result.objective,
               "gap": info.mip_gap, "build": built, "solve": result.seconds}
    row.update(total=time.perf_counter() - start, generate=generated,
               peak_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    return row


def measured(route: str, zones: int, seed: int, time_limit: float) -> dict:
    done = subprocess.run([sys.executable, __file__, "--route", route, "--zones", str(zones),
                           "--seed", str(seed), "--time-limit", str(time_limit)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", default="1000", help="village counts, e.g. 1000,3000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--route", choices=["planner", "direct"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.route:   # the child process: one route, one JSON line
        print(json.dumps(run_route(args.route, int(args.zones), args.seed, args.time_limit)))
        return
    print(f"{'zones':>6s} {'route':>8s} {'status':>11s} {'gap':>8s} {'objective':>14s} "
          f"{'build':>7s} {'solve':>7s} {'total':>7s} {'peak GB':>7s}")
    for zones in (int(z) for z in args.zones.split(",")):
        rows = {route: measured(route, zones, args.seed, args.time_limit)
                for route in ("planner", "direct")}
        for route, r in rows.items():
            gap = "-" if r["gap"] is None else f"{100 * r['gap']:.2f}%"
            objective = "-" if r["objective"] is None else f"{r['objective']:,.0f}"
            print(f"{zones:6d} {route:>8s} {r['status']:>11s} {gap:>8s} {objective:>14s} "
                  f"{r['build']:7.2f} {r['solve']:7.2f} {r['total']:7.2f} {r['peak_gb']:7.2f}")
        p, d = rows["planner"], rows["direct"]
        print(f"{'':6s} ratios planner/direct: build {p['build'] / d['build']:.1f}, total "
              f"{p['total'] / d['total']:.2f}")


if __name__ == "__main__":
    main()

"""Zone aggregation on the synthetic prefecture (issue 22 item 3; planner/model/aggregate.py).

    python benchmarks/bench_aggregation.py --zones 100000 --aggregate 3000,10000 --time-limit 120

Each N runs in a process of its own (peak memory ru_maxrss is that run's alone):
`PlanningSession(prefecture(zones), aggregate_zones=N, time_limit=T).solve()` with `[urgent]
soft = true` (at 100,000 villages one village is beyond 90 minutes of every site, so the hard
rule has no plan). Printed per N: the representatives, eligible arcs of the aggregated model,
seconds for the inputs and the aggregation, the build, the solve and the plan on the original
zones, peak memory, the plan's annual cost, the error bound (absolute and relative to the cost),
the proven gap (the aggregated bound minus error_over) and the zones served beyond max_minutes.
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


def run(zones: int, n: int, seed: int, time_limit: float) -> dict:
    """One aggregated plan, in this process."""
    sys.path.insert(0, str(HERE))
    from prefecture import prefecture

    from planner.planning.session import PlanningSession

    scenario = prefecture(zones, seed).with_(urgent_soft=True)
    start = time.perf_counter()
    session = PlanningSession(scenario, aggregate_zones=n, time_limit=time_limit)
    ready = time.perf_counter() - start
    plan = session.solve()
    total = time.perf_counter() - start
    found = plan.kpis["aggregation"]
    return {"zones": zones, "requested": n, "representatives": found["zones_after"],
            "same_sites": found["same_sites"], "arcs": len(session.inputs.arcs),
            "inputs_and_aggregation": ready - session.build_seconds,
            "build": session.build_seconds, "solve": plan.solve_seconds,
            "plan_on_zones": total - ready - plan.solve_seconds, "total": total,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "status": str(plan.status), "objective": plan.objective,
            "aggregated_objective": found.get("aggregated_objective"),
            "error_bound": found["error_bound"], "error_over": found["error_over"],
            "error_under": found["error_under"],
            "bound_share": found["error_bound"] / plan.objective,
            "mip_gap": plan.mip_gap, "aggregated_mip_gap": found.get("aggregated_mip_gap"),
            "zones_beyond": found.get("zones_beyond_max_minutes"),
            "worst_minutes_beyond": found.get("worst_minutes_beyond")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=100_000)
    parser.add_argument("--aggregate", default="3000,10000")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)   # the child process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(run(args.zones, args.one, args.seed, args.time_limit)))
        return
    for n in (int(x) for x in args.aggregate.split(",")):
        done = subprocess.run([sys.executable, __file__, "--zones", str(args.zones), "--seed",
                               str(args.seed), "--time-limit", str(args.time_limit),
                               "--one", str(n)], capture_output=True, text=True, check=True)
        print(done.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()

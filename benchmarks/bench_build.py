"""The build at scale (issue 22 items 4 and 5): seconds and peak memory of each stage before the
solve, the planner's Pyomo build + hand-over beside HiGHS driven directly (highs_direct.build) on
the same ModelInputs, each route in a process of its own (ru_maxrss is a process's peak).

    python benchmarks/bench_build.py                       # prefecture 10k, 30k; pmed21, pmed40
    python benchmarks/bench_build.py --cases prefecture-100000,pmed40

Printed per case: eligible arcs, model_inputs, build_model, hand-over (HighsModel), their sum per
arc, peak memory per arc, the direct build, and the ratio (build + hand-over) / direct build.
planner/model/size.py's estimates (seconds and bytes an arc) come from this table.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent


def scenario_of(case: str):
    """prefecture-N (benchmarks/prefecture.py, seed 0) or pmedK (OR-Library)."""
    if case.startswith("prefecture-"):
        from prefecture import prefecture
        return prefecture(int(case.split("-")[1]), 0)
    from planner.scenario.orlib import load_pmed
    return load_pmed(HERE / "orlib" / f"{case}.txt")


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6   # kB on Linux


def _route(case: str, route: str, out) -> None:
    from planner.model.inputs import model_inputs
    scenario = scenario_of(case)
    began = time.perf_counter()
    inp = model_inputs(scenario)
    row = {"arcs": len(inp.arcs), "inputs": time.perf_counter() - began}
    before = _peak_gb()
    began = time.perf_counter()
    if route == "planner":
        from planner.model.families import build_model
        from planner.model.highs import HighsModel
        model = build_model(inp)
        row["build"] = time.perf_counter() - began
        began = time.perf_counter()
        HighsModel(model)
        row["hand_over"] = time.perf_counter() - began
    else:
        import highs_direct
        highs_direct.build(inp)
        row["direct"] = time.perf_counter() - began
    row["peak_gb"], row["peak_before_build_gb"] = _peak_gb(), before
    out.put(row)


def measured(case: str, route: str) -> dict:
    out = mp.get_context("spawn").Queue()
    process = mp.get_context("spawn").Process(target=_route, args=(case, route, out))
    process.start()
    row = out.get()
    process.join()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="prefecture-10000,prefecture-30000,pmed21,pmed40")
    parser.add_argument("--json", action="store_true", help="one JSON line per case")
    args = parser.parse_args()
    print(f"{'case':>18s} {'arcs':>9s} {'inputs':>7s} {'build':>7s} {'hand':>7s} {'us/arc':>7s} "
          f"{'peak GB':>8s} {'KB/arc':>7s} {'direct':>7s} {'ratio':>6s}")
    for case in args.cases.split(","):
        planner, direct = measured(case, "planner"), measured(case, "direct")
        both = planner["build"] + planner["hand_over"]
        row = {"case": case, **planner, "direct": direct["direct"],
               "direct_peak_gb": direct["peak_gb"], "ratio": both / direct["direct"],
               "us_per_arc": 1e6 * both / planner["arcs"],
               "kb_per_arc": 1e6 * planner["peak_gb"] / planner["arcs"]}
        if args.json:
            print(json.dumps(row, sort_keys=True))
        else:
            print(f"{case:>18s} {row['arcs']:9,d} {row['inputs']:7.2f} {row['build']:7.2f} "
                  f"{row['hand_over']:7.2f} {row['us_per_arc']:7.2f} {row['peak_gb']:8.2f} "
                  f"{row['kb_per_arc']:7.2f} {row['direct']:7.2f} {row['ratio']:6.2f}", flush=True)


if __name__ == "__main__":
    main()

"""OR-Library p-median instances (and a synthetic zones != sites p-median) through the planner
and through the direct highspy build of the same MILP (benchmarks/highs_direct.py).

    python benchmarks/bench_pmed.py --instances 1-40 --time-limit 60 [--csv out.csv]
    python benchmarks/bench_pmed.py --instances 1-5,16,21
    python benchmarks/bench_pmed.py --synthetic [--time-limit 60]

Planner: `planner.solve(scenario, time_limit=T)` (written out as its body,
`PlanningSession(scenario, time_limit=T).solve()`, to keep the HiGHS object for the checks),
split into build (Pyomo build + hand-over to HiGHS, Plan.build_seconds), solve (HiGHS,
Plan.solve_seconds) and total (wall clock, including model_inputs, the pre-check and
extract_plan). Direct: model_inputs + numpy build + HiGHS solve.
"""

from __future__ import annotations

import argparse
import gc
import time
from pathlib import Path

import highs_direct
import numpy as np
import pandas as pd

from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession, solver_options
from planner.scenario.orlib import load_pmed, pmedian_scenario

ORLIB = Path(__file__).resolve().parent / "orlib"
OPTIMA = pd.read_csv(ORLIB / "pmedopt.csv").set_index("instance")


def parse_instances(text: str) -> list[int]:
    """'1-5,16,21-22' -> [1, 2, 3, 4, 5, 16, 21, 22]."""
    out = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


def synthetic_scenario(zones: int = 1000, sites: int = 100, p: int = 10, seed: int = 0):
    """A random p-median with zones != sites: points uniform on [0, 100]^2, Euclidean minutes;
    the settings of planner.scenario.orlib.pmedian_scenario (one unit of demand per zone,
    equipment F with annual capital 1, capacity = all demand, at most one unit per site,
    budget p)."""
    rng = np.random.default_rng(seed)
    zone_xy, site_xy = rng.random((zones, 2)) * 100.0, rng.random((sites, 2)) * 100.0
    minutes = np.linalg.norm(zone_xy[:, None, :] - site_xy[None, :, :], axis=2)
    zone_ids = [f"Z{k + 1}" for k in range(zones)]
    site_ids = [f"S{k + 1}" for k in range(sites)]
    return pmedian_scenario(minutes, p, f"synthetic {zones}x{sites} p={p}", zone_ids,
                            site_ids), p


def run_one(label: str, scenario, p: int, time_limit: float, published=None) -> dict:
    """Planner, then the direct build, on one scenario. Asserted: the two HiGHS models are
    identical (highs_direct.compare_lp), so are the HiGHS options, and the objectives are equal
    within 1e-6 relative when both solves are proven optimal."""
    start = time.perf_counter()
    session = PlanningSession(scenario, time_limit=time_limit)  # = planner.solve(scenario, ...)
    plan = session.solve()
    planner_total = time.perf_counter() - start
    options = solver_options(scenario, time_limit=time_limit)
    start = time.perf_counter()
    inp = model_inputs(scenario)
    inputs_seconds = time.perf_counter() - start
    h, _ = highs_direct.build(inp)
    direct_build = time.perf_counter() - start - inputs_seconds
    result = highs_direct.solve(h, options)
    direct_total = time.perf_counter() - start
    model_diff = highs_direct.compare_lp(session.highs.highs, h)
    assert all(v == 0 for v in model_diff.values()), f"{label}: models differ {model_diff}"
    option_diff = highs_direct.compare_options(session.highs.highs, h)
    assert not option_diff, f"{label}: HiGHS options differ {option_diff}"
    row = {"instance": label, "n": len(scenario.zones), "sites": len(scenario.sites), "p": p,
           "published": published, "obj_minus_p": plan.objective - p, "status": plan.status,
           "gap": plan.mip_gap, "build": plan.build_seconds, "solve": plan.solve_seconds,
           "total": planner_total, "d_build": direct_build, "d_solve": result.seconds,
           "d_total": direct_total, "d_status": result.status,
           "build_ratio": plan.build_seconds / direct_build,
           "ratio": planner_total / direct_total}
    if plan.status == "optimal" and result.status == "optimal":
        assert highs_direct.same_objective(plan.objective, result.objective), \
            f"{label}: planner {plan.objective} != direct {result.objective}"
        row["same_obj"] = True
    else:
        row["same_obj"] = None  # not comparable: at least one stopped at the time limit
    row["matches_published"] = (published is not None and plan.status == "optimal"
                                and abs(row["obj_minus_p"] - published) <= 1e-6)
    del session, plan, h, inp
    gc.collect()
    return row


HEADER = (f"{'inst':>8s} {'n':>5s} {'sites':>5s} {'p':>4s} {'published':>9s} {'obj-p':>10s} "
          f"{'status':>10s} "
          f"{'gap':>8s} | {'build':>7s} {'solve':>7s} {'total':>7s} | {'d_build':>7s} "
          f"{'d_solve':>7s} {'d_total':>7s} | {'b_ratio':>7s} {'ratio':>6s} {'check':>6s}")


def format_row(r: dict) -> str:
    published = "-" if r["published"] is None else f"{r['published']:.0f}"
    check = {True: "same", None: "n/a"}[r["same_obj"]]
    if r["published"] is not None and r["status"] == "optimal":
        check += ",pub" if r["matches_published"] else ",PUB!"
    return (f"{r['instance']:>8s} {r['n']:5d} {r['sites']:5d} {r['p']:4d} {published:>9s} "
            f"{r['obj_minus_p']:10.2f} {r['status']:>10s} {r['gap']:8.2e} | {r['build']:7.2f} "
            f"{r['solve']:7.2f} {r['total']:7.2f} | {r['d_build']:7.3f} {r['d_solve']:7.2f} "
            f"{r['d_total']:7.2f} | {r['build_ratio']:7.1f} {r['ratio']:6.2f} {check:>6s}")


def summary(rows: list[dict]) -> str:
    frame = pd.DataFrame(rows)
    optimal = int((frame["status"] == "optimal").sum())
    published = int(frame["matches_published"].sum())
    worst = frame.loc[frame["ratio"].idxmax()]
    worst_build = frame.loc[frame["build_ratio"].idxmax()]
    return "\n".join([
        f"instances: {len(frame)}; proven optimal (planner): {optimal}; optimal and equal to "
        f"the published value: {published}",
        f"worst total ratio: {worst['ratio']:.2f} ({worst['instance']}); worst build ratio: "
        f"{worst_build['build_ratio']:.1f} ({worst_build['instance']}); median build ratio "
        f"{frame['build_ratio'].median():.1f}",
        f"planner: build {frame['build'].sum():.1f} s + solve {frame['solve'].sum():.1f} s, "
        f"total {frame['total'].sum():.1f} s; direct: build {frame['d_build'].sum():.1f} s + "
        f"solve {frame['d_solve'].sum():.1f} s, total {frame['d_total'].sum():.1f} s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1-40", help="e.g. 1-40 or 1-5,16,21")
    parser.add_argument("--time-limit", type=float, default=60.0,
                        help="seconds per solve (planner and direct each)")
    parser.add_argument("--synthetic", action="store_true",
                        help="instead: a random p-median, 1000 zones x 100 sites, p = 10")
    parser.add_argument("--csv", help="also write the rows to this CSV file")
    args = parser.parse_args()

    print(HEADER, flush=True)
    rows = []
    if args.synthetic:
        start = time.perf_counter()
        scenario, p = synthetic_scenario()
        print(f"(synthetic scenario built and validated in {time.perf_counter() - start:.1f} s)")
        rows.append(run_one("synth", scenario, p, args.time_limit))
        print(format_row(rows[-1]), flush=True)
    else:
        for k in parse_instances(args.instances):
            name = f"pmed{k}"
            scenario = load_pmed(ORLIB / f"{name}.txt")
            rows.append(run_one(name, scenario, int(OPTIMA.at[name, "p"]), args.time_limit,
                                float(OPTIMA.at[name, "optimal"])))
            print(format_row(rows[-1]), flush=True)
    print()
    print(summary(rows))
    if args.csv:
        pd.DataFrame(rows).to_csv(args.csv, index=False)


if __name__ == "__main__":
    main()

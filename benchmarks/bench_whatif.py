"""Speed of what-if studies on the embedded default scenario (issue 8, item 8).

    python benchmarks/bench_whatif.py [--workers 2] [--only resolve|sweep|pareto]

Sections (one function each; run alone with --only):

* `resolve`: single what-ifs on one PlanningSession (budget cut the plan meets, budget cut that
  binds, budget raise) and the coverage goal, each beside HiGHS driven directly: the same
  updated model copied out of the session (getLp) and solved by a fresh highspy object with the
  same options, and a re-solve with a tighter MIP gap. Targets: a budget re-solve < 0.3 s, a
  coverage-goal solve < 3 s. (tests/test_resolve_reuse.py checks which of these re-solves run
  HiGHS at all; their times are measured here.)

* `sweep`: a 20-point budget sweep of the cost goal (planner.sweep, budgets evenly spaced
  from 6M to 30M CNY), in this process and on a local pool of --workers processes. Target
  < 10 s on 2 cores.
* `pareto`: a 10-point Pareto front, CT within 15 minutes: by budget (planner.pareto budgets=,
  as `planner pareto --budgets`) and by coverage level (the epsilon-constraint front,
  coverage_levels=10). Target < 30 s on 2 cores.

Each line gives the wall time, the time HiGHS spent in the solves (the sum of the points'
solve_seconds: the rest is variant building, model updates and plan extraction), and the
points without a plan.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import planner

SWEEP_BUDGETS = list(np.linspace(6e6, 30e6, 20))
PARETO_BUDGETS = list(np.linspace(0.0, 24e6, 10))


def _line(label: str, seconds: float, table, target: float) -> str:
    solver = float(table["solve_seconds"].sum())
    missing = int(table["annual_cost" if "annual_cost" in table else "objective"].isna().sum())
    verdict = "ok" if seconds < target else "ABOVE TARGET"
    return (f"{label:<38} {seconds:7.2f} s  (solves {solver:6.2f} s, {len(table)} points, "
            f"{missing} without a plan; target < {target:g} s: {verdict})")


def _direct_seconds(session) -> float:
    """HiGHS alone on a copy of the session's current model (same options)."""
    from planner.model.highs import new_highs, run

    h = new_highs()
    h.passModel(session.highs.highs.getLp())
    o = session.options
    for name, value in (("time_limit", float(o.time_limit)), ("mip_rel_gap", float(o.mip_gap)),
                        ("random_seed", int(o.seed)), ("mip_allow_restart", bool(o.restart)),
                        ("mip_heuristic_run_rins", False), ("mip_heuristic_run_rens", False),
                        ("mip_heuristic_run_root_reduced_cost", False)):
        h.setOptionValue(name, value)
    start = time.perf_counter()
    run(h, o.threads)
    return time.perf_counter() - start


def bench_resolve(scenario, workers: int) -> list[str]:
    """Budget what-ifs on one session, and the coverage goal, beside HiGHS direct."""
    from planner.planning.session import PlanningSession

    lines = []
    session = PlanningSession(scenario)
    used = session.solve().kpis["capital_used"]
    for label, budget in (("budget cut the plan meets", used + 1e6),
                          ("budget cut that binds", 0.75 * used),   # 0.6: no plan now
                          ("budget raise", 30e6), ("budget back to 24M", 24e6)):
        start = time.perf_counter()
        plan = session.solve(scenario.with_(budget=budget))
        seconds = time.perf_counter() - start
        direct = _direct_seconds(session)
        verdict = "ok" if seconds < 0.3 else "ABOVE TARGET"
        lines.append(f"re-solve, {label:<28} {seconds:6.2f} s (HiGHS in it "
                     f"{plan.solve_seconds:5.2f} s; HiGHS direct on the same model "
                     f"{direct:5.2f} s; ratio {seconds / direct:5.2f}; target < 0.3 s: {verdict})")
    start = time.perf_counter()
    plan = session.solve(mip_gap=1e-6)
    lines.append(f"re-solve, tighter MIP gap (1e-6)      {time.perf_counter() - start:6.2f} s "
                 f"(HiGHS in it {plan.solve_seconds:5.2f} s)")
    start = time.perf_counter()
    plan = planner.solve(scenario, goal="coverage", service="CT", minutes=15)
    seconds = time.perf_counter() - start
    verdict = "ok" if seconds < 3 else "ABOVE TARGET"
    lines.append(f"coverage goal CT 15 min, build + 2 solves  {seconds:6.2f} s (HiGHS "
                 f"{plan.solve_seconds:5.2f} s; covered {plan.goal['value']:,.0f}; target < 3 s: "
                 f"{verdict})")
    return lines


def bench_sweep(scenario, workers: int) -> list[str]:
    """A 20-point budget sweep, here and on `workers` processes."""
    lines = []
    for label, kwargs in (("sweep, 20 budgets, one process", {}),
                          (f"sweep, 20 budgets, {workers} workers", {"workers": workers})):
        start = time.perf_counter()
        table = planner.sweep(scenario, {"budget": SWEEP_BUDGETS}, progress=False, **kwargs)
        lines.append(_line(label, time.perf_counter() - start, table, 10.0))
    return lines


def bench_pareto(scenario, workers: int) -> list[str]:
    """10-point fronts of CT within 15 minutes: by budget and by coverage level."""
    lines = []
    cases = (("pareto, 10 budgets, one process", {"budgets": PARETO_BUDGETS}),
             (f"pareto, 10 budgets, {workers} workers",
              {"budgets": PARETO_BUDGETS, "workers": workers}),
             ("pareto, 10 coverage levels, one process", {"coverage_levels": 10}),
             (f"pareto, 10 coverage levels, {workers} workers",
              {"coverage_levels": 10, "workers": workers}))
    for label, kwargs in cases:
        start = time.perf_counter()
        front = planner.pareto(scenario, "CT", 15, progress=False, **kwargs)
        lines.append(_line(label, time.perf_counter() - start, front.table, 30.0))
    return lines


SECTIONS = {"resolve": bench_resolve, "sweep": bench_sweep, "pareto": bench_pareto}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", choices=sorted(SECTIONS))
    args = parser.parse_args()
    scenario = planner.load_scenario(None)
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            for line in section(scenario, args.workers):
                print(line, flush=True)


if __name__ == "__main__":
    main()

"""Speed of a stable re-plan on the embedded default scenario, against HiGHS driven directly.

    python benchmarks/bench_replan.py [--repeats 3]

Cases: the same inputs re-planned (zero changes expected), a +2% population (tolerance 0.1%),
and a baseline from solver seed 0 re-planned with seed 1 (equal-cost ties). For each, the
planner's figures are

* `replan total`: planner.replan (build, solve 1, solve 2, extraction);
* `solve 2 (planner)`: the second, fewest-changes solve as HiGHS ran it inside the planner
  (on the persistent object, after the changed objective, row bound and start were pushed);
  `replan total` also holds the build, solve 1 and solve 3 (the flows of the chosen decisions);

and the reference is HiGHS driven directly on the same second model: its LP (columns, rows,
costs, bounds, integrality) copied out of our HiGHS object into a fresh one, given the same start
solution and options, solved. The ratio is planner ÷ direct on the second solve. Also printed:
the changes a fresh cost-optimal solve would make from the baseline, and the re-plan's.
Every figure is the median of --repeats runs.
"""

from __future__ import annotations

import argparse
import statistics
import time

import highspy
import numpy as np

import planner
from planner.decisions import change_count, decision_changes
from planner.highs import new_highs, run
from planner.replanning import replan
from planner.session import PlanningSession


def direct_second_solve(model, start, gap: float, threads: int) -> float:
    """HiGHS alone on a copy of the second model, from the same start and options."""
    h = new_highs()
    h.passModel(model)
    for name, value in (("mip_rel_gap", gap), ("time_limit", 60.0), ("random_seed", 0),
                        ("presolve", "off"),
                        ("mip_allow_restart", False), ("mip_heuristic_run_rins", False),
                        ("mip_heuristic_run_rens", False),
                        ("mip_heuristic_run_root_reduced_cost", False)):
        h.setOptionValue(name, value)
    h.setSolution(len(start), np.arange(len(start), dtype=np.int32), start)
    began = time.perf_counter()
    run(h, threads)
    seconds = time.perf_counter() - began
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return seconds


class Recording(PlanningSession):
    """A session that keeps a copy of the HiGHS model of the fewest-changes solve (the one
    given a start) and that solve's time."""

    def solve_current(self, start=None, **options):
        if start is None:
            return super().solve_current(start=start, **options)
        self.highs.update()
        self.second_model = self.highs.highs.getModel()
        plan = super().solve_current(start=start, **options)
        self.second_seconds = plan.solve_seconds
        self.second_gap = self.highs.highs.getOptionValue("mip_rel_gap")[1]
        return plan


def one_case(scenario, baseline, tolerance, seed) -> dict:
    began = time.perf_counter()
    session = Recording(scenario, baseline=baseline, seed=seed)
    plan = replan(scenario, baseline, tolerance=tolerance, session=session)
    total = time.perf_counter() - began
    direct = direct_second_solve(session.second_model, session.fewest_changes_start,
                                 session.second_gap, session.options.threads)
    return {"replan total": total, "solve 2 (planner)": session.second_seconds,
            "solve 2 (HiGHS direct)": direct, "changes": plan.change_count}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    county = planner.load_scenario()
    base = planner.solve(county, seed=0)
    grown = county.with_(tables={"zones": county.zones.assign(
        population=county.zones["population"] * 1.02)})
    cases = {"same inputs": (county, None, 0), "+2% population (R = 0)": (grown, 0.0, 0),
             "+2% population (R = 0.1%)": (grown, 0.001, 0),
             "seed 1 vs baseline of seed 0": (county, None, 1)}
    print(f"{'case':32} {'fresh changes':>13} {'replan changes':>14} {'replan total s':>14} "
          f"{'solve 2 s':>9} {'direct s':>8} {'ratio':>6}")
    for name, (scenario, tolerance, seed) in cases.items():
        fresh = planner.solve(scenario, seed=seed)
        fresh_changes = change_count(decision_changes(base.decisions, fresh.decisions))
        runs = [one_case(scenario, base.decisions, tolerance, seed) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{name:32} {fresh_changes:>13} {int(med['changes']):>14} "
              f"{med['replan total']:>14.2f} {med['solve 2 (planner)']:>9.2f} "
              f"{med['solve 2 (HiGHS direct)']:>8.2f} "
              f"{med['solve 2 (planner)'] / med['solve 2 (HiGHS direct)']:>6.2f}")


if __name__ == "__main__":
    main()

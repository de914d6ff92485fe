"""Speed of a stable re-plan on the embedded default scenario, against HiGHS driven directly.

    python benchmarks/bench_replan.py [--repeats 3]

Cases: the same inputs re-planned (zero changes expected), a +2% population (tolerance 0 and
0.1%), and a baseline from solver seed 0 re-planned with seed 1 (equal-cost ties). For each, the
planner's figures are

* `replan total`: planner.replan, everything (build, solve 1, then either the probe that keeps
  the baseline, or solve 2 and solve 3; extractions);
* `deciding s`: the solve that decides the changes as HiGHS ran it inside the planner (on the
  persistent object, after the changed bounds, objective, row bound and start were pushed):
  solve 2 (fewest changes) when it ran, else the probe (the baseline's decisions fixed, an LP);
* `path`: which of the two it was;

and the reference is HiGHS driven directly on the same model: its LP (columns, rows, costs,
bounds, integrality) copied out of our HiGHS object into a fresh one, given the same start
solution and options, solved. The ratio is planner ÷ direct on the deciding solve. Also printed:
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
from planner.model.decisions import change_count, decision_changes
from planner.model.highs import new_highs, run
from planner.planning.replanning import replan
from planner.planning.session import PlanningSession


def direct_solve(model, start, options: dict, threads: int) -> float:
    """HiGHS alone on a copy of a model the planner solved, from the same start and options."""
    h = new_highs()
    h.passModel(model)
    for name, value in options.items():
        h.setOptionValue(name, value)
    if start is not None:
        h.setSolution(len(start), np.arange(len(start), dtype=np.int32), start)
    began = time.perf_counter()
    run(h, threads)
    seconds = time.perf_counter() - began
    assert h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    return seconds


OPTIONS = ("mip_rel_gap", "time_limit", "random_seed", "presolve", "mip_allow_restart",
           "mip_heuristic_run_rins", "mip_heuristic_run_rens",
           "mip_heuristic_run_root_reduced_cost")


class Recording(PlanningSession):
    """A session that keeps, for each solve after the first, a copy of the HiGHS model, its
    start, its options and its time: `probe` (the baseline's own decisions fixed), `fewest`
    (solve 2, the one given a start) or `flows` (solve 3)."""

    def solve_current(self, start=None, explain=True, **options):
        self.highs.update()
        model = self.highs.highs.getModel()
        plan = super().solve_current(start=start, explain=explain, **options)
        h = self.highs.highs
        kind = "probe" if not explain else ("fewest" if start is not None else "flows")
        self.solves.append({"kind": kind, "model": model, "start": start,
                            "options": {n: h.getOptionValue(n)[1] for n in OPTIONS},
                            "seconds": plan.solve_seconds})
        return plan


def one_case(scenario, baseline, tolerance, seed) -> dict:
    began = time.perf_counter()
    session = Recording(scenario, baseline=baseline, seed=seed)
    session.solves = []
    plan = replan(scenario, baseline, tolerance=tolerance, session=session)
    total = time.perf_counter() - began
    kinds = [s["kind"] for s in session.solves]
    # the deciding solve: solve 2 when it ran, else the probe that kept the baseline
    deciding = next(s for s in session.solves if s["kind"] == ("fewest" if "fewest" in kinds
                                                                 else "probe"))
    direct = direct_solve(deciding["model"], deciding["start"], deciding["options"],
                          session.options.threads)
    return {"replan total": total, "deciding solve (planner)": deciding["seconds"],
            "deciding solve (HiGHS direct)": direct, "changes": plan.change_count,
            "path": "baseline kept (probe)" if "fewest" not in kinds else "solve 2"}


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
    print(f"{'case':32} {'fresh changes':>13} {'replan changes':>14} {'path':>22} "
          f"{'replan total s':>14} {'deciding s':>10} {'direct s':>8} {'ratio':>6}")
    for name, (scenario, tolerance, seed) in cases.items():
        fresh = planner.solve(scenario, seed=seed)
        fresh_changes = change_count(decision_changes(base.decisions, fresh.decisions))
        runs = [one_case(scenario, base.decisions, tolerance, seed) for _ in range(args.repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0] if k != "path"}
        print(f"{name:32} {fresh_changes:>13} {int(med['changes']):>14} {runs[0]['path']:>22} "
              f"{med['replan total']:>14.2f} {med['deciding solve (planner)']:>10.2f} "
              f"{med['deciding solve (HiGHS direct)']:>8.2f} "
              f"{med['deciding solve (planner)'] / med['deciding solve (HiGHS direct)']:>6.2f}")


if __name__ == "__main__":
    main()

"""Speed of the fund's accounts and of tier-target re-solves on the embedded default scenario
(issue 20, "Speed").

    python benchmarks/bench_fund.py [--runs 7] [--drop-family equipment_rounding]

* (a) What the accounts add to a county plan: `fund_accounts` (planner/results/fund.py, the
  plan.json `fund` and fund.csv tables) timed on the default plan's flows and unmet demand, the
  median of --runs runs, beside the plan's own solve. Target < 50 ms.
* (b) Re-solves in one PlanningSession that starts with the grassroots share of cardiology at
  0.4 (met by the default plan): the share raised to 0.75 (it binds: the default plan serves
  57.7% there; 0.8 is above the 76.9% the outreach pool can reach and is refused before
  solving), back to 0.4, and a budget cut that binds (0.75 x the capital used: at 0.6 x no
  plan exists since the hospitals keep units for their site-bound exams), each beside HiGHS
  driven directly on the same updated model (as benchmarks/bench_whatif.py: the session's
  model copied out with getLp and solved by a fresh highspy object with the same options).
  Target: a tier-target re-solve takes no longer than a budget re-solve. Each solve also
  prints HiGHS's branch-and-bound nodes and simplex iterations (they do not depend on the
  machine's load).
* --drop-family NAME builds the model without one family of planner.model.families.FAMILIES
  (to measure what a valid inequality such as equipment_rounding gains; benchmark only).
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench_whatif import _direct_seconds

import planner
from planner.model import families
from planner.planning.session import PlanningSession
from planner.results.fund import fund_accounts


def bench_accounts(scenario, runs: int) -> list[str]:
    """(a) the accounts of the default plan, median of `runs` runs."""
    start = time.perf_counter()
    plan = planner.solve(scenario)
    total = time.perf_counter() - start
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fund_accounts(scenario, plan.flows, plan.zones)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    verdict = "ok" if median < 0.05 else "ABOVE TARGET"
    return [f"accounts of the county plan: median {1000 * median:6.1f} ms of {runs} runs "
            f"({len(plan.flows):,} flows; the plan itself {total:5.2f} s; target < 50 ms: "
            f"{verdict})"]


def _search(session) -> str:
    """Nodes and simplex iterations of the session's last HiGHS solve."""
    info = session.highs.highs.getInfo()
    return f"{info.mip_node_count} nodes, {info.simplex_iteration_count:,} LP iterations"


def bench_resolves(scenario) -> list[str]:
    """(b) tier-target and budget re-solves in one session, beside HiGHS direct."""
    base = scenario.with_(min_grassroots_share={"cardiology": 0.4})
    session = PlanningSession(base)
    first = session.solve()
    used = first.kpis["capital_used"]
    lines = [f"first solve, cardiology grassroots share >= 0.4: cost {first.objective:,.0f}, "
             f"share {first.kpis['grassroots_share']['cardiology']:.3f}; {_search(session)}"]
    cases = (("grassroots share cardiology 0.4 -> 0.75", base.with_(
                  min_grassroots_share={"cardiology": 0.75})),
             ("grassroots share back to 0.4", base),
             ("budget cut that binds (0.75 x used)", base.with_(budget=0.75 * used)))
    seconds, overhead = {}, {}
    for label, variant in cases:
        start = time.perf_counter()
        plan = session.solve(variant)
        seconds[label] = time.perf_counter() - start
        search = _search(session)
        direct = _direct_seconds(session)
        overhead[label] = seconds[label] - direct
        lines.append(f"re-solve, {label:<40} {seconds[label]:6.2f} s (HiGHS in it "
                     f"{plan.solve_seconds:5.2f} s; HiGHS direct on the same model "
                     f"{direct:5.2f} s; ratio {seconds[label] / direct:5.2f}); cost "
                     f"{plan.objective:,.0f}, cardiology share "
                     f"{plan.kpis['grassroots_share']['cardiology']:.3f}, surplus "
                     f"{plan.fund['surplus']:,.0f}; {search}")
    tier, budget = cases[0][0], cases[2][0]
    verdict = "ok" if seconds[tier] <= seconds[budget] else "ABOVE TARGET"
    lines.append(f"tier-target re-solve {seconds[tier]:.2f} s vs binding budget re-solve "
                 f"{seconds[budget]:.2f} s: {verdict} (beyond HiGHS direct: "
                 f"{overhead[tier]:+.2f} s vs {overhead[budget]:+.2f} s); rebuilds in the "
                 f"session: {session.rebuilds}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--drop-family", default=None)
    args = parser.parse_args()
    if args.drop_family:
        families.FAMILIES = tuple(f for f in families.FAMILIES if f.name != args.drop_family)
        print(f"without the family {args.drop_family}", flush=True)
    scenario = planner.load_scenario(None)
    for line in bench_accounts(scenario, args.runs) + bench_resolves(scenario):
        print(line, flush=True)


if __name__ == "__main__":
    main()

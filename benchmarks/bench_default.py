"""Speed of the planner on the embedded default scenario, step by step, against a direct highspy
build of the same MILP (benchmarks/highs_direct.py), and of what-if re-solves in a session.

    python benchmarks/bench_default.py [--repeats 3] [--scenario deqing]

--scenario: an embedded scenario (`planner scenarios`) or a folder instead of the default.

Every figure is the median of --repeats runs (each run starts from fresh objects).
"""

from __future__ import annotations

import argparse
import statistics
import time

import highs_direct

import planner
from planner.model.families import build_model
from planner.model.highs import HighsModel
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession, solver_options
from planner.results.plan import extract_plan


def timed(fn, *args, **kwargs):
    start = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - start


def planner_steps(options, name=None) -> tuple[dict, float, object]:
    """One run of the planner's pipeline, each step timed on its own."""
    t = {}
    scenario, t["load"] = timed(planner.load_scenario, name)
    inp, t["model_inputs"] = timed(model_inputs, scenario)
    model, t["build_model (Pyomo)"] = timed(build_model, inp)
    hm, t["hand-over (HighsModel)"] = timed(HighsModel, model)
    result, t["solve (HiGHS)"] = timed(hm.solve, options)
    plan, t["extract_plan"] = timed(extract_plan, scenario, inp, model, hm, result, 0.0)
    _, t["end-to-end (load + planner.solve)"] = timed(
        lambda: planner.solve(planner.load_scenario(name)))
    return t, plan.objective, hm.highs


def direct_steps(scenario, options) -> tuple[dict, float, object]:
    t = {}
    inp, t["model_inputs"] = timed(model_inputs, scenario)
    (h, _), t["direct build (numpy + passModel)"] = timed(highs_direct.build, inp)
    result, t["direct solve (HiGHS)"] = timed(highs_direct.solve, h, options)
    return t, result.objective, h


def medians(runs: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in runs) for k in runs[0]}


def what_if(scenario, repeats: int, changes: dict) -> dict:
    """Re-solve a variant in a session: update and re-solve seconds; no rebuild; same model as a
    fresh direct build of the variant; same objective."""
    runs = []
    for _ in range(repeats):
        session = PlanningSession(scenario)
        session.solve()
        variant, variant_seconds = timed(scenario.with_, **changes)
        plan, wall = timed(session.solve, variant)
        assert session.rebuilds == 1, f"session rebuilt the model ({session.rebuilds} builds)"
        runs.append({"variant (with_)": variant_seconds, "update": plan.build_seconds,
                     "re-solve": plan.solve_seconds, "session.solve wall": wall})
    fresh, _ = highs_direct.build(model_inputs(variant))
    differences = highs_direct.compare_lp(session.highs.highs, fresh)
    direct = highs_direct.solve(fresh, solver_options(variant))
    assert highs_direct.same_objective(plan.objective, direct.objective), \
        f"what-if objective {plan.objective} != fresh direct {direct.objective}"
    out = medians(runs)
    out["objective"] = plan.objective
    out["rebuilds"] = session.rebuilds
    out["same model as fresh build"] = all(v == 0 for v in differences.values())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--scenario", default=None, help="embedded scenario name or folder")
    args = parser.parse_args()

    scenario = planner.load_scenario(args.scenario)
    options = solver_options(scenario)
    runs, direct_runs = [], []
    for _ in range(args.repeats):
        t, planner_obj, planner_highs = planner_steps(options, args.scenario)
        runs.append(t)
        t, direct_obj, direct_highs = direct_steps(scenario, options)
        direct_runs.append(t)
    differences = highs_direct.compare_options(planner_highs, direct_highs)
    assert not differences, f"HiGHS options differ: {differences}"
    p, d = medians(runs), medians(direct_runs)
    inp = model_inputs(scenario)
    h, shape = highs_direct.build(inp)
    print(f"scenario: {scenario.name}")
    print(f"model: {h.getNumCol()} columns, {h.getNumRow()} rows, {h.getNumNz()} non-zeros; "
          f"options {options}; median of {args.repeats} runs\n")
    print(f"{'planner step':40s} {'seconds':>9s}")
    for k, v in p.items():
        print(f"{k:40s} {v:9.3f}")
    print(f"\n{'direct highspy step':40s} {'seconds':>9s}")
    for k, v in d.items():
        print(f"{k:40s} {v:9.3f}")

    assert highs_direct.same_objective(planner_obj, direct_obj), (planner_obj, direct_obj)
    print(f"\nobjective: planner {planner_obj:.6f}, direct {direct_obj:.6f} "
          "(equal within 1e-6 relative)")
    build = p["build_model (Pyomo)"] + p["hand-over (HighsModel)"]
    planner_total = sum(p[k] for k in ("model_inputs", "build_model (Pyomo)",
                                       "hand-over (HighsModel)", "solve (HiGHS)", "extract_plan"))
    direct_total = sum(d.values())
    print(f"ratio (Pyomo build + hand-over) / direct build: {build:.3f} / "
          f"{d['direct build (numpy + passModel)']:.3f} = "
          f"{build / d['direct build (numpy + passModel)']:.1f}")
    print(f"ratio planner total / direct total (both from a loaded Scenario, model_inputs "
          f"included): {planner_total:.3f} / {direct_total:.3f} = "
          f"{planner_total / direct_total:.2f}")

    vpm = scenario.settings.travel.value_per_minute
    # 0.6 x the budget binds (the plan uses 0.76 of it); a quarter, as before site-bound demand,
    # has no plan at all now (the hospitals keep their CTs, the stroke rule needs new ones)
    cut = scenario.budget * 0.6
    for label, changes in ((f"budget {scenario.budget:.3g} -> {cut:.3g} (binding)",
                            {"budget": cut}),
                           (f"value_per_minute {vpm} -> {vpm * 4 / 3:.3g}",
                            {"value_per_minute": vpm * 4 / 3})):
        w = what_if(scenario, args.repeats, changes)
        print(f"\nwhat-if {label}: " + ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in w.items()))


if __name__ == "__main__":
    main()

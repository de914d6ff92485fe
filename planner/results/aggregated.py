"""The plan of an aggregated model, written on the scenario's own zones (issue 22 item 3;
planner/model/aggregate.py, models/aggregation.md).

The solution's decisions (units, relocations, outreach days, hires) are the plan's; its flows,
unmet demand and minimum-share shortfalls are shared out to the original zones in proportion to
their demand (each zone served by its representative's sites in the same proportions), and the
Plan is made from them by the same code as any plan (plan_from_values): its objective is the
exact annual cost of the plan written, from each zone's own travel times. `bound` is the
aggregated model's bound minus error_over, a lower bound on the scenario's optimum (so
`mip_gap` is the plan's proven distance from it), and `kpis.aggregation` reports the zones before
and after, the error bounds and the flows that go beyond max_minutes.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from planner.model.aggregate import Aggregation, beyond_reach, spread, spread_flows
from planner.model.highs import HighsModel, SolveResult
from planner.results.plan import Plan, extract_plan, plan_from_values, solution_values


def aggregated_plan(scenario, agg: Aggregation, model, hm: HighsModel, result: SolveResult,
                    build_seconds: float) -> Plan:
    """The Plan of the model built from `agg.inputs`, on the scenario's zones (module
    docstring)."""
    if agg.identity or not result.has_solution:
        plan = extract_plan(scenario, agg.inputs, model, hm, result, build_seconds)
        return _reported(plan, agg, {}) if plan.objective is not None else plan
    values = solution_values(model, hm, result)
    aggregated_travel = _travel(values["flow"], agg.inputs.arcs, agg.inputs.value_per_minute)
    flows = spread_flows(agg, values["flow"])
    values["flow"] = flows["units"].to_numpy(float)
    values["unmet"] = spread(agg, values["unmet"])
    values["share_shortfall"] = _spread_rows(agg, values["share_shortfall"])
    values["uncovered"] = _covering_rows(agg, values["uncovered"])
    original = replace(agg.original, arcs=flows[["zone_id", "site_id", "service", "minutes"]])
    plan = plan_from_values(scenario, original, values, result, build_seconds)
    plan = replace(plan, zones=plan.zones.assign(   # zones.csv: who stood for the zone
        representative=plan.zones["zone_id"].map(agg.rep).to_numpy()))
    travel = _travel(values["flow"], flows, original.value_per_minute)
    far = beyond_reach(agg, plan.flows)   # the flows written (flows.csv)
    assert plan.objective is not None
    return _reported(plan, agg, {
        "aggregated_objective": plan.objective - travel + aggregated_travel,
        "aggregated_bound": result.bound, "aggregated_mip_gap": result.mip_gap,
        "zones_beyond_max_minutes": int(far["zone_id"].nunique()),
        "units_beyond_max_minutes": float(far["units"].sum()),
        "worst_minutes_beyond": float(far["excess"].max()) if len(far) else 0.0})


def _travel(units, arcs: pd.DataFrame, value_per_minute: float) -> float:
    """The travel term of flows `units` on `arcs` (their minutes): what the aggregated and the
    original cost differ by (the ledger's travel price, minutes x value_per_minute)."""
    return float(np.asarray(units, float) @ arcs["minutes"].to_numpy(float)) * value_per_minute


def _spread_rows(agg: Aggregation, by_rep: pd.Series) -> pd.Series:
    """Minimum-share shortfalls (indexed by the aggregated share rows) on the scenario's share
    rows, in proportion to the zones' demand."""
    rows = agg.original.share_rows
    index = pd.MultiIndex.from_frame(rows[["zone_id", "service"]])
    if not len(rows):
        return pd.Series(np.zeros(0), index=index, dtype=float)
    full = pd.Series(np.zeros(len(agg.inputs.demand)), index=agg.inputs.demand.index)
    full.loc[by_rep.index] = by_rep.to_numpy(float)
    spread_out = pd.Series(spread(agg, full.to_numpy()), index=agg.original.demand.index)
    return spread_out.reindex(index).rename(None)


def _covering_rows(agg: Aggregation, merged: pd.Series) -> pd.Series:
    """`uncovered` of the aggregated model's urgent rows on the scenario's rows: each row takes
    the value of the row that held it (the same covering set; planner/model/aggregate.py)."""
    rows = agg.original.cover_rows
    group = agg.cover_group if agg.cover_group is not None else np.arange(len(rows))
    return pd.Series(merged.to_numpy(float)[group] if len(rows) else np.zeros(0),
                     index=pd.MultiIndex.from_frame(rows[["zone_id", "condition"]]))


def _reported(plan: Plan, agg: Aggregation, found: dict) -> Plan:
    """`plan` with kpis.aggregation and, when zones were merged, the bound on the scenario's
    optimum: the aggregated bound minus error_over (models/aggregation.md)."""
    kpis = dict(plan.kpis)
    kpis["aggregation"] = {"requested_zones": agg.requested, "zones_before": agg.zones_before,
                           "zones_after": agg.zones_after, "same_sites": agg.same_sites,
                           "zones_for_same_sites": agg.site_classes,
                           "error_bound": agg.error_bound, "error_over": agg.error_over,
                           "error_under": agg.error_under, **found}
    if agg.identity or plan.bound is None or plan.objective is None:
        return replace(plan, kpis=kpis)
    bound = plan.bound - agg.error_over
    total = plan.costs_by()
    assert isinstance(total, float)
    gap = (total - bound) / max(abs(total), 1e-9)
    return replace(plan, bound=bound, mip_gap=max(gap, 0.0), kpis=kpis)


__all__ = ["aggregated_plan"]

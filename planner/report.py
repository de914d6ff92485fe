"""A short, readable summary of a plan (what `planner plan` prints)."""

from __future__ import annotations


def _money(x: float | None, currency: str) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.2f} M {currency}"


def _share(x: float) -> str:
    return f"{100 * x:.1f}%"


def _goal_lines(plan) -> list[str]:
    g = plan.goal
    if not g or g["kind"] == "cost" or g.get("value") is None:
        return []
    if g["kind"] == "coverage":
        return [f"Goal: coverage - {g['value']:,.0f} residents within {g['minutes']:g} min of "
                f"{g['service']} (then least annual cost)"]
    return [f"Goal: worst-minutes - every resident within {g['value']:.1f} min of "
            f"{g['service']} (then least annual cost)"]


def summary_text(plan) -> str:
    k = plan.kpis
    if plan.objective is None:
        return f"Scenario: {plan.scenario}\nStatus: {plan.status} (no plan found)"
    flag = "" if plan.is_optimal else "  (NOT proven optimal: best plan found within the limits)"
    gap = "n/a" if plan.mip_gap is None else f"{100 * plan.mip_gap:.3f}%"
    lines = [
        f"Scenario: {plan.scenario}",
        f"Status: {plan.status}{flag}",
        *_goal_lines(plan),
        f"Annual cost: {_money(plan.objective, plan.currency)}   bound: "
        f"{_money(plan.bound, plan.currency)}   MIP gap: {gap}   solve: {plan.solve_seconds:.2f} s",
        f"Capital used: {_money(k['capital_used'], plan.currency)} of "
        f"{_money(k['capital_budget'], plan.currency)}",
        f"In-county treatment rate: {_share(k['in_county_rate'])}",
    ]
    eq = plan.equipment
    changed = eq[(eq["new"] > 0) | (eq["relocated_in"] > 0) | (eq["relocated_out"] > 0)]
    lines.append("New / relocated units:" if len(changed) else "New units: none")
    for r in changed.itertuples():
        parts = [f"+{r.new:.0f} new"] if r.new else []
        parts += [f"+{r.relocated_in:.0f} moved in"] if r.relocated_in else []
        parts += [f"-{r.relocated_out:.0f} moved out"] if r.relocated_out else []
        lines.append(f"  {r.equipment:<6} {r.site_id:<20} {', '.join(parts)}"
                     f" -> {r.total:.0f} in service, {100 * r.utilization:.0f}% used")
    days = plan.specialist_days
    by_site = days[days["outreach_days"] > 0].pivot_table(
        index="site_id", columns="specialty", values="outreach_days", aggfunc="sum",
        fill_value=0)
    if len(by_site):
        lines.append("Outreach days by site:")
        lines += ["  " + line for line in by_site.astype(int).to_string().splitlines()]
    lines.append("Residents within 15 / 30 / 60 minutes (before -> after):")
    for e in sorted({key.split("_within_")[0] for key in k["access_after"]}):
        cells = [f"{_share(k['access_before'][f'{e}_within_{t}min'])} -> "
                 f"{_share(k['access_after'][f'{e}_within_{t}min'])}" for t in (15, 30, 60)]
        lines.append(f"  {e:<6} " + "   ".join(cells))
    if k.get("urgent_uncovered_zones"):
        lines.append(f"Zones without urgent cover: {k['urgent_uncovered_zones']} "
                     "(soft coverage: priced, see urgent.csv)")
    return "\n".join(lines)

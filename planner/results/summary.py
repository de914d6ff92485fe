"""A short, readable summary of a plan (what `planner plan` prints), and how ids are shown to
the people who read the planner's output: beside their names (sites.csv, members.csv), since
an official knows 金集镇卫生院, not S_JINJI.
"""

from __future__ import annotations

import math

import pandas as pd

from planner.results.reading import reading_words


def name_of(value) -> str:
    """A name cell as text: "" when it is missing or blank."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value).strip()


def named(key: str, name=None) -> str:
    """An id beside its name, "金集镇卫生院 [S_JINJI]"; the id alone when it has no name (or
    the name is the id)."""
    text = name_of(name)
    return f"{text} [{key}]" if text and text != key else str(key)


def site_names(sites: pd.DataFrame | None) -> pd.Series:
    """site_id -> name of a plan's sites table (empty when it has no names)."""
    if sites is None or not {"site_id", "name"} <= set(sites.columns):
        return pd.Series(dtype=object)
    return pd.Series(sites["name"].map(name_of).to_numpy(), index=sites["site_id"].to_numpy())


def with_site_names(table: pd.DataFrame, sites: pd.DataFrame | None) -> pd.DataFrame:
    """`table` with a `name` column (the site's name) right after its `site_id` column: the
    decisions table of the report."""
    if "site_id" not in table.columns:
        return table
    names = site_names(sites)
    out = table.copy()
    out.insert(list(out.columns).index("site_id") + 1, "name",
               [name_of(names.get(i)) for i in out["site_id"]])
    return out


def _money(x: float | None, currency: str) -> str:
    return "n/a" if x is None else f"{x / 1e6:,.2f} M {currency}"


def _distance_words(plan) -> str:
    """How far a plan that is not proven optimal can be from the best one, in words: the
    distance to the solver's bound (a lower bound on the cost of any plan)."""
    bound, cost = plan.bound, plan.objective
    if bound is None or not math.isfinite(bound) or cost is None:
        return "best plan found within the limits; no bound yet on how far the best plan is"
    above = max(cost - bound, 0.0)
    share = f"{100 * above / abs(cost):.2f}%" if cost else "n/a"
    return (f"best plan found within the limits; it costs at most {_money(above, plan.currency)}"
            f" a year ({share}) more than the best plan possible")


def _share(x: float) -> str:
    return f"{100 * x:.1f}%"


def _goal_lines(plan) -> list[str]:
    g = plan.goal
    if not g or g["kind"] == "cost" or g.get("value") is None:
        return []
    relaxed = f"; urgent rule of {g['service']} relaxed" if g.get("relax_urgent") else ""
    if g["kind"] == "coverage":
        return [f"Goal: coverage - {g['value']:,.0f} residents within {g['minutes']:g} min of "
                f"{g['service']} (then least annual cost{relaxed})"]
    return [f"Goal: worst-minutes - every resident within {g['value']:.1f} min of "
            f"{g['service']} (then least annual cost{relaxed})"]


def summary_text(plan) -> str:
    k = plan.kpis
    if plan.objective is None:
        return f"Scenario: {plan.scenario}\nStatus: {plan.status} (no plan found)"
    flag = "" if plan.is_optimal else f"  (NOT proven optimal: {_distance_words(plan)})"
    merged = k.get("aggregation") or {}
    if plan.is_optimal and merged.get("zones_after", 0) < merged.get("zones_before", 0):
        flag = "  (optimal for the representative zones: see Zones below)"
    gap = "n/a" if plan.mip_gap is None else f"{100 * plan.mip_gap:.3f}%"
    lines = [
        f"Scenario: {plan.scenario}",
        f"Kind: {plan.kind}",
        f"Status: {plan.status}{flag}",
        *_goal_lines(plan),
        f"Annual cost: {_money(plan.objective, plan.currency)}   bound: "
        f"{_money(plan.bound, plan.currency)}   MIP gap: {gap}   solve: {plan.solve_seconds:.2f} s",
        *aggregation_lines(k.get("aggregation"), plan.currency),
        f"Capital used: {_money(k['capital_used'], plan.currency)} of "
        f"{_money(k['capital_budget'], plan.currency)}",
        f"In-county treatment rate: {_share(k['in_county_rate'])}",
    ]
    names = site_names(plan.geometry.get("sites"))
    lines += _unit_lines(plan.equipment, names)
    lines += _outreach_lines(plan.specialist_days, names)
    lines.append("Residents within 15 / 30 / 60 minutes (before -> after):")
    for e in sorted({key.split("_within_")[0] for key in k["access_after"]}):
        cells = [f"{_share(k['access_before'][f'{e}_within_{t}min'])} -> "
                 f"{_share(k['access_after'][f'{e}_within_{t}min'])}" for t in (15, 30, 60)]
        lines.append(f"  {e:<6} " + "   ".join(cells))
    lines += fund_lines(plan.fund, plan.currency)
    reading = reading_words(k.get("reading"))   # [reading] (docs/design.md section 9)
    if reading:
        lines.append(reading)
    if k.get("urgent_uncovered_zones"):
        why = ("the goal's --relax-urgent" if (plan.goal or {}).get("relax_urgent")
               else "soft coverage: priced")
        lines.append(f"Zones without urgent cover: {k['urgent_uncovered_zones']} "
                     f"({why}, see urgent.csv)")
    return "\n".join(lines)


def aggregation_lines(found: dict | None, currency: str) -> list[str]:
    """Zone aggregation in words (kpis.aggregation, planner/results/aggregated.py); none
    without it."""
    if not found:
        return []
    if found["zones_after"] == found["zones_before"]:
        return [f"Zones: all {found['zones_before']:,} planned (aggregate_zones "
                f"{found['requested_zones']:,}: nothing merged)"]
    lines = [f"Zones: {found['zones_before']:,} planned as {found['zones_after']:,} "
             f"representatives (nearby zones of one member merged); travel cost error at most "
             f"{_money(found['error_bound'], currency)} a year (the aggregated optimum is within "
             f"{_money(found['error_over'] + found['error_under'], currency)} of the best "
             "plan's; the bound and MIP gap above include it)"]
    if found.get("zones_beyond_max_minutes"):
        lines.append(f"  {found['zones_beyond_max_minutes']:,} zone(s) served beyond "
                     f"max_minutes (worst +{found['worst_minutes_beyond']:.1f} min, "
                     f"{found['units_beyond_max_minutes']:,.0f} units a year): merged with zones "
                     "that reach other sites; aggregate_zones of at least "
                     f"{found['zones_for_same_sites']:,} merges only zones that reach the same "
                     "sites")
    return lines


def fund_lines(fund: dict | None, currency: str) -> list[str]:
    """The fund's accounts in three lines (docs/design.md section 8); none without [fund]."""
    if not fund:
        return []
    surplus = fund["surplus"]
    result = (f"surplus {_money(surplus, currency)}" if surplus >= 0
              else f"DEFICIT {_money(-surplus, currency)}")
    return [f"Fund: revenue {_money(fund['revenue'], currency)} -> {result}",
            f"  pays {_money(fund['in_county_payments'], currency)} in the consortium, "
            f"{_money(fund['outside_payments'], currency)} outside, "
            f"{_money(fund['other_spending'], currency)} other spending",
            f"  patients pay {_money(fund['out_of_pocket'], currency)} out of pocket"]


def _unit_lines(eq: pd.DataFrame, names: pd.Series) -> list[str]:
    """One line per site and equipment whose units change; the site's name ends the line (names
    vary in length and script, so they do not break the columns)."""
    changed = eq[(eq["new"] > 0) | (eq["relocated_in"] > 0) | (eq["relocated_out"] > 0)]
    lines = ["New / relocated units:" if len(changed) else "New units: none"]
    for r in changed.itertuples():
        parts = [f"+{r.new:.0f} new"] if r.new else []
        parts += [f"+{r.relocated_in:.0f} moved in"] if r.relocated_in else []
        parts += [f"-{r.relocated_out:.0f} moved out"] if r.relocated_out else []
        name = name_of(names.get(r.site_id))
        lines.append(f"  {r.equipment:<6} {r.site_id:<20} {', '.join(parts)}"
                     f" -> {r.total:.0f} in service, {100 * r.utilization:.0f}% used"
                     + (f"   {name}" if name else ""))
    return lines


def _outreach_lines(days: pd.DataFrame, names: pd.Series) -> list[str]:
    """Outreach days by site (rows) and specialty (columns); the site's name ends each row, so
    names of any length or script leave the columns aligned."""
    by_site = days[days["outreach_days"] > 0].pivot_table(
        index="site_id", columns="specialty", values="outreach_days", aggfunc="sum",
        fill_value=0).astype(int)
    if not len(by_site):
        return []
    first = max(len("site_id"), *(len(str(i)) for i in by_site.index))
    widths = [max(len(str(c)), *(len(str(v)) for v in by_site[c])) for c in by_site.columns]
    header = "  ".join([f"{'site_id':<{first}}",
                        *(f"{c!s:>{w}}" for c, w in zip(by_site.columns, widths))])
    lines = ["Outreach days by site:", f"  {header}" + ("  name" if len(names) else "")]
    for site, row in by_site.iterrows():
        cells = [f"{site!s:<{first}}", *(f"{v:>{w}}" for v, w in zip(row, widths))]
        lines.append(("  " + "  ".join(cells) + f"  {name_of(names.get(site))}").rstrip())
    return lines

"""Explaining infeasibility: the usual causes, found before solving; HiGHS's IIS after.

Before solving (:func:`precheck`), in the scenario's own words:
* a populated zone with no site within an urgent limit where the equipment is or may be placed;
* policy minimum outreach days at grassroots sites exceeding a specialty's pool;
* existing units above `max_per_site` that cannot be relocated;
* site-bound demand (site_demand.csv) above what its site's units may ever serve;
* a capital budget below the cheapest way to give every zone urgent cover (a small covering MILP
  solved exactly: a lower bound on the capital urgent coverage needs);
* tier targets above the largest share the (grassroots) sites' capacity or reach could serve;
* equity limits no plan can meet: a populated zone with no site within an access guarantee's
  minutes where the service is or may be offered, or a minimum served share for a zone with no
  eligible site that could serve it.
If HiGHS still reports the model infeasible, :func:`explain_infeasible` computes an irreducible
infeasible subset (IIS) of the LP relaxation and names the constraint families and rows in it
(equity rows also in the scenario's words).
"""

from __future__ import annotations

import math

import highspy
import numpy as np
import pandas as pd

from planner.errors import InfeasibleError
from planner.model.decisions import commitment_targets, decision_bounds
from planner.model.highs import new_highs, run
from planner.model.inputs import ModelInputs
from planner.model.ledger import CAPITAL_PRICE_COLUMN, capital_price


def _fmt_money(x: float, currency: str) -> str:
    return f"{x:,.0f} {currency}"


def _zones_beyond_urgent_limits(scenario, inp: ModelInputs, sites_of):
    """For each urgent condition, the populated zones farther than its limit from every site in
    `sites_of(equipment)`, with their minutes to the nearest such site."""
    urgent = scenario.conditions.dropna(subset=["urgent_service"])
    populated = inp.zones.index[inp.zones["population"] > 0]
    for c in urgent[urgent["cases_per_1000"] > 0].itertuples():
        sites = sorted(sites_of(c.urgent_service))
        nearest = (inp.minutes.loc[populated, sites].min(axis=1) if sites
                   else pd.Series(np.inf, index=populated))
        yield c, nearest[nearest > c.urgent_minutes]


def _uncoverable_zones(scenario, inp: ModelInputs) -> list[str]:
    causes = []
    for c, bad in _zones_beyond_urgent_limits(
            scenario, inp, lambda e: {i for i, k in inp.unit_pairs if k == e}):
        if len(bad):
            names = ", ".join(f"{z} ({m:.0f} min)" for z, m in bad.head(8).items())
            more = f" and {len(bad) - 8} more" if len(bad) > 8 else ""
            causes.append(
                f"urgent coverage: {len(bad)} populated zone(s) have no site within "
                f"{c.urgent_minutes:g} minutes where {c.urgent_service} is installed or allowed "
                f"(condition '{c.condition}'): {names}{more}. Allow {c.urgent_service} at more "
                f"tiers (equipment.csv allowed_tiers), raise urgent_minutes, or set "
                f"[urgent] soft = true to price uncovered zones.")
    return causes


def _policy_over_pools(scenario, inp: ModelInputs) -> list[str]:
    causes = []
    grassroots = int(inp.sites["grassroots"].sum())
    for s, minimum in inp.min_days.items():
        need = minimum * grassroots
        if need > inp.pool[s] + 1e-9:
            causes.append(
                f"specialist supply: the policy minimum of {minimum:g} {s} days at each of "
                f"{grassroots} grassroots sites needs {need:g} days, but the pool "
                f"('{s}.outreach_days' in resources.csv) holds {inp.pool[s]:g}.")
    return causes


def _too_many_existing(inp: ModelInputs) -> list[str]:
    causes = []
    movable = set(inp.moves[["from_site", "equipment"]].itertuples(index=False, name=None))
    for (i, e), n in inp.existing.items():
        limit = inp.equipment.at[e, "max_per_site"]
        if n > limit and (i, e) not in movable:
            causes.append(f"per-site maximum: site {i} already has {n:g} {e} units in service "
                          f"but max_per_site is {limit:g}, and {e} has no relocation_cost.")
    return causes


def _most_units(inp: ModelInputs, i: str, e: str) -> float:
    """The most units of e site i can hold: none where no unit can be in service; its existing
    units where none may be added (its tier is not in allowed_tiers); else max_per_site."""
    if (i, e) not in set(inp.unit_pairs):
        return 0.0
    placeable = set(map(tuple, inp.new_pairs.to_numpy())) | \
        set(map(tuple, inp.moves[["to_site", "equipment"]].to_numpy()))
    if (i, e) not in placeable:
        return float(inp.existing.get((i, e), 0.0))
    return float(inp.equipment.at[e, "max_per_site"])


def _site_demand_impossible(inp: ModelInputs) -> list[str]:
    """Site-bound demand (site_demand.csv) beyond what the site may ever serve: the most units it
    can hold (_most_units) x unit_capacity (capacity_per_year x max_utilization). Such exams can
    neither travel nor be referred, so no plan serves them."""
    causes = []
    for (i, e), need in inp.site_demand.items():
        per_unit = float(inp.equipment.at[e, "capacity"])
        most = _most_units(inp, i, e)
        if need <= most * per_unit * (1 + 1e-9) + 1e-6:
            continue
        units = math.ceil(need / per_unit - 1e-9) if per_unit > 0 else math.inf
        name, tier = inp.sites.at[i, "name"], inp.sites.at[i, "tier"]
        if most == 0:
            why = (f"it has no {e} unit and its tier '{tier}' may not hold one (equipment.csv "
                   f"allowed_tiers of {e}). Add '{tier}' to allowed_tiers, or give the site "
                   f"its existing {e} units in resources.csv")
        elif (i, e) in set(map(tuple, inp.new_pairs.to_numpy())):
            why = (f"at most {most:g} {e} unit(s) may be at one site (equipment.csv "
                   f"max_per_site). Raise max_per_site to at least {units}")
        else:
            why = (f"it keeps its {most:g} existing {e} unit(s) and its tier '{tier}' may not "
                   f"hold more (equipment.csv allowed_tiers of {e}). Allow '{tier}'")
        causes.append(
            f"site-bound demand: {name} ({i}) has {need:,.0f} {e} exams a year of its own "
            f"(site_demand.csv, in-patients and emergencies served where they arise), which "
            f"need {units} unit(s) at {per_unit:,.0f} exams each (capacity_per_year x "
            f"max_utilization), but {why}, or lower the site's units_per_year.")
    return causes


def _zones_uncovered_today(scenario, inp: ModelInputs) -> int:
    """Populated zones with no existing unit of an urgent service within its limit."""
    uncovered: set = set()
    for _, bad in _zones_beyond_urgent_limits(
            scenario, inp, lambda e: {i for i, k in inp.existing.index if k == e}):
        uncovered |= set(bad.index)
    return len(uncovered)


def _budget_for_coverage(scenario, inp: ModelInputs) -> list[str]:
    """Lower bound on the capital urgent coverage needs, by an exact covering MILP."""
    if inp.cover_rows.empty or not math.isfinite(inp.budget):
        return []
    existing = inp.existing
    cover = inp.cover.merge(inp.cover_rows[["zone_id", "condition"]])
    has_unit = cover.apply(lambda r: existing.get((r.site_id, r.equipment), 0) > 0, axis=1)
    covered = set(map(tuple, cover.loc[has_unit, ["zone_id", "condition"]].to_numpy()))
    open_rows = [k for k in map(tuple, inp.cover_rows[["zone_id", "condition"]].to_numpy())
                 if k not in covered]
    if not open_rows:
        return []
    eq = inp.equipment
    new = set(map(tuple, inp.new_pairs.to_numpy()))
    moved_to = set(map(tuple, inp.moves[["to_site", "equipment"]].to_numpy()))

    price = capital_price(eq)

    def unit_price(i, e):
        prices = ([price("new_units", e)] if (i, e) in new else []) \
            + ([price("relocated", e)] if (i, e) in moved_to else [])
        return min(prices) if prices else math.inf

    candidates = sorted({(i, e) for i, e in cover[["site_id", "equipment"]].itertuples(
        index=False, name=None) if math.isfinite(unit_price(i, e))})
    if not candidates:
        return []
    column = {k: j for j, k in enumerate(candidates)}
    h = new_highs()
    n = len(candidates)
    h.addVars(n, np.zeros(n), np.ones(n))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
    h.changeColsCost(n, np.arange(n, dtype=np.int32),
                     np.array([unit_price(*k) for k in candidates], dtype=float))
    groups = cover.groupby(["zone_id", "condition"])
    for key in open_rows:
        rows = groups.get_group(key)
        cols = sorted({column[(i, e)] for i, e in zip(rows["site_id"], rows["equipment"])
                       if (i, e) in column})
        if cols:
            h.addRow(1.0, highspy.kHighsInf, len(cols), np.array(cols, dtype=np.int32),
                     np.ones(len(cols)))
    run(h, scenario.settings.solver.threads)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return []
    need = h.getInfo().objective_function_value
    if need <= inp.budget + 1e-6:
        return []
    values = np.asarray(h.getSolution().col_value)
    chosen = [f"{e} at {i}" for (i, e), x in zip(candidates, values) if x > 0.5]
    currency = scenario.settings.currency
    return [f"capital budget: urgent coverage of {_zones_uncovered_today(scenario, inp)} "
            f"zone(s) not covered today "
            f"needs at least {_fmt_money(need, currency)} of capital (e.g. {', '.join(chosen)}), "
            f"but the budget is {_fmt_money(inp.budget, currency)}. Raise the budget "
            f"(scenario.toml budget or members.csv budget_contribution) or soften coverage."]


def _offering_sites(inp: ModelInputs, service: str) -> list:
    """Sites where `service` is or may be offered: units in service (existing, new or moved in)
    for equipment; for a specialty, in-house clinics, and every site when there is an outreach
    pool to send days from."""
    if service in inp.equipment.index:
        return sorted(i for i, e in inp.unit_pairs if e == service)
    if inp.pool.get(service, 0.0) > 0:
        return list(inp.sites.index)
    return sorted(i for i, s in inp.clinic_visits.index if s == service)


def _nearest_of(inp: ModelInputs, zones, sites) -> tuple[pd.Series, pd.Series]:
    """Minutes from each zone to the nearest of `sites`, and that site ('' and inf: none)."""
    if not sites:
        return (pd.Series(np.inf, index=zones), pd.Series("", index=zones))
    sub = inp.minutes.loc[zones, sites]
    return sub.min(axis=1), sub.idxmin(axis=1)


def _how_to_offer(inp: ModelInputs, service: str) -> str:
    if service in inp.equipment.index:
        return f"allow {service} at more tiers (equipment.csv allowed_tiers)"
    return (f"give {service} an outreach pool ('{service}.outreach_days' in resources.csv) or an "
            f"in-house clinic ('{service}.clinic_visits')")


def _zone_list(bad: pd.Series, site: pd.Series) -> str:
    shown = ", ".join(f"{z} (nearest possible site {site[z] or 'none'}"
                      + (f", {m:.1f} min)" if np.isfinite(m) else ")")
                      for z, m in bad.head(8).items())
    return shown + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")


def _equity_impossible(inp: ModelInputs) -> list[str]:
    """Equity limits that no plan can meet, whatever it buys (stage 1: the limits are hard)."""
    causes = []
    populated = inp.zones.index[inp.zones["population"] > 0]
    limits = inp.access_rows.groupby("service", sort=True)["max_minutes"].first()
    for service, limit in limits.items():
        nearest, site = _nearest_of(inp, populated, _offering_sites(inp, service))
        bad = nearest[nearest > limit]
        if len(bad):
            causes.append(
                f"equity: access guarantee for {service} within {limit:g} min "
                f"([equity.max_minutes] {service}): {len(bad)} populated zone(s) have no site "
                f"within {limit:g} minutes where {service} is or may be offered: "
                f"{_zone_list(bad, site)}. Raise [equity.max_minutes] {service} to at least "
                f"{math.ceil(bad.max() * 10) / 10:g}, {_how_to_offer(inp, service)}, or remove "
                "the limit.")
    rows = inp.share_rows.assign(share=inp.share_rows["service"].map(inp.served_share))
    rows = rows[rows["share"] > 0]
    if rows.empty:
        return causes
    served_by = set(map(tuple, inp.arcs[["zone_id", "service"]].to_numpy()))
    for service, group in rows.groupby("service", sort=True):
        offering = _offering_sites(inp, service)
        if service in inp.specialties.index:   # arcs to sites that can have capacity
            arcs = inp.arcs[(inp.arcs["service"] == service) & inp.arcs["site_id"].isin(offering)]
            reachable = set(arcs["zone_id"])
        else:
            reachable = {z for z, k in served_by if k == service}
        zones = [z for z in group["zone_id"] if z not in reachable]
        if not zones:
            continue
        nearest, site = _nearest_of(inp, zones, offering)
        share, limit = inp.served_share[service], _max_minutes(inp, service)
        causes.append(
            f"equity: minimum served share {share:g} of {service} demand "
            f"([equity.min_served_share] {service}): {len(zones)} zone(s) with {service} demand "
            f"have no site within {service}'s max_minutes ({limit:g}) that can serve it: "
            f"{_zone_list(nearest, site)}. Lower [equity.min_served_share] {service}, raise "
            f"max_minutes of {service}, or {_how_to_offer(inp, service)}.")
    return causes


def _most_servable(inp: ModelInputs, service: str, sites) -> tuple[float, str]:
    """An upper bound on the demand for `service` that `sites` could serve in a year, and what
    caps it: the demand of the zones within the service's max_minutes of one of them, or their
    capacity at its largest (equipment: the units each may hold x capacity per unit; a
    specialty: the whole outreach pool x visits_per_day, plus the sites' clinic visits)."""
    sites = set(sites)
    arcs = inp.arcs[(inp.arcs["service"] == service) & inp.arcs["site_id"].isin(sites)]
    reach = float(inp.demand.reindex(pd.MultiIndex.from_arrays(
        [sorted(set(arcs["zone_id"])), [service] * arcs["zone_id"].nunique()])).sum())
    if service in inp.equipment.index:
        eq = inp.equipment.loc[service]
        placeable = set(map(tuple, inp.new_pairs.to_numpy())) | \
            set(map(tuple, inp.moves[["to_site", "equipment"]].to_numpy()))
        units = {i: (float(eq["max_per_site"]) if (i, e) in placeable
                     else float(inp.existing.get((i, e), 0.0)))
                 for i, e in inp.unit_pairs if e == service and i in sites}
        capacity = sum(units.values()) * float(eq["capacity"])
        what = (f"{sum(units.values()):g} {service} unit(s) at most (max_per_site, "
                f"allowed_tiers, existing units) x {float(eq['capacity']):g} exams each")
    else:
        visits = float(inp.specialties.at[service, "visits_per_day"])
        clinics = float(sum(v for (i, k), v in inp.clinic_visits.items()
                            if k == service and i in sites))
        pool = float(inp.pool.get(service, 0.0))
        capacity = pool * visits + clinics
        what = (f"the {service} outreach pool of {pool:g} days x {visits:g} visits_per_day "
                f"+ {clinics:g} clinic visits")
    if reach <= capacity:
        return reach, (f"the demand of the zones within {service}'s max_minutes "
                       f"({_max_minutes(inp, service):g}) of these sites")
    return capacity, what


def _tier_targets_impossible(inp: ModelInputs) -> list[str]:
    """[tiers] targets above the largest share the sites could serve (_most_servable): all sites
    for an in-county target, the grassroots tiers' sites for a grassroots target."""
    causes = []
    grassroots = inp.sites.index[inp.sites["grassroots"].to_numpy(bool)]
    for key, shares, sites, where in (
            ("min_in_county_share", inp.in_county_share, inp.sites.index, "in the consortium"),
            ("min_grassroots_share", inp.grassroots_share, grassroots,
             "at grassroots sites (tiers " + ", ".join(inp.sites.loc[grassroots, "tier"].unique())
             + ")" if len(grassroots) else "at grassroots sites (no site has a grassroots tier)")):
        for service, share in shares.items():
            total = float(inp.demand.xs(service, level="service").sum())
            most, cap = _most_servable(inp, service, sites)
            if share * total > most * (1 + 1e-9) + 1e-6:
                largest = math.floor(most / total * 1000) / 1000   # rounded down: reachable
                causes.append(
                    f"tier target: [tiers.{key}] {service} = {share:g} asks for "
                    f"{share * total:,.0f} of the {total:,.0f} {service} a year to be served "
                    f"{where}, but at most {most:,.0f} could be (a share of {largest:g}), "
                    f"capped by {cap}. Lower [tiers.{key}] {service} to at most {largest:g} or "
                    "add that capacity.")
    return causes


def _max_minutes(inp: ModelInputs, service: str) -> float:
    table = inp.equipment if service in inp.equipment.index else inp.specialties
    return float(table.at[service, "max_minutes"])


def _describe(row) -> str:
    """An implemented.csv row in words, with its spreadsheet row number."""
    what = {"new_units": f"{row['amount']:g} new {row['resource']} unit(s) at {row['site_id']}",
            "outreach_days": f"{row['amount']:g} {row['resource']} outreach days at "
                             f"{row['site_id']}",
            "relocated": f"{row['amount']:g} {row['resource']} unit(s) moved from "
                         f"{row['from_site']} to {row['site_id']}"}[row["decision"]]
    bound = "at least" if row["limit"] == "at_least" else "at most"
    return f"implemented.csv row {row['row']} ({bound} {what})"


def _why_no_decision(inp: ModelInputs, row) -> str:
    eq, k = inp.equipment, row["resource"]
    if row["decision"] == "new_units":
        tier = inp.sites.at[row["site_id"], "tier"]
        return (f"new {k} units may not go to a site of tier '{tier}'"
                f" (equipment.csv allowed_tiers of {k}: {eq.at[k, 'allowed_tiers']})")
    if pd.isna(eq.at[k, "relocation_cost"]):
        return f"{k} has no relocation_cost in equipment.csv, so its units do not move"
    if inp.existing.get((row["from_site"], k), 0) <= 0:
        return f"{row['from_site']} has no existing {k} units (resources.csv)"
    return (f"{k} units may not go to a site of tier '{inp.sites.at[row['site_id'], 'tier']}' "
            f"(equipment.csv allowed_tiers: {eq.at[k, 'allowed_tiers']})")


def _contradictory_limits(targets) -> list[str]:
    """An at_least row above an at_most row on the same decision."""
    rows_of: dict = {}
    for row, keys in targets:
        for key in keys:
            rows_of.setdefault((row["decision"], key), []).append(row)
    causes = []
    for rows in rows_of.values():
        lows = [r for r in rows if r["limit"] == "at_least"]
        highs = [r for r in rows if r["limit"] == "at_most"]
        if lows and highs:
            low = max(lows, key=lambda r: r["amount"])
            high = min(highs, key=lambda r: r["amount"])
            if low["amount"] > high["amount"]:
                causes.append(f"commitment: {_describe(low)} contradicts {_describe(high)}; "
                              "keep one of them.")
    return causes


def _commitments_impossible(scenario, inp: ModelInputs) -> list[str]:
    """Commitments the plan cannot keep, whatever else it does: a decision the model does not
    have, more units moved than exist, more days than the pool, more capital than the budget."""
    causes: list[str] = []
    capital = 0.0
    days: dict[str, list] = {}                 # specialty -> its outreach-day rows
    moved: dict[tuple[str, str], list] = {}    # (from site, equipment) -> its relocation rows
    eq = inp.equipment
    targets = commitment_targets(inp)
    causes += _contradictory_limits(targets)
    for row, keys in targets:
        if row["limit"] != "at_least" or row["amount"] <= 0:
            continue
        if not keys:
            causes.append(f"commitment: {_describe(row)} is not a decision the plan can make: "
                          f"{_why_no_decision(inp, row)}. Correct or remove the row.")
            continue
        k, amount = row["resource"], float(row["amount"])
        if row["decision"] in CAPITAL_PRICE_COLUMN:
            capital += amount * capital_price(eq)(row["decision"], k)
        if row["decision"] == "relocated":
            moved.setdefault((row["from_site"], k), []).append(row)
        elif row["decision"] == "outreach_days":
            days.setdefault(k, []).append(row)
    for (i, k), rows in moved.items():
        if sum(r["amount"] for r in rows) > inp.existing.get((i, k), 0):
            causes.append(f"commitment: {', '.join(_describe(r) for r in rows)} move(s) more "
                          f"{k} units out of {i} than it has ({inp.existing.get((i, k), 0):g}).")
    for s, rows in days.items():
        if sum(r["amount"] for r in rows) > inp.pool[s] + 1e-9:
            causes.append(f"commitment: the {s} outreach days committed in implemented.csv rows "
                          f"{', '.join(str(r['row']) for r in rows)} add up to "
                          f"{sum(r['amount'] for r in rows):g}, more than the pool of "
                          f"{inp.pool[s]:g} days ('{s}.outreach_days' in resources.csv).")
    if capital > inp.budget * (1 + 1e-9) + 1e-6:
        currency = scenario.settings.currency
        causes.append(f"commitment: the units bought and moved in implemented.csv cost "
                      f"{_fmt_money(capital, currency)} of capital, more than the budget of "
                      f"{_fmt_money(inp.budget, currency)}. Raise the budget or drop rows.")
    return causes


def precheck(scenario, inp: ModelInputs) -> None:
    """Raise InfeasibleError naming zones/sites when a usual cause of infeasibility is present."""
    causes = _commitments_impossible(scenario, inp)
    causes += [] if inp.policy_soft else _policy_over_pools(scenario, inp)
    causes += _too_many_existing(inp)
    causes += _site_demand_impossible(inp)
    causes += [] if inp.equity_soft else _equity_impossible(inp)
    causes += _tier_targets_impossible(inp)
    if not inp.urgent_soft:
        causes += _uncoverable_zones(scenario, inp)
        if not causes:
            causes += _budget_for_coverage(scenario, inp)
    if causes:
        raise InfeasibleError(causes)


def _committed_columns(inp: ModelInputs, hm, columns) -> list[str]:
    """Names of the IIS columns whose bounds come from implemented.csv."""
    m = hm.model
    committed = {hm.column[id(getattr(m, name)[key])]
                 for name, keys in decision_bounds(inp).items() for key in keys}
    return [hm.variables[c].name for c in columns if c in committed]


def explain_infeasible(scenario, inp: ModelInputs, hm) -> tuple[list[str], list[str]]:
    """The constraint families and rows of an IIS of the LP relaxation (HiGHS getIis)."""
    h = new_highs()
    lp = hm.highs.getLp()
    lp.integrality_ = []
    h.passModel(lp)
    run(h, scenario.settings.solver.threads)
    if h.getModelStatus() != highspy.HighsModelStatus.kInfeasible:
        return (["HiGHS proves the plan infeasible only with whole units and days (the LP "
                 "relaxation is feasible); check budgets against unit prices and per-site "
                 "maxima."], [])
    h.setOptionValue("iis_strategy", 2)  # a full IIS from the LP (0 is only a bounds test)
    _, iis = h.getIis()
    rows = [hm.constraints[r] for r in iis.row_index_] if iis.valid_ else []
    names = [row.name for row in rows]
    # a row's family is its Constraint component (planner.model.families.FAMILIES lists them)
    families = sorted({row.parent_component().name for row in rows})
    equity = [text for text in map(lambda row: _equity_row(inp, row), rows) if text]
    bounded = _committed_columns(inp, hm, iis.col_index_ if iis.valid_ else [])
    if bounded:
        names.append(f"the bounds implemented.csv sets on {', '.join(bounded)}")
        families.append("commitments (implemented.csv)")
    if not names:
        return (["HiGHS reports the LP relaxation infeasible but could not isolate the "
                 "conflicting constraints."], [])
    shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
    causes = [f"an irreducible set of {len(names)} conflicting constraints: {shown}."]
    if equity:
        causes.append("; ".join(equity[:10]) + (f" and {len(equity) - 10} more" if len(equity)
                                                 > 10 else "")
                      + ". Relax these [equity] limits or [tiers] targets in scenario.toml or "
                      "raise the budget.")
    return causes, families


def _equity_row(inp: ModelInputs, row) -> str | None:
    """An equity row of an IIS in the scenario's words (None for other families)."""
    family = row.parent_component().name
    if family == "access_guarantee":
        zone, service = row.index()
        limit = inp.access_rows.loc[inp.access_rows["service"] == service, "max_minutes"].iloc[0]
        return f"equity: access guarantee for {service} within {limit:g} min, zone {zone}"
    if family == "min_served_share":
        zone, service = row.index()
        return (f"equity: minimum served share {inp.served_share[service]:g} of {service} "
                f"demand, zone {zone}")
    if family in ("in_county_target", "grassroots_target"):
        service = row.index()
        key, share = (("min_in_county_share", inp.in_county_share) if family == "in_county_target"
                      else ("min_grassroots_share", inp.grassroots_share))
        return f"tier target: [tiers.{key}] {service} = {share[service]:g}"
    return None

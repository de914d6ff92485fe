"""The solved plan: tidy tables, KPIs and the cost breakdown, re-derived from the solution
values.

The objective reported here is recomputed from the rounded solution values through the cost
ledger (planner/model/ledger.py, the exact formula of docs/design.md section 5), independently of
the solver's objective value (the two are compared in tests); the cost breakdown groups the
ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from planner.model.decisions import change_count, changes_by_kind, decision_table
from planner.model.highs import HighsModel, SolveResult, Status
from planner.model.inputs import ModelInputs
from planner.model.ledger import (
    CAPITAL_PRICE_COLUMN,
    capital_items,
    capital_price,
    contract_objective,
    cost_breakdown,
    empty_ledger,
    price_book,
)
from planner.model.ledger import costs_by as ledger_costs_by
from planner.results.access import share_within
from planner.results.files import geodataframe, save_plan
from planner.results.fund import fund_accounts
from planner.results.reading import reading_summary, reading_table
from planner.results.summary import summary_text

ACCESS_MINUTES = (15, 30, 60)


class Access(NamedTuple):
    """Share of residents within some minutes of a service, before and after the plan."""

    before: float
    after: float


@dataclass(frozen=True)
class Plan:
    """An optimal (or best-found) plan. Tables are tidy DataFrames with labelled columns."""

    scenario: str
    status: str
    objective: float | None       # the exact contract objective, from the plan's tables
    bound: float | None
    mip_gap: float | None
    solve_seconds: float
    build_seconds: float
    currency: str
    equipment: pd.DataFrame       # site x equipment: existing, relocated_in/out, new, total, ...
    specialist_days: pd.DataFrame  # site x specialty: outreach_days, clinic_visits, visits, ...
    flows: pd.DataFrame           # zone, site, service: units, minutes
    zones: pd.DataFrame           # zone x service: demand, served, unmet_share, mean_minutes
    urgent: pd.DataFrame          # zone x urgent condition: covered, nearest_minutes
    budget: pd.DataFrame          # site: capital used (new units + relocations in)
    costs: pd.Series              # objective term -> annual cost
    kpis: dict[str, Any] = field(default_factory=dict)
    geometry: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)
    shortfall: pd.DataFrame = field(default_factory=pd.DataFrame)  # games: policy days bought in
    # decision, site_id, resource, from_site, amount: the non-zero decisions (decisions.csv)
    decisions: pd.DataFrame = field(default_factory=pd.DataFrame)
    # re-plans only (planner.replan): decisions that differ from the baseline, and its run
    changes: pd.DataFrame | None = None
    baseline_run: int | None = None
    # what the plan optimised (planner/model/goals.py): kind, service, minutes, value (plan.json
    # `goal`)
    goal: dict | None = None
    # term, site_id, zone_id, member, service, amount: every cost contribution
    # (planner/model/ledger.py)
    ledger: pd.DataFrame = field(default_factory=empty_ledger, repr=False)
    # zone_id, service, population, minutes_before, minutes_after: minutes from each zone to the
    # nearest site offering each service, today and after the plan (inf: none; access.csv)
    access_minutes: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    # the scenario's area outline (GeoJSON, WGS-84; boundary.geojson of the plan folder), if any
    boundary: dict | None = field(default=None, repr=False)
    # the fund's accounts (docs/design.md section 8; planner/results/fund.py), None without
    # [fund]: plan.json `fund` (revenue, payments, surplus...) and fund.csv by member
    fund: dict | None = None
    fund_by_member: pd.DataFrame | None = field(default=None, repr=False)
    # central reading (docs/design.md section 9; planner/results/reading.py), None without
    # [reading]: reading.csv, one row per site (reads local, remote, bought; centres' capacity)
    reading: pd.DataFrame | None = field(default=None, repr=False)
    # the scenario's kind of consortium (scenario.toml `kind`; plan.json `kind`): descriptive
    kind: str = "county"

    def access(self, service: str, minutes: float) -> Access:
        """Share of residents within `minutes` of `service` before and after the plan: a site
        with a unit of the equipment in service, or for a specialty a site with an in-house
        clinic or (after) outreach days. At 15, 30 and 60 minutes these are the equipment's
        kpis `access_before`/`access_after` keys."""
        rows = self._access_rows(service)
        population = rows["population"]
        return Access(share_within(population, rows["minutes_before"], minutes),
                      share_within(population, rows["minutes_after"], minutes))

    def access_curve(self, service: str) -> pd.DataFrame:
        """Share of residents within t minutes of `service`, before and after the plan, at every
        distinct (finite) nearest-site minutes t of a zone: columns minutes, share_before,
        share_after (the curves of "share of residents within t minutes")."""
        rows = self._access_rows(service)
        values = np.concatenate([rows["minutes_before"].to_numpy(float),
                                 rows["minutes_after"].to_numpy(float)])
        points = np.unique(values[np.isfinite(values)])
        population = rows["population"]
        return pd.DataFrame({
            "minutes": points,
            "share_before": [share_within(population, rows["minutes_before"], t) for t in points],
            "share_after": [share_within(population, rows["minutes_after"], t) for t in points]})

    def _access_rows(self, service: str) -> pd.DataFrame:
        table = self.access_minutes
        if table.empty:
            raise ValueError(f"no access table: the plan has no solution (status {self.status})")
        rows = table[table["service"] == service]
        if rows.empty:
            raise ValueError(f"unknown service {service!r}; the plan's services are "
                             f"{sorted(table['service'].unique())}")
        return rows

    def costs_by(self, *keys: str) -> pd.Series | float:
        """Annual cost summed by ledger keys, e.g. ``plan.costs_by("member", "term")``; the
        total (penalties included) without keys. ``costs`` is ``costs_by("term")`` with every
        term of the plan listed."""
        return ledger_costs_by(self.ledger, *keys)

    @property
    def change_count(self) -> int | None:
        """Sum of |after - before| over the decisions (None unless this is a re-plan)."""
        return None if self.changes is None else change_count(self.changes)

    @property
    def changes_by_kind(self) -> dict | None:
        """The changes by decision kind: {kind: {"decisions", "amount"}} (None unless a
        re-plan); `change_count` adds units and days, this keeps them apart."""
        return None if self.changes is None else changes_by_kind(self.changes)

    def refusal(self, max_gap: float | None, kept: str = "") -> tuple[str, str] | None:
        """Why this result must not be published (exit 4), as (status, message): no plan, or a
        gap above `max_gap`; None when it may be. `kept` ends the message's first sentence
        (what was left as it was, e.g. "; nothing was published")."""
        if self.objective is None:
            return "no_plan", f"No plan found (status: {self.status}){kept}."
        if max_gap is not None and self.mip_gap is not None and self.mip_gap > max_gap:
            return "gap_above_max", (f"The plan's MIP gap {self.mip_gap:.4%} is above "
                                     f"--max-gap {max_gap:.4%}{kept}. Allow more --time-limit "
                                     "or a larger --max-gap.")
        return None

    @property
    def is_optimal(self) -> bool:
        return self.status == Status.OPTIMAL

    def summary(self) -> str:
        return summary_text(self)

    def to_geodataframe(self, layer: str = "sites"):
        """`sites`, `zones` or `flows` as a GeoDataFrame in WGS-84 (EPSG:4326)."""
        return geodataframe(self, layer)

    def plot(self, *, figsize: tuple[float, float] | None = None):
        """A matplotlib Figure: annual cost by term, the share of residents within t minutes of
        each equipment before and after, utilisation by site (planner/pictures/plot.py)."""
        # Upward import 1 of the house's 2 (docs/architecture.md): Plan.plot is a façade of the
        # public API over pictures/, which read plans; lazy, so matplotlib loads only to draw.
        from planner.pictures.data import from_plan
        from planner.pictures.plot import plan_figure
        return plan_figure(from_plan(self), figsize=figsize)

    def explore(self, equipment: str | None = None, *, tiles: str | None = "OpenStreetMap",
                boundary=None):
        """An interactive folium (Leaflet) map: sites sized by units in service and labelled by
        name, zones coloured by minutes to the nearest unit of `equipment` (default: the
        first), relocations as arrows, and the scenario's boundary, or `boundary` (a GeoJSON
        file or mapping, shapely geometry or GeoDataFrame) when given; `boundary=False` draws
        none (planner/pictures/map.py)."""
        # Upward import 1 of 2 (as plot above): folium loads only to draw a map.
        from planner.pictures.data import from_plan
        from planner.pictures.map import plan_map
        return plan_map(from_plan(self), equipment, tiles=tiles, boundary=boundary)

    def save(self, path) -> None:
        """Write the plan folder of docs/design.md section 5, atomically."""
        save_plan(self, path)


def _values(hm: HighsModel, component, result: SolveResult, names: list[str],
            integer: bool = False) -> pd.Series:
    """Solution values of one variable, indexed by its (named) index; integers rounded."""
    values = hm.values_of(component, result)
    index = pd.MultiIndex.from_tuples(list(values), names=names) if values else \
        pd.MultiIndex.from_arrays([[]] * len(names), names=names)
    series = pd.Series(list(values.values()), index=index, dtype=float)
    return (series.round() + 0.0).astype(int) if integer else series


def _by_site(hm: HighsModel, component, result: SolveResult) -> pd.Series:
    """Solution values of a variable indexed by site alone ([reading]), indexed by site_id."""
    values = hm.values_of(component, result)
    return pd.Series(list(values.values()), index=pd.Index(list(values), name="site_id",
                                                           dtype=object), dtype=float)


def _equipment_table(inp: ModelInputs, units, new, moved) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples(inp.unit_pairs, names=["site_id", "equipment"])
    table = pd.DataFrame(index=index)
    table["existing"] = inp.existing.reindex(index, fill_value=0).to_numpy().round().astype(int)
    table["new"] = new.reindex(index, fill_value=0).to_numpy() if len(new) else 0.0
    moves = inp.moves.assign(units=moved.to_numpy() if len(moved) else [])
    in_ = moves.groupby(["to_site", "equipment"])["units"].sum()
    out = moves.groupby(["from_site", "equipment"])["units"].sum()
    table["relocated_in"] = in_.reindex(index, fill_value=0).to_numpy() if len(in_) else 0.0
    table["relocated_out"] = out.reindex(index, fill_value=0).to_numpy() if len(out) else 0.0
    table["total"] = units.reindex(index).to_numpy()
    return table


def extract_plan(scenario, inp: ModelInputs, model, hm: HighsModel, result: SolveResult,
                 build_seconds: float) -> Plan:
    """Read the solution into tidy tables, KPIs and the cost breakdown."""
    if not result.has_solution:
        empty = pd.DataFrame()
        return Plan(scenario.name, result.status, None, None, None, result.seconds,
                    build_seconds, scenario.settings.currency, empty, empty, empty, empty, empty,
                    empty, pd.Series(dtype=float), {"status": result.status},
                    kind=scenario.settings.kind)
    return plan_from_values(scenario, inp, solution_values(model, hm, result), result,
                            build_seconds)


def solution_values(model, hm: HighsModel, result: SolveResult) -> dict:
    """The solution's values of the variables a plan reads, by variable name: Series indexed
    like the variable (integers rounded), `flow`, `unmet` and `member_in` as arrays in the order
    of ARCS, DEMAND and MEMBERS (what plan_from_values reads; an aggregated model's values are
    mapped onto the original zones between the two: planner/results/aggregated.py)."""
    solution = result.values
    assert solution is not None, "a result with a solution has its column values"
    return {
        "units": _values(hm, model.units, result, ["site_id", "equipment"], integer=True),
        "new_units": _values(hm, model.new_units, result, ["site_id", "equipment"],
                             integer=True),
        "relocated": _values(hm, model.relocated, result, ["from_site", "to_site", "equipment"],
                             integer=True),
        "outreach_days": _values(hm, model.outreach_days, result, ["site_id", "specialty"],
                                 integer=True),
        "flow": np.maximum(np.array([solution[hm.column[id(v)]]
                                     for v in model.flow.values()]), 0.0),
        "unmet": np.maximum(_values(hm, model.unmet, result, ["zone_id", "service"]).to_numpy(),
                            0.0),
        "uncovered": _values(hm, model.uncovered, result, ["zone_id", "condition"]),
        "access_shortfall": _values(hm, model.access_shortfall, result, ["zone_id", "service"]),
        "share_shortfall": _values(hm, model.share_shortfall, result, ["zone_id", "service"]),
        "member_in": np.array([solution[hm.column[id(v)]] for v in model.member_in.values()]),
        "policy_shortfall": _values(hm, model.policy_shortfall, result,
                                    ["site_id", "specialty"]),
        "reads_bought": _by_site(hm, model.reads_bought, result),
        "hired_radiologists": _by_site(hm, model.hired_radiologists, result).round().astype(int),
    }


def plan_from_values(scenario, inp: ModelInputs, values: dict, result: SolveResult,
                     build_seconds: float) -> Plan:
    """The Plan of the solution `values` (solution_values) of the model built from `inp`."""
    eq, sp = inp.equipment, inp.specialties
    units, new, moved = values["units"], values["new_units"], values["relocated"]
    days, flow, unmet = values["outreach_days"], values["flow"], values["unmet"]
    uncovered = values["uncovered"]
    access_short, share_short = values["access_shortfall"], values["share_shortfall"]

    sites = inp.sites
    equipment = _equipment_table(inp, units, new, moved)
    arcs = inp.arcs.assign(units=flow)
    exams = arcs.groupby(["site_id", "service"])["units"].sum()
    equipment["exams"] = exams.reindex(equipment.index, fill_value=0.0).to_numpy()
    cap = eq["nameplate_capacity"].reindex(equipment.index.get_level_values("equipment")).to_numpy()
    capacity = equipment["total"].to_numpy() * cap
    member_in = values["member_in"]
    bound = _site_bound_exams(inp, equipment.index, member_in)
    equipment["utilization"] = np.divide(equipment["exams"].to_numpy() + bound, capacity,
                                         out=np.zeros(len(capacity)), where=capacity > 0)
    equipment["site_bound_exams"] = bound   # site_demand.csv: served where they arise
    equipment = equipment.reset_index()
    equipment.insert(1, "member", equipment["site_id"].map(sites["member"]))
    equipment.insert(2, "tier", equipment["site_id"].map(sites["tier"]))

    specialist = days.rename("outreach_days").reset_index()
    specialist["clinic_visits"] = [inp.clinic_visits.get((i, s), 0.0)
                                   for i, s in zip(specialist["site_id"], specialist["specialty"])]
    specialist["visits"] = [exams.get((i, s), 0.0)
                            for i, s in zip(specialist["site_id"], specialist["specialty"])]
    specialist["capacity"] = specialist["outreach_days"] * \
        specialist["specialty"].map(sp["visits_per_day"]) + specialist["clinic_visits"]
    specialist.insert(1, "member", specialist["site_id"].map(sites["member"]))

    flows = arcs.loc[arcs["units"] > 1e-9, ["zone_id", "site_id", "service", "units", "minutes"]]
    flows = flows.reset_index(drop=True)
    zones = _zone_table(inp, arcs, unmet)
    urgent = _urgent_table(scenario, inp, equipment, uncovered)
    budget = _budget_table(inp, equipment, new, moved)
    shortfall = values["policy_shortfall"]
    bought, hired = values["reads_bought"], values["hired_radiologists"]
    book = price_book(inp)
    entries = book.ledger({"member_in": member_in,
                           "new_units": new.to_numpy(), "units": units.to_numpy(),
                            "relocated": moved.to_numpy(), "outreach_days": days.to_numpy(),
                            "flow": flow, "unmet": unmet, "uncovered": uncovered.to_numpy(),
                            "policy_shortfall": shortfall.to_numpy(),
                            "access_shortfall": access_short.to_numpy(),
                            "share_shortfall": share_short.to_numpy(),
                            "hired_radiologists": hired.to_numpy(),
                            "reads_bought": bought.to_numpy()})
    costs = cost_breakdown(entries, book.terms)
    objective = contract_objective(costs)
    kpis = _kpis(scenario, inp, equipment, specialist, zones, urgent, budget, objective)
    kpis.update(_tier_shares(inp, arcs, zones))
    if len(inp.site_demand):   # site_demand.csv: site -> equipment -> site-bound exams served
        served = equipment[equipment["site_bound_exams"] > 0]
        kpis["site_bound_exams"] = {
            i: dict(zip(g["equipment"], g["site_bound_exams"].astype(float)))
            for i, g in served.groupby("site_id", sort=True)}
    geometry = {"sites": sites[["name", "member", "tier", "lon", "lat"]].reset_index(),
                "zones": inp.zones[["population", "home_member", "lon", "lat"]].reset_index()}
    shortfall_table = shortfall[shortfall > 1e-9].rename("days").reset_index()
    site_bound = equipment.loc[equipment["site_bound_exams"] > 0,
                               ["site_id", "equipment", "site_bound_exams"]].set_axis(
        ["site_id", "service", "units"], axis=1)
    fund, fund_by_member = fund_accounts(scenario, flows, zones, site_bound)
    reading = reading_table(inp, flows, hired, bought)
    if reading is not None:   # plan.json kpis.reading (additive)
        kpis["reading"] = reading_summary(reading, inp)
    return Plan(scenario.name, result.status, objective, result.bound, result.mip_gap,
                result.seconds, build_seconds, scenario.settings.currency, equipment, specialist,
                flows, zones, urgent, budget, costs, kpis, geometry, shortfall_table,
                decision_table(new, moved, days, hired), ledger=entries,
                access_minutes=_access_table(inp, equipment, specialist),
                boundary=scenario.boundary, fund=fund, fund_by_member=fund_by_member,
                reading=reading,
                kind=scenario.settings.kind)


def _site_bound_exams(inp: ModelInputs, index: pd.MultiIndex, member_in: np.ndarray
                      ) -> np.ndarray:
    """Site-bound exams (site_demand.csv) served at each (site, equipment) of `index`: all of
    them at a taking-part member's sites (member_in, aligned with the members), none elsewhere.
    They use the site's units beside the zones' exams (`exams`, the flows)."""
    taking_part = pd.Series(member_in, index=inp.budget_share.index)
    served = inp.site_demand * inp.sites["member"].reindex(
        inp.site_demand.index.get_level_values("site_id")).map(taking_part).to_numpy(float)
    return served.reindex(index, fill_value=0.0).to_numpy(float)


def _zone_table(inp: ModelInputs, arcs: pd.DataFrame, unmet: np.ndarray) -> pd.DataFrame:
    demand = inp.demand.rename("demand").rename_axis(["zone_id", "service"]).to_frame()
    demand["unmet"] = unmet
    served = arcs.groupby(["zone_id", "service"])["units"].sum()
    weighted = (arcs["units"] * arcs["minutes"]).groupby([arcs["zone_id"], arcs["service"]]).sum()
    demand["served"] = served.reindex(demand.index, fill_value=0.0)
    minutes = weighted.reindex(demand.index, fill_value=0.0) / demand["served"].where(
        demand["served"] > 0)
    demand["mean_minutes"] = minutes
    demand["unmet_share"] = demand["unmet"] / demand["demand"]
    table = demand.reset_index()
    table.insert(1, "home_member", table["zone_id"].map(inp.zones["home_member"]))
    table.insert(2, "population", table["zone_id"].map(inp.zones["population"]))
    return table[["zone_id", "home_member", "population", "service", "demand", "served", "unmet",
                  "unmet_share", "mean_minutes"]]


def _nearest_minutes(inp: ModelInputs, equipment: pd.DataFrame, column: str) -> pd.DataFrame:
    """Zones x equipment: minutes to the nearest site with at least one unit (`column`)."""
    return _nearest(inp, {e: equipment.loc[(equipment["equipment"] == e) & (equipment[column] > 0),
                                           "site_id"].tolist() for e in inp.equipment.index})


def _nearest(inp: ModelInputs, offered: dict[str, list]) -> pd.DataFrame:
    """Zones x services: minutes to the nearest of the sites offering each service (inf: none)."""
    out = {}
    for k, sites in offered.items():
        out[k] = (inp.minutes[sites].min(axis=1).to_numpy() if sites
                  else np.full(len(inp.minutes), np.inf))
    return pd.DataFrame(out, index=inp.minutes.index)


def _specialty_nearest(inp: ModelInputs, specialist: pd.DataFrame, after: bool) -> pd.DataFrame:
    """Zones x specialties: minutes to the nearest site with an in-house clinic, or (after the
    plan) with outreach days."""
    offers = specialist["clinic_visits"] > 0
    if after:
        offers |= specialist["outreach_days"] > 0
    return _nearest(inp, {s: specialist.loc[offers & (specialist["specialty"] == s),
                                            "site_id"].tolist() for s in inp.specialties.index})


def _access_table(inp: ModelInputs, equipment: pd.DataFrame,
                  specialist: pd.DataFrame) -> pd.DataFrame:
    """zone_id, service, population, minutes_before, minutes_after for every service (tidy)."""
    before = pd.concat([_nearest_minutes(inp, equipment, "existing"),
                        _specialty_nearest(inp, specialist, after=False)], axis=1)
    after = pd.concat([_nearest_minutes(inp, equipment, "total"),
                       _specialty_nearest(inp, specialist, after=True)], axis=1)
    zones = inp.minutes.index
    population = inp.zones["population"].reindex(zones).to_numpy(float)
    return pd.concat([pd.DataFrame({"zone_id": zones.to_numpy(), "service": k,
                                    "population": population,
                                    "minutes_before": before[k].to_numpy(float),
                                    "minutes_after": after[k].to_numpy(float)})
                      for k in inp.services], ignore_index=True)


def _urgent_table(scenario, inp, equipment, uncovered) -> pd.DataFrame:
    """urgent.csv: per urgent condition (in order), per populated zone (in order), the minutes
    to the nearest unit in service and whether they are within the limit (column by column:
    100,000 zones in a blink)."""
    columns = ["zone_id", "condition", "equipment", "limit_minutes", "population",
               "nearest_minutes", "covered"]
    nearest = _nearest_minutes(inp, equipment, "total")
    zones = inp.zones
    populated = zones.index[zones["population"] > 0]
    population = zones.loc[populated, "population"].to_numpy(float)
    parts = []
    for c in scenario.conditions.dropna(subset=["urgent_service"]).itertuples():
        minutes = nearest.loc[populated, c.urgent_service].to_numpy(float)
        parts.append(pd.DataFrame({
            "zone_id": populated.to_numpy(object), "condition": c.condition,
            "equipment": c.urgent_service, "limit_minutes": c.urgent_minutes,
            "population": population, "nearest_minutes": minutes,
            "covered": minutes <= c.urgent_minutes}, columns=columns))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _budget_table(inp, equipment, new, moved) -> pd.DataFrame:
    """budget.csv: capital spent by site (ledger.capital_items), new units and relocations."""
    spent = {kind: pd.Series(0.0, index=inp.sites.index) for kind in CAPITAL_PRICE_COLUMN}
    for kind, site, amount in capital_items(capital_price(inp.equipment), new, moved):
        spent[kind][site] += amount
    table = pd.DataFrame({"member": inp.sites["member"], "new_units_capex": spent["new_units"],
                          "relocation_cost": spent["relocated"]}).rename_axis("site_id")
    table["capital_used"] = table["new_units_capex"] + table["relocation_cost"]
    return table.reset_index()


def _access(inp, nearest: pd.DataFrame) -> dict:
    population = inp.zones["population"].reindex(nearest.index)
    return {f"{e}_within_{t}min": share_within(population, nearest[e], t)
            for e in nearest.columns for t in ACCESS_MINUTES}


def _tier_shares(inp: ModelInputs, arcs: pd.DataFrame, zones: pd.DataFrame) -> dict:
    """kpis `in_county_share` and `grassroots_share` (docs/design.md section 8, tier targets):
    service -> share of its county-wide demand served in the consortium, and served at sites
    of the grassroots tiers; every service with demand, whether it has a target or not."""
    demand = zones.groupby("service")["demand"].sum()
    demand = demand[demand > 0]
    unmet = zones.groupby("service")["unmet"].sum().reindex(demand.index)
    grassroots = arcs["site_id"].map(inp.sites["grassroots"]).to_numpy(bool)
    at_grassroots = arcs[grassroots].groupby("service")["units"].sum().reindex(
        demand.index, fill_value=0.0)
    return {"in_county_share": {k: float(1.0 - unmet[k] / demand[k]) for k in demand.index},
            "grassroots_share": {k: float(at_grassroots[k] / demand[k]) for k in demand.index}}


def uncovered_zones(urgent: pd.DataFrame) -> int:
    """Populated zones whose urgent rule (any urgent condition) a plan does not meet, from its
    `urgent` table (one row per zone and condition, relaxed rules included): a zone counts once
    however many of its conditions are uncovered."""
    if urgent.empty:
        return 0
    return int(urgent.loc[~urgent["covered"].astype(bool), "zone_id"].nunique())


def _kpis(scenario, inp, equipment, specialist, zones, urgent, budget, objective) -> dict:
    demand_total = float(inp.demand.sum())
    unmet_total = float(zones["unmet"].sum())
    new_units = equipment[equipment["new"] > 0].groupby("equipment")["new"].sum()
    return {
        "annual_cost": objective,
        "in_county_rate": 1.0 - unmet_total / demand_total if demand_total else 1.0,
        "capital_budget": inp.budget,
        "capital_used": float(budget["capital_used"].sum()),
        "new_units": {k: int(v) for k, v in new_units.items()},
        "relocated_units": int(equipment["relocated_in"].sum()),
        "outreach_days": {s: int(v) for s, v in
                          specialist.groupby("specialty")["outreach_days"].sum().items()},
        "unmet_share_by_service": {k: float(g["unmet"].sum() / g["demand"].sum())
                                   for k, g in zones.groupby("service")},
        "urgent_uncovered_zones": uncovered_zones(urgent),
        "access_before": _access(inp, _nearest_minutes(inp, equipment, "existing")),
        "access_after": _access(inp, _nearest_minutes(inp, equipment, "total")),
    }

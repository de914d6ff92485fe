"""From a validated Scenario to the arrays the model is built from.

Everything here is plain pandas: demand D[z,k], the travel matrix, the sparse list of eligible
(zone, site, service) arcs with their unit cost, existing units, pools, the pairs where new or
relocated units may go, and the urgent covering sets (with dominated rows removed). The model
builder only reads these tables, so the model can be checked against them one to one.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.model.pruning import anchor_capacity, dominated_arcs
from planner.scenario.geo import distance_km
from planner.scenario.loading import Scenario
from planner.scenario.validate import parse_resource, split_tiers


def annuity_factor(rate: float, years: float) -> float:
    """A(r, L) = r / (1 - (1 + r)^-L), and A(0, L) = 1 / L (docs/design.md section 5).

    Computed as r / -expm1(-L log1p(r)), accurate for tiny rates (1e-17) where the textbook form
    divides by a rounded-off zero; validation bounds the inputs (0 <= r <= 1, 0.5 <= L <= 100).
    """
    rate, years = float(rate), float(years)
    if not (math.isfinite(rate) and math.isfinite(years)) or rate < 0 or years <= 0:
        raise ValueError(f"annuity_factor needs a finite rate >= 0 and years > 0 "
                         f"(got {rate!r}, {years!r})")
    x = years * math.log1p(rate)
    if rate == 0 or x == 0:
        return 1.0 / years
    return rate / -math.expm1(-x)


def travel_minutes(scenario: Scenario) -> pd.DataFrame:
    """Zones x sites minutes: great-circle km x circuity / speed, overridden by travel.csv."""
    zones, sites, travel = scenario.zones, scenario.sites, scenario.settings.travel
    km = distance_km(zones["lon"], zones["lat"], sites["lon"], sites["lat"])
    minutes = pd.DataFrame(km * travel.circuity / travel.speed_kmh * 60.0,
                           index=pd.Index(zones["zone_id"], name="zone_id"),
                           columns=pd.Index(sites["site_id"], name="site_id"))
    overrides = scenario.travel
    if len(overrides):
        rows = minutes.index.get_indexer(overrides["zone_id"])
        cols = minutes.columns.get_indexer(overrides["site_id"])
        values = minutes.to_numpy(copy=True)
        values[rows, cols] = overrides["minutes"].to_numpy(float)
        minutes = pd.DataFrame(values, index=minutes.index, columns=minutes.columns)
    return minutes


@dataclass(frozen=True)
class ModelInputs:
    """The data of one model instance, in tidy labelled tables."""

    sites: pd.DataFrame        # index site_id: member, tier, grassroots, capital_limit
    zones: pd.DataFrame        # index zone_id: population, home_member, lon, lat
    equipment: pd.DataFrame    # index equipment: annual_capex, opex, capacity, ...
    specialties: pd.DataFrame  # index specialty: visits_per_day, cost_per_day, referral_cost
    demand: pd.Series          # (zone_id, service) -> units per year, positive entries only
    minutes: pd.DataFrame      # zones x sites travel minutes
    arcs: pd.DataFrame         # zone_id, site_id, service, minutes (eligible only)
    existing: pd.Series        # (site_id, equipment) -> units in place today
    clinic_visits: pd.Series   # (site_id, specialty) -> in-house clinic capacity per year
    pool: pd.Series            # specialty -> outreach days available
    pool_at: pd.Series         # (site_id, specialty) -> outreach days held by the site
    min_days: pd.Series        # specialty -> policy minimum days at each grassroots site
    budget_share: pd.Series    # member -> its part of the capital budget
    new_pairs: pd.DataFrame    # site_id, equipment where new units may be installed
    moves: pd.DataFrame        # from_site, to_site, equipment where existing units may move
    unit_pairs: list           # (site_id, equipment) where units can be in service
    cover: pd.DataFrame        # zone_id, condition, equipment, site_id: urgent covering sets
    cover_rows: pd.DataFrame   # zone_id, condition, equipment, population, cases: rows kept
    budget: float
    value_per_minute: float
    urgent_soft: bool
    penalty_per_zone: float
    policy_soft: bool          # game mode: a policy-minimum shortfall is bought in, at a price
    shortfall_price: pd.Series  # specialty -> price of one missing policy day (game mode)
    cost_per_late_case: float = 0.0   # [urgent]: per urgent case of an uncovered zone (priced)
    # implemented.csv rows (decision, site_id, resource, from_site, amount, limit, row): bounds
    # on decisions; none in game mode (a coalition's own plan is hypothetical)
    commitments: pd.DataFrame = None
    # [equity] (planner/model/families.py add_access_guarantee, add_min_served_share; see _equity)
    access_rows: pd.DataFrame = None   # zone_id, service, max_minutes, population: rows kept
    access: pd.DataFrame = None        # zone_id, service, site_id, via: the rows' covering sets
    served_share: pd.Series = None     # service -> minimum share of each zone's demand served
    share_rows: pd.DataFrame = None    # zone_id, service: the demand a minimum share applies to
    equity_soft: bool = False          # game mode: a shortfall is priced, not forbidden
    access_penalty: float = 0.0        # per zone and service without its access guarantee
    share_penalty: float = 0.0         # per unit of demand served below the minimum share
    # [tiers] targets (planner/model/families.py add_in_county_target, add_grassroots_target):
    # service -> least share of its county-wide demand, for services with demand only
    in_county_share: pd.Series = None
    grassroots_share: pd.Series = None
    # site_demand.csv (docs/design.md section 9): (site_id, service) -> site-bound exams a year,
    # equipment only, positive entries only; named units_per_year, empty without the file
    site_demand: pd.Series = None

    # [reading] (docs/design.md section 9; families reading_overflow, reading_capacity,
    # membership_hired): the reading centres (empty: reads are not modelled), FTE radiologists
    # by site, reads one FTE does a year, what one FTE hired at a centre costs a year; in game
    # mode the reads a coalition can neither do nor send to a centre it holds are bought
    reading_centres: tuple = ()
    radiologists: pd.Series = None     # site_id -> FTE, sites with radiologists only
    reads_per_radiologist: float = 0.0
    radiologist_cost: float = 0.0
    reading_soft: bool = False

    @property
    def services(self) -> list[str]:
        return list(self.equipment.index) + list(self.specialties.index)


def memoised(compute):
    """`compute(inp)` computed once per ModelInputs object and kept on it (what a cached property
    would do), so that the modules above the inputs (the model's index sets and shape key in
    families.py, the price book in ledger.py) cache what they derive without the inputs
    importing them. A changed copy (`dataclasses.replace`) is a new object: computed afresh."""
    slot = f"_memo_{compute.__module__}.{compute.__qualname__}"

    @functools.wraps(compute)
    def cached(inp: ModelInputs):
        memo = inp.__dict__   # a frozen dataclass: its attributes cannot be set, its __dict__ can
        if slot not in memo:
            memo[slot] = compute(inp)
        return memo[slot]
    return cached


@memoised
def index_sets(inp: ModelInputs) -> dict[str, list]:
    """The members of every index set of the model, in order (computed once per inputs): the
    model's Sets are made of them (planner/model/families.py add_sets), its shape key hashes
    them and the ledger aligns its prices with them."""
    grassroots = inp.sites.index[inp.sites["grassroots"].to_numpy(bool)]
    return {
        "MEMBERS": list(inp.budget_share.index),
        "SITES": list(inp.sites.index),
        "ZONES": list(inp.zones.index),
        "EQUIPMENT": list(inp.equipment.index),
        "SPECIALTIES": list(inp.specialties.index),
        "UNIT_PAIRS": list(inp.unit_pairs),
        "NEW_PAIRS": list(map(tuple, inp.new_pairs.to_numpy())),
        "MOVES": list(map(tuple, inp.moves.to_numpy())),
        "DAY_PAIRS": [(i, s) for i in inp.sites.index for s in inp.specialties.index],
        "DEMAND": list(inp.demand.index),
        # ARCS are the row positions of inp.arcs; each stands for this (zone, site, service)
        "ARCS": list(map(tuple, inp.arcs[["zone_id", "site_id", "service"]].to_numpy())),
        "POLICY_PAIRS": [(i, s) for i in grassroots for s in inp.min_days.index[inp.min_days > 0]],
        "COVER_ROWS": list(map(tuple, inp.cover_rows[["zone_id", "condition"]].to_numpy())),
        # [equity]: access-guarantee rows (zone, service), minimum-share rows and their services
        "ACCESS_ROWS": list(map(tuple, inp.access_rows[["zone_id", "service"]].to_numpy())),
        "SHARE_ROWS": list(map(tuple, inp.share_rows[["zone_id", "service"]].to_numpy())),
        "SHARE_SERVICES": list(inp.served_share.index),
        # site_demand.csv: the (site, equipment) pairs with site-bound exams
        "SITE_DEMAND": list(inp.site_demand.index),
        # [tiers]: the services with an in-county or a grassroots target (one row each)
        "IN_COUNTY_SERVICES": list(inp.in_county_share.index),
        "GRASSROOTS_SERVICES": list(inp.grassroots_share.index),
        # [reading]: the centres (hires), the other sites where exams can happen (remote reads)
        "READING_CENTRES": list(inp.reading_centres),
        "REMOTE_SITES": remote_read_sites(inp),
    }


def site_exams(inp: ModelInputs) -> pd.Series:
    """site_id -> site-bound exams a year (site_demand.csv, every equipment): each needs a read
    where it is made. Empty without site-bound demand."""
    bound = getattr(inp, "site_demand", None)   # site_demand.csv (may be absent)
    if bound is None or not len(bound):
        return pd.Series(dtype=float).rename_axis("site_id")
    bound = bound[bound.index.get_level_values("service").isin(inp.equipment.index)]
    return bound.groupby(level="site_id").sum().astype(float)


def remote_read_sites(inp: ModelInputs) -> list:
    """The sites other than the reading centres where exams can happen (an eligible arc of an
    equipment, or site-bound demand), in site order: where reads may go to the centres. None
    without [reading]."""
    if not inp.reading_centres:
        return []
    exams = set(inp.arcs.loc[inp.arcs["service"].isin(inp.equipment.index), "site_id"])
    exams |= set(site_exams(inp).index[site_exams(inp) > 0])
    return [i for i in inp.sites.index if i in exams and i not in inp.reading_centres]


def _rates(scenario: Scenario) -> pd.DataFrame:
    """Cases per 1,000 residents a year, zones x conditions (zone-level overrides applied)."""
    zones, conditions = scenario.zones, scenario.conditions
    rates = pd.DataFrame(np.outer(np.ones(len(zones)), conditions["cases_per_1000"].to_numpy()),
                         index=zones["zone_id"], columns=conditions["condition"])
    for row in scenario.zone_conditions.itertuples():
        rates.loc[row.zone_id, row.condition] = row.cases_per_1000
    return rates


def _demand(scenario: Scenario, services: list[str]) -> pd.Series:
    """D[z,k] = population_z / 1000 x sum_c rate[z,c] x units_per_case[c,k]."""
    zones, conditions = scenario.zones, scenario.conditions
    rates = _rates(scenario)
    per_case = (scenario.condition_services
                .pivot_table(index="condition", columns="service", values="units_per_case",
                             aggfunc="sum")
                .reindex(index=conditions["condition"], columns=services).fillna(0.0))
    demand = (rates.to_numpy() @ per_case.to_numpy()) * \
        (zones["population"].to_numpy()[:, None] / 1000.0)
    frame = pd.DataFrame(demand, index=pd.Index(zones["zone_id"], name="zone_id"),
                         columns=pd.Index(services, name="service"))
    series = frame.stack()
    return series[series > 0]


def _resources(scenario: Scenario, equipment: set[str], specialties: set[str]) -> pd.DataFrame:
    res = scenario.resources.copy()
    parsed = res["resource"].map(lambda r: parse_resource(r, equipment, specialties))
    res["kind"] = parsed.map(lambda p: p[0])
    res["item"] = parsed.map(lambda p: p[1])
    return res


def _arcs(demand: pd.Series, minutes: pd.DataFrame, limits: pd.Series) -> pd.DataFrame:
    """Eligible (zone, site, service) arcs: only pairs within the service's max_minutes (their
    unit cost is priced by planner/model/ledger.py)."""
    pieces = []
    matrix = minutes.to_numpy()
    zone_pos = pd.Series(np.arange(len(minutes.index)), index=minutes.index)
    for service, zone_ids in demand.reset_index().groupby("service", sort=False)["zone_id"]:
        rows = zone_pos[zone_ids].to_numpy()
        sub = matrix[rows]
        z_idx, s_idx = np.nonzero(sub <= limits[service])
        pieces.append(pd.DataFrame({
            "zone_id": minutes.index[rows[z_idx]], "site_id": minutes.columns[s_idx],
            "service": service, "minutes": sub[z_idx, s_idx]}))
    if not pieces:
        return pd.DataFrame(columns=["zone_id", "site_id", "service", "minutes"])
    arcs = pd.concat(pieces, ignore_index=True)
    return arcs.sort_values(["service", "zone_id", "site_id"], kind="stable",
                            ignore_index=True)


def _urgent_cover(scenario: Scenario, minutes: pd.DataFrame, soft: bool
                  ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Covering sets of urgent coverage and the rows kept.

    A row is (zone, condition) for each populated zone and urgent condition with cases. With hard
    coverage, a row whose covering set contains another row's set (same equipment) is implied by
    it and dropped (Toregas & ReVelle 1973); soft coverage prices every row, so all are kept.
    `cases` is the row's urgent cases a year (population x rate / 1000), what a late case costs
    is priced on.
    """
    zones = scenario.zones.set_index("zone_id")
    rates = _rates(scenario)
    populated = zones.index[zones["population"] > 0]
    urgent = scenario.conditions.dropna(subset=["urgent_service"])
    urgent = urgent[urgent["cases_per_1000"] > 0]
    rows, cover = [], []
    for equipment, group in urgent.groupby("urgent_service", sort=True):
        keys, sets = [], []
        for c in group.itertuples():
            within = minutes.loc[populated].to_numpy() <= c.urgent_minutes
            keys += [(z, c.condition) for z in populated]
            sets.append(within)
        if not keys:
            continue
        matrix = np.vstack(sets)
        keep = np.ones(len(keys), dtype=bool)
        if not soft:
            keep = _undominated(matrix)
        for (zone, condition), row, kept in zip(keys, matrix, keep):
            if not kept:
                continue
            population = float(zones.at[zone, "population"])
            cases = population * float(rates.at[zone, condition]) / 1000.0
            rows.append((zone, condition, equipment, population, cases))
            cover += [(zone, condition, equipment, s) for s in minutes.columns[row]]
    return (pd.DataFrame(cover, columns=["zone_id", "condition", "equipment", "site_id"]),
            pd.DataFrame(rows, columns=["zone_id", "condition", "equipment", "population",
                                        "cases"]))


def _equity(scenario: Scenario, minutes: pd.DataFrame, unit_pairs: list, clinic: pd.Series,
            demand: pd.Series, game: bool) -> dict:
    """The tables of the [equity] limits (models/allocation.md).

    Access guarantee of service k within X_k minutes: one row per populated zone z, covered by
    the sites i with t[z,i] <= X_k (t: travel_minutes, not limited by max_minutes) where k can be
    offered: for equipment, where units can be in service (`via` units); for a specialty, every
    site through outreach days (`via` days) and the sites with an in-house clinic (`via`
    clinic). In a stage-1 plan a zone with a clinic within reach is satisfied and has no row,
    and a row implied by another's smaller covering set is dropped (as urgent coverage); in game
    mode every row is kept, its clinics counted through their member's membership.
    Minimum served share: one row per (zone, service) with demand and a share in the table
    (whatever its value, so that a what-if changing it keeps the model's shape).
    """
    settings = scenario.settings.equity
    zones = scenario.zones.set_index("zone_id")
    populated = zones.index[zones["population"] > 0]
    equipment = set(scenario.equipment["equipment"])
    sites = minutes.columns
    within_all = minutes.loc[populated].to_numpy()
    rows, cover = [], []
    for service, limit in sorted(settings.max_minutes.items()):
        within = within_all <= limit
        if service in equipment:
            offered = np.asarray(sites.isin([i for i, e in unit_pairs if e == service]))
            clinics = np.zeros(len(sites), dtype=bool)
        else:
            offered = np.ones(len(sites), dtype=bool)
            clinics = np.asarray(sites.isin([i for i, k in clinic.index if k == service]))
        reach = within & offered
        keep = np.ones(len(populated), dtype=bool)
        if not game:
            keep = ~(within & clinics).any(axis=1)     # a clinic within reach: satisfied
            kept = np.nonzero(keep)[0]
            keep[kept] = _undominated(reach[kept])
        via = "units" if service in equipment else "days"
        for z, row, clinic_row, kept in zip(populated, reach, within & clinics, keep):
            if not kept:
                continue
            rows.append((z, service, float(limit), float(zones.at[z, "population"])))
            cover += [(z, service, i, via) for i in sites[row]]
            cover += [(z, service, i, "clinic") for i in sites[clinic_row]]
    share = pd.Series(settings.min_served_share, dtype=float).rename_axis("service")
    share = share.sort_index()
    keys = demand.index.to_frame(index=False)
    share_rows = keys[keys["service"].isin(share.index)].reset_index(drop=True)
    return dict(
        access_rows=pd.DataFrame(rows, columns=["zone_id", "service", "max_minutes",
                                                "population"]),
        access=pd.DataFrame(cover, columns=["zone_id", "service", "site_id", "via"]),
        served_share=share, share_rows=share_rows, equity_soft=game,
        access_penalty=settings.penalty_per_zone, share_penalty=settings.penalty_per_unit)


def _undominated(sets: np.ndarray) -> np.ndarray:
    """Rows whose covering set contains no other row's set; of equal sets, the first is kept.

    Same result as comparing every pair of rows, without the dense rows x rows matrix: equal
    rows are grouped first (only the first of each group can be kept), then a unique set is
    dropped if another unique set is a proper subset of it; the subset test |p & q| == |p| is
    a sparse product, computed in blocks of bounded size. An empty set is a subset of every
    set, so when one exists only the empty rows are kept. Up to DENSE_SETS distinct sets the
    product is a dense numpy one: importing scipy after Pyomo makes Pyomo import scipy.stats
    (0.8 s of a 2.7 s county plan), which only large scenarios should pay.
    """
    sets = np.asarray(sets, dtype=bool)
    n = len(sets)
    keep = np.zeros(n, dtype=bool)
    if n == 0:
        return keep
    size = sets.sum(axis=1)
    if (size == 0).any():
        return size == 0
    packed = np.packbits(sets, axis=1)
    _, first = np.unique(packed, axis=0, return_index=True)
    unique = sets[first]                     # one row per distinct set (in sorted order)
    u_size = size[first]
    dominated = np.zeros(len(unique), dtype=bool)
    block = max(1, int(2_000_000 // max(1, len(unique))))
    for start in range(0, len(unique), block):
        stop = min(start + block, len(unique))
        p, q, inter = _intersections(unique, start, stop)   # inter = |set_p & set_q|
        proper = (inter == u_size[p]) & (u_size[p] < u_size[q])  # set_p a proper subset
        dominated[np.unique(q[proper])] = True
    keep[first[~dominated]] = True
    return keep


DENSE_SETS = 5_000   # distinct covering sets up to which _intersections stays in numpy


def _intersections(unique: np.ndarray, start: int, stop: int):
    """(p, q, |set_p & set_q|) for every p and every q in start..stop-1 whose sets meet."""
    if len(unique) <= DENSE_SETS:
        a = unique.astype(np.int32)
        inter = a @ a[start:stop].T
        p, col = np.nonzero(inter)
        return p, col + start, inter[p, col]
    from scipy import sparse  # lazy: only large scenarios (see _undominated)

    a = sparse.csr_matrix(unique.astype(np.int32))
    coo = (a @ a[start:stop].T).tocoo()
    return coo.row, coo.col + start, coo.data


def _budget_share(scenario: Scenario) -> pd.Series:
    """Each member's part of the capital budget: its budget_contribution; when scenario.toml sets
    `budget`, that budget split in proportion to the contributions (equally if all are zero)."""
    members = scenario.members.set_index("member")
    contribution = members["budget_contribution"].astype(float)
    if scenario.settings.budget is None:
        return contribution
    total = contribution.sum()
    weights = contribution / total if total > 0 else pd.Series(1.0 / len(members),
                                                               index=members.index)
    return weights * float(scenario.settings.budget)


def model_inputs(scenario: Scenario, game: bool = False, prune: bool = True) -> ModelInputs:
    """Derive the model's data from a validated scenario.

    `game=True` prepares the coalition games of stage 2: urgent coverage and policy minimums
    become priced (a coalition may lack the means to meet them), and no covering row is dropped
    as dominated (the dominating zone may be outside the coalition). `prune=False` keeps the arcs
    that no optimal plan needs (:func:`_pruned_arcs`), for checking that they are not needed.
    """
    settings = scenario.settings
    urgent_soft = settings.urgent.soft or game
    eq = scenario.equipment.set_index("equipment")
    sp = scenario.specialties.set_index("specialty")
    services = list(eq.index) + list(sp.index)
    annuity = eq["lifetime_years"].map(lambda L: annuity_factor(settings.discount_rate, L))
    equipment = pd.DataFrame({
        "capex": eq["capex"], "annual_capex": eq["capex"] * annuity,
        "opex": eq["opex_per_year"], "nameplate_capacity": eq["capacity_per_year"],
        "capacity": eq["capacity_per_year"] * eq["max_utilization"],
        "referral_cost": eq["referral_cost"], "cost_per_exam": eq["cost_per_exam"],
        "max_per_site": eq["max_per_site"], "max_minutes": eq["max_minutes"],
        "relocation_cost": eq["relocation_cost"], "allowed_tiers": eq["allowed_tiers"]})
    specialties = sp[["visits_per_day", "cost_per_day", "referral_cost", "max_minutes"]]

    sites = scenario.sites.set_index("site_id")
    sites = sites.assign(grassroots=sites["tier"].isin(settings.policy.grassroots_tiers))
    zones = scenario.zones.set_index("zone_id")
    minutes = travel_minutes(scenario)
    demand = _demand(scenario, services)
    limits = pd.concat([equipment["max_minutes"], specialties["max_minutes"]])
    arcs = _arcs(demand, minutes, limits)

    res = _resources(scenario, set(eq.index), set(sp.index))
    existing = (res[res["kind"] == "units"].groupby(["site_id", "item"])["amount"].sum()
                .rename_axis(["site_id", "equipment"]))
    existing = existing[existing > 0]
    clinic = (res[res["kind"] == "clinic_visits"].groupby(["site_id", "item"])["amount"].sum()
              .rename_axis(["site_id", "specialty"]))
    clinic = clinic[clinic > 0]
    pool_at = (res[res["kind"] == "outreach_days"].groupby(["site_id", "item"])["amount"].sum()
               .rename_axis(["site_id", "specialty"]))
    pool_at = pool_at[pool_at > 0]
    pool = pool_at.groupby(level="specialty").sum().reindex(sp.index, fill_value=0.0)
    min_days = pd.Series(settings.policy.min_outreach_days, dtype=float).reindex(
        sp.index, fill_value=0.0)

    allowed = {e: (set(split_tiers(t)) if isinstance(t, str) else set(sites["tier"]))
               for e, t in eq["allowed_tiers"].items()}
    new_pairs = pd.DataFrame([(i, e) for e in eq.index for i in sites.index
                              if sites.at[i, "tier"] in allowed[e]],
                             columns=["site_id", "equipment"])
    movable = eq.index[eq["relocation_cost"].notna()]
    moves = pd.DataFrame([(i, j, e) for (i, e) in existing.index if e in movable
                          for j in sites.index if j != i and sites.at[j, "tier"] in allowed[e]],
                         columns=["from_site", "to_site", "equipment"])
    unit_pairs = sorted(set(existing.index) | set(map(tuple, new_pairs.to_numpy()))
                        | set(map(tuple, moves[["to_site", "equipment"]].to_numpy())))
    # equipment is only used where units can be in service
    arcs_at = pd.MultiIndex.from_frame(arcs[["site_id", "service"]])
    usable = ~arcs["service"].isin(eq.index) | arcs_at.isin(unit_pairs)
    arcs = arcs[usable.to_numpy()].reset_index(drop=True)
    site_demand = _site_demand(scenario)
    if prune and not game:
        arcs = _pruned_arcs(scenario, arcs, demand, existing, moves, equipment, clinic,
                            site_demand)
    cover, cover_rows = _urgent_cover(scenario, minutes, urgent_soft)
    return ModelInputs(
        sites=sites, zones=zones, equipment=equipment, specialties=specialties, demand=demand,
        minutes=minutes, arcs=arcs, existing=existing, clinic_visits=clinic, pool=pool,
        pool_at=pool_at, min_days=min_days, budget_share=_budget_share(scenario),
        new_pairs=new_pairs, moves=moves, unit_pairs=unit_pairs, cover=cover,
        cover_rows=cover_rows, budget=scenario.budget,
        value_per_minute=settings.travel.value_per_minute, urgent_soft=urgent_soft,
        penalty_per_zone=settings.urgent.penalty_per_zone, policy_soft=game,
        shortfall_price=_shortfall_price(sp, settings.policy),
        cost_per_late_case=settings.urgent.cost_per_late_case,
        commitments=_commitments(scenario, game),
        **_equity(scenario, minutes, unit_pairs, clinic, demand, game),
        **_reading(scenario, res, game),
        **_tier_targets(scenario, demand, game),
        site_demand=site_demand)


def _pruned_arcs(scenario: Scenario, arcs: pd.DataFrame, demand: pd.Series,
                 existing: pd.Series, moves: pd.DataFrame, equipment: pd.DataFrame,
                 clinic: pd.Series, site_demand: pd.Series) -> pd.DataFrame:
    """The arcs without those farther than the zone's nearest anchor of their service
    (planner/model/pruning.py; the proof in models/allocation.md, "Arc pruning"). No anchors
    for equipment with [reading], for services with a grassroots target, or when travel costs
    nothing (value_per_minute 0: no site is strictly cheaper)."""
    settings = scenario.settings
    if settings.travel.value_per_minute <= 0:
        return arcs
    excluded = set(settings.tiers.min_grassroots_share)
    if settings.reading is not None:
        excluded |= set(equipment.index)
    capacity = anchor_capacity(existing, moves, equipment["capacity"], clinic, site_demand,
                               excluded)
    drop = dominated_arcs(arcs, demand, capacity)
    return arcs[~drop].reset_index(drop=True) if drop.any() else arcs


def _site_demand(scenario: Scenario) -> pd.Series:
    """site_demand.csv as (site_id, service) -> units_per_year, positive amounts only, sorted:
    exams that arise at a site and are served there (validation has checked that every service
    is an equipment and every (site, service) pair is listed once)."""
    rows = scenario.site_demand
    index = pd.MultiIndex.from_arrays([rows["site_id"].astype(object),
                                       rows["service"].astype(object)],
                                      names=["site_id", "service"])
    series = pd.Series(rows["units_per_year"].to_numpy(float), index=index,
                       name="units_per_year")
    return series[series > 0].sort_index()


def _reading(scenario: Scenario, res: pd.DataFrame, game: bool) -> dict:
    """[reading] and the `radiologists` resource (docs/design.md section 9); no centres (reads
    not modelled) without [reading]. In game mode (`reading_soft`) a coalition may buy the reads
    it can neither do nor send to a centre of its own."""
    radiologists = (res[res["kind"] == "radiologists"].groupby("site_id")["amount"].sum()
                    .astype(float))
    reading = scenario.settings.reading
    if reading is None:
        return dict(radiologists=radiologists[radiologists > 0])
    return dict(reading_centres=tuple(reading.centres),
                radiologists=radiologists[radiologists > 0],
                reads_per_radiologist=float(reading.reads_per_radiologist),
                radiologist_cost=float(reading.radiologist_cost), reading_soft=game)


def _tier_targets(scenario: Scenario, demand: pd.Series, game: bool) -> dict:
    """[tiers] targets as service -> share, sorted, for the services with demand: a service
    without demand meets any share (its row would hold no variable). The rows exist whatever
    the share (0 included), so that a what-if changing a share keeps the model's shape.

    None in game mode: the targets are the county's, held by the stage-1 plan; a coalition's
    value is its cost without them (a hard target could leave a coalition without a feasible
    plan, and every coalition of the games must have one)."""
    if game:
        return dict(in_county_share=pd.Series(dtype=float).rename_axis("service"),
                    grassroots_share=pd.Series(dtype=float).rename_axis("service"))
    with_demand = set(demand.index.get_level_values("service")[demand.to_numpy() > 0])

    def targets(given: dict) -> pd.Series:
        share = pd.Series(given, dtype=float).rename_axis("service").sort_index()
        return share[share.index.isin(with_demand)]
    tiers = scenario.settings.tiers
    return dict(in_county_share=targets(tiers.min_in_county_share),
                grassroots_share=targets(tiers.min_grassroots_share))


def _shortfall_price(specialties: pd.DataFrame, policy) -> pd.Series:
    """What one policy day a coalition cannot staff costs it (game mode), per specialty: its
    buy-in (shortfall_cost_factor x cost_per_day) or the visits the day would have served,
    referred out (visits_per_day x referral_cost)."""
    if policy.shortfall_priced_as == "referrals":
        return specialties["visits_per_day"] * specialties["referral_cost"]
    return specialties["cost_per_day"] * policy.shortfall_cost_factor


def _commitments(scenario: Scenario, game: bool) -> pd.DataFrame:
    """implemented.csv with its spreadsheet row numbers (for messages); empty in game mode."""
    rows = scenario.implemented
    columns = ["decision", "site_id", "resource", "from_site", "amount", "limit"]
    frame = rows[columns].assign(row=rows.index.to_numpy() + 2)
    return frame.iloc[:0] if game else frame.reset_index(drop=True)

"""Zone aggregation for very large scenarios, with a proven error bound (issue 22 item 3;
formulation and proof: models/aggregation.md; Francis, Lowe & Tamir 2002).

A scenario of 100,000 villages has millions of eligible arcs (zone, site, service), more than a
build within the time limit or the memory allows (planner/model/size.py). `[solver]
aggregate_zones = N` (or `planner plan --aggregate-zones N`) plans it on at most N
representative zones instead:

* zones are grouped within their home member (zones of different members are never merged) and,
  when N allows, within the sets of sites they may use (every service's eligible sites: then
  every zone reaches exactly the sites of its representative); the groups are split, largest
  error first, into clusters of zones with close travel-time rows; each cluster's
  representative is one of its own zones (so its travel times exist);
* the model is built on the representatives' demand (the cluster's sum) and arcs (the sites any
  zone of the cluster may use for the service, at the representative's minutes), while urgent
  coverage and the [equity] access guarantee keep their rows for EVERY original zone: those rows
  hold units and outreach days only, never flows, so aggregation cannot break them;
* the plan is written on the original zones: each zone is served by its representative's sites
  in its representative's proportions (capacity holds exactly), and its cost is recomputed from
  its own travel times (planner/results/aggregated.py).

For ANY plan, the travel cost on the aggregated zones differs from that on the original zones
by at most error_bound = sum_z,k D[z,k] x value_per_minute x max_i |t(z,i) - t(rep(z),i)|, the
max over the sites i of the cluster's arcs of service k; every other term of the cost is the same.
Hence the aggregated optimum is within 2 x error_bound of the true optimum, and the aggregated
model's lower bound minus error_bound bounds the true optimum from below; one-sided, with the
positive parts of t(rep,i) - t(z,i) (error_over) and t(z,i) - t(rep,i) (error_under) in place of
the absolute value, both statements are tighter (error_over + error_under, bound - error_over).
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.model.inputs import ModelInputs

MEDOID_CANDIDATES = 8   # zones nearest a cluster's weighted mean tried as its representative
LLOYD_ROUNDS = 3        # reassignments of a split between its two representatives


class AggregationError(PlannerError):
    """aggregate_zones cannot be met (fewer than the home members): bad input, exit 2."""

    exit_code = 2


@dataclass(frozen=True)
class Aggregation:
    """A scenario's inputs and the aggregated inputs its model is built from."""

    original: ModelInputs   # the scenario's own inputs (its eligible arcs dropped: not needed)
    inputs: ModelInputs     # demand, arcs and minimum-share rows of the representatives only
    rep: pd.Series          # zone_id -> the zone_id of its representative (every zone)
    requested: int          # N asked for
    same_sites: bool        # every zone may use exactly its representative's sites
    error_bound: float      # currency a year (module docstring)
    error_over: float       # the bound on cost_A(S(x)) - cost(x): the lower bound's part
    error_under: float      # the bound on cost(D(y)) - cost_A(y)
    site_classes: int       # the N from which same_sites holds (home member x eligible sites)
    # per urgent-coverage row of the scenario, the row of the aggregated model that holds it
    # (soft coverage: rows of one covering set merged, merged_cover_rows; else the same row)
    cover_group: np.ndarray | None = None

    @property
    def zones_before(self) -> int:
        return len(self.rep)

    @property
    def zones_after(self) -> int:
        return int(self.rep.nunique())

    @property
    def identity(self) -> bool:
        """Nothing merged (N at least the zones): the model is the scenario's own."""
        return self.zones_after == self.zones_before


def check_target(n: int, home_members: int, where: str) -> None:
    """Refuse (exit 2) an N that cannot keep the members apart, or that is not positive."""
    if n < max(home_members, 1):
        raise AggregationError(
            f"aggregate_zones = {n} ({where}) asks for fewer representative zones than the zones' "
            f"{home_members} home members (zones.csv home_member): zones of different members "
            "are never merged, so at least one representative per member is needed. Give "
            f"aggregate_zones = {home_members} or more (about 3,000-10,000 for a prefecture of "
            "villages), or leave it out to plan on every zone.")


def aggregate_zones(inp: ModelInputs, n: int, where: str = "scenario.toml [solver]"
                    ) -> Aggregation:
    """The scenario's inputs `inp` on at most `n` representative zones (module docstring).
    `where` names the setting or flag in the error of a bad `n`."""
    zones = inp.zones.index
    home = inp.zones["home_member"].to_numpy(object)
    check_target(n, len(pd.unique(home)), where)
    if n >= len(zones):
        return Aggregation(inp, inp, pd.Series(zones.to_numpy(), index=zones), n, True, 0.0,
                           0.0, 0.0, len(zones))
    classes, members = _eligibility_classes(inp), pd.factorize(home)[0]
    site_classes = int(classes.max()) + 1
    same_sites = site_classes <= n
    rows = np.minimum(inp.minutes.to_numpy(np.float32), _longest_reach(inp))
    weight = _zone_demand(inp)
    rep_pos = _clusters(rows, weight, classes if same_sites else members, n)
    rep = pd.Series(zones.to_numpy()[rep_pos], index=zones)
    cover, cover_rows, cover_group = merged_cover_rows(inp)
    aggregated = replace(_aggregated_inputs(inp, rep_pos), cover=cover, cover_rows=cover_rows)
    errors = error_terms(inp, aggregated.arcs, rep).sum()
    original = replace(inp, arcs=inp.arcs.iloc[:0])   # 5 M rows for 100,000 villages: freed
    return Aggregation(original, aggregated, rep, n, same_sites, float(errors["error"]),
                       float(errors["over"]), float(errors["under"]), site_classes, cover_group)


# --- which zones may be merged, and how far apart they are -----------------------------------
def _limits(inp: ModelInputs) -> pd.Series:
    """service -> max_minutes (what makes an arc eligible, planner/model/inputs.py _arcs)."""
    return pd.concat([inp.equipment["max_minutes"], inp.specialties["max_minutes"]]).astype(float)


def _longest_reach(inp: ModelInputs) -> float:
    """Minutes beyond which no site serves anything: farther sites do not tell zones apart."""
    return float(_limits(inp).max())


def _usable(inp: ModelInputs, service: str) -> np.ndarray:
    """The sites where `service` can be given (equipment: where units can be in service)."""
    sites = inp.minutes.columns
    if service in inp.equipment.index:
        return np.asarray(sites.isin([i for i, e in inp.unit_pairs if e == service]))
    return np.ones(len(sites), dtype=bool)


def _eligibility_classes(inp: ModelInputs) -> np.ndarray:
    """A class per zone: its home member and, for every service, the sites it may use (within
    max_minutes where the service can be given). Zones of one class reach the same sites."""
    minutes = inp.minutes.to_numpy(float)
    limits = _limits(inp)
    sets = [np.packbits((minutes <= limits[k]) & _usable(inp, k), axis=1) for k in inp.services]
    home = pd.factorize(inp.zones["home_member"].to_numpy(object))[0]
    key = np.hstack([home.astype(np.uint32).view(np.uint8).reshape(-1, 4), *sets])
    return np.unique(key, axis=0, return_inverse=True)[1].reshape(-1)


def _zone_demand(inp: ModelInputs) -> np.ndarray:
    """Units a year of every service, by zone (the weight of a zone's distance to its
    representative in the error bound)."""
    by_zone = inp.demand.groupby(level="zone_id").sum()
    return by_zone.reindex(inp.zones.index, fill_value=0.0).to_numpy(float)


# --- clustering: split the cluster of largest error in two, until N ---------------------------
def _distances(rows: np.ndarray, to: np.ndarray) -> np.ndarray:
    """max_i |rows[z,i] - to[i]| for every row z (the L-infinity distance in minutes)."""
    return np.abs(rows - to).max(axis=1)


def _medoid(rows: np.ndarray, weight: np.ndarray, idx: np.ndarray,
            candidates: int = MEDOID_CANDIDATES) -> int:
    """A representative of the zones `idx`: of the `candidates` zones nearest their
    demand-weighted mean row, the one of least weighted distance to all (first on ties)."""
    sub, w = rows[idx], weight[idx]
    if len(idx) == 1:
        return int(idx[0])
    mean = np.average(sub, axis=0, weights=w) if w.sum() > 0 else sub.mean(axis=0)
    nearest = np.argsort(_distances(sub, mean), kind="stable")[:candidates]
    if len(nearest) == 1:
        return int(idx[nearest[0]])
    costs = [float(w @ _distances(sub, sub[c])) for c in nearest]
    return int(idx[nearest[int(np.argmin(costs))]])


def _cost(rows: np.ndarray, weight: np.ndarray, idx: np.ndarray, rep: int) -> float:
    return float(weight[idx] @ _distances(rows[idx], rows[rep]))


def _split(rows: np.ndarray, weight: np.ndarray, idx: np.ndarray, rep: int
           ) -> list[np.ndarray] | None:
    """Two parts of the cluster `idx`: seeded by its representative and the zone of largest
    weighted distance to it, then LLOYD_ROUNDS reassignments to the nearer of the two parts'
    centres (the zone nearest each part's weighted mean; the parts' representatives are chosen
    afterwards, by _medoid). None when the zones cannot be told apart."""
    far = idx[int(np.argmax(weight[idx] * _distances(rows[idx], rows[rep])))]
    seeds = [rep, int(far)]
    parts: list[np.ndarray] = []
    for _ in range(LLOYD_ROUNDS):
        nearer = _distances(rows[idx], rows[seeds[1]]) < _distances(rows[idx], rows[seeds[0]])
        parts = [idx[~nearer], idx[nearer]]
        if not len(parts[0]) or not len(parts[1]):
            return None
        seeds = [_medoid(rows, weight, p, candidates=1) for p in parts]
    return parts


def _clusters(rows: np.ndarray, weight: np.ndarray, groups: np.ndarray, n: int) -> np.ndarray:
    """The representative's position of every zone: the `groups` first (never merged), then the
    cluster of largest weighted distance to its representative is split in two, until there are
    `n` clusters or none has a distance left. Deterministic: ties go to the earlier zone."""
    heap: list[tuple[float, int, np.ndarray, int]] = []
    done: list[tuple[np.ndarray, int]] = []
    order = itertools.count()   # ties of error: the older cluster first

    def push(idx: np.ndarray) -> None:
        rep = _medoid(rows, weight, idx)
        heapq.heappush(heap, (-_cost(rows, weight, idx, rep), next(order), idx, rep))

    for g in np.unique(groups):
        push(np.flatnonzero(groups == g))
    count = len(heap)
    while count < n and heap and heap[0][0] < 0:
        _, _, idx, rep = heapq.heappop(heap)
        parts = _split(rows, weight, idx, rep)
        if parts is None:
            done.append((idx, rep))
            continue
        for part in parts:
            push(part)
        count += 1
    rep_pos = np.empty(len(rows), dtype=np.int64)
    for idx, rep in done + [(idx, rep) for _, _, idx, rep in heap]:
        rep_pos[idx] = rep
    return rep_pos


# --- the aggregated inputs, and the bound ----------------------------------------------------
def _aggregated_inputs(inp: ModelInputs, rep_pos: np.ndarray) -> ModelInputs:
    """`inp` with the demand, the arcs and the minimum-share rows of the representatives: demand
    summed over each cluster, an arc (rep, i, k) wherever a zone of the cluster has one, at the
    representative's minutes. Zones, minutes and the covering rows stay the scenario's."""
    zones, sites = inp.zones.index, inp.minutes.columns
    zone_at = zones.get_indexer(inp.demand.index.get_level_values("zone_id"))
    service = inp.demand.index.get_level_values("service")
    demand = (pd.DataFrame({"rep": rep_pos[zone_at], "service": service,
                            "units": inp.demand.to_numpy(float)})
              .groupby(["rep", "service"], sort=True)["units"].sum())
    demand.index = pd.MultiIndex.from_arrays(
        [zones.to_numpy()[demand.index.get_level_values("rep")],
         demand.index.get_level_values("service")], names=["zone_id", "service"])
    arcs = inp.arcs
    rep = rep_pos[zones.get_indexer(arcs["zone_id"])]
    site = sites.get_indexer(arcs["site_id"])
    kept = (pd.DataFrame({"rep": rep, "site": site, "service": arcs["service"].to_numpy()})
            .drop_duplicates())
    minutes = inp.minutes.to_numpy(float)[kept["rep"].to_numpy(), kept["site"].to_numpy()]
    agg_arcs = pd.DataFrame({"zone_id": zones.to_numpy()[kept["rep"].to_numpy()],
                             "site_id": sites.to_numpy()[kept["site"].to_numpy()],
                             "service": kept["service"].to_numpy(), "minutes": minutes})
    agg_arcs = agg_arcs.sort_values(["service", "zone_id", "site_id"], kind="stable",
                                    ignore_index=True)
    keys = demand.index.to_frame(index=False)
    share_rows = keys[keys["service"].isin(inp.served_share.index)].reset_index(drop=True)
    return replace(inp, demand=demand, arcs=agg_arcs, share_rows=share_rows)


def merged_cover_rows(inp: ModelInputs) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The urgent-coverage rows of the aggregated model: (cover, cover_rows, group), group[j]
    the merged row of the scenario's row j. Hard coverage keeps the scenario's rows (already
    one per undominated covering set). Soft coverage keeps a priced row per populated zone and
    condition: rows of one home member, condition and covering set become one, since the same
    units cover them (their `uncovered` is the same in every optimal plan), priced for all of
    them (`zones` counts them, population and cases summed; planner/model/ledger.py)."""
    rows, cover = inp.cover_rows, inp.cover
    if not inp.urgent_soft or rows.empty:
        return cover, rows, np.arange(len(rows))
    keys = pd.MultiIndex.from_frame(rows[["zone_id", "condition"]])
    row_at = keys.get_indexer(pd.MultiIndex.from_frame(cover[["zone_id", "condition"]]))
    sites = inp.minutes.columns
    member = np.zeros((len(rows), len(sites)), dtype=bool)
    member[row_at, sites.get_indexer(cover["site_id"])] = True
    labels = [pd.factorize(rows[c].to_numpy(object))[0].astype(np.uint32).view(np.uint8)
              .reshape(-1, 4) for c in ("condition", "equipment")]
    home = pd.factorize(inp.zones["home_member"].reindex(rows["zone_id"]).to_numpy(object))[0]
    key = np.hstack([home.astype(np.uint32).view(np.uint8).reshape(-1, 4), *labels,
                     np.packbits(member, axis=1)])
    _, first, group = np.unique(key, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")          # merged rows in the scenario's order
    position = np.empty(len(order), dtype=np.int64)
    position[order] = np.arange(len(order))
    group = position[group.reshape(-1)]
    merged = rows.iloc[first[order]].reset_index(drop=True)
    sums = rows[["population", "cases"]].groupby(group).sum()
    merged = merged.assign(population=sums["population"].to_numpy(float),
                           cases=sums["cases"].to_numpy(float),
                           zones=np.bincount(group, minlength=len(order)).astype(float))
    kept = np.zeros(len(rows), dtype=bool)
    kept[first] = True
    return cover[kept[row_at]].reset_index(drop=True), merged, group


def error_terms(inp: ModelInputs, agg_arcs: pd.DataFrame, rep: pd.Series) -> pd.DataFrame:
    """Per (zone_id, service), the zone's part of the error bounds (models/aggregation.md):
    D[z,k] x value_per_minute x the max over the sites i of the aggregated arcs (rep(z), i, k)
    of |t(z,i) - t(rep(z),i)| (`error`), of (t(rep(z),i) - t(z,i))+ (`over`: how much more a
    plan can cost on the representatives than on the zones) and of (t(z,i) - t(rep(z),i))+
    (`under`: how much less). `rep`: zone_id -> its representative."""
    zones, sites = inp.zones.index, inp.minutes.columns
    minutes = inp.minutes.to_numpy(float)
    zone_at = zones.get_indexer(inp.demand.index.get_level_values("zone_id"))
    rep_at = zones.get_indexer(rep.reindex(zones).to_numpy())[zone_at]
    service = inp.demand.index.get_level_values("service").to_numpy(object)
    over, under = np.zeros(len(zone_at)), np.zeros(len(zone_at))
    for k in pd.unique(service):
        reach = np.zeros((len(zones), len(sites)), dtype=bool)   # rows: representatives
        arcs = agg_arcs[agg_arcs["service"] == k]
        reach[zones.get_indexer(arcs["zone_id"]), sites.get_indexer(arcs["site_id"])] = True
        at = np.flatnonzero(service == k)
        longer = np.where(reach[rep_at[at]], minutes[rep_at[at]] - minutes[zone_at[at]], 0.0)
        over[at] = np.maximum(longer, 0.0).max(axis=1, initial=0.0)
        under[at] = np.maximum(-longer, 0.0).max(axis=1, initial=0.0)
    scale = inp.demand.to_numpy(float) * inp.value_per_minute
    return pd.DataFrame({"error": scale * np.maximum(over, under), "over": scale * over,
                         "under": scale * under}, index=inp.demand.index)


# --- back to the original zones ---------------------------------------------------------------
def zone_shares(agg: Aggregation) -> pd.DataFrame:
    """zone_id, rep, service, share for every demand entry of the scenario: the zone's part
    D[z,k] / D[rep,k] of its cluster's demand (in the scenario's demand order)."""
    demand = agg.original.demand
    zone = demand.index.get_level_values("zone_id")
    service = demand.index.get_level_values("service")
    rep = agg.rep.reindex(zone).to_numpy()
    total = agg.inputs.demand.reindex(pd.MultiIndex.from_arrays([rep, service])).to_numpy(float)
    return pd.DataFrame({"zone_id": zone.to_numpy(), "rep": rep, "service": service.to_numpy(),
                         "share": demand.to_numpy(float) / total})


def spread(agg: Aggregation, by_rep: np.ndarray) -> np.ndarray:
    """Values of the aggregated demand entries (unmet, shortfall: aligned with the aggregated
    demand) shared out to the scenario's demand entries in proportion to their demand."""
    shares = zone_shares(agg)
    values = pd.Series(np.asarray(by_rep, float), index=agg.inputs.demand.index)
    at = pd.MultiIndex.from_arrays([shares["rep"], shares["service"]])
    return values.reindex(at).to_numpy(float) * shares["share"].to_numpy(float)


def spread_flows(agg: Aggregation, flow: np.ndarray) -> pd.DataFrame:
    """The aggregated flows (aligned with the aggregated arcs) on the original zones: each zone
    is served by its representative's sites in its representative's proportions (zone_id,
    site_id, service, minutes: the zone's own travel time, units). Capacity sums are unchanged."""
    inp = agg.inputs
    used = inp.arcs.assign(units=np.asarray(flow, float))
    used = used.loc[used["units"] > 0, ["zone_id", "site_id", "service", "units"]]
    shares = zone_shares(agg)
    shares = shares[shares["share"] > 0]
    rows = used.rename(columns={"zone_id": "rep"}).merge(shares, on=["rep", "service"])
    rows["units"] = rows["units"] * rows["share"]
    original = agg.original.minutes
    rows["minutes"] = original.to_numpy(float)[original.index.get_indexer(rows["zone_id"]),
                                               original.columns.get_indexer(rows["site_id"])]
    rows = rows.sort_values(["service", "zone_id", "site_id"], kind="stable", ignore_index=True)
    return rows[["zone_id", "site_id", "service", "minutes", "units"]]


def beyond_reach(agg: Aggregation, flows: pd.DataFrame) -> pd.DataFrame:
    """The flows (zone_id, service, minutes: a plan's flows table) that go farther than their
    service's max_minutes from their own zone (possible only when zones that reach different
    sites were merged), with the minutes beyond it (`excess`)."""
    excess = flows["minutes"].to_numpy(float) - \
        flows["service"].map(_limits(agg.original)).to_numpy(float)
    return flows.assign(excess=excess)[excess > 1e-9]


__all__ = ["Aggregation", "AggregationError", "aggregate_zones", "beyond_reach", "check_target",
           "error_terms", "merged_cover_rows", "spread", "spread_flows", "zone_shares"]

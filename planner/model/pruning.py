"""Flow arcs that no optimal plan needs, left out of the model (models/allocation.md, "Arc
pruning"; issue 22 item 3).

An *anchor* is a (site j, service k) whose capacity is in service in every stage-1 plan and
can never run out: existing units of equipment that cannot be relocated (no `relocation_cost`,
so `units[j,e] >= existing[j,e]`), or a site's in-house clinic visits of a specialty, at least
the demand of every zone that keeps an arc to j (plus j's own site-bound exams). A zone then
never needs a site of k farther than its nearest anchor of k: moving that flow to the anchor
makes the trip shorter (the per-exam cost of a service is the same at every site), keeps the
zone's demand row, and fits in the anchor's capacity. So the arc (z, i, k) with
t[z,i] > min over anchors j of t[z,j] is dropped; the optimum is the same (proof in
models/allocation.md).

Not applied (no anchors) where moving a flow between two sites could cost or break something
else: equipment with `[reading]` (the reads follow the exams to their site), services with a
grassroots target (the target counts flows at grassroots sites), a zero value_per_minute (no
site is strictly cheaper), and the games of stage 2 (a coalition may lack the anchor's member).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# capacity must exceed the reach by this much (relative) to count: the solver's tolerances
# never turn a fit into an overflow
CAPACITY_MARGIN = 1e-9


def anchor_capacity(existing: pd.Series, moves: pd.DataFrame, unit_capacity: pd.Series,
                    clinic_visits: pd.Series, site_demand: pd.Series,
                    excluded: set) -> pd.Series:
    """(site_id, service) -> capacity in service in every stage-1 plan, after the site's own
    site-bound exams: existing units that cannot move x unit capacity, and in-house clinic
    visits; positive entries only, services in `excluded` left out."""
    movable = set(moves[["from_site", "equipment"]].itertuples(index=False, name=None))
    keys, values = [], []
    for (j, e), units in existing.items():
        if (j, e) not in movable and e not in excluded:
            keys.append((j, e))
            values.append(float(units) * float(unit_capacity[e])
                          - float(site_demand.get((j, e), 0.0)))
    for (j, s), visits in clinic_visits.items():
        if s not in excluded:
            keys.append((j, s))
            values.append(float(visits))
    index = pd.MultiIndex.from_arrays([[j for j, _ in keys], [k for _, k in keys]],
                                      names=["site_id", "service"])
    series = pd.Series(values, index=index, dtype=float)
    return series[series.to_numpy() > 0]


def dominated_arcs(arcs: pd.DataFrame, demand: pd.Series, capacity: pd.Series) -> np.ndarray:
    """A boolean mask of `arcs` (zone_id, site_id, service, minutes): the arcs farther than the
    zone's nearest anchor of their service.

    The anchors are the greatest set A of the pairs of `capacity` such that each j in A holds
    the demand of every zone whose arc to j is kept when the arcs farther than the nearest
    anchor of A are dropped: start from every pair and drop those that overflow until none
    does (a pair that overflows for a set overflows for every smaller set, whose arcs to it
    are more; so no pair of a valid set is ever dropped, and the end is the greatest one).
    """
    drop = np.zeros(len(arcs), dtype=bool)
    if capacity.empty or arcs.empty:
        return drop
    zone, zones = pd.factorize(arcs["zone_id"])
    site, sites = pd.factorize(arcs["site_id"])
    service, services = pd.factorize(arcs["service"])
    width = len(services)
    zone_service, pair = zone * width + service, site * width + service
    load = _dense(demand, zones, services)[zone_service]
    room = _dense(capacity, sites, services, fill=np.nan)     # NaN: not an anchor
    anchor = ~np.isnan(room)
    minutes = arcs["minutes"].to_numpy(float)
    while True:
        at_anchor = anchor[pair]
        nearest = np.full(len(zones) * width, np.inf)
        np.minimum.at(nearest, zone_service[at_anchor], minutes[at_anchor])
        drop = minutes > nearest[zone_service]
        kept = at_anchor & ~drop
        reach = np.bincount(pair[kept], weights=load[kept], minlength=len(room))
        overflow = anchor & ~(room >= reach * (1 + CAPACITY_MARGIN))
        if not overflow.any():
            return drop
        anchor &= ~overflow


def _dense(values: pd.Series, first: pd.Index, services: pd.Index, fill: float = 0.0
           ) -> np.ndarray:
    """A Series keyed (first, service) as a flat array at first_code * len(services) +
    service_code; keys outside `first` x `services` are left out."""
    out = np.full(len(first) * len(services), fill)
    a = first.get_indexer(values.index.get_level_values(0))
    b = services.get_indexer(values.index.get_level_values(1))
    ok = (a >= 0) & (b >= 0)
    out[a[ok] * len(services) + b[ok]] = values.to_numpy(float)[ok]
    return out

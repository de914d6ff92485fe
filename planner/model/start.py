"""A construction heuristic for the equipment part of the plan: a MIP start for large models.

HiGHS's first incumbent on a large model is often the plan that refers every patient out (on
OR-Library pmed21-36 at a 60 s limit: 2.8e11 against an optimum of 9,138). A greedy plan built
before the solve gives HiGHS a good incumbent at once, so that any time limit returns a plan at
least as good as the heuristic's (models/allocation.md, "MIP start").

The heuristic decides the units of equipment only (new units, no relocation), in the spirit of
the p-median's greedy-add and vertex-substitution heuristics (Kuehn & Hamburger 1963; Teitz &
Bart 1968; Resende & Werneck 2004), on the model's own prices (the ledger's objective
coefficients, one formula in one place):

1. cover: while an urgent-coverage or access row (equipment) has no unit within reach, add the
   unit that covers most such rows per annual cost (greedy set cover, Chvatal 1979);
2. add: while some new unit lowers the estimated annual cost, add the best one. The estimate
   serves each zone's demand from its cheapest open site with capacity (the arcs in cost order,
   a unit of capacity at a time), the rest referred at the referral cost; the gain of a unit is
   what the zones whose cost it would lower save, up to its capacity;
3. substitute: for each unit added, try it at the candidate sites that would gain most without
   it; keep a move that lowers the estimate; repeat the passes while one does;
4. perturb: RESTARTS times, drop a seeded third of the added units, re-add and substitute
   again, and keep the best plan (a multi-start: the interchange alone stopped 1.05% above
   pmed22's optimum, which this reaches).

Capital budget, per-site capital limits and max_per_site are respected. The result is partial:
HiGHS completes it (outreach days, flows) with its own sub-MIP, or discards it if it cannot.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.model.inputs import ModelInputs, index_sets
from planner.model.ledger import price_book


@dataclass
class _Equipment:
    """One equipment's data as dense arrays over its zones with demand and its candidate sites."""

    name: str
    sites: list                 # sites where units can be in service (UNIT_PAIRS of e)
    demand: np.ndarray          # (zones,) units a year
    cost: np.ndarray            # (zones, sites) cost of one unit served there; inf: no arc
    referral: np.ndarray        # (zones,) cost of one unit referred out
    capacity: float             # a unit's yearly capacity
    preload: np.ndarray         # (sites,) site-bound exams the site must serve first


def _equipment_data(inp: ModelInputs) -> list[_Equipment]:
    coefs = price_book(inp).coefficients()
    sets = index_sets(inp)
    flow_cost = coefs.get("flow", np.zeros(len(inp.arcs)))
    unmet_cost = pd.Series(coefs.get("unmet", np.zeros(len(sets["DEMAND"]))),
                           index=pd.MultiIndex.from_tuples(sets["DEMAND"]))
    site_demand = inp.site_demand if inp.site_demand is not None else pd.Series(dtype=float)
    out = []
    for e in inp.equipment.index:
        sites = [i for i, k in inp.unit_pairs if k == e]
        of_e = np.flatnonzero(inp.arcs["service"].to_numpy() == e)
        arcs = inp.arcs.iloc[of_e]
        demand = inp.demand[inp.demand.index.get_level_values(1) == e]
        if not sites or demand.empty:
            continue
        zones = list(demand.index.get_level_values(0))
        row = {z: r for r, z in enumerate(zones)}
        col = {i: c for c, i in enumerate(sites)}
        cost = np.full((len(zones), len(sites)), np.inf)
        keep = arcs["site_id"].isin(col).to_numpy()
        picked = arcs[keep]
        cost[[row[z] for z in picked["zone_id"]], [col[i] for i in picked["site_id"]]] = \
            flow_cost[of_e[keep]]
        preload = np.array([float(site_demand.get((i, e), 0.0)) for i in sites])
        out.append(_Equipment(e, sites, demand.to_numpy(float), cost,
                              unmet_cost.loc[list(demand.index)].to_numpy(float),
                              float(inp.equipment.at[e, "capacity"]), preload))
    return out


def _served_cost(eq: _Equipment, units: np.ndarray) -> tuple[float, np.ndarray]:
    """Estimated yearly cost of serving e's demand with `units` per site, and each zone's
    marginal cost (what its last unit of demand costs: an arc's cost, or the referral)."""
    if eq.capacity >= eq.demand.sum() + eq.preload.max():   # one unit serves everyone
        open_cost = np.where(units[None, :] > 0, eq.cost, np.inf).min(axis=1)
        marginal = np.minimum(open_cost, eq.referral)
        return float(eq.demand @ marginal), marginal
    free = np.maximum(units * eq.capacity - eq.preload, 0.0)
    left = eq.demand.copy()
    total = 0.0
    zones, sites = np.nonzero(np.isfinite(eq.cost) & (units[None, :] > 0)
                              & (eq.cost < eq.referral[:, None]))
    order = np.argsort(eq.cost[zones, sites], kind="stable")
    served_at = np.full(len(left), np.inf)
    for z, i in zip(zones[order].tolist(), sites[order].tolist()):
        if left[z] <= 0 or free[i] <= 0:
            continue
        amount = min(left[z], free[i])
        left[z] -= amount
        free[i] -= amount
        total += amount * eq.cost[z, i]
        served_at[z] = eq.cost[z, i]
    total += float(left @ eq.referral)
    marginal = np.where(left > 1e-9, eq.referral, np.minimum(served_at, eq.referral))
    return total, marginal


def _gains(eq: _Equipment, marginal: np.ndarray) -> np.ndarray:
    """(sites,) what one more unit at each site would save: the zones it would serve more
    cheaply, best saving first, up to the unit's capacity."""
    saving = np.maximum(marginal[:, None] - eq.cost, 0.0)        # inf cost -> 0
    order = np.argsort(-saving, axis=0, kind="stable")
    best = np.take_along_axis(saving, order, axis=0)
    amount = eq.demand[order]
    before = np.cumsum(amount, axis=0) - amount
    take = np.clip(eq.capacity - before, 0.0, amount)
    return (best * take).sum(axis=0)


@dataclass
class _State:
    units: dict                  # e -> (sites,) units in service
    new: dict                    # e -> (sites,) new units
    capital_left: float
    site_capital: dict           # site -> capital still allowed there (inf: no limit)


def construction_start(inp: ModelInputs, seconds: float = 10.0) -> dict | None:
    """(site, equipment) -> new units of a greedy plan (module docstring), or None when the
    greedy cover cannot meet every urgent and access row of equipment within the budget."""
    deadline = time.perf_counter() + seconds
    data = _equipment_data(inp)
    coefs = price_book(inp).coefficients()
    sets = index_sets(inp)
    annual_new = dict(zip(sets["NEW_PAIRS"], coefs.get("new_units", [])))
    opex = dict(zip(sets["UNIT_PAIRS"], coefs.get("units", [])))
    new_pairs = set(sets["NEW_PAIRS"])
    state = _State({eq.name: np.array([float(inp.existing.get((i, eq.name), 0.0))
                                       for i in eq.sites]) for eq in data},
                   {eq.name: np.zeros(len(eq.sites)) for eq in data}, float(inp.budget),
                   {i: float(v) for i, v in inp.sites["capital_limit"].items()})

    def addable(eq: _Equipment, c: int) -> bool:
        i, e = eq.sites[c], eq.name
        capex = float(inp.equipment.at[e, "capex"])
        return ((i, e) in new_pairs and capex <= state.capital_left + 1e-6
                and capex <= state.site_capital[i] + 1e-6
                and state.units[e][c] + 1 <= float(inp.equipment.at[e, "max_per_site"]))

    def add(eq: _Equipment, c: int, sign: int = 1) -> None:
        i, e = eq.sites[c], eq.name
        capex = float(inp.equipment.at[e, "capex"])
        state.units[e][c] += sign
        state.new[e][c] += sign
        state.capital_left -= sign * capex
        state.site_capital[i] -= sign * capex

    def unit_cost(eq: _Equipment, c: int) -> float:
        key = (eq.sites[c], eq.name)
        return float(annual_new.get(key, 0.0)) + float(opex.get(key, 0.0))

    if not _cover(inp, data, state, addable, add, unit_cost):
        return None
    added = _greedy_add(data, state, addable, add, unit_cost, deadline)
    _substitute(data, state, addable, add, unit_cost, added, deadline)
    _perturb(data, state, addable, add, unit_cost, added, deadline)
    return {(i, eq.name): int(n) for eq in data for i, n in zip(eq.sites, state.new[eq.name])
            if n > 0}


RESTARTS = 12   # perturbations tried after the first local optimum (a count: deterministic)


def _estimate(data, state: _State, unit_cost) -> float:
    """The heuristic's estimate of the annual cost its units decide (existing units' opex,
    the same in every plan, left out)."""
    return sum(_served_cost(eq, state.units[eq.name])[0]
               + sum(n * unit_cost(eq, c) for c, n in enumerate(state.new[eq.name]) if n)
               for eq in data)


def _snapshot(state: _State, added: list) -> tuple[_State, list]:
    """A copy of the plan and of the list of units the greedy steps added."""
    return (_State({e: u.copy() for e, u in state.units.items()},
                   {e: n.copy() for e, n in state.new.items()},
                   state.capital_left, dict(state.site_capital)), list(added))


def _restore(state: _State, added: list, snapshot: tuple[_State, list]) -> None:
    """Put a snapshot back, in place (the callers' closures hold `state` and `added`)."""
    saved, kept = _snapshot(*snapshot)
    state.units, state.new = saved.units, saved.new
    state.capital_left, state.site_capital = saved.capital_left, saved.site_capital
    added[:] = kept


def _perturb(data, state: _State, addable, add, unit_cost, added, deadline) -> None:
    """Escape the interchange's local optimum: RESTARTS times, drop a third of the units the
    greedy step added (seeded draw), re-add greedily, interchange again, and keep the plan when
    its estimate is lower (a multi-start in the spirit of Resende & Werneck 2004). The count of
    restarts, not the clock, bounds the work, so the start is the same on any machine unless
    the time allowed runs out first."""
    if not added:
        return
    rng = np.random.default_rng(0)
    best, best_total = _snapshot(state, added), _estimate(data, state, unit_cost)
    for _ in range(RESTARTS):
        if time.perf_counter() >= deadline:
            break
        drop = set(rng.choice(len(added), size=max(1, len(added) // 3), replace=False).tolist())
        for n in sorted(drop, reverse=True):
            eq, c = added.pop(n)
            add(eq, c, -1)
        added += _greedy_add(data, state, addable, add, unit_cost, deadline)
        _substitute(data, state, addable, add, unit_cost, added, deadline)
        total = _estimate(data, state, unit_cost)
        if total < best_total - 1e-6:
            best, best_total = _snapshot(state, added), total
        _restore(state, added, best)   # go on from the best plan


def _rows_to_cover(inp: ModelInputs) -> list[tuple[str, set]]:
    """(equipment, covering sites) of every urgent-coverage row and equipment access row."""
    rows: dict[tuple, set] = {}
    for z, c, e, i in inp.cover[["zone_id", "condition", "equipment", "site_id"]].itertuples(
            index=False, name=None):
        rows.setdefault(("urgent", z, c, e), set()).add(i)
    for z, c, e in inp.cover_rows[["zone_id", "condition", "equipment"]].itertuples(
            index=False, name=None):
        rows.setdefault(("urgent", z, c, e), set())
    access = inp.access if inp.access is not None else pd.DataFrame(
        columns=["zone_id", "service", "site_id", "via"])
    for z, k, i, via in access.itertuples(index=False, name=None):
        if via == "units":
            rows.setdefault(("access", z, k, k), set()).add(i)
    return [(key[3], sites) for key, sites in rows.items()]


def _cover(inp, data, state: _State, addable, add, unit_cost) -> bool:
    """Greedy set cover of the rows no unit reaches yet; False when some row cannot be met."""
    by_name = {eq.name: eq for eq in data}
    rows = [(e, sites) for e, sites in _rows_to_cover(inp) if e in by_name]
    while True:
        open_ = {(eq.sites[c], eq.name) for eq in data
                 for c in np.flatnonzero(state.units[eq.name] > 0)}
        uncovered = [(e, s) for e, s in rows if not any((i, e) in open_ for i in s)]
        if not uncovered:
            return True
        best, best_score = None, 0.0
        for eq in data:
            for c, i in enumerate(eq.sites):
                if not addable(eq, c):
                    continue
                hits = sum(1 for e, s in uncovered if e == eq.name and i in s)
                score = hits / max(unit_cost(eq, c), 1e-9)
                if hits and score > best_score:
                    best, best_score = (eq, c), score
        if best is None:
            return False
        add(*best)


def _greedy_add(data, state: _State, addable, add, unit_cost, deadline) -> list:
    """Add the unit of largest net saving while one saves anything (and time remains)."""
    added = []
    marginal = {eq.name: _served_cost(eq, state.units[eq.name])[1] for eq in data}
    while time.perf_counter() < deadline:
        best, best_net = None, 0.0
        for eq in data:
            gains = _gains(eq, marginal[eq.name])
            for c in np.argsort(-gains, kind="stable")[:8].tolist():
                if addable(eq, c):
                    net = gains[c] - unit_cost(eq, c)
                    if net > best_net:
                        best, best_net = (eq, c), net
        if best is None:
            break
        eq, c = best
        before = _served_cost(eq, state.units[eq.name])[0]
        add(eq, c)
        after, new_marginal = _served_cost(eq, state.units[eq.name])
        if before - after <= unit_cost(eq, c):   # the estimate was optimistic: undo and stop
            add(eq, c, -1)
            break
        marginal[eq.name] = new_marginal
        added.append(best)
    return added


def _substitute(data, state: _State, addable, add, unit_cost, added, deadline) -> None:
    """Vertex substitution over the units the greedy step added: each tried at every candidate
    site (SWAP_EVERYWHERE), or at the SWAP_CANDIDATES that would gain most without it; passes
    repeat while one improves the estimate and time remains (Teitz & Bart's interchange, to a
    local optimum)."""
    improved = True
    while improved:
        improved = False
        for n, (eq, c) in enumerate(added):
            if time.perf_counter() >= deadline:
                return
            current = _served_cost(eq, state.units[eq.name])[0] + unit_cost(eq, c)
            add(eq, c, -1)
            _, marginal = _served_cost(eq, state.units[eq.name])
            gains = _gains(eq, marginal)
            best, best_total = c, current
            width = len(eq.sites) if len(added) * len(eq.sites) <= SWAP_EVERYWHERE \
                else SWAP_CANDIDATES
            for d in np.argsort(-gains, kind="stable")[:width].tolist():
                if d != c and addable(eq, d):
                    add(eq, d)
                    total = _served_cost(eq, state.units[eq.name])[0] + unit_cost(eq, d)
                    add(eq, d, -1)
                    if total < best_total - 1e-6:
                        best, best_total = d, total
            add(eq, best)
            if best != c:
                added[n], improved = (eq, best), True


SWAP_CANDIDATES = 16       # sites tried per unit, best gain first...
SWAP_EVERYWHERE = 20_000   # ...or all of them while units added x sites stays below this


def uses_construction_start(inp: ModelInputs, setting: bool | None) -> bool:
    """Whether a solve gets the heuristic start: `setting` when given ([solver]
    construction_start), else by size: models of at least START_FROM_ARCS arcs (the county,
    16,636 arcs, solves to its proven optimum in seconds without it)."""
    return setting if setting is not None else len(inp.arcs) >= START_FROM_ARCS


START_FROM_ARCS = 100_000


__all__ = ["construction_start", "uses_construction_start", "START_FROM_ARCS"]

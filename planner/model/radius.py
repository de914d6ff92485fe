"""The radius formulation of a p-median-like scenario (models/allocation.md, "Formulations for
scale"; issue 22 item 3): where the plan is only "which sites get a unit", the planner decides
the units with this much smaller model and then solves its own model with those units fixed.

A scenario *qualifies* (:func:`why_not` says why not) when its only demand is for one equipment e,
a unit can serve all of it (capacity cannot bind), no unit exists or moves, a unit costs `capex`
of the budget, and no other row reads the units or the flows: no urgent coverage, equity, tier
targets, policy minimums, site-bound exams, [reading] or commitments. Its stage-1 model is then
the facility location problem

    min sum_i F_i y_i + sum_z D_z min(R, min_{i open, (z,i) an arc} c_zi),  sum_i y_i <= P,

with F_i the annual cost of a unit (annual capital + opex), c_zi and R the model's own prices of
an exam served or referred (the ledger), P = floor(budget / capex), y binary (a second unit at a
site costs and serves nothing). Per zone z the distinct costs L_1 < ... < L_G below R and
L_{G+1} = R, u_zk >= 0 (1 when no open site costs at most L_k):

    D_z (L_1 + sum_k (L_{k+1} - L_k) u_zk),  u_z1 + sum_{c_zi = L_1} y_i >= 1,
    u_zk - u_z(k-1) + sum_{c_zi = L_k} y_i >= 0

(Elloumi 2010; Garcia, Labbe & Marin 2011, in the chained form of benchmarks/bench_radius.py).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

from planner.model.highs import SolverOptions, Status, apply_options, new_highs, run, status_of
from planner.model.inputs import ModelInputs, index_sets
from planner.model.ledger import price_book

# HiGHS presolve_rule_off bit of probing: on the radius model of pmed26 probing alone took 19 s
# of a 20 s presolve before the root (benchmarks/README.md, the radius formulation)
PROBING = 1 << 15


@dataclass(frozen=True)
class RadiusProblem:
    """A qualifying scenario's location problem as dense arrays (module docstring)."""

    equipment: str
    sites: list                 # candidate sites (new units allowed), in site order
    fixed: np.ndarray           # (sites,) annual cost of a unit there
    most: int                   # at most this many units (the budget)
    exactly: bool               # some optimal plan opens exactly `most` (:func:`opening_pays`)
    demand: np.ndarray          # (zones,) D_z, zones with demand
    cost: np.ndarray            # (zones, sites) cost of an exam served there; inf: no arc
    referral: np.ndarray        # (zones,) cost of an exam referred out
    # (zones,) served at a site of its own arcs, never referred (worst-minutes' solve 2 within a
    # radius: `cost` then holds only the arcs within it); None: referral allowed everywhere
    must_serve: np.ndarray | None = None


@dataclass(frozen=True)
class RadiusResult:
    status: Status
    units: dict                 # (site, equipment) -> 1 for each open site
    objective: float | None
    bound: float | None
    mip_gap: float | None
    seconds: float


def why_not(inp: ModelInputs) -> str | None:
    """None when the scenario qualifies for the radius formulation, else the first reason it
    does not (module docstring; the proof is in models/allocation.md)."""
    services = set(inp.demand.index.get_level_values("service"))
    checks = [
        (len(services) == 1 and services <= set(inp.equipment.index),
         "demand for other than one equipment"),
        (not inp.policy_soft, "a game of stage 2"),
        (inp.existing.empty and inp.moves.empty, "existing units"),
        (inp.cover_rows.empty, "urgent coverage"),
        (inp.access_rows.empty and inp.share_rows.empty, "equity limits"),
        (inp.in_county_share.empty and inp.grassroots_share.empty, "tier targets"),
        (not any(inp.min_days > 0), "policy minimums"),
        (inp.site_demand.empty, "site-bound exams"),
        (not inp.reading_centres, "[reading]"),
        (inp.commitments.empty, "commitments (implemented.csv)"),
        (not np.isfinite(inp.sites["capital_limit"].to_numpy(float)).any(),
         "per-site capital limits"),
    ]
    for ok, reason in checks:
        if not ok:
            return reason
    e = next(iter(services))
    eq = inp.equipment.loc[e]
    if float(eq["capacity"]) < float(inp.demand.sum()):
        return "capacity can bind (a unit cannot serve all demand)"
    if not float(eq["max_per_site"]) >= 1 or not float(eq["capex"]) > 0:
        return "max_per_site 0 or free units"
    if not math.isfinite(float(inp.budget)):
        return "no finite budget"
    return None


def problem(inp: ModelInputs, within: float | None = None) -> RadiusProblem:
    """The location problem of a qualifying scenario, priced by the ledger (the objective's own
    coefficients: one formula in one place). `within`: only the arcs of at most that many
    minutes, and every zone with demand served on one of them (the least cost at a worst trip
    of `within`, solve 2 of the worst-minutes goal)."""
    sets = index_sets(inp)
    coefs = price_book(inp).coefficients()
    e = str(inp.demand.index.get_level_values("service")[0])
    new = dict(zip(sets["NEW_PAIRS"], coefs.get("new_units", np.zeros(0))))
    opex = dict(zip(sets["UNIT_PAIRS"], coefs.get("units", np.zeros(0))))
    sites = [i for i, k in sets["NEW_PAIRS"] if k == e]
    zones = [z for z, _ in sets["DEMAND"]]
    cost = np.full((len(zones), len(sites)), np.inf)
    row = {z: r for r, z in enumerate(zones)}
    col = {i: c for c, i in enumerate(sites)}
    flow = coefs.get("flow", np.zeros(len(inp.arcs)))
    limit = math.inf if within is None else within + 1e-9
    for z, i, c, t in zip(inp.arcs["zone_id"], inp.arcs["site_id"], flow, inp.arcs["minutes"]):
        if i in col and t <= limit:
            cost[row[z], col[i]] = c
    most = math.floor(float(inp.budget) / float(inp.equipment.at[e, "capex"]) + 1e-9)
    fixed = np.array([float(new.get((i, e), 0.0)) + float(opex.get((i, e), 0.0))
                      for i in sites])
    demand, referral = inp.demand.to_numpy(float), np.asarray(coefs["unmet"], dtype=float)
    must_serve = None if within is None else demand > 0
    return RadiusProblem(equipment=e, sites=sites, fixed=fixed, most=min(most, len(sites)),
                         exactly=opening_pays(fixed, demand, cost, referral), demand=demand,
                         cost=cost, referral=referral, must_serve=must_serve)


def opening_pays(fixed: np.ndarray, demand: np.ndarray, cost: np.ndarray,
                 referral: np.ndarray) -> bool:
    """Whether opening one more site never raises the cost: every candidate i is the only
    cheapest site of some zone z that saves at least the unit's cost by it, D_z (L_2 - L_1) >=
    F_i (L_2: the zone's next cost, or its referral). Then, while fewer than `most` are open,
    opening any closed site is no worse, so some optimal plan opens exactly `most` (models/
    allocation.md): true of OR-Library's pmed (each node its own site at distance 0)."""
    best = np.full(cost.shape[1], -np.inf)      # per site: the largest saving it alone gives
    for z in range(len(demand)):
        row = cost[z][cost[z] < referral[z]]
        if len(row) == 0:
            continue
        first = np.nonzero(cost[z] == row.min())[0]
        if len(first) == 1:
            second = np.min(row[row > row.min()], initial=referral[z])
            best[first[0]] = max(best[first[0]], demand[z] * (second - row.min()))
    return bool(np.all(best >= fixed))


def radius_lp(prob: RadiusProblem) -> highspy.HighsLp:
    """The HighsLp of the radius formulation: columns y (one per candidate site), then each
    zone's u; rows the chained covering rows, then sum y <= most (= most when some optimal plan
    opens exactly `most`: then at most n - most sites are closed, and a level whose ball holds
    n - most + 1 sites always holds an open one: it and the later levels are not written,
    Garcia, Labbe & Marin's reduction)."""
    n = len(prob.sites)
    reach = n - prob.most + 1 if prob.exactly else n + 1
    rows, cols, vals, costs, lower, upper = [], [], [], [prob.fixed], [], [np.ones(n)]
    offset, next_col, next_row = 0.0, n, 0
    for z, d in enumerate(prob.demand):
        serve = prob.must_serve is not None and bool(prob.must_serve[z])
        # a zone that must be served may use any of its arcs; its last u (referred) is held at 0
        cheaper = np.nonzero(np.isfinite(prob.cost[z]) if serve
                             else prob.cost[z] < prob.referral[z])[0]
        if len(cheaper) == 0:
            offset += d * prob.referral[z]
            continue
        levels, level_of = np.unique(prob.cost[z, cheaper], return_inverse=True)
        within = np.cumsum(np.bincount(level_of, minlength=len(levels)))
        g = int(np.searchsorted(within, reach))   # levels 0..g-1 have a u (all: g = G)
        offset += d * levels[0]
        if g == 0:
            continue
        u = next_col + np.arange(g)
        beyond = levels[-1] if serve else prob.referral[z]
        costs.append(d * np.diff(np.r_[levels, beyond])[:g])
        upper.append(np.r_[np.full(g - 1, highspy.kHighsInf),
                           0.0 if serve and g == len(levels) else highspy.kHighsInf])
        cheaper, level_of = cheaper[level_of < g], level_of[level_of < g]
        rows += [next_row + np.arange(g), next_row + np.arange(1, g), next_row + level_of]
        cols += [u, u[:-1], cheaper]
        vals += [np.ones(g), -np.ones(g - 1), np.ones(len(cheaper))]
        lower.append(np.r_[1.0, np.zeros(g - 1)])
        next_col += g
        next_row += g
    rows.append(np.full(n, next_row))
    cols.append(np.arange(n))
    vals.append(np.ones(n))
    matrix = sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                   np.concatenate(cols))),
                           shape=(next_row + 1, next_col))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = next_col, next_row + 1
    lp.col_cost_ = np.concatenate(costs)
    lp.col_lower_ = np.zeros(next_col)
    lp.col_upper_ = np.concatenate(upper)
    lp.row_lower_ = np.r_[np.concatenate(lower) if lower else np.zeros(0),
                          float(prob.most) if prob.exactly else -highspy.kHighsInf]
    lp.row_upper_ = np.r_[np.full(next_row, highspy.kHighsInf), float(prob.most)]
    lp.offset_ = offset
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = matrix.indptr
    lp.a_matrix_.index_ = matrix.indices
    lp.a_matrix_.value_ = matrix.data
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = next_col, next_row + 1
    return lp


def solve(prob: RadiusProblem, options: SolverOptions, start: dict | None = None
          ) -> RadiusResult:
    """The radius model solved by HiGHS with the plan's options (time limit, gap, seed,
    threads), presolve's probing off; `start` ((site, equipment) -> new units, the greedy
    plan) as its first incumbent."""
    began = time.perf_counter()
    n = len(prob.sites)
    h = new_highs()
    h.passModel(radius_lp(prob))
    h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                            np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
    apply_options(h, options)                     # the plan's own options, and
    h.setOptionValue("presolve_rule_off", PROBING)  # presolve's probing off
    if start:
        y = np.array([1.0 if start.get((i, prob.equipment), 0) > 0 else 0.0
                      for i in prob.sites])
        h.setSolution(n, np.arange(n, dtype=np.int32), y)
    run(h, options.threads)
    info = h.getInfo()
    status = status_of(h)
    if info.primal_solution_status != 2:
        return RadiusResult(status, {}, None, None, None, time.perf_counter() - began)
    y = np.asarray(h.getSolution().col_value[:n])
    units = {(i, prob.equipment): 1 for i, v in zip(prob.sites, y) if v > 0.5}
    gap = float(info.mip_gap) if math.isfinite(info.mip_gap) else 0.0
    return RadiusResult(status, units, float(info.objective_function_value),
                        float(info.mip_dual_bound), gap, time.perf_counter() - began)


def radius_units(inp: ModelInputs, options: SolverOptions,
                 greedy: Callable[[], dict | None],
                 within: float | None = None) -> RadiusResult | None:
    """The units of a qualifying scenario's plan by the radius formulation, `greedy()` (the
    greedy plan, computed only when the scenario qualifies) its first incumbent; `within`: at
    a worst trip of that many minutes (:func:`problem`). None when the scenario does not qualify
    (:func:`why_not`), a zone has no arc within the radius, or HiGHS found no plan of it."""
    if why_not(inp) is not None:
        return None
    prob = problem(inp, within)
    if prob.must_serve is not None and not np.all(
            np.isfinite(prob.cost[prob.must_serve]).any(axis=1)):
        return None
    found = solve(prob, options, greedy())
    return found if found.objective is not None else None

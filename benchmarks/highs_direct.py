"""Reference builder: the planner's MILP built directly with highspy from a ModelInputs.

An independent second writing of models/allocation.md: same columns, rows, coefficients and
bounds as planner/model/families.py handed over by planner/model/highs.py, in the same order
(column blocks of COLUMN_BLOCKS; row families in the order of planner.model.families.FAMILIES),
assembled with numpy into one CSC matrix and passed to HiGHS with `passModel`. It reads only the
ModelInputs, never the planner's model, so `compare_lp` (entry by entry) finds a family, a term
or a bound that one of the two gets wrong; `compare_options` checks the HiGHS options.
tests/test_model_source.py holds the two to the same model and optimum on small scenarios
(equity rows, soft coverage and the games' priced shortfalls included); the benchmarks divide
the planner's build + hand-over time by this builder's time.

Duplicate (row, column) entries are summed, as the planner's hand-over does.

    python benchmarks/highs_direct.py                  # default scenario: check and time
    python benchmarks/highs_direct.py --pmed 1 2 3     # OR-Library pmed1..3
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import highspy
import numpy as np
import pandas as pd
import scipy.sparse as sp

import planner
from planner.model.families import build_model
from planner.model.highs import HighsModel, SolverOptions, Status, new_highs, run, status_of
from planner.model.inputs import ModelInputs, model_inputs
from planner.planning.session import PlanningSession, solver_options
from planner.scenario.orlib import load_pmed

INF = highspy.kHighsInf
ORLIB = Path(__file__).resolve().parent / "orlib"
COLUMN_BLOCKS = ("new_units", "relocated", "units", "outreach_days", "flow", "unmet", "uncovered",
                 "policy_shortfall", "access_shortfall", "share_shortfall", "member_in",
                 "remote_reads", "reads_bought", "hired_radiologists")


@dataclass
class DirectResult:
    status: Status
    objective: float | None
    bound: float | None
    mip_gap: float | None
    seconds: float


class _Rows:
    """Collects (row, column, value) triplets and row bounds, one family at a time."""

    def __init__(self):
        self.rows, self.cols, self.vals, self.lower, self.upper = [], [], [], [], []
        self.count = 0
        self.families: dict[str, int] = {}

    def family(self, name: str, lower, upper, *entries) -> None:
        """Rows 0..len(lower)-1 of one family; entries are (local_row, column, value) arrays."""
        lower = np.asarray(lower, dtype=float)
        n = len(lower)
        self.families[name] = n
        if n == 0:
            return
        for r, c, v in entries:
            r = np.asarray(r, dtype=np.int64)
            self.rows.append(r + self.count)
            self.cols.append(np.asarray(c, dtype=np.int64))
            self.vals.append(np.broadcast_to(np.asarray(v, dtype=float), r.shape))
        self.lower.append(lower)
        self.upper.append(np.broadcast_to(np.asarray(upper, dtype=float), lower.shape))
        self.count += n

    def matrix(self, num_col: int) -> sp.csc_matrix:
        coo = sp.coo_matrix((_joined(self.vals, float), (_joined(self.rows, np.int64),
                                                         _joined(self.cols, np.int64))),
                            shape=(self.count, num_col))
        csc = coo.tocsc()   # duplicate (row, column) entries summed
        csc.eliminate_zeros()  # as HiGHS does with the zero coefficients Pyomo hands over
        csc.sort_indices()
        return csc


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    """The parts end to end (an empty array of `dtype` for none)."""
    return np.concatenate(parts) if parts else np.zeros(0, dtype)


def _unbounded_below(n: int) -> np.ndarray:
    """Lower bounds of n rows that have none (<= rows)."""
    return np.full(n, -INF)


def _positions(index: pd.Index, keys) -> np.ndarray:
    """Positions of keys in index (all must be present)."""
    pos = index.get_indexer(keys)
    if (pos < 0).any():
        raise KeyError("key missing from a column block")
    return pos


def _mi(frame: pd.DataFrame, columns: list[str]) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[columns]) if len(frame) else \
        pd.MultiIndex.from_arrays([[]] * len(columns))


def build_lp(inp: ModelInputs) -> tuple[highspy.HighsLp, np.ndarray, dict]:
    """The planning MILP of planner/model/families.py: a HighsLp (column-wise matrix), the integer
    columns (HighsLp.integrality_ takes only a list of enum objects, so they are set in bulk
    after passModel) and the number of columns per block and rows per family."""
    eq, spec = inp.equipment, inp.specialties
    sites, specialties, members = inp.sites.index, spec.index, inp.budget_share.index
    arcs, existing = inp.arcs, inp.existing
    moves = inp.moves.reset_index(drop=True)

    # --- columns, in the order of model.add_variables ------------------------------------------
    new_idx = _mi(inp.new_pairs, ["site_id", "equipment"])
    unit_idx = pd.MultiIndex.from_tuples(inp.unit_pairs) if inp.unit_pairs else \
        pd.MultiIndex.from_arrays([[], []])
    demand_idx = inp.demand.index
    cover_idx = _mi(inp.cover_rows, ["zone_id", "condition"])
    grass = sites[inp.sites["grassroots"].to_numpy()]
    with_min = inp.min_days.index[inp.min_days > 0]
    pol_site, pol_spec = np.repeat(grass, len(with_min)), np.tile(with_min, len(grass))
    access_idx = _mi(inp.access_rows, ["zone_id", "service"])
    share_idx = _mi(inp.share_rows, ["zone_id", "service"])
    # [reading]: the centres, and the other sites with possible exams (an equipment arc or
    # site-bound exams), in site order
    centres = list(inp.reading_centres)
    bound = getattr(inp, "site_demand", None)
    bound = pd.Series(dtype=float) if bound is None or not len(bound) else \
        bound[bound.index.get_level_values(1).isin(eq.index)].groupby(level=0).sum()
    with_exams = set(arcs.loc[arcs["service"].isin(eq.index), "site_id"]) | \
        set(bound.index[bound > 0])
    remote = [i for i in sites if i in with_exams and i not in centres] if centres else []
    sizes = [len(new_idx), len(moves), len(unit_idx), len(sites) * len(specialties), len(arcs),
             len(demand_idx), len(cover_idx), len(pol_site), len(access_idx), len(share_idx),
             len(members), len(remote), len(remote), len(centres)]
    start = dict(zip(COLUMN_BLOCKS, np.concatenate([[0], np.cumsum(sizes)[:-1]]).tolist()))
    num_col = int(sum(sizes))
    n0, r0, u0, d0, f0, m0, c0, p0, a0, s0, b0, q0, w0, h0 = (start[k] for k in COLUMN_BLOCKS)

    lb, ub = np.zeros(num_col), np.full(num_col, INF)
    from_key = _mi(moves, ["from_site", "equipment"])
    existing_from = existing.reindex(from_key).to_numpy(float) if len(moves) else np.zeros(0)
    ub[r0:u0] = existing_from
    ub[c0:p0] = 1.0 if inp.urgent_soft else 0.0      # uncovered: [0, 1], fixed to 0 if hard
    if not inp.policy_soft:
        ub[p0:a0] = 0.0                              # policy_shortfall fixed to 0
    ub[a0:s0] = 1.0 if inp.equity_soft else 0.0      # access_shortfall: [0, 1], fixed to 0
    if not inp.equity_soft:
        ub[s0:b0] = 0.0                              # share_shortfall fixed to 0
    lb[b0:q0], ub[b0:q0] = 1.0, 1.0                  # member_in fixed to 1 (stage 1)
    if not inp.reading_soft:
        ub[w0:h0] = 0.0                              # reads_bought fixed to 0
    integer = np.r_[np.arange(n0, f0), np.arange(b0, q0), np.arange(h0, num_col)]

    member_pos = pd.Index(members)
    site_member = b0 + _positions(member_pos, inp.sites["member"])   # by site position
    site_pos, spec_pos = pd.Index(sites), pd.Index(specialties)

    def member_of(site_ids):
        return site_member[_positions(site_pos, site_ids)]

    def day_col(site_ids, specs):
        return d0 + _positions(site_pos, site_ids) * len(specialties) + _positions(spec_pos, specs)

    equipment_arc = arcs["service"].isin(eq.index).to_numpy()
    arc_pos = np.arange(len(arcs))
    rows = _Rows()

    # units_in_service: units - existing*member_in - new - sum(in) + sum(out) = 0
    k = np.arange(len(unit_idx))
    mv = np.arange(len(moves))
    in_u = _positions(unit_idx, _mi(moves, ["to_site", "equipment"])) if len(moves) else mv
    out_u = _positions(unit_idx, from_key) if len(moves) else mv
    ex = existing.reindex(unit_idx, fill_value=0.0).to_numpy(float) if len(unit_idx) else k * 0.
    unit_site = unit_idx.get_level_values(0)
    rows.family("units_in_service", np.zeros(len(k)), 0.0, (k, u0 + k, 1.0),
                (k, member_of(unit_site), -ex),
                (_positions(unit_idx, new_idx), n0 + np.arange(len(new_idx)), -1.0),
                (in_u, r0 + mv, -1.0), (out_u, r0 + mv, 1.0))

    # demand_balance: sum_i flow + unmet - demand*member_in[home(z)] = 0
    d = np.arange(len(demand_idx))
    demand_of_arc = _positions(demand_idx, _mi(arcs, ["zone_id", "service"]))
    dem = inp.demand.to_numpy(float)
    home = b0 + _positions(member_pos, inp.zones["home_member"].reindex(
        demand_idx.get_level_values(0)))
    rows.family("demand_balance", np.zeros(len(d)), 0.0, (demand_of_arc, f0 + arc_pos, 1.0),
                (d, m0 + d, 1.0), (d, home, -dem))

    # equipment_capacity: sum_z flow + site_demand*member_in[m(i)] - capacity * units <= 0, keys
    # (site, equipment) with arcs or site-bound demand, sorted; a units term where units can be
    ea = arc_pos[equipment_arc]
    keys = _mi(arcs[equipment_arc], ["site_id", "service"])
    site_bound = inp.site_demand
    pairs = sorted(set(keys) | set(site_bound.index))
    uniq = pd.MultiIndex.from_tuples(pairs) if pairs else pd.MultiIndex.from_arrays([[], []])
    held = np.nonzero(uniq.isin(unit_idx))[0] if pairs else np.zeros(0, dtype=np.int64)
    rows.family("equipment_capacity", _unbounded_below(len(uniq)), 0.0,
                (uniq.get_indexer(keys), f0 + ea, 1.0),
                (uniq.get_indexer(site_bound.index),
                 member_of(site_bound.index.get_level_values(0)), site_bound.to_numpy(float)),
                (held, u0 + _positions(unit_idx, uniq[held]),
                 -eq["capacity"].reindex(uniq[held].get_level_values(1)).to_numpy()))

    # equipment_linking: flow - demand[z,e] * units <= 0, except where units can never be zero
    movable = set(from_key) if len(moves) else set()
    fixed = [key for key in existing.index if key not in movable]
    linked = ~keys.isin(fixed) if fixed else np.ones(len(ea), dtype=bool)
    la = ea[linked]
    j = np.arange(len(la))
    rows.family("equipment_linking", _unbounded_below(len(la)), 0.0, (j, f0 + la, 1.0),
                (j, u0 + _positions(unit_idx, keys[linked]), -dem[demand_of_arc[la]]))

    # specialist_capacity: sum_z flow - visits_per_day*days - clinic_visits*member_in <= 0
    sa = arc_pos[~equipment_arc]
    skeys = _mi(arcs[~equipment_arc], ["site_id", "service"])
    suniq = skeys.unique().sort_values()
    s_site, s_spec = suniq.get_level_values(0), suniq.get_level_values(1)
    q = np.arange(len(suniq))
    clinic = inp.clinic_visits.reindex(suniq, fill_value=0.0).to_numpy(float) if len(suniq) \
        else q * 0.
    rows.family("specialist_capacity", _unbounded_below(len(suniq)), 0.0,
                (suniq.get_indexer(skeys), f0 + sa, 1.0),
                (q, day_col(s_site, s_spec), -spec["visits_per_day"].reindex(s_spec).to_numpy()),
                (q, member_of(s_site), -clinic))

    # specialist_supply: sum_i days[i,s] - sum_i pool_at[i,s]*member_in[m(i)] <= 0
    holders = inp.pool_at.index
    rows.family("specialist_supply", _unbounded_below(len(specialties)), 0.0,
                (np.tile(np.arange(len(specialties)), len(sites)),
                 d0 + np.arange(len(sites) * len(specialties)), 1.0),
                (_positions(spec_pos, holders.get_level_values(1)),
                 member_of(holders.get_level_values(0)), -inp.pool_at.to_numpy(float)))

    # policy_minimum_outreach: days + shortfall - min_days*member_in >= 0 at grassroots sites
    g = np.arange(len(pol_site))
    rows.family("policy_minimum_outreach", np.zeros(len(g)), INF,
                (g, day_col(pol_site, pol_spec), 1.0), (g, p0 + g, 1.0),
                (g, member_of(pol_site), -inp.min_days.reindex(pol_spec).to_numpy(float)))

    # capital_budget: capex*new + relocation_cost*relocated - sum_m budget_share*member_in <= 0
    capex_new = eq["capex"].reindex(new_idx.get_level_values(1)).to_numpy(float)
    reloc = eq["relocation_cost"].fillna(0.0).reindex(moves["equipment"]).to_numpy(float)
    budget_rows = 1 if len(new_idx) + len(moves) else 0
    nm = np.arange(len(members))
    rows.family("capital_budget", _unbounded_below(budget_rows), 0.0,
                *([(np.zeros(len(new_idx)), n0 + np.arange(len(new_idx)), capex_new),
                   (np.zeros(len(moves)), r0 + mv, reloc),
                   (np.zeros(len(members)), b0 + nm, -inp.budget_share.to_numpy(float))]
                  if budget_rows else []))

    # site_capital_limit: capital spent at site i (new + moved in) <= capital_limit[i]
    limit = inp.sites["capital_limit"]
    new_site, to_site = new_idx.get_level_values(0), moves["to_site"]
    limited = [i for i in sites if np.isfinite(limit[i])
               and ((new_site == i).any() or (to_site == i).any())]
    lim_pos = pd.Index(limited)
    rn, rm = lim_pos.get_indexer(new_site), lim_pos.get_indexer(to_site)
    rows.family("site_capital_limit", _unbounded_below(len(limited)),
                limit.reindex(limited).to_numpy(float),
                (rn[rn >= 0], n0 + np.nonzero(rn >= 0)[0], capex_new[rn >= 0]),
                (rm[rm >= 0], r0 + np.nonzero(rm >= 0)[0], reloc[rm >= 0]))

    # max_units_per_site: units <= max_per_site[e] where finite
    unit_e = unit_idx.get_level_values(1)
    max_e = eq["max_per_site"].reindex(unit_e).to_numpy(float)
    capped = np.nonzero(np.isfinite(max_e))[0]
    rows.family("max_units_per_site", _unbounded_below(len(capped)), max_e[capped],
                (np.arange(len(capped)), u0 + capped, 1.0))

    # relocation_limit: sum_j relocated[i,j,e] - existing[i,e]*member_in[m(i)] <= 0
    ouniq = from_key.unique().sort_values()
    o = np.arange(len(ouniq))
    rows.family("relocation_limit", _unbounded_below(len(ouniq)), 0.0,
                (ouniq.get_indexer(from_key), r0 + mv, 1.0),
                (o, member_of(ouniq.get_level_values(0)),
                 -existing.reindex(ouniq).to_numpy(float) if len(ouniq) else o * 0.))

    # membership links: new <= max_new*member_in, relocated <= existing*member_in[m(to)],
    # days <= max_days*member_in; coalition_size: min_members <= sum member_in <= max_members
    def most_useful(e):   # model._most_useful_units: the big-M of membership_new_units
        limit_e = eq.at[e, "max_per_site"]
        if np.isfinite(limit_e):
            return float(limit_e)
        total = inp.demand[demand_idx.get_level_values("service") == e].sum() + \
            inp.site_demand[inp.site_demand.index.get_level_values("service") == e].sum()
        return float(max(1, np.ceil(total / eq.at[e, "capacity"])))
    big_m = {e: most_useful(e) for e in eq.index}
    nn = np.arange(len(new_idx))
    rows.family("membership_new_units", _unbounded_below(len(nn)), 0.0, (nn, n0 + nn, 1.0),
                (nn, member_of(new_site), [big_m[e] * -1 for e in new_idx.get_level_values(1)]))
    rows.family("membership_relocation", _unbounded_below(len(mv)), 0.0, (mv, r0 + mv, 1.0),
                (mv, member_of(to_site), -existing_from))
    nd = np.arange(len(sites) * len(specialties))
    rows.family("membership_outreach", _unbounded_below(len(nd)), 0.0, (nd, d0 + nd, 1.0),
                (nd, np.repeat(site_member, len(specialties)),
                 -np.tile(inp.pool.reindex(specialties).to_numpy(float), len(sites))))
    rows.family("coalition_size", [0.0], [float(len(members))], (np.zeros(len(nm)), b0 + nm, 1.0))

    # urgent_coverage: sum units in reach + uncovered - member_in[home(z)] >= 0
    cover = inp.cover
    cu = unit_idx.get_indexer(_mi(cover, ["site_id", "equipment"]))
    cr = cover_idx.get_indexer(_mi(cover, ["zone_id", "condition"]))
    cz = np.arange(len(cover_idx))
    rows.family("urgent_coverage", np.zeros(len(cz)), INF,
                (cr[cu >= 0], u0 + cu[cu >= 0], 1.0), (cz, c0 + cz, 1.0),
                (cz, b0 + _positions(member_pos, inp.zones["home_member"].reindex(
                    cover_idx.get_level_values(0))), -1.0))

    # access_guarantee: units / outreach days / clinics (member_in) in reach + access_shortfall
    # - member_in[home(z)] >= 0
    access = inp.access
    ar = access_idx.get_indexer(_mi(access, ["zone_id", "service"]))
    via = access["via"].to_numpy(object) if len(access) else np.zeros(0, object)
    acol = np.zeros(len(access), dtype=np.int64)
    by_units, by_days, by_clinic = via == "units", via == "days", via == "clinic"
    if by_units.any():
        acol[by_units] = u0 + _positions(unit_idx, _mi(access[by_units], ["site_id", "service"]))
    if by_days.any():
        acol[by_days] = day_col(access["site_id"][by_days], access["service"][by_days])
    if by_clinic.any():
        acol[by_clinic] = member_of(access["site_id"][by_clinic])
    az = np.arange(len(access_idx))
    rows.family("access_guarantee", np.zeros(len(az)), INF, (ar, acol, 1.0), (az, a0 + az, 1.0),
                (az, b0 + _positions(member_pos, inp.zones["home_member"].reindex(
                    access_idx.get_level_values(0))), -1.0))

    # min_served_share: sum_i flow[z,i,k] + share_shortfall - served_share[k]*demand[z,k]
    # * member_in[home(z)] >= 0
    sz = np.arange(len(share_idx))
    sr = share_idx.get_indexer(_mi(arcs, ["zone_id", "service"])) if len(share_idx) \
        else np.full(len(arcs), -1)
    floor = (inp.served_share.reindex(share_idx.get_level_values(1)).to_numpy(float)
             * inp.demand.reindex(share_idx).to_numpy(float)) if len(share_idx) else sz * 0.
    rows.family("min_served_share", np.zeros(len(sz)), INF,
                (sr[sr >= 0], f0 + arc_pos[sr >= 0], 1.0), (sz, s0 + sz, 1.0),
                (sz, b0 + _positions(member_pos, inp.zones["home_member"].reindex(
                    share_idx.get_level_values(0))), -floor))

    # tier targets, one row per service with a target, the demand's member_in terms summed per
    # member: in_county_target: sum_z unmet[z,k] + (share-1)*sum_z demand[z,k]*member_in <= 0;
    # grassroots_target: sum flow[z,i,k] at grassroots sites i - share*sum_z demand*member_in >= 0
    demand_service = demand_idx.get_level_values(1)
    demand_member = b0 + _positions(member_pos, inp.zones["home_member"].reindex(
        demand_idx.get_level_values(0)))
    demand_value = inp.demand.to_numpy(float)
    grass_arc = arcs["site_id"].map(inp.sites["grassroots"]).to_numpy(bool)
    for name, share, lower, upper, factor, own in (
            ("in_county_target", inp.in_county_share, -INF, 0.0, lambda s: s - 1.0, None),
            ("grassroots_target", inp.grassroots_share, 0.0, INF, lambda s: -s, grass_arc)):
        services = pd.Index(share.index)
        dr = services.get_indexer(demand_service)
        on = dr >= 0
        coef = factor(share.reindex(demand_service[on]).to_numpy(float)) * demand_value[on]
        if own is None:   # the unmet column of every demand row of a target's service
            own_entry = (dr[on], m0 + np.nonzero(on)[0], 1.0)
        else:             # the flow column of every grassroots arc of a target's service
            ar_ = services.get_indexer(arcs["service"]) if len(services) else \
                np.full(len(arcs), -1)
            keep = (ar_ >= 0) & own
            own_entry = (ar_[keep], f0 + arc_pos[keep], 1.0)
        rows.family(name, np.full(len(services), lower), upper, own_entry,
                    (dr[on], demand_member[on], coef))

    # [reading] exams[i] = sum flow[z,i,e] over equipment + site-bound exams[i]*member_in[m(i)]
    # reading_overflow: remote_reads + reads_bought - exams >= -radiologists*reads_per_radiologist
    # reading_capacity: exams at centres + sum remote_reads - rpr*hired
    # - rpr*radiologists[c]*member_in[m(c)] <= 0 (one row, only with [reading]);
    # membership_hired: hired[c] - max_hired*member_in[m(c)] <= 0
    rpr = float(inp.reads_per_radiologist)
    fte = (inp.radiologists if inp.radiologists is not None else pd.Series(dtype=float))
    remote_pos = pd.Index(remote)
    eq_site = arcs["site_id"].to_numpy(object)[equipment_arc]
    ro = remote_pos.get_indexer(eq_site)
    bound_sites = [i for i in bound.index if i in remote]
    nr = np.arange(len(remote))
    rows.family("reading_overflow", -fte.reindex(remote, fill_value=0.0).to_numpy(float) * rpr,
                INF, (nr, q0 + nr, 1.0), (nr, w0 + nr, 1.0),
                (ro[ro >= 0], f0 + arc_pos[equipment_arc][ro >= 0], -1.0),
                (remote_pos.get_indexer(bound_sites), member_of(bound_sites),
                 -bound.reindex(bound_sites).to_numpy(float)))
    nc = np.arange(len(centres))
    at_centre = pd.Index(centres).get_indexer(eq_site) >= 0
    centre_bound = [c for c in bound.index if c in centres]
    rows.family("reading_capacity", _unbounded_below(1 if centres else 0), 0.0,
                *([(np.zeros(int(at_centre.sum())), f0 + arc_pos[equipment_arc][at_centre], 1.0),
                   (np.zeros(len(centre_bound)), member_of(centre_bound),
                    bound.reindex(centre_bound).to_numpy(float)),
                   (np.zeros(len(remote)), q0 + nr, 1.0),
                   (np.zeros(len(centres)), h0 + nc, -rpr),
                   (np.zeros(len(centres)), member_of(centres),
                    -fte.reindex(centres, fill_value=0.0).to_numpy(float) * rpr)]
                  if centres else []))
    every_exam = float(inp.demand[demand_idx.get_level_values(1).isin(eq.index)].sum()) + \
        float(bound.sum())
    commits = inp.commitments
    committed = commits.loc[(commits["decision"] == "hired_radiologists")
                            & (commits["limit"] != "at_most"), "amount"].astype(float).tolist()
    max_hired = float(max([1, np.ceil(every_exam / rpr)] + committed)) if centres else 0.0
    rows.family("membership_hired", _unbounded_below(len(centres)), 0.0, (nc, h0 + nc, 1.0),
                (nc, member_of(centres), -max_hired))

    # equipment_rounding (a valid inequality): per equipment e with demand,
    # sum_i units[i,e] + w*sum_z unmet[z,e] >= r, with b = (the zones' demand + the
    # site-bound exams) / capacity (b = 0 in the games, where the row is off until a coalition
    # solve sets it) and
    # f = b - floor(b): r = ceil(b), w = 1/(capacity*f); r = b, w = 1/capacity when f < 1e-3
    unmet_service = demand_idx.get_level_values(1)
    rounded = pd.Index([e for e in eq.index if (unmet_service == e).any()])
    capacity = eq["capacity"].reindex(rounded).to_numpy(float)
    bound_service = inp.site_demand.index.get_level_values("service")
    b = np.array([0.0 if inp.policy_soft else
                  inp.demand.to_numpy(float)[unmet_service == e].sum()
                  + inp.site_demand.to_numpy(float)[bound_service == e].sum() for e in rounded]) \
        / capacity
    f = b - np.floor(b)
    whole = f < 1e-3
    weight = 1.0 / (capacity * np.where(whole, 1.0, f))
    ur = rounded.get_indexer(unit_idx.get_level_values(1)) if len(rounded) else \
        np.full(len(unit_idx), -1)
    mr = rounded.get_indexer(unmet_service) if len(rounded) else np.full(len(demand_idx), -1)
    rows.family("equipment_rounding", np.where(whole, b, np.ceil(b)), INF,
                (ur[ur >= 0], u0 + np.nonzero(ur >= 0)[0], 1.0),
                (mr[mr >= 0], m0 + np.nonzero(mr >= 0)[0], weight[mr[mr >= 0]]))

    # --- objective (model.system_cost) ----------------------------------------------------------
    cost = np.zeros(num_col)
    cost[n0:r0] = eq["annual_capex"].reindex(new_idx.get_level_values(1)).to_numpy(float)
    cost[r0:u0] = reloc
    cost[u0:d0] = eq["opex"].reindex(unit_e).to_numpy(float)
    cost[d0:f0] = np.tile(spec["cost_per_day"].to_numpy(float), len(sites))
    # travel and per-exam cost, written here again on purpose: the reference is independent
    per_exam = pd.concat([eq["cost_per_exam"], pd.Series(0.0, index=spec.index)])
    cost[f0:m0] = (arcs["minutes"].to_numpy(float) * inp.value_per_minute
                   + arcs["service"].map(per_exam).to_numpy(float))
    referral = pd.concat([eq["referral_cost"], spec["referral_cost"]])
    cost[m0:c0] = referral.reindex(demand_idx.get_level_values(1)).to_numpy(float)
    if inp.urgent_soft:   # per zone, plus each of its urgent cases priced as late
        cost[c0:p0] = inp.penalty_per_zone + inp.cover_rows["cases"].to_numpy(float) \
            * inp.cost_per_late_case
    if inp.policy_soft:
        cost[p0:a0] = inp.shortfall_price.reindex(pol_spec).to_numpy(float)
    if inp.equity_soft:
        cost[a0:s0] = inp.access_penalty
        cost[s0:b0] = inp.share_penalty
    if centres:   # a hired radiologist's year; in the games, a bought read at its share of it
        cost[h0:] = inp.radiologist_cost
        if inp.reading_soft:
            cost[w0:h0] = inp.radiologist_cost / rpr
    # site-bound exams x cost_per_exam, on their site's member_in column (a constant in a plan)
    bound_e = inp.site_demand.index.get_level_values("service")
    np.add.at(cost, member_of(inp.site_demand.index.get_level_values("site_id")),
              inp.site_demand.to_numpy(float) * eq["cost_per_exam"].reindex(bound_e).to_numpy())

    a = rows.matrix(num_col)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = num_col, rows.count
    lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lb, ub
    lp.row_lower_ = np.concatenate(rows.lower) if rows.lower else np.zeros(0)
    lp.row_upper_ = np.concatenate(rows.upper) if rows.upper else np.zeros(0)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = num_col, rows.count
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data
    lp.sense_ = highspy.ObjSense.kMinimize
    shape = {"columns": dict(zip(COLUMN_BLOCKS, sizes)), "rows": rows.families}
    return lp, integer.astype(np.int32), shape


def build(inp: ModelInputs) -> tuple[highspy.Highs, dict]:
    """A Highs object holding the planning MILP of `inp`."""
    lp, integer, shape = build_lp(inp)
    h = new_highs()
    status = h.passModel(lp)
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"passModel returned {status}")
    if len(integer):
        h.changeColsIntegrality(len(integer), integer,
                                np.full(len(integer), highspy.HighsVarType.kInteger,
                                        dtype=np.uint8))
    return h, shape


def solve(h: highspy.Highs, options: SolverOptions) -> DirectResult:
    """Solve with exactly the options planner/model/highs.py HighsModel.solve sets (checked
    after the fact by :func:`compare_options`)."""
    h.setOptionValue("output_flag", bool(options.log))
    h.setOptionValue("time_limit", float(options.time_limit))
    h.setOptionValue("mip_rel_gap", float(options.mip_gap))
    h.setOptionValue("mip_abs_gap", float(options.mip_abs_gap))
    h.setOptionValue("random_seed", int(options.seed))
    h.setOptionValue("presolve", "on" if options.presolve else "off")
    h.setOptionValue("mip_allow_restart", bool(options.restart))
    for name in ("mip_heuristic_run_rins", "mip_heuristic_run_rens",
                 "mip_heuristic_run_root_reduced_cost"):
        h.setOptionValue(name, bool(options.sub_mip_heuristics))
    start = time.perf_counter()
    h.clearSolver()
    run(h, options.threads)  # sets `threads` (and resets HiGHS's scheduler if its size changes)
    seconds = time.perf_counter() - start
    status = status_of(h)
    info = h.getInfo()
    if info.primal_solution_status != 2:
        return DirectResult(status, None, None, None, seconds)
    gap = info.mip_gap if np.isfinite(info.mip_gap) else 0.0
    return DirectResult(status, info.objective_function_value, info.mip_dual_bound, gap, seconds)


def compare_lp(a: highspy.Highs, b: highspy.Highs) -> dict:
    """Largest differences between two Highs models (0 everywhere: the same model)."""
    la, lb = a.getLp(), b.getLp()
    if (la.num_col_, la.num_row_) != (lb.num_col_, lb.num_row_):
        return {"shape": ((la.num_col_, la.num_row_), (lb.num_col_, lb.num_row_))}

    def csc(lp):
        m = lp.a_matrix_
        if m.format_ != highspy.MatrixFormat.kColwise:
            return sp.csr_matrix((m.value_, m.index_, m.start_),
                                 shape=(lp.num_row_, lp.num_col_)).tocsc()
        return sp.csc_matrix((m.value_, m.index_, m.start_), shape=(lp.num_row_, lp.num_col_))

    def diff(x, y):
        x, y = np.asarray(x, float), np.asarray(y, float)
        both_inf = np.isinf(x) & np.isinf(y) & (np.sign(x) == np.sign(y))
        with np.errstate(invalid="ignore"):
            d = np.where(both_inf, 0.0, np.abs(x - y))
        return float(np.nanmax(d)) if len(d) else 0.0

    def integ(lp):
        if len(lp.integrality_):
            return np.array([int(t) for t in lp.integrality_])
        return np.zeros(lp.num_col_, int)

    return {"cost": diff(la.col_cost_, lb.col_cost_),
            "col_lower": diff(la.col_lower_, lb.col_lower_),
            "col_upper": diff(la.col_upper_, lb.col_upper_),
            "row_lower": diff(la.row_lower_, lb.row_lower_),
            "row_upper": diff(la.row_upper_, lb.row_upper_),
            "matrix": float(abs(csc(la) - csc(lb)).max()) if la.num_row_ else 0.0,
            "nonzeros": abs(len(la.a_matrix_.value_) - len(lb.a_matrix_.value_)),
            "integrality": int((integ(la) != integ(lb)).sum()),
            "offset": abs(la.offset_ - lb.offset_)}


def _options(h: highspy.Highs) -> dict:
    """All HiGHS options of `h` (as writeOptions prints them: every option, not only those the
    HighsOptions binding exposes)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "options.txt"
        h.writeOptions(str(path))
        lines = path.read_text().splitlines()
    return dict(line.split(" = ", 1) for line in lines
                if " = " in line and not line.startswith("#"))


def compare_options(a: highspy.Highs, b: highspy.Highs) -> dict:
    """HiGHS options that differ between two Highs objects ({}: run with the same options)."""
    oa, ob = _options(a), _options(b)
    return {n: (oa.get(n), ob.get(n)) for n in sorted(set(oa) | set(ob)) if oa.get(n) != ob.get(n)}


def same_objective(x: float, y: float, rel: float = 1e-6) -> bool:
    return abs(x - y) <= rel * max(1.0, abs(x), abs(y))


def check(scenario, label: str, **options) -> None:
    """Planner vs direct build on one scenario: same model, same objective (asserted). The
    only place the planner's own model (build_model, HighsModel, the session) is read: build()
    reads the ModelInputs alone."""
    inp = model_inputs(scenario)
    start = time.perf_counter()
    h, shape = build(inp)
    build_seconds = time.perf_counter() - start
    differences = compare_lp(HighsModel(build_model(inp)).highs, h)
    session = PlanningSession(scenario, **options)
    plan = session.solve()
    result = solve(h, solver_options(scenario, **options))
    assert not compare_options(session.highs.highs, h), compare_options(session.highs.highs, h)
    print(f"{label}: {sum(shape['columns'].values())} columns, "
          f"{sum(shape['rows'].values())} rows, direct build {build_seconds:.3f} s")
    print(f"  model differences vs planner: {differences}")
    print(f"  planner objective {plan.objective:.6f} ({plan.status}), "
          f"direct {result.objective:.6f} ({result.status}, {result.seconds:.2f} s)")
    assert same_objective(plan.objective, result.objective), "objectives differ"
    print("  same objective within 1e-6 relative: yes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pmed", type=int, nargs="*", default=None,
                        help="OR-Library instance numbers (default: the default scenario only)")
    parser.add_argument("--time-limit", type=float, default=None)
    args = parser.parse_args()
    if args.pmed is None:
        check(planner.load_scenario(), "default scenario", time_limit=args.time_limit)
    for k in args.pmed or []:
        check(load_pmed(ORLIB / f"pmed{k}.txt"), f"pmed{k}", time_limit=args.time_limit)


if __name__ == "__main__":
    main()

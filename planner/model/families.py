"""The stage-1 planning MILP in Pyomo (formulation: models/allocation.md, same names).

`build_model` is a flat, ordered list: sets, parameters, variables, the constraint families of
:data:`FAMILIES`, the objective. Each family states its algebra in its docstring and builds its
rows from the tidy tables of :class:`planner.model.inputs.ModelInputs` (only eligible arcs exist).
:data:`FAMILIES` is the one description of the families: the build adds them in its order, the
model's shape key (:func:`model_shape`, :func:`structure_key`) hashes what each says decides its
rows, and the components each adds are the names an infeasibility diagnosis reports. Everything a
what-if changes without changing the model's shape is a mutable parameter (right-hand sides and
coefficients, set by :func:`set_parameters`) or an objective coefficient (re-set by
:func:`set_objective`); see :class:`planner.planning.session.PlanningSession`.

Membership: `member_in[m]` says whether member m takes part. It is fixed to 1 for a stage-1 plan;
fixing some members to 0 gives a coalition's own problem (its sites, budget, pools and zones
only), and freeing it gives the separation MILP of stage 2 (planner/sharing/coalitions.py): one
model, three uses, switched by variable bounds only.
"""

from __future__ import annotations

import gc
import hashlib
import math
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.base.var import VarData
from pyomo.core.expr.numeric_expr import LinearExpression

from planner.model.arrays import (
    ArrayRows,
    LinearCosts,
    Terms,
    key_positions,
    nonzero_terms,
    positions,
)
from planner.model.decisions import decision_bounds
from planner.model.inputs import ModelInputs, index_sets, memoised, site_exams
from planner.model.ledger import capital_items, price_book


def linear_sum(terms) -> LinearExpression:
    """A linear expression built in one call (Pyomo's cost is per expression node)."""
    return pyo.quicksum(terms)


def _groups(frame: pd.DataFrame, keys: list[str]) -> dict:
    """Row positions of `frame` grouped by `keys` (tuple keys, or scalars for one key)."""
    if frame.empty:
        return {}
    return {k: np.asarray(v) for k, v in
            frame.reset_index(drop=True).groupby(keys if len(keys) > 1 else keys[0],
                                                 sort=True).indices.items()}


# --- sets, parameters, variables --------------------------------------------------------------
def _variables_shape(inp: ModelInputs) -> dict:
    """What fixes the variables beyond their index sets: which are fixed (add_variables) and
    which penalty terms exist (system_cost), and the member_in term of each site's and zone's
    rows (_site_in, _zone_in, read by most families)."""
    return {"urgent_soft": inp.urgent_soft, "policy_soft": inp.policy_soft,
            "equity_soft": inp.equity_soft,
            "site_member": list(inp.sites["member"].items()),
            "zone_member": list(inp.zones["home_member"].items())}


def model_shape(inp: ModelInputs) -> dict:
    """Everything that fixes the model's shape (its columns, rows and which terms they hold):
    the index sets, what fixes the variables, and per family of :data:`FAMILIES` the inputs it
    tests to decide whether a row or a term exists (its `shape`). Two inputs with the same shape
    differ only in mutable parameters, variable bounds and objective coefficients."""
    return {**index_sets(inp), **_variables_shape(inp),
            **{family.name: family.shape(inp) for family in FAMILIES}}


def _digest(*parts) -> str:
    """A content hash of pandas objects and plain values (pandas' own row hashing)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, (pd.Series, pd.DataFrame, pd.Index)):
            frame = part.to_frame() if isinstance(part, pd.Index) else part
            h.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
            h.update(repr(getattr(frame, "shape", None)).encode())
        else:
            h.update(repr(part).encode())
    return h.hexdigest()


@memoised
def structure_key(inp: ModelInputs) -> str:
    """What fixes the model's shape; inputs with the same key re-solve without a rebuild.
    A hash of :func:`model_shape`, so that it cannot drift from the model."""
    return _digest(*model_shape(inp).items())


@memoised
def cost_key(inp: ModelInputs) -> str:
    """What fixes the objective's coefficients (a what-if that keeps it keeps the objective):
    the coefficients themselves (:func:`objective_coefficients`)."""
    return _digest(*((name, c.tobytes()) for name, c in objective_coefficients(inp).items()))


def add_sets(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """The Pyomo Sets of :func:`index_sets`; each takes its dimension from its members (Pyomo
    reads it from the first member: a pair, a triple or a label)."""
    for name, members in index_sets(inp).items():
        if name == "ARCS":
            m.ARCS = pyo.RangeSet(0, len(members) - 1)  # row positions of inp.arcs
        else:
            m.add_component(name, pyo.Set(initialize=members, ordered=True))


def add_parameters(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Mutable parameters: what a what-if may change without rebuilding (values: set_parameters)."""
    m.demand = pyo.Param(m.DEMAND, mutable=True, initialize=0.0)
    m.site_demand = pyo.Param(m.SITE_DEMAND, mutable=True, initialize=0.0)
    m.existing = pyo.Param(m.UNIT_PAIRS, mutable=True, initialize=0.0)
    m.unit_capacity = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.max_per_site = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.capex = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.relocation_cost = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.visits_per_day = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.clinic_visits = pyo.Param(m.DAY_PAIRS, mutable=True, initialize=0.0)
    m.pool_at = pyo.Param(m.DAY_PAIRS, mutable=True, initialize=0.0)
    m.max_new = pyo.Param(m.NEW_PAIRS, mutable=True, initialize=0.0)
    m.max_days = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.budget_share = pyo.Param(m.MEMBERS, mutable=True, initialize=0.0)
    m.min_days = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.capital_limit = pyo.Param(m.SITES, mutable=True, initialize=0.0)
    m.min_members = pyo.Param(mutable=True, initialize=0)
    m.max_members = pyo.Param(mutable=True, initialize=len(inp.budget_share))
    m.served_share = pyo.Param(m.SHARE_SERVICES, mutable=True, initialize=0.0)
    m.in_county_share = pyo.Param(m.IN_COUNTY_SERVICES, mutable=True, initialize=0.0)
    m.grassroots_share = pyo.Param(m.GRASSROOTS_SERVICES, mutable=True, initialize=0.0)
    # [reading]: reads one FTE does, FTE radiologists and site-bound exams by site, big-M of hires
    m.reads_per_radiologist = pyo.Param(mutable=True, initialize=0.0)
    m.radiologists = pyo.Param(m.SITES, mutable=True, initialize=0.0)
    m.site_reads = pyo.Param(m.SITES, mutable=True, initialize=0.0)
    m.max_hired = pyo.Param(mutable=True, initialize=0.0)
    # equipment_rounding: its right-hand side and the weight of unmet demand, per equipment
    m.rounding_units = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.rounding_weight = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    set_parameters(m, inp)


def set_parameters(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Copy the inputs' values into the mutable parameters."""
    eq, sp = inp.equipment, inp.specialties
    for key, value in inp.demand.items():
        m.demand[key] = value
    for key, value in inp.site_demand.items():
        m.site_demand[key] = float(value)
    for key in m.UNIT_PAIRS:
        m.existing[key] = float(inp.existing.get(key, 0.0))
    for e in m.EQUIPMENT:
        m.unit_capacity[e] = eq.at[e, "capacity"]
        m.max_per_site[e] = eq.at[e, "max_per_site"] if math.isfinite(eq.at[e, "max_per_site"]) \
            else 0.0
        m.capex[e] = eq.at[e, "capex"]
        reloc = eq.at[e, "relocation_cost"]
        m.relocation_cost[e] = 0.0 if pd.isna(reloc) else reloc
    for s in m.SPECIALTIES:
        m.visits_per_day[s] = sp.at[s, "visits_per_day"]
        m.max_days[s] = inp.pool[s]
        m.min_days[s] = inp.min_days[s]
    for key in m.DAY_PAIRS:
        m.clinic_visits[key] = float(inp.clinic_visits.get(key, 0.0))
        m.pool_at[key] = float(inp.pool_at.get(key, 0.0))
    for i, e in m.NEW_PAIRS:
        m.max_new[i, e] = _most_useful_units(inp, e)
    for i in m.SITES:
        limit = inp.sites.at[i, "capital_limit"]
        m.capital_limit[i] = limit if math.isfinite(limit) else 0.0
    for member in m.MEMBERS:
        m.budget_share[member] = inp.budget_share[member]
    for k in m.SHARE_SERVICES:
        m.served_share[k] = float(inp.served_share[k])
    for k in m.IN_COUNTY_SERVICES:
        m.in_county_share[k] = float(inp.in_county_share[k])
    for k in m.GRASSROOTS_SERVICES:
        m.grassroots_share[k] = float(inp.grassroots_share[k])
    for e in m.EQUIPMENT:
        m.rounding_units[e], m.rounding_weight[e] = equipment_rounding(inp, e)
    _set_reading_parameters(m, inp)


def _set_reading_parameters(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[reading]: reads_per_radiologist, radiologists[i] (FTE), site_reads[i] (site-bound exams,
    each needing a read where it is made) and max_hired, the big-M of membership_hired."""
    m.reads_per_radiologist.value = float(inp.reads_per_radiologist)
    radiologists = inp.radiologists if inp.radiologists is not None else pd.Series(dtype=float)
    bound = site_exams(inp)
    for i in m.SITES:
        m.radiologists[i] = float(radiologists.get(i, 0.0))
        m.site_reads[i] = float(bound.get(i, 0.0))
    m.max_hired.value = _most_useful_hires(inp)


def _most_useful_hires(inp: ModelInputs) -> float:
    """An upper bound on useful hires at one centre: enough FTE to read every exam of the
    scenario (zones' equipment demand and site-bound exams), or the hires implemented.csv
    commits, if more. The big-M of membership_hired."""
    if not inp.reading_centres:
        return 0.0
    exams = float(inp.demand[inp.demand.index.get_level_values("service")
                             .isin(inp.equipment.index)].sum()) + float(site_exams(inp).sum())
    committed = [lower for lower, _ in decision_bounds(inp)["hired_radiologists"].values()]
    return float(max([1, math.ceil(exams / inp.reads_per_radiologist)] + committed))


def _most_useful_units(inp: ModelInputs, e: str) -> float:
    """An upper bound on useful units of e at one site: max_per_site, else enough for all demand
    of e, the zones' and the sites' own (at least one, for urgent coverage). The big-M of
    `membership_link`."""
    limit = inp.equipment.at[e, "max_per_site"]
    if math.isfinite(limit):
        return float(limit)
    demand = inp.demand[inp.demand.index.get_level_values("service") == e].sum() + \
        inp.site_demand[inp.site_demand.index.get_level_values("service") == e].sum()
    return float(max(1, math.ceil(demand / inp.equipment.at[e, "capacity"])))


def add_variables(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    nonneg_int = pyo.NonNegativeIntegers
    m.new_units = pyo.Var(m.NEW_PAIRS, domain=nonneg_int)
    # bounded by the mutable `existing`, so that a re-solve with other existing units updates it
    m.relocated = pyo.Var(m.MOVES, domain=nonneg_int,
                          bounds=lambda m, i, j, e: (0, m.existing[i, e]))
    m.units = pyo.Var(m.UNIT_PAIRS, domain=nonneg_int)
    m.outreach_days = pyo.Var(m.DAY_PAIRS, domain=nonneg_int)
    m.flow = pyo.Var(m.ARCS, domain=pyo.NonNegativeReals)
    m.unmet = pyo.Var(m.DEMAND, domain=pyo.NonNegativeReals)
    m.uncovered = pyo.Var(m.COVER_ROWS, bounds=(0, 1))
    if not inp.urgent_soft:
        m.uncovered.fix(0)
    m.policy_shortfall = pyo.Var(m.POLICY_PAIRS, domain=pyo.NonNegativeReals)
    if not inp.policy_soft:
        m.policy_shortfall.fix(0)
    # [equity] shortfalls: fixed to 0 in a stage-1 plan, priced in the games of stage 2
    m.access_shortfall = pyo.Var(m.ACCESS_ROWS, bounds=(0, 1))
    m.share_shortfall = pyo.Var(m.SHARE_ROWS, domain=pyo.NonNegativeReals)
    if not inp.equity_soft:
        m.access_shortfall.fix(0)
        m.share_shortfall.fix(0)
    m.member_in = pyo.Var(m.MEMBERS, domain=pyo.Binary)
    m.member_in.fix(1)
    # [reading]: reads sent to the centres, reads bought (games only: fixed to 0 in a stage-1
    # plan, priced in the games of stage 2) and radiologists hired at the centres
    m.remote_reads = pyo.Var(m.REMOTE_SITES, domain=pyo.NonNegativeReals)
    m.reads_bought = pyo.Var(m.REMOTE_SITES, domain=pyo.NonNegativeReals)
    if not inp.reading_soft:
        m.reads_bought.fix(0)
    m.hired_radiologists = pyo.Var(m.READING_CENTRES, domain=nonneg_int)


def set_decision_bounds(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Commitments (implemented.csv, docs/design.md section 7) as bounds on the decisions:
    new_units[i,e], relocated[i,j,e], outreach_days[i,s] >= amount (at_least rows), <= amount
    (at_most rows). Bounds, not rows: every bound is first reset to its default, so a re-solve
    with other commitments pushes changed bounds only (models/replanning.md)."""
    bounds = decision_bounds(inp)
    defaults = {"new_units": lambda k: None, "outreach_days": lambda k: None,
                "relocated": lambda k: m.existing[k[0], k[2]],
                "hired_radiologists": lambda k: None}
    for name, default_upper in defaults.items():
        var, given = getattr(m, name), bounds[name]
        for key, v in var.items():
            lower, upper = given.get(key, (0.0, None))
            v.setlb(lower)
            v.setub(default_upper(key) if upper is None else upper)


def _site_in(m, inp: ModelInputs, i):
    return m.member_in[m.site_member[i]]


def _zone_in(m, inp: ModelInputs, z):
    return m.member_in[m.zone_member[z]]


# --- constraint families ----------------------------------------------------------------------
def add_units_in_service(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """units[i,e] = existing[i,e]*member_in[m(i)] + new_units[i,e] + sum_j relocated[j,i,e]
    - sum_j relocated[i,j,e].

    Existing units always stay in service; they may only be relocated. (member_in is 1 in a
    stage-1 plan; a member outside a coalition brings no units.)
    """
    moves = inp.moves.reset_index(drop=True)
    incoming = _groups(moves, ["to_site", "equipment"])
    outgoing = _groups(moves, ["from_site", "equipment"])
    keys = list(m.MOVES)

    def rule(m, i, e):
        terms = [m.units[i, e], -m.existing[i, e] * _site_in(m, inp, i)]
        if (i, e) in m.NEW_PAIRS:
            terms.append(-m.new_units[i, e])
        terms += [-m.relocated[keys[p]] for p in incoming.get((i, e), ())]
        terms += [m.relocated[keys[p]] for p in outgoing.get((i, e), ())]
        return linear_sum(terms) == 0
    m.units_in_service = pyo.Constraint(m.UNIT_PAIRS, rule=rule)


def add_demand_balance(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_i flow[z,i,k] + unmet[z,k] = demand[z,k]*member_in[home(z)]: demand is served in the
    consortium or referred out (a coalition serves only its own members' zones).

    Built from arrays (planner/model/arrays.py): one row per (zone, service) of DEMAND."""
    keys = list(m.DEMAND)
    rows = np.arange(len(keys))
    arcs = inp.arcs
    homes = pd.DataFrame({"member": [m.zone_member[z] for z, _ in keys]})
    m.demand_balance = ArrayRows(keys, [
        Terms(positions(m.unmet, arcs[["zone_id", "service"]]), m.flow, arcs.index.to_numpy()),
        Terms(rows, m.unmet, rows),
        Terms(rows, m.member_in, positions(m.member_in, homes),
              param=m.demand, param_positions=rows, sign=-1.0),
    ], lower=np.zeros(len(keys)), upper=np.zeros(len(keys)))


def _equipment_arcs(inp: ModelInputs) -> pd.DataFrame:
    """The arcs of the equipment services (imaging), with their positions as index."""
    return inp.arcs[inp.arcs["service"].isin(inp.equipment.index)]


def add_equipment_capacity(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_z flow[z,i,e] + site_demand[i,e]*member_in[m(i)] <= unit_capacity[e] * units[i,e],
    unit_capacity = capacity x max utilisation, at every (site, equipment) with arcs or
    site-bound demand (site_demand.csv: exams that arise at the site and are served there; a
    coalition's own sites keep theirs). A pair with site-bound demand where no unit can be in
    service has no units term: the precheck explains it (planner/model/diagnose.py).

    Built from arrays (planner/model/arrays.py): one row per such pair, in sorted order."""
    arcs = _equipment_arcs(inp)
    pairs = arcs[["site_id", "service"]]
    keys = sorted(set(map(tuple, pairs.drop_duplicates().to_numpy())) | set(m.SITE_DEMAND))
    where = {k: p for p, k in enumerate(keys)}
    bound = list(m.SITE_DEMAND)
    unit_pairs = set(m.UNIT_PAIRS)
    units = [k for k in keys if k in unit_pairs]
    at = key_positions(keys, pairs)
    holders = pd.DataFrame({"member": [m.site_member[i] for i, _ in bound]})
    m.equipment_capacity = ArrayRows(keys, [
        Terms(at, m.flow, arcs.index.to_numpy()),
        Terms(np.array([where[k] for k in bound], dtype=np.int64), m.member_in,
              positions(m.member_in, holders),
              param=m.site_demand, param_positions=np.arange(len(bound))),
        Terms(np.array([where[k] for k in units], dtype=np.int64), m.units,
              positions(m.units, units),
              param=m.unit_capacity,
              param_positions=positions(m.unit_capacity, [e for _, e in units]), sign=-1.0),
    ], lower=np.full(len(keys), -np.inf), upper=np.zeros(len(keys)))


def add_equipment_linking(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """flow[z,i,e] <= demand[z,e] * units[i,e]: no unit, no flow (the strong, disaggregated link).

    Valid whatever the capacity; it tightens the LP relaxation (Cornuejols, Nemhauser & Wolsey
    1990). Left out where units can never be zero (existing units that cannot move).

    Built from arrays (planner/model/arrays.py): one row per kept arc, keyed by the arc.
    """
    arcs = _equipment_arcs(inp)
    movable = set(inp.moves[["from_site", "equipment"]].itertuples(index=False, name=None))
    fixed = [k for k in inp.existing.index if k not in movable]
    pairs = pd.MultiIndex.from_frame(arcs[["site_id", "service"]])
    kept = arcs[~pairs.isin(fixed)] if fixed else arcs
    rows = np.arange(len(kept))
    demand_at = positions(m.demand, kept[["zone_id", "service"]])
    m.equipment_linking = ArrayRows(kept.index.tolist(), [
        Terms(rows, m.flow, kept.index.to_numpy()),
        Terms(rows, m.units, positions(m.units, kept[["site_id", "service"]]),
              param=m.demand, param_positions=demand_at, sign=-1.0),
    ], lower=np.full(len(kept), -np.inf), upper=np.zeros(len(kept)))


def add_specialist_capacity(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_z flow[z,i,s] <= visits_per_day[s]*outreach_days[i,s]
    + clinic_visits[i,s]*member_in[m(i)].

    Built from arrays (planner/model/arrays.py): one row per (site, specialty) with arcs."""
    arcs = inp.arcs[inp.arcs["service"].isin(inp.specialties.index)]
    pairs = arcs[["site_id", "service"]]
    keys = sorted(set(map(tuple, pairs.drop_duplicates().to_numpy())))
    rows = np.arange(len(keys))
    members = pd.DataFrame({"member": [m.site_member[i] for i, _ in keys]})
    days = positions(m.outreach_days, keys)
    m.specialist_capacity = ArrayRows(keys, [
        Terms(key_positions(keys, pairs), m.flow, arcs.index.to_numpy()),
        Terms(rows, m.outreach_days, days, param=m.visits_per_day,
              param_positions=positions(m.visits_per_day, [s for _, s in keys]), sign=-1.0),
        Terms(rows, m.member_in, positions(m.member_in, members), param=m.clinic_visits,
              param_positions=days, sign=-1.0),
    ], lower=np.full(len(keys), -np.inf), upper=np.zeros(len(keys)))


def add_specialist_supply(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_i outreach_days[i,s] <= sum_i pool_at[i,s]*member_in[m(i)]: the pools of specialist
    days held by the (participating) lead hospitals."""
    holders = {s: [i for i, t in inp.pool_at.index if t == s] for s in inp.specialties.index}

    def rule(m, s):
        return linear_sum([m.outreach_days[i, s] for i in m.SITES]
                    + [-m.pool_at[i, s] * _site_in(m, inp, i) for i in holders[s]]) <= 0
    m.specialist_supply = pyo.Constraint(m.SPECIALTIES, rule=rule)


def add_policy_minimum_outreach(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """outreach_days[i,s] + policy_shortfall[i,s] >= min_days[s]*member_in[m(i)] at every site of a
    grassroots tier. The shortfall is fixed to 0 except in the games of stage 2, where it is
    priced (a coalition without pools of its own buys the days in)."""
    m.policy_minimum_outreach = pyo.Constraint(
        m.POLICY_PAIRS,
        rule=lambda m, i, s: linear_sum([m.outreach_days[i, s], m.policy_shortfall[i, s],
                                   -m.min_days[s] * _site_in(m, inp, i)]) >= 0)


def _capital_terms(m: pyo.ConcreteModel, sites=None) -> list:
    """Capital spent (ledger.capital_items, priced by the model's mutable parameters, so a what-if
    on capex re-solves without a rebuild), at `sites` or everywhere."""
    price = {"new_units": m.capex, "relocated": m.relocation_cost}
    items = capital_items(lambda kind, e: price[kind][e],
                          {k: m.new_units[k] for k in m.NEW_PAIRS},
                          {k: m.relocated[k] for k in m.MOVES})
    return [amount for _, site, amount in items if sites is None or site in sites]


def add_capital_budget(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum capex[e]*new_units[i,e] + sum relocation_cost[e]*relocated[i,j,e]
    <= sum_m budget_share[m]*member_in[m] (= the budget in a stage-1 plan)."""
    terms = _capital_terms(m)
    if terms:
        m.capital_budget = pyo.Constraint(
            expr=linear_sum(terms + [-m.budget_share[k] * m.member_in[k] for k in m.MEMBERS]) <= 0)


def add_site_capital_limit(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Capital spent at site i (new units + units moved in) <= capital_limit[i], where given."""
    limited = [i for i in inp.sites.index if math.isfinite(inp.sites.at[i, "capital_limit"])]
    rows = {i: _capital_terms(m, {i}) for i in limited}
    m.site_capital_limit = pyo.Constraint(
        [i for i in limited if rows[i]],
        rule=lambda m, i: linear_sum(rows[i]) <= m.capital_limit[i])


def add_max_per_site(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """units[i,e] <= max_per_site[e] (units in service, existing ones included)."""
    limited = set(inp.equipment.index[np.isfinite(inp.equipment["max_per_site"])])
    m.max_units_per_site = pyo.Constraint(
        [(i, e) for (i, e) in m.UNIT_PAIRS if e in limited],
        rule=lambda m, i, e: m.units[i, e] <= m.max_per_site[e])


def add_relocation_limit(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_j relocated[i,j,e] <= existing[i,e]*member_in[m(i)]: only existing units move, each at
    most once."""
    outgoing = _groups(inp.moves, ["from_site", "equipment"])
    keys = list(m.MOVES)
    m.relocation_limit = pyo.Constraint(
        sorted(outgoing),
        rule=lambda m, i, e: linear_sum([m.relocated[keys[p]] for p in outgoing[(i, e)]]
                                  + [-m.existing[i, e] * _site_in(m, inp, i)]) <= 0)


def add_membership_link(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """A site takes new units, moved-in units and outreach days only if its member takes part:
    new_units[i,e] <= max_new[i,e]*member_in[m(i)],
    relocated[i,j,e] <= existing[i,e]*member_in[m(j)],
    outreach_days[i,s] <= max_days[s]*member_in[m(i)] (max_days = the whole pool).
    Bounds in a stage-1 plan (member_in = 1); they switch a coalition's sites on and off."""
    m.membership_new_units = pyo.Constraint(
        m.NEW_PAIRS, rule=lambda m, i, e: linear_sum([m.new_units[i, e],
                                                -m.max_new[i, e] * _site_in(m, inp, i)]) <= 0)
    m.membership_relocation = pyo.Constraint(
        m.MOVES, rule=lambda m, i, j, e: linear_sum([m.relocated[i, j, e],
                                               -m.existing[i, e] * _site_in(m, inp, j)]) <= 0)
    m.membership_outreach = pyo.Constraint(
        m.DAY_PAIRS, rule=lambda m, i, s: linear_sum([m.outreach_days[i, s],
                                                -m.max_days[s] * _site_in(m, inp, i)]) <= 0)
    m.coalition_size = pyo.Constraint(
        expr=pyo.inequality(m.min_members, linear_sum(list(m.member_in.values())), m.max_members))


def add_urgent_coverage(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_{i: t[z,i] <= T_c} units[i,e_c] + uncovered[z,c] >= member_in[home(z)] for each
    populated zone (>= 1 in a stage-1 plan).

    uncovered is fixed to 0 unless coverage is soft (then it is priced in the objective).
    Rows implied by another row's smaller covering set are not generated (see inputs).
    """
    unit_pairs = set(m.UNIT_PAIRS)
    members: dict[tuple[str, str], list[VarData]] = {k: [] for k in m.COVER_ROWS}
    for z, c, e, i in inp.cover.itertuples(index=False, name=None):
        if (i, e) in unit_pairs:
            members[(z, c)].append(m.units[i, e])
    m.urgent_coverage = pyo.Constraint(
        m.COVER_ROWS, rule=lambda m, z, c: linear_sum(members[(z, c)] + [m.uncovered[z, c],
                                                                 -_zone_in(m, inp, z)]) >= 0)


def add_access_guarantee(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[equity.max_minutes]: every populated zone z has service k within X_k minutes.

    Equipment e: sum_{i: t[z,i] <= X_e} units[i,e] + access_shortfall[z,e] >= member_in[home(z)].
    Specialty s: sum_{i: t[z,i] <= X_s} outreach_days[i,s]
    + sum_{i: t[z,i] <= X_s, clinic_visits[i,s] > 0} member_in[m(i)] + access_shortfall[z,s]
    >= member_in[home(z)].

    t is the travel time of the scenario (not limited by max_minutes). Like urgent coverage,
    but per service and without a condition. In a stage-1 plan the shortfall is fixed to 0, a
    zone with a clinic within reach has no row and implied rows are not generated
    (planner.model.inputs._equity); in the games of stage 2 the rows hold for a coalition's own
    zones (member_in[home(z)]) and the shortfall is priced.
    """
    members: dict[tuple[str, str], list[VarData]] = {k: [] for k in m.ACCESS_ROWS}
    for z, k, i, via in inp.access.itertuples(index=False, name=None):
        members[(z, k)].append(m.units[i, k] if via == "units" else
                               m.outreach_days[i, k] if via == "days" else _site_in(m, inp, i))
    m.access_guarantee = pyo.Constraint(
        m.ACCESS_ROWS, rule=lambda m, z, k: linear_sum(
            members[(z, k)] + [m.access_shortfall[z, k], -_zone_in(m, inp, z)]) >= 0)


def add_min_served_share(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[equity.min_served_share]: sum_i flow[z,i,k] + share_shortfall[z,k]
    >= served_share[k] * demand[z,k] * member_in[home(z)] for every zone z with demand for a
    service k that has a minimum share.

    The share of a zone's demand served inside the consortium (the rest is referred out).
    `served_share` is a mutable parameter: a what-if changing it re-solves without a
    rebuild. The shortfall is fixed to 0 in a stage-1 plan and priced in the games.

    Built from arrays (planner/model/arrays.py): one row per (zone, service) of SHARE_ROWS.
    """
    keys = list(m.SHARE_ROWS)
    rows = np.arange(len(keys))
    arcs = inp.arcs[inp.arcs["service"].isin(inp.served_share.index)]
    at = key_positions(keys, arcs[["zone_id", "service"]])
    arcs, at = arcs[at >= 0], at[at >= 0]   # zones with a row (every zone with demand)
    homes = pd.DataFrame({"member": [m.zone_member[z] for z, _ in keys]})
    m.min_served_share = ArrayRows(keys, [
        Terms(at, m.flow, arcs.index.to_numpy()),
        Terms(rows, m.share_shortfall, rows),
        Terms(rows, m.member_in, positions(m.member_in, homes), param=m.demand,
              param_positions=positions(m.demand, keys), sign=-1.0, factor=m.served_share,
              factor_positions=positions(m.served_share, [k for _, k in keys])),
    ], lower=np.zeros(len(keys)), upper=np.full(len(keys), np.inf))


def _county_demand(m: pyo.ConcreteModel, inp: ModelInputs, services, factor) -> dict:
    """service k -> the terms factor(k) * demand[z,k] * member_in[home(z)] of every zone z: (minus)
    a share of k's county-wide demand. A coefficient of member_in (fixed to 1 in a plan; the
    games of stage 2 have no tier rows), so a changed share is a changed row bound for HiGHS
    (planner/model/highs.py _shift), the way a budget change is."""
    terms: dict[str, list] = {k: [] for k in services}
    for z, k in m.DEMAND:
        if k in terms:
            terms[k].append((factor(k) * m.demand[z, k]) * _zone_in(m, inp, z))
    return terms


def add_in_county_target(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[tiers.min_in_county_share]: sum_z (demand[z,k] - unmet[z,k]) >= in_county_share[k] *
    sum_z demand[z,k] for each service k with a target, written as
    sum_z unmet[z,k] <= (1 - in_county_share[k]) * sum_z demand[z,k]*member_in[home(z)]
    (one term per zone, not per arc).

    The commission's in-county treatment rate as a hard constraint of the plan. The share is a
    mutable parameter: a what-if changing it re-solves without a rebuild.
    """
    allowed = _county_demand(m, inp, m.IN_COUNTY_SERVICES, lambda k: m.in_county_share[k] - 1)
    unmet: dict[str, list] = {k: [] for k in m.IN_COUNTY_SERVICES}
    for z, k in m.DEMAND:
        if k in unmet:
            unmet[k].append(m.unmet[z, k])
    m.in_county_target = pyo.Constraint(
        m.IN_COUNTY_SERVICES,
        rule=lambda m, k: linear_sum(unmet[k] + allowed[k]) <= 0)


def add_grassroots_target(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[tiers.min_grassroots_share]: sum flow[z,i,k] over sites i whose tier is one of
    policy.grassroots_tiers >= grassroots_share[k] * sum_z demand[z,k]*member_in[home(z)] for each
    service k with a target.

    The commission's first-contact-at-grassroots rate as a hard constraint of the plan. The
    share is a mutable parameter: a what-if changing it re-solves without a rebuild.
    """
    arcs = inp.arcs[inp.arcs["site_id"].map(inp.sites["grassroots"]).to_numpy(bool)]
    by_service = _groups(arcs, ["service"])
    index = arcs.index.to_numpy()
    floor = _county_demand(m, inp, m.GRASSROOTS_SERVICES, lambda k: -m.grassroots_share[k])
    m.grassroots_target = pyo.Constraint(
        m.GRASSROOTS_SERVICES,
        rule=lambda m, k: linear_sum([m.flow[a] for a in index[by_service.get(k, [])]]
                                     + floor[k]) >= 0)


def _exam_terms(m: pyo.ConcreteModel, inp: ModelInputs) -> dict:
    """site -> the terms of its exams, each needing one read: the flows of every equipment
    served there and its site-bound exams site_reads[i]*member_in[m(i)]."""
    arcs = _equipment_arcs(inp)
    terms: dict = {i: [] for i in inp.sites.index}
    flows = list(m.flow.values())   # in arc order
    for a, i in zip(arcs.index.tolist(), arcs["site_id"]):
        terms[i].append(flows[a])
    for i in site_exams(inp).index:
        terms[i].append(m.site_reads[i] * _site_in(m, inp, i))
    return terms


def add_reading_overflow(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[reading]: remote_reads[i] + reads_bought[i] >= exams[i] - radiologists[i] *
    reads_per_radiologist at each site i that is not a reading centre and may have exams, with
    exams[i] = sum_{z,e} flow[z,i,e] + site_reads[i]*member_in[m(i)].

    A site reads what its own radiologists can; the rest goes to the centres (remote_reads).
    reads_bought is fixed to 0 in a stage-1 plan; in the games of stage 2 a coalition without
    a centre buys its reads at a price (ledger term reads_bought).
    """
    exams = _exam_terms(m, inp) if len(m.REMOTE_SITES) else {}
    m.reading_overflow = pyo.Constraint(
        m.REMOTE_SITES, rule=lambda m, i: linear_sum(
            [m.remote_reads[i], m.reads_bought[i]] + [-t for t in exams[i]])
        >= -(m.radiologists[i] * m.reads_per_radiologist))


def add_reading_capacity(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """[reading]: sum_{c in centres} exams[c] + sum_i remote_reads[i] <= reads_per_radiologist
    * sum_c (radiologists[c]*member_in[m(c)] + hired_radiologists[c]): the centres' common
    reading pool, after their own exams. One row with [reading], none without."""
    def rule(m, _):
        exams = _exam_terms(m, inp)
        terms = [t for c in m.READING_CENTRES for t in exams[c]]
        terms += [m.remote_reads[i] for i in m.REMOTE_SITES]
        terms += [-m.reads_per_radiologist * m.hired_radiologists[c] for c in m.READING_CENTRES]
        terms += [-(m.radiologists[c] * m.reads_per_radiologist) * _site_in(m, inp, c)
                  for c in m.READING_CENTRES]
        return linear_sum(terms) <= 0
    m.reading_capacity = pyo.Constraint(range(1 if inp.reading_centres else 0), rule=rule)


def add_membership_hired(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """hired_radiologists[c] <= max_hired*member_in[m(c)]: a centre hires only if its member
    takes part (a bound in a stage-1 plan; the reading capacity belongs to the centre's member
    in the games of stage 2). max_hired: FTE enough to read every exam."""
    m.membership_hired = pyo.Constraint(
        m.READING_CENTRES, rule=lambda m, c: linear_sum(
            [m.hired_radiologists[c], -m.max_hired * _site_in(m, inp, c)]) <= 0)


def _equipment_exams(inp: ModelInputs, e: str) -> float:
    """D_e + SD_e: the zones' demand for e and the site-bound exams of e, every exam of e the
    plan must serve or refer (site-bound ones are never referred)."""
    demand = float(inp.demand[inp.demand.index.get_level_values("service") == e].sum())
    bound = inp.site_demand
    if bound is not None and len(bound):
        demand += float(bound[bound.index.get_level_values("service") == e].sum())
    return demand


def rounding_terms(exams: float, capacity: float) -> tuple[float, float]:
    """(right-hand side, weight of unmet) of an `equipment_rounding` row for `exams` exams of
    an equipment whose unit serves `capacity`: with b = exams / capacity and f = b - floor(b),
    ceil(b) and 1/(capacity * f); where f < 1e-3 (b whole, or a weight too large to be
    numerically safe), the aggregated capacity itself: b and 1/capacity."""
    b = exams / capacity
    f = b - math.floor(b)
    if f < 1e-3:
        return b, 1.0 / capacity
    return float(math.ceil(b)), 1.0 / (capacity * f)


def equipment_rounding(inp: ModelInputs, e: str) -> tuple[float, float]:
    """:func:`rounding_terms` of e's row for D_e + SD_e exams (:func:`_equipment_exams`). In the
    games of stage 2 (`policy_soft` is set exactly in game mode) the row is off, b = 0: with
    membership free the exams are D_e x member_in and a rounded right-hand side is not linear
    in them; a coalition's solve, whose membership is fixed, sets its own
    (planner.sharing.coalitions)."""
    capacity = float(inp.equipment.at[e, "capacity"])
    return rounding_terms(0.0 if inp.policy_soft else _equipment_exams(inp, e), capacity)


def _rounded_equipment(inp: ModelInputs) -> list[str]:
    """The equipment with zones' demand (so that its row has unmet terms), one
    `equipment_rounding` row each (off in the games of stage 2: :func:`equipment_rounding`)."""
    with_demand = set(inp.demand.index.get_level_values("service"))
    return [e for e in inp.equipment.index if e in with_demand]


def add_equipment_rounding(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """A valid inequality (it removes no plan): sum_{(i,e) in UNIT_PAIRS} units[i,e]
    + rounding_weight[e] * sum_z unmet[z,e] >= rounding_units[e] (:func:`equipment_rounding`).

    equipment_capacity summed over its rows of e (every equipment arc and every site-bound pair
    has one; a site-bound pair without a units term makes the plan infeasible) and
    demand_balance over the zones give unit_capacity * sum_i units + sum_z unmet >= D_e + SD_e
    (models/allocation.md has the proof); units are whole and unmet >= 0, so its mixed-integer
    rounding (Nemhauser & Wolsey 1988, II.1.7) holds for every plan. It cuts off the LP
    relaxation's fractional scanners (the default county's LP buys half an MRI), which HiGHS
    otherwise removes only at the end of a long root cut loop (benchmarks/README.md,
    bench_fund). Mutable parameters: a demand or capacity what-if re-solves without a rebuild.
    In the games of stage 2 the rows are built off (r = 0) and a coalition's solve sets them for
    its fixed membership (planner.sharing.coalitions; models/fair_division.md).
    """
    unmet: dict[str, list] = {e: [] for e in _rounded_equipment(inp)}
    for z, k in m.DEMAND:
        if k in unmet:
            unmet[k].append(m.rounding_weight[k] * m.unmet[z, k])
    units: dict[str, list] = {e: [] for e in unmet}
    for i, e in m.UNIT_PAIRS:
        if e in units:
            units[e].append(m.units[i, e])
    m.equipment_rounding = pyo.Constraint(
        list(unmet), rule=lambda m, e: linear_sum(units[e] + unmet[e]) >= m.rounding_units[e])


# --- the registry of constraint families ------------------------------------------------------
def _no_shape(inp: ModelInputs) -> dict:
    """A family whose rows and terms follow from the index sets alone."""
    return {}


@dataclass(frozen=True)
class Family:
    """One constraint family of models/allocation.md, described once.

    `add` builds its rows; `rows` names the Pyomo Constraint components it adds, the names an
    infeasibility diagnosis reports (planner.model.diagnose) and the benchmark's independent
    twin builds (benchmarks/highs_direct.py); `shape` gives the inputs, beyond the index sets,
    that decide which of its rows and terms exist (its part of :func:`model_shape`): forget
    one and a re-solve would reuse a model of the wrong shape.
    """

    name: str
    add: Callable[[pyo.ConcreteModel, ModelInputs], None]
    rows: tuple[str, ...]
    shape: Callable[[ModelInputs], dict] = _no_shape


FAMILIES: tuple[Family, ...] = (
    Family("units_in_service", add_units_in_service, ("units_in_service",)),
    Family("demand_balance", add_demand_balance, ("demand_balance",)),
    Family("equipment_capacity", add_equipment_capacity, ("equipment_capacity",)),
    # rows left out where existing units cannot move
    Family("equipment_linking", add_equipment_linking, ("equipment_linking",),
           lambda inp: {"existing_pairs": list(inp.existing.index)}),
    Family("specialist_capacity", add_specialist_capacity, ("specialist_capacity",)),
    Family("specialist_supply", add_specialist_supply, ("specialist_supply",),
           lambda inp: {"pool_holders": list(inp.pool_at.index)}),
    Family("policy_minimum_outreach", add_policy_minimum_outreach,
           ("policy_minimum_outreach",)),
    Family("capital_budget", add_capital_budget, ("capital_budget",)),
    # rows only where the limit is finite
    Family("site_capital_limit", add_site_capital_limit, ("site_capital_limit",),
           lambda inp: {"capital_limited": list(
               inp.sites.index[np.isfinite(inp.sites["capital_limit"])])}),
    Family("max_per_site", add_max_per_site, ("max_units_per_site",),
           lambda inp: {"max_per_site_limited": list(
               inp.equipment.index[np.isfinite(inp.equipment["max_per_site"])])}),
    Family("relocation_limit", add_relocation_limit, ("relocation_limit",)),
    Family("membership_link", add_membership_link,
           ("membership_new_units", "membership_relocation", "membership_outreach",
            "coalition_size")),
    # the covering sets (with COVER_ROWS, they also tell a goal's model with relax_urgent, which
    # lacks the rows of its equipment: planner/model/goals.py goal_inputs)
    Family("urgent_coverage", add_urgent_coverage, ("urgent_coverage",),
           lambda inp: {"cover": list(map(tuple, inp.cover[
               ["zone_id", "condition", "equipment", "site_id"]].to_numpy()))}),
    # the covering sets (units, outreach days, clinics)
    Family("access_guarantee", add_access_guarantee, ("access_guarantee",),
           lambda inp: {"access": list(map(tuple, inp.access.to_numpy()))}),
    Family("min_served_share", add_min_served_share, ("min_served_share",)),
    # which arcs of each service exist is in the index sets; which sites count as grassroots
    Family("in_county_target", add_in_county_target, ("in_county_target",)),
    Family("grassroots_target", add_grassroots_target, ("grassroots_target",),
           lambda inp: {"grassroots_sites": list(inp.sites.index[inp.sites["grassroots"]
                                                                  .to_numpy(bool)])}),
    # [reading]: which sites have site-bound exams (a member_in term of their rows)
    Family("reading_overflow", add_reading_overflow, ("reading_overflow",),
           lambda inp: {"site_exams": list(site_exams(inp).index)}),
    Family("reading_capacity", add_reading_capacity, ("reading_capacity",),
           lambda inp: {"site_exams": list(site_exams(inp).index)}),
    Family("membership_hired", add_membership_hired, ("membership_hired",)),
    # a valid inequality: one row per equipment with demand (off in the games of stage 2 until
    # a coalition solve sets it)
    Family("equipment_rounding", add_equipment_rounding, ("equipment_rounding",),
           lambda inp: {"rounded_equipment": _rounded_equipment(inp)}),
)


# --- objective --------------------------------------------------------------------------------
def objective_coefficients(inp: ModelInputs) -> dict[str, np.ndarray]:
    """The objective's coefficient of each variable, per variable family, aligned with its index
    set (:func:`index_sets`): the one place :func:`system_cost` and :func:`cost_key` read.

    A column's coefficient is the sum of the unit costs the ledger gives its terms
    (:func:`planner.model.ledger.prices`, where the formula of docs/design.md section 5 is
    written once):
    new_units: capex*A(r,L); units: opex; relocated: relocation_cost; outreach_days:
    cost_per_day; flow: t*value_per_minute + cost_per_exam; unmet: referral_cost;
    uncovered: penalty_per_zone (soft coverage); policy_shortfall: shortfall price (games).
    """
    return price_book(inp).coefficients()


def system_cost(m: pyo.ConcreteModel, inp: ModelInputs) -> LinearExpression:
    """Annual system cost, the exact objective of docs/design.md section 5 (+ soft-coverage
    penalty).

    sum n*capex*A(r,L) + sum units*opex + sum relocated*relocation_cost + sum d*cost_per_day
    + sum f*(t*value_per_minute + cost_per_exam) + sum u*referral_cost (+ penalty*uncovered).
    Existing units' opex is part of `units`; the coefficients (:func:`objective_coefficients`)
    are numbers, re-set by :func:`set_objective` when costs change.
    """
    return LinearCosts.of(cost_arrays(m, inp)).expr


def cost_arrays(m: pyo.ConcreteModel, inp: ModelInputs) -> list[tuple[pyo.Var, np.ndarray]]:
    """(Var component, its objective coefficients in index order): :func:`system_cost` as
    arrays (:func:`objective_coefficients` by component)."""
    return [(getattr(m, name), coefficients)
            for name, coefficients in objective_coefficients(inp).items()]


def cost_terms(m: pyo.ConcreteModel, inp: ModelInputs) -> list[tuple[float, VarData]]:
    """(coefficient, variable) of every non-zero term of :func:`system_cost`."""
    return nonzero_terms(cost_arrays(m, inp))


def set_objective(m: pyo.ConcreteModel, inp: ModelInputs, member_weights=None) -> None:
    """System cost, minus sum_m member_weights[m]*member_in[m] when weights are given (stage 2).

    The same costs are kept as arrays beside the expression (`m.objective_costs`, a
    LinearCosts): the hand-over to HiGHS reads those."""
    costs = cost_arrays(m, inp)
    if member_weights is not None:
        costs.append((m.member_in, -np.array([float(member_weights[k]) for k in m.MEMBERS])))
    m.objective_costs = LinearCosts.of(costs)
    m.objective.expr = m.objective_costs.expr


def build_model(inp: ModelInputs) -> pyo.ConcreteModel:
    """The planning MILP for one set of inputs.

    Python's cyclic garbage collector is paused while the many small expression objects are
    made (they hold no cycles to collect): measured to halve the build time of large models.
    """
    with paused_gc():
        return _build(inp)


@contextmanager
def paused_gc():
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _add_family(m: pyo.ConcreteModel, inp: ModelInputs, family: Family) -> None:
    """Add one family's rows; a Constraint its record does not list is an error, so that the
    names a diagnosis reports and the twin builds (Family.rows) cannot drift from the model."""
    before = set(m.component_map(pyo.Constraint))
    family.add(m, inp)
    undeclared = set(m.component_map(pyo.Constraint)) - before - set(family.rows)
    if undeclared:
        raise RuntimeError(f"constraint family {family.name} added {sorted(undeclared)}, which "
                           "its record in FAMILIES does not list")


def _build(inp: ModelInputs) -> pyo.ConcreteModel:
    m = pyo.ConcreteModel(name="consortium_plan")
    m.site_member = inp.sites["member"].to_dict()       # plain lookups for the row builders
    m.zone_member = inp.zones["home_member"].to_dict()
    add_sets(m, inp)
    add_parameters(m, inp)
    add_variables(m, inp)
    set_decision_bounds(m, inp)
    for family in FAMILIES:
        _add_family(m, inp, family)
    m.objective = pyo.Objective(expr=0, sense=pyo.minimize)
    set_objective(m, inp)
    return m


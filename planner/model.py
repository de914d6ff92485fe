"""The stage-1 planning MILP in Pyomo (formulation: models/allocation.md, same names).

`build_model` is a flat, ordered list: sets, parameters, variables, one function per constraint
family, the objective. Each family states its algebra in its docstring and builds its rows from
the tidy tables of :class:`planner.inputs.ModelInputs` (only eligible arcs exist). Everything a
what-if changes without changing the model's shape is a mutable parameter (right-hand sides and
coefficients, set by :func:`set_parameters`) or an objective coefficient (re-set by
:func:`set_objective`); see :class:`planner.session.PlanningSession`.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.expr.numeric_expr import LinearExpression

from planner.inputs import ModelInputs


def _sum(terms) -> LinearExpression:
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
def add_sets(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    m.SITES = pyo.Set(initialize=list(inp.sites.index), ordered=True)
    m.ZONES = pyo.Set(initialize=list(inp.zones.index), ordered=True)
    m.EQUIPMENT = pyo.Set(initialize=list(inp.equipment.index), ordered=True)
    m.SPECIALTIES = pyo.Set(initialize=list(inp.specialties.index), ordered=True)
    m.UNIT_PAIRS = pyo.Set(initialize=inp.unit_pairs, dimen=2, ordered=True)
    m.NEW_PAIRS = pyo.Set(initialize=list(map(tuple, inp.new_pairs.to_numpy())), dimen=2)
    m.MOVES = pyo.Set(initialize=list(map(tuple, inp.moves.to_numpy())), dimen=3, ordered=True)
    m.DAY_PAIRS = pyo.Set(initialize=[(i, s) for i in inp.sites.index
                                      for s in inp.specialties.index], dimen=2, ordered=True)
    m.DEMAND = pyo.Set(initialize=list(inp.demand.index), dimen=2, ordered=True)
    m.ARCS = pyo.RangeSet(0, len(inp.arcs) - 1)  # row positions of inp.arcs
    m.COVER_ROWS = pyo.Set(initialize=list(map(tuple, inp.cover_rows[["zone_id", "condition"]]
                                                .to_numpy())), dimen=2, ordered=True)


def add_parameters(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Mutable parameters: what a what-if may change without rebuilding (values: set_parameters)."""
    m.demand = pyo.Param(m.DEMAND, mutable=True, initialize=0.0)
    m.existing = pyo.Param(m.UNIT_PAIRS, mutable=True, initialize=0.0)
    m.unit_capacity = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.max_per_site = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.capex = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.relocation_cost = pyo.Param(m.EQUIPMENT, mutable=True, initialize=0.0)
    m.visits_per_day = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.clinic_visits = pyo.Param(m.DAY_PAIRS, mutable=True, initialize=0.0)
    m.pool = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.min_days = pyo.Param(m.SPECIALTIES, mutable=True, initialize=0.0)
    m.capital_limit = pyo.Param(m.SITES, mutable=True, initialize=0.0)
    m.budget = pyo.Param(mutable=True, initialize=0.0)
    set_parameters(m, inp)


def set_parameters(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Copy the inputs' values into the mutable parameters."""
    eq, sp = inp.equipment, inp.specialties
    for key, value in inp.demand.items():
        m.demand[key] = value
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
        m.pool[s] = inp.pool[s]
        m.min_days[s] = inp.min_days[s]
    for key in m.DAY_PAIRS:
        m.clinic_visits[key] = float(inp.clinic_visits.get(key, 0.0))
    for i in m.SITES:
        limit = inp.sites.at[i, "capital_limit"]
        m.capital_limit[i] = limit if math.isfinite(limit) else 0.0
    m.budget = inp.budget


def add_variables(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    nonneg_int = pyo.NonNegativeIntegers
    m.new_units = pyo.Var(m.NEW_PAIRS, domain=nonneg_int)
    m.relocated = pyo.Var(m.MOVES, domain=nonneg_int,
                          bounds=lambda m, i, j, e: (0, inp.existing[(i, e)]))
    m.units = pyo.Var(m.UNIT_PAIRS, domain=nonneg_int)
    m.outreach_days = pyo.Var(m.DAY_PAIRS, domain=nonneg_int)
    m.flow = pyo.Var(m.ARCS, domain=pyo.NonNegativeReals)
    m.unmet = pyo.Var(m.DEMAND, domain=pyo.NonNegativeReals)
    m.uncovered = pyo.Var(m.COVER_ROWS, bounds=(0, 1))
    if not inp.urgent_soft:
        m.uncovered.fix(0)


# --- constraint families ----------------------------------------------------------------------
def add_units_in_service(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """units[i,e] = existing[i,e] + new_units[i,e] + sum_j relocated[j,i,e] - sum_j relocated[i,j,e].

    Existing units always stay in service; they may only be relocated.
    """
    moves = inp.moves.reset_index(drop=True)
    incoming = _groups(moves, ["to_site", "equipment"])
    outgoing = _groups(moves, ["from_site", "equipment"])
    keys = list(m.MOVES)

    def rule(m, i, e):
        terms = [m.existing[i, e]]
        if (i, e) in m.NEW_PAIRS:
            terms.append(m.new_units[i, e])
        terms += [m.relocated[keys[p]] for p in incoming.get((i, e), ())]
        terms += [-m.relocated[keys[p]] for p in outgoing.get((i, e), ())]
        return m.units[i, e] == _sum(terms)
    m.units_in_service = pyo.Constraint(m.UNIT_PAIRS, rule=rule)


def add_demand_balance(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_i flow[z,i,k] + unmet[z,k] = demand[z,k]: demand is served in the consortium or referred out."""
    by_demand = _groups(inp.arcs, ["zone_id", "service"])
    flow = m.flow

    def rule(m, z, k):
        return _sum([flow[a] for a in by_demand.get((z, k), ())] + [m.unmet[z, k]]) \
            == m.demand[z, k]
    m.demand_balance = pyo.Constraint(m.DEMAND, rule=rule)


def add_equipment_capacity(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_z flow[z,i,e] <= unit_capacity[e] * units[i,e], unit_capacity = capacity x max utilisation."""
    arcs = inp.arcs[inp.arcs["service"].isin(inp.equipment.index)]
    by_site = _groups(arcs, ["site_id", "service"])
    flow = m.flow
    index = arcs.index.to_numpy()

    def rule(m, i, e):
        return _sum([flow[a] for a in index[by_site[(i, e)]]]
                    + [-m.unit_capacity[e] * m.units[i, e]]) <= 0
    m.equipment_capacity = pyo.Constraint(sorted(by_site), rule=rule)


def add_equipment_linking(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """flow[z,i,e] <= demand[z,e] * units[i,e]: no unit, no flow (the strong, disaggregated link).

    Valid whatever the capacity; it tightens the LP relaxation (Cornuejols, Nemhauser & Wolsey
    1990). Left out where units can never be zero (existing units that cannot move).
    """
    arcs = inp.arcs[inp.arcs["service"].isin(inp.equipment.index)]
    movable = set(inp.moves[["from_site", "equipment"]].itertuples(index=False, name=None))
    fixed = {k for k in inp.existing.index if k not in movable}
    keep = [(a, z, i, e) for a, z, i, e in zip(arcs.index, arcs["zone_id"], arcs["site_id"],
                                               arcs["service"]) if (i, e) not in fixed]
    rows = {a: (z, i, e) for a, z, i, e in keep}

    def rule(m, a):
        z, i, e = rows[a]
        return _sum([m.flow[a], -m.demand[z, e] * m.units[i, e]]) <= 0
    m.equipment_linking = pyo.Constraint(list(rows), rule=rule)


def add_specialist_capacity(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_z flow[z,i,s] <= visits_per_day[s] * outreach_days[i,s] + clinic_visits[i,s]."""
    arcs = inp.arcs[inp.arcs["service"].isin(inp.specialties.index)]
    by_site = _groups(arcs, ["site_id", "service"])
    flow = m.flow
    index = arcs.index.to_numpy()

    def rule(m, i, s):
        return _sum([flow[a] for a in index[by_site[(i, s)]]]
                    + [-m.visits_per_day[s] * m.outreach_days[i, s]]) <= m.clinic_visits[i, s]
    m.specialist_capacity = pyo.Constraint(sorted(by_site), rule=rule)


def add_specialist_supply(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_i outreach_days[i,s] <= pool[s]: the lead hospitals' pools of specialist days."""
    def rule(m, s):
        return _sum([m.outreach_days[i, s] for i in m.SITES]) <= m.pool[s]
    m.specialist_supply = pyo.Constraint(m.SPECIALTIES, rule=rule)


def add_policy_minimum_outreach(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """outreach_days[i,s] >= min_days[s] at every site of a grassroots tier."""
    grassroots = inp.sites.index[inp.sites["grassroots"]]
    specialties = inp.min_days.index[inp.min_days > 0]
    m.policy_minimum_outreach = pyo.Constraint(
        [(i, s) for i in grassroots for s in specialties],
        rule=lambda m, i, s: m.outreach_days[i, s] >= m.min_days[s])


def _capital_terms(m: pyo.ConcreteModel, sites=None) -> list:
    """Capital spent: capex of new units + relocation cost of moved units (at the receiving site)."""
    terms = [m.capex[e] * m.new_units[i, e] for (i, e) in m.NEW_PAIRS
             if sites is None or i in sites]
    terms += [m.relocation_cost[e] * m.relocated[i, j, e] for (i, j, e) in m.MOVES
              if sites is None or j in sites]
    return terms


def add_capital_budget(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum capex[e]*new_units[i,e] + sum relocation_cost[e]*relocated[i,j,e] <= budget."""
    terms = _capital_terms(m)
    if terms:
        m.capital_budget = pyo.Constraint(expr=_sum(terms) <= m.budget)


def add_site_capital_limit(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """Capital spent at site i (new units + units moved in) <= capital_limit[i], where given."""
    limited = [i for i in inp.sites.index if math.isfinite(inp.sites.at[i, "capital_limit"])]
    rows = {i: _capital_terms(m, {i}) for i in limited}
    m.site_capital_limit = pyo.Constraint(
        [i for i in limited if rows[i]], rule=lambda m, i: _sum(rows[i]) <= m.capital_limit[i])


def add_max_per_site(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """units[i,e] <= max_per_site[e] (units in service, existing ones included)."""
    limited = set(inp.equipment.index[np.isfinite(inp.equipment["max_per_site"])])
    m.max_units_per_site = pyo.Constraint(
        [(i, e) for (i, e) in m.UNIT_PAIRS if e in limited],
        rule=lambda m, i, e: m.units[i, e] <= m.max_per_site[e])


def add_relocation_limit(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_j relocated[i,j,e] <= existing[i,e]: only existing units move, each at most once."""
    outgoing = _groups(inp.moves, ["from_site", "equipment"])
    keys = list(m.MOVES)
    m.relocation_limit = pyo.Constraint(
        sorted(outgoing),
        rule=lambda m, i, e: _sum([m.relocated[keys[p]] for p in outgoing[(i, e)]])
        <= m.existing[i, e])


def add_urgent_coverage(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    """sum_{i: t[z,i] <= T_c} units[i,e_c] + uncovered[z,c] >= 1 for each populated zone.

    uncovered is fixed to 0 unless coverage is soft (then it is priced in the objective).
    Rows implied by another row's smaller covering set are not generated (see inputs).
    """
    unit_pairs = set(m.UNIT_PAIRS)
    members = {k: [] for k in m.COVER_ROWS}
    for z, c, e, i in inp.cover.itertuples(index=False, name=None):
        if (i, e) in unit_pairs:
            members[(z, c)].append(m.units[i, e])
    m.urgent_coverage = pyo.Constraint(
        m.COVER_ROWS, rule=lambda m, z, c: _sum(members[(z, c)] + [m.uncovered[z, c]]) >= 1)


# --- objective --------------------------------------------------------------------------------
def system_cost(m: pyo.ConcreteModel, inp: ModelInputs) -> LinearExpression:
    """Annual system cost, the exact objective of DESIGN.md section 5 (+ soft-coverage penalty).

    sum n*capex*A(r,L) + sum units*opex + sum relocated*relocation_cost + sum d*cost_per_day
    + sum f*(t*value_per_minute + cost_per_exam) + sum u*referral_cost (+ penalty*uncovered).
    Existing units' opex is part of `units`; the coefficients are numbers, re-set by
    :func:`set_objective` when costs change.
    """
    eq, sp = inp.equipment, inp.specialties
    referral = pd.concat([eq["referral_cost"], sp["referral_cost"]])
    terms = [eq.at[e, "annual_capex"] * m.new_units[i, e] for (i, e) in m.NEW_PAIRS]
    terms += [eq.at[e, "opex"] * m.units[i, e] for (i, e) in m.UNIT_PAIRS]
    terms += [eq.at[e, "relocation_cost"] * m.relocated[i, j, e] for (i, j, e) in m.MOVES]
    terms += [sp.at[s, "cost_per_day"] * m.outreach_days[i, s] for (i, s) in m.DAY_PAIRS]
    flow = m.flow
    terms += [c * flow[a] for a, c in enumerate(inp.arcs["unit_cost"].to_numpy().tolist())
              if c != 0]
    terms += [referral[k] * m.unmet[z, k] for (z, k) in m.DEMAND]
    if inp.urgent_soft:
        terms += [inp.penalty_per_zone * m.uncovered[k] for k in m.COVER_ROWS]
    return _sum(terms)


def set_objective(m: pyo.ConcreteModel, inp: ModelInputs) -> None:
    m.objective.expr = system_cost(m, inp)


def build_model(inp: ModelInputs) -> pyo.ConcreteModel:
    """The planning MILP for one set of inputs."""
    m = pyo.ConcreteModel(name="consortium_plan")
    add_sets(m, inp)
    add_parameters(m, inp)
    add_variables(m, inp)
    add_units_in_service(m, inp)
    add_demand_balance(m, inp)
    add_equipment_capacity(m, inp)
    add_equipment_linking(m, inp)
    add_specialist_capacity(m, inp)
    add_specialist_supply(m, inp)
    add_policy_minimum_outreach(m, inp)
    add_capital_budget(m, inp)
    add_site_capital_limit(m, inp)
    add_max_per_site(m, inp)
    add_relocation_limit(m, inp)
    add_urgent_coverage(m, inp)
    m.objective = pyo.Objective(expr=system_cost(m, inp), sense=pyo.minimize)
    return m


CONSTRAINT_FAMILIES = (
    "units_in_service", "demand_balance", "equipment_capacity", "equipment_linking",
    "specialist_capacity", "specialist_supply", "policy_minimum_outreach", "capital_budget",
    "site_capital_limit", "max_units_per_site", "relocation_limit", "urgent_coverage",
)

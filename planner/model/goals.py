"""What a plan optimises: the annual cost (default), the covered population, or the worst trip.

docs/design.md section 7 and models/goals.md (same names). `coverage` and `worst-minutes` are
lexicographic: solve 1 optimises the goal, solve 2 keeps the goal at its optimum (the row
`goal_attained`) and minimises the exact annual cost. Both run on one persistent HiGHS model: the
goal block is added to the cost model before it is handed over, with the goal's level as a
mutable parameter (-inf/+inf while the goal is optimised, so the row is idle).

The same block answers the epsilon-constraint question of a Pareto front: the least annual cost
with at least P residents covered is solve 2 alone with the level set to P.

Every constraint of the cost model holds under a goal, the urgent-coverage rows included (a
stroke rule stays a rule while a study maximises 15-minute coverage). `relax_urgent=True` drops
the urgent-coverage rows of the goal's equipment, for pure location studies (p-centre, MCLP).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from planner.errors import InfeasibleError, PlannerError
from planner.model.families import linear_sum
from planner.model.highs import new_highs, run
from planner.model.inputs import ModelInputs
from planner.model.ledger import price_book
from planner.model.radius import radius_units, why_not

GOALS = ("cost", "coverage", "worst-minutes")


class GoalError(PlannerError):
    """A goal, service or minutes that cannot be used (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class Goal:
    """kind: cost | coverage | worst-minutes; service: the equipment E (coverage, worst-minutes);
    minutes: T (coverage only); relax_urgent: drop the urgent-coverage rows of E (a pure
    location study; never under cost)."""

    kind: str = "cost"
    service: str | None = None
    minutes: float | None = None
    relax_urgent: bool = False

    @property
    def is_cost(self) -> bool:
        return self.kind == "cost"

    @property
    def equipment(self) -> str:
        """The equipment E of a coverage or worst-minutes goal (make_goal always gives one)."""
        assert self.service is not None, f"a {self.kind} goal has no equipment"
        return self.service

    def report(self, value: float | None) -> dict:
        """plan.json `goal`: kind, service, minutes (coverage only), relax_urgent, value.
        relax_urgent is written under every goal, false included, so that a reader never has
        to guess what a missing key means."""
        data: dict[str, Any] = {"kind": self.kind, "service": self.service}
        if self.kind == "coverage":
            data["minutes"] = self.minutes
        data["relax_urgent"] = self.relax_urgent
        data["value"] = value
        return data


def make_goal(scenario, goal: str | Goal | None = None, service: str | None = None,
              minutes: float | None = None, relax_urgent: bool | None = None) -> Goal:
    """The Goal asked for, checked against the scenario (a GoalError says which argument and
    what to give instead). relax_urgent=None keeps a given Goal's own (else False)."""
    asked = goal
    if isinstance(goal, Goal):
        if relax_urgent is None:
            relax_urgent = goal.relax_urgent
        asked, service, minutes = goal.kind, goal.service, goal.minutes
    relax = _relax_flag(relax_urgent)
    kind = "cost" if asked is None else str(asked).strip().lower().replace("_", "-")
    if kind not in GOALS:
        raise GoalError(f"goal {asked!r} is not known; use one of {', '.join(GOALS)} "
                        "(--goal on the command line, goal= in Python).")
    if kind == "cost":
        if service is not None or minutes is not None:
            raise GoalError("--service and --minutes belong to --goal coverage or worst-minutes; "
                            "the cost goal takes neither (drop them, or give a goal).")
        if relax:
            raise GoalError("--relax-urgent (relax_urgent=True in Python) belongs to --goal "
                            "coverage or worst-minutes, for a pure location study; the cost "
                            "goal keeps every urgent-coverage rule (drop the flag, or give a "
                            "goal; [urgent] soft = true in scenario.toml prices the rule "
                            "instead).")
        return Goal()
    equipment = list(scenario.equipment["equipment"].astype(str))
    if service is None or str(service) not in equipment:
        given = "no service" if service is None else f"service {service!r}"
        raise GoalError(f"goal {kind} needs the equipment it is about, and {given} is not in "
                        f"equipment.csv; give --service (service= in Python) as one of "
                        f"{', '.join(equipment)}.")
    if kind == "worst-minutes":
        if minutes is not None:
            raise GoalError("--minutes belongs to --goal coverage; worst-minutes finds the "
                            "minutes itself (drop --minutes).")
        return Goal(kind, str(service), relax_urgent=relax)
    try:
        value = math.nan if minutes is None else float(minutes)
    except (TypeError, ValueError):
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise GoalError(f"goal coverage needs --minutes (minutes= in Python), a number of "
                        f"minutes > 0 (got {minutes!r}); e.g. --minutes 30.")
    return Goal(kind, str(service), value, relax)


def _relax_flag(value) -> bool:
    """relax_urgent as a bool: True, False or None (False); anything else is a GoalError (a
    string such as "false" would otherwise read as true)."""
    if value is None:
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise GoalError(f"relax_urgent must be True or False, not {value!r} (relax_urgent= in "
                    "Python; --relax-urgent on the command line takes no value).")


def goal_inputs(inp: ModelInputs, goal: Goal) -> ModelInputs:
    """The model's inputs for the goal: the cost model's own, every urgent-coverage row kept
    (docs/design.md section 7); with relax_urgent, without the urgent-coverage rows of the
    goal's equipment (a pure location study). The dropped rows leave `COVER_ROWS` and `cover`,
    so the model's shape key (planner.model.families.structure_key) tells the two models apart."""
    if not goal.relax_urgent:
        return inp
    kept = inp.cover_rows["equipment"] != goal.service
    return replace(inp, cover=inp.cover[inp.cover["equipment"] != goal.service],
                   cover_rows=inp.cover_rows[kept].reset_index(drop=True))


# --- the goal block (models/goals.md) ----------------------------------------------------------
def candidate_sites(inp: ModelInputs, service: str) -> list:
    """Sites where units of the equipment can be in service (existing, new or moved in)."""
    return [i for i, e in inp.unit_pairs if e == service]


def populated_minutes(inp: ModelInputs, service: str) -> pd.DataFrame:
    """Populated zones x candidate sites: travel minutes t[z,i] (not limited by max_minutes)."""
    populated = inp.zones.index[inp.zones["population"].to_numpy(float) > 0]
    return inp.minutes.loc[populated, candidate_sites(inp, service)]


def add_goal_block(m: pyo.ConcreteModel, inp: ModelInputs, goal: Goal) -> None:
    """The goal's variables and rows, `goal_value` (an Expression), the idle row
    `goal_attained` and the (inactive) objective `goal_objective`."""
    minutes = populated_minutes(inp, goal.equipment)
    if minutes.shape[1] == 0:
        raise GoalError(f"no site can have {goal.service} in service (no existing units, and "
                        f"no tier in allowed_tiers of equipment.csv), so the {goal.kind} goal "
                        f"has nothing to place; check equipment.csv allowed_tiers.")
    if goal.kind == "coverage":
        add_coverage_goal(m, inp, goal, minutes)
        sense, level = pyo.maximize, -math.inf
    else:
        add_worst_minutes_goal(m, goal, minutes)
        sense, level = pyo.minimize, math.inf
    m.goal_level = pyo.Param(mutable=True, initialize=level)
    if sense == pyo.maximize:
        m.goal_attained = pyo.Constraint(expr=m.goal_value.expr >= m.goal_level)
    else:
        m.goal_attained = pyo.Constraint(expr=m.goal_value.expr <= m.goal_level)
    m.goal_objective = pyo.Objective(expr=m.goal_value.expr, sense=sense)
    m.goal_objective.deactivate()


def add_coverage_goal(m: pyo.ConcreteModel, inp: ModelInputs, goal: Goal,
                      minutes: pd.DataFrame) -> None:
    """covered[z] <= sum_{i: t[z,i] <= T} units[i,E] for each populated zone z that has a
    candidate site within T; goal_value = sum_z population[z] * covered[z].

    covered[z] is continuous in [0, 1]: with integer units its best value is min(1, sum units),
    0 or 1, so no binary is needed (MCLP, Church & ReVelle 1974, with the site variables
    integer). Zones with no candidate site within T cannot be covered: they have no variable.
    """
    within = minutes.to_numpy() <= goal.minutes
    reachable = minutes.index[within.any(axis=1)]
    sites = minutes.columns
    m.COVERABLE = pyo.Set(initialize=list(reachable), ordered=True)
    m.covered = pyo.Var(m.COVERABLE, bounds=(0, 1))
    rows = {z: [m.units[i, goal.service] for i, ok in zip(sites, within[minutes.index.get_loc(z)])
                if ok] for z in reachable}
    m.coverage_goal = pyo.Constraint(
        m.COVERABLE, rule=lambda m, z: linear_sum([m.covered[z]] + [-u for u in rows[z]]) <= 0)
    population = inp.zones["population"]
    m.goal_value = pyo.Expression(expr=linear_sum(
        [float(population[z]) * m.covered[z] for z in reachable]))


def radius_levels(minutes: pd.DataFrame) -> np.ndarray:
    """The candidate values of the worst trip: the distinct t[z,i] from the smallest value any
    plan must reach (every zone's nearest candidate site) upwards."""
    lowest = minutes.min(axis=1).max()
    times = np.unique(minutes.to_numpy().ravel())
    return times[times >= lowest]


def add_worst_minutes_goal(m: pyo.ConcreteModel, goal: Goal, minutes: pd.DataFrame) -> None:
    """The radius formulation of the p-centre (Elloumi, Labbe & Pochet 2004, INFORMS J. Comput.
    16(1):84-94), on the distinct travel times d_0 < d_1 < ... < d_K (:func:`radius_levels`):

    above[k] in [0, 1] for k = 1..K (1 when the worst trip is at least d_k);
    goal_value = d_0 + sum_k (d_k - d_{k-1}) * above[k];
    above[k] + sum_{i: t[z,i] < d_k} units[i,E] >= 1 for each populated zone z and each level
    d_k that is one of z's own times t[z,i] (the rows at the other levels are implied: between
    two of its times the zone's set of closer sites does not change, and above[k] >= above[k+1]);
    above[k] >= above[k+1].

    The sum is written once per zone as a running count (`reach`, :func:`_reach_rows`): the
    rows as printed hold a zone's closer sites again at each of its levels, zones x sites x
    levels nonzeros (15 M on OR-Library pmed40, a Pyomo build of minutes); the running count
    is one term per zone and site, like the eligible arcs.
    above[k] needs no integrality: with integer units its best value is 0 or 1.
    """
    levels = radius_levels(minutes)
    m.RADII = pyo.Set(initialize=range(1, len(levels)), ordered=True)
    m.above = pyo.Var(m.RADII, bounds=(0, 1))
    m.radius_order = pyo.Constraint(
        range(1, len(levels) - 1), rule=lambda m, k: linear_sum([m.above[k], -m.above[k + 1]]) >= 0)
    units = [m.units[i, goal.equipment] for i in minutes.columns]
    rows = _reach_rows(minutes.to_numpy(float), levels)
    m.RADIUS_ROWS = pyo.RangeSet(0, len(rows) - 1) if rows else pyo.Set(initialize=[])
    m.reach = pyo.Var(m.RADIUS_ROWS, bounds=(0, None))

    def counted(m, r):
        k, previous, new = rows[r]
        before = [] if previous is None else [m.reach[previous]]
        return linear_sum([m.reach[r]] + [-x for x in before] + [-units[j] for j in new]) == 0

    m.radius_reach = pyo.Constraint(m.RADIUS_ROWS, rule=counted)
    m.radius_cover = pyo.Constraint(
        m.RADIUS_ROWS, rule=lambda m, r: linear_sum([m.above[rows[r][0]], m.reach[r]]) >= 1)
    m.radius_values = levels      # the worst trip when above[1..k] = 1 and the rest 0 is d_k
    steps = np.diff(levels)
    m.goal_value = pyo.Expression(expr=linear_sum(
        [float(levels[0])] + [float(steps[k - 1]) * m.above[k] for k in m.RADII]))


def _reach_rows(times: np.ndarray, levels: np.ndarray) -> list[tuple[int, int | None, list]]:
    """One row per populated zone z and own level d_k > d_0: (k, the zone's previous row or
    None, the sites j with previous level <= t[z,j] < d_k). reach[row] = reach[previous] + the
    units at those sites is then the number of units closer to z than d_k."""
    position = {float(d): k for k, d in enumerate(levels)}
    rows: list[tuple[int, int | None, list]] = []
    for zone_times in times:
        order = np.argsort(zone_times, kind="stable")
        own = np.unique(zone_times[zone_times > levels[0]])
        cuts = np.searchsorted(zone_times[order], own, side="left")
        previous, done = None, 0
        for level, cut in zip(own, cuts):
            rows.append((position[float(level)], previous, list(order[done:cut])))
            previous, done = len(rows) - 1, cut
    return rows


# --- the goal's value, from a plan's units in service -----------------------------------------
def goal_value(inp: ModelInputs, equipment: pd.DataFrame, goal: Goal) -> float:
    """Covered residents or the worst trip in minutes, recomputed from the plan's table of
    units in service (not read back from the solver's goal variables)."""
    minutes = populated_minutes(inp, goal.equipment)
    rows = equipment[(equipment["equipment"] == goal.service) & (equipment["total"] > 0)]
    placed = [i for i in rows["site_id"] if i in minutes.columns]
    nearest = minutes[placed].min(axis=1) if placed else pd.Series(math.inf, minutes.index)
    if goal.kind == "coverage":
        return float(inp.zones["population"].reindex(nearest.index)[nearest <= goal.minutes]
                     .sum())
    return float(nearest.max())


def absolute_gap(inp: ModelInputs, goal: Goal) -> float:
    """The absolute MIP gap that proves the goal's optimum: below half the smallest step
    between two goal values (half a resident for integer populations; half the smallest gap
    between two distinct travel times)."""
    if goal.kind == "coverage":
        population = inp.zones["population"].to_numpy(float)
        whole = np.all(population == np.round(population))
        return 0.5 if whole else 1e-6 * max(1.0, float(population.sum()))
    steps = np.diff(radius_levels(populated_minutes(inp, goal.equipment)))
    return 0.5 * float(steps.min()) if len(steps) else 1e-6


# --- the solves ---------------------------------------------------------------------------------
def solve_goal(session, options, coverage_at_least: float | None = None):
    """The lexicographic plan of the session's goal: solve 1 the goal, solve 2 the least annual
    cost at that goal value (from scratch: no MIP start from solve 1, see _least_cost_at). For
    worst-minutes, solve 2 runs first at the covering relaxation's radius (a plan there is the
    optimum of both), and the bisection above it only when the full model cannot meet it
    (models/goals.md). With `coverage_at_least`, solve 2 alone at that level (the
    epsilon-constraint point of a Pareto front)."""
    m, goal = session.model, session.goal
    try:
        if coverage_at_least is not None:
            return _least_cost_at(session, options, _coverage_floor(session, coverage_at_least),
                                  None, None)
        if goal.kind == "worst-minutes":
            before = session.last_result
            bound = covering_bound(session.inputs, goal, m.radius_values)
            plan, unreachable = _least_cost_at_bound(session, options, bound)
            if plan is not None:
                return plan
            ran = session.last_result is not None and session.last_result is not before
            spent = session.last_result.seconds if ran else 0.0
            first, result = _smallest_radius(session, options, bound.level + unreachable, spent)
        else:
            first, result = _most_coverage(session, options), session.last_result
        if result is None or result.objective is None:
            return first
        level = _level_reached(session, result.objective if goal.kind == "coverage"
                               else first.goal["value"])
        return _least_cost_at(session, options, level, first, result)
    finally:
        m.goal_level.set_value(-math.inf if goal.kind == "coverage" else math.inf)
        m.goal_objective.deactivate()
        m.objective.activate()
        if goal.kind == "worst-minutes":
            m.above.unfix()


def _most_coverage(session, options):
    """Solve 1 of the coverage goal: the covered population alone, to a gap that proves its
    optimum (:func:`absolute_gap`)."""
    m = session.model
    m.objective.deactivate()
    m.goal_objective.activate()
    gap = absolute_gap(session.inputs, session.goal)
    return session.solve_with(replace(options, mip_gap=0.0, mip_abs_gap=gap))


def _fix_radius(m: pyo.ConcreteModel, k: int) -> None:
    """above[j] fixed to 1 for j <= k and 0 above: every populated zone has a unit within d_k."""
    for j in m.RADII:
        m.above[j].fix(1 if j <= k else 0)


def _least_cost_at_bound(session, options, bound: CoverBound):
    """Solve 2 at the covering relaxation's radius d_lb, before any probe of the full model.
    Every plan's worst trip is at least d_lb (:func:`covering_bound`), so a plan of the full
    model within d_lb is at the optimal radius, and the least-cost one among them is the
    lexicographic optimum: one solve settles both. The relaxation's units are the MIP start
    (HiGHS completes the rest). None when the full model has no plan within d_lb (or found none
    in time), with whether d_lb is proven out of reach (True: the bisection goes on above it;
    False, no plan in time: from it)."""
    m, levels = session.model, session.model.radius_values
    if bound.level >= len(levels) - 1:
        return None, False   # the top: the bisection's own probe explains an infeasible model
    _fix_radius(m, bound.level)
    m.goal_objective.deactivate()
    m.objective.activate()
    m.goal_level.set_value(_level_reached(session, float(levels[bound.level])))
    radius = float(levels[bound.level])
    try:
        with _far_flows_off(session, radius):
            plan = _radius_least_cost(session, options, bound, radius)
            if plan is None:
                plan = session.solve_with(options, _units_start(session, bound.units),
                                          explain=False)
    except InfeasibleError:
        return None, True
    if plan.objective is None:
        return None, False
    value = goal_value(session.inputs, plan.equipment, session.goal)
    return replace(plan, goal=session.goal.report(value)), True


def _radius_least_cost(session, options, bound: CoverBound, radius: float):
    """Solve 2 within `radius` by the radius formulation when the scenario is p-median-like
    (planner/model/radius.py: the least cost with every zone served within the radius, the
    relaxation's units its first incumbent), then this model with those units fixed for the
    flows and every output. None when the scenario does not qualify or the radius model found
    no plan (the full model's solve 2 then runs as usual)."""
    inp, e = session.inputs, session.goal.equipment
    if (why_not(inp) is not None or bound.units is None
            or set(inp.demand.index.get_level_values("service")) != {e}):
        return None
    start = {(i, e): float(n) for i, n in zip(candidate_sites(inp, e), bound.units)}
    found = radius_units(inp, options, lambda: start, within=radius)
    if found is None:
        return None
    session.highs.update()   # the goal's rows and objective as set above
    try:
        return session.with_units_fixed(found, options, explain=False)
    except InfeasibleError:
        return None          # not a plan of the full model: its own solve 2 decides


@contextmanager
def _far_flows_off(session, radius: float | None):
    """Solve 2 of worst-minutes within `radius`: the flows of the goal's equipment on arcs
    longer than the radius fixed to 0 while it runs, when :func:`far_flows` proves that no
    optimal plan needs them (the solve is the same, its LP smaller)."""
    far = [] if radius is None else far_flows(session.model, session.inputs,
                                              session.goal.equipment, radius)
    for v in far:
        v.fix(0)
    try:
        yield
    finally:
        for v in far:
            v.unfix()


def far_flows(m: pyo.ConcreteModel, inp: ModelInputs, e: str, radius: float) -> list:
    """The flow variables of equipment e on arcs longer than `radius` that no optimal plan
    needs when every populated zone has a unit of e within `radius` (solve 2 of worst-minutes;
    proof in models/goals.md), or [] when that is not proven. Moving a zone's flow from such an
    arc to its unit within the radius keeps every row and costs no more when:

    * one unit of e can serve all of e's demand and the most site-bound exams of any site (no
      capacity row can bind, wherever the flows go);
    * no row but demand_balance, equipment_capacity, equipment_linking and min_served_share
      (which sum a zone's flows over all sites) holds e's flows: no [reading] (reads follow the
      exams to their site) and no grassroots target for e (it counts flows by the site's tier);
    * each zone with a longer arc has an arc to every candidate site within the radius, and
      none of them costs more per exam than any of its longer arcs (the objective's own
      coefficients, from the price book).
    """
    if inp.reading_centres or e in inp.grassroots_share.index:
        return []
    arcs = inp.arcs[inp.arcs["service"] == e]
    demand = inp.demand[inp.demand.index.get_level_values("service") == e].sum()
    bound = inp.site_demand[inp.site_demand.index.get_level_values("service") == e]
    if float(inp.equipment.at[e, "capacity"]) < demand + (bound.max() if len(bound) else 0.0):
        return []
    far = arcs["minutes"].to_numpy(float) > radius + 1e-9
    if not far.any():
        return []
    cost = price_book(inp).coefficients().get("flow", np.zeros(len(inp.arcs)))[arcs.index]
    zones = arcs["zone_id"].to_numpy()
    cheapest_far = pd.Series(cost[far]).groupby(zones[far]).min()
    dearest_near = pd.Series(cost[~far]).groupby(zones[~far]).max()
    near_count = pd.Series(1, index=zones[~far]).groupby(level=0).sum()
    within = (populated_minutes(inp, e) <= radius + 1e-9).sum(axis=1)
    zones_far = cheapest_far.index
    if (near_count.reindex(zones_far, fill_value=0) < within.reindex(zones_far, fill_value=0)
            ).any() or (dearest_near.reindex(zones_far, fill_value=-np.inf)
                        > cheapest_far + 1e-9).any():
        return []
    return [m.flow[a] for a in arcs.index[far]]


def _units_start(session, units: np.ndarray | None):
    """A partial MIP start (columns, values): the goal's equipment at its candidate sites as
    `units`, new units on top of the existing ones, nothing relocated; HiGHS completes the rest.
    None when that needs fewer units than exist at a site or a new unit where none may be
    bought."""
    if units is None:
        return None
    m, inp, e = session.model, session.inputs, session.goal.equipment
    values = {}
    for i, count in zip(candidate_sites(inp, e), units):
        existing = float(inp.existing.get((i, e), 0.0))
        buys = (i, e) in m.new_units
        if count < existing - 1e-9 or (count > existing + 1e-9 and not buys):
            return None
        if buys:
            values[id(m.new_units[i, e])] = float(count - existing)
        values[id(m.units[i, e])] = float(count)
    values.update({id(v): 0.0 for k, v in m.relocated.items() if k[-1] == e})
    column = session.highs.column
    return (np.array([column[v] for v in values], dtype=np.int32),
            np.array(list(values.values()), dtype=float))


def _smallest_radius(session, options, low: int, seconds: float = 0.0):
    """Solve 1 of the worst-minutes goal above the relaxation's radius, by bisection over the
    distinct travel times d_k (models/goals.md): radius r is feasible when the model has a plan
    with above[k] fixed to 1 for d_k <= r and 0 above (every populated zone then has a unit
    within r). Each probe is a feasibility MIP with bounds changed in place; a feasible probe's
    plan may reach a smaller radius than asked, which moves the upper end down at once. About
    log2(K) probes: far faster than solving the radius MIP itself (pmed1: 25 s against > 120 s,
    unproven). Only reached when the full model cannot meet the relaxation's radius (capacities,
    budgets that bind through relocations, rules of other equipment).

    A probe that ends at the time limit without a plan proves nothing: the bisection goes on
    above it, and the plan returned says `time_limit` (its radius is not proven the smallest).

    Returns the plan at the smallest feasible radius (with `goal` set) and its SolveResult
    (None, None for no plan); `seconds` (solves before it) count in its solve time. The above[]
    stay fixed at that radius for solve 2."""
    m, levels = session.model, session.model.radius_values
    m.objective.deactivate()
    m.goal_objective.activate()   # a constant once above[] is fixed: pure feasibility
    m.goal_level.set_value(math.inf)

    unproven = []

    def probe(k: int):
        _fix_radius(m, k)
        try:
            plan = session.solve_with(options, explain=k == len(levels) - 1)
        except InfeasibleError:
            if k == len(levels) - 1:
                raise
            return None, None
        if plan.objective is None:
            unproven.append(k)
            return None, None
        radius = goal_value(session.inputs, plan.equipment, session.goal)
        return replace(plan, goal=session.goal.report(radius)), session.last_result

    high = len(levels) - 1
    low = min(low, high)
    best, best_result = probe(high)   # no limit: the cost model's own feasibility
    if best is None:
        return best, best_result
    seconds += best.solve_seconds
    high = min(high, int(np.searchsorted(levels, best.goal["value"] - 1e-9)))
    while low < high:
        middle = (low + high) // 2
        plan, result = probe(middle)
        if plan is not None:
            seconds += plan.solve_seconds
            best, best_result = plan, result
            high = min(middle, int(np.searchsorted(levels, plan.goal["value"] - 1e-9)))
        else:
            seconds += session.last_result.seconds
            low = middle + 1
    _fix_radius(m, high)
    status = "time_limit" if unproven and best.status == "optimal" else best.status
    return replace(best, solve_seconds=seconds, status=status), best_result


# --- the covering relaxation: a lower bound on the worst trip ----------------------------------
@dataclass(frozen=True)
class CoverBound:
    """level: the index of the relaxation's smallest radius d_lb; units: a plan of the
    relaxation at d_lb, units of the goal's equipment at the candidate sites, improved for
    solve 2's start (:meth:`_Cover.interchange`); None when the relaxation has no plan at all."""

    level: int
    units: np.ndarray | None


def covering_lower_bound(inp: ModelInputs, goal: Goal, levels: np.ndarray) -> int:
    """The index of the smallest radius d_k that the covering relaxation reaches
    (:func:`covering_bound`)."""
    return covering_bound(inp, goal, levels).level


def covering_bound(inp: ModelInputs, goal: Goal, levels: np.ndarray) -> CoverBound:
    """The smallest radius d_k that a relaxation of the plan can reach, and its units: whole
    units of the goal's equipment at its candidate sites (existing units that cannot move stay,
    max_per_site holds, at most today's units plus those the capital budget buys), every
    populated zone with a unit within d_k (models/goals.md). Every plan of the full model is a
    plan of the relaxation, so no smaller radius is reachable. Bisection over the levels with
    small set-cover MIPs (zones x candidate sites, no flows), between d_0 and the radius of a
    farthest-first plan (Gonzalez 1985); a reachable level's cover may reach a smaller radius,
    which moves the upper end down at once."""
    cover = _Cover.of(inp, goal)
    units = cover.farthest_first()
    if units is None:
        return CoverBound(len(levels) - 1, None)
    low, high = 0, _level_of(levels, cover.radius(units))
    while low < high:
        middle = (low + high) // 2
        found = cover.within(levels[middle])
        if found is None:
            low = middle + 1
        else:
            units, high = found, min(middle, _level_of(levels, cover.radius(found)))
    return CoverBound(low, cover.interchange(units, levels[low]))


def _level_of(levels: np.ndarray, radius: float) -> int:
    """The index of the level equal to `radius` (a travel time of the matrix)."""
    return int(np.searchsorted(levels, radius - 1e-9))


@dataclass(frozen=True)
class _Cover:
    """The covering relaxation's data: travel times (populated zones x candidate sites), the
    units each site must keep (lower) and may hold (upper), the most units in all, and the
    zones' residents (weights of the interchange's travel estimate)."""

    times: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    total: float
    weights: np.ndarray

    @classmethod
    def of(cls, inp: ModelInputs, goal: Goal) -> _Cover:
        minutes = populated_minutes(inp, goal.equipment)
        sites = list(minutes.columns)
        e = goal.equipment
        movable = set(inp.moves["from_site"][inp.moves["equipment"] == e])
        existing = np.array([float(inp.existing.get((i, e), 0.0)) for i in sites])
        lower = np.where([i in movable for i in sites], 0.0, existing)
        most = float(inp.equipment.at[e, "max_per_site"])
        capex = float(inp.equipment.at[e, "capex"])
        total = existing.sum() + (math.floor(inp.budget / capex + 1e-9) if capex > 0
                                  else len(sites))
        upper = np.full(len(sites), most if math.isfinite(most) else max(total, 1.0))
        weights = inp.zones["population"].reindex(minutes.index).to_numpy(float)
        return cls(minutes.to_numpy(float), lower, upper, float(total), weights)

    def radius(self, units: np.ndarray) -> float:
        """The worst trip to the sites holding units."""
        return float(self.times[:, units > 0.5].min(axis=1).max())

    def farthest_first(self) -> np.ndarray | None:
        """A plan of the relaxation (Gonzalez 1985): the kept units, or the site with the
        smallest worst trip, then while units remain a unit at the site nearest to the zone
        farthest from every unit. None when the kept units exceed the total or nothing fits."""
        units = self.lower.copy()
        free = int(math.floor(self.total - units.sum() + 1e-9))
        if free < 0 or self.times.shape[0] == 0:
            return None if free < 0 else units
        allowed = self.upper >= 1
        if not (units > 0.5).any():
            if free == 0 or not allowed.any():
                return None
            worst = np.where(allowed, self.times.max(axis=0), np.inf)
            units[int(np.argmin(worst))] += 1
            free -= 1
        nearest = self.times[:, units > 0.5].min(axis=1)
        for _ in range(free):
            zone = int(np.argmax(nearest))
            site = int(np.argmin(np.where(allowed & (units < 0.5), self.times[zone], np.inf)))
            if units[site] >= 0.5 or not np.isfinite(self.times[zone, site]):
                break
            units[site] += 1
            nearest = np.minimum(nearest, self.times[:, site])
        return units

    def within(self, radius: float) -> np.ndarray | None:
        """Units of the relaxation with every zone within `radius`, or None. A greedy cover
        first (Chvatal 1979: the site that covers most zones not yet covered); when it needs
        more units than the total, a set-cover MIP (fewest units) on the essential zones and
        sites (:func:`_essential`) that stops at its first plan, as any plan answers."""
        mask = self.times <= radius + 1e-9
        units = self.greedy(mask)
        if units is not None:
            return units
        rows, columns = _essential(mask, self.lower, self.upper)
        mask = mask[np.ix_(rows, columns)]
        n = len(columns)
        h = new_highs()
        h.addVars(n, self.lower[columns], self.upper[columns])
        h.changeColsIntegrality(n, np.arange(n, dtype=np.int32),
                                np.full(n, highspy.HighsVarType.kInteger, dtype=np.uint8))
        h.changeColsCost(n, np.arange(n, dtype=np.int32), np.ones(n))
        starts, index, value = _sparse_rows(mask)
        h.addRows(len(mask), np.ones(len(mask)), np.full(len(mask), highspy.kHighsInf),
                  len(index), starts, index, value)
        kept = float(self.lower.sum() - self.lower[columns].sum())   # units at dropped sites
        h.addRow(-highspy.kHighsInf, self.total - kept, n, np.arange(n, dtype=np.int32),
                 np.ones(n))
        h.setOptionValue("mip_max_improving_sols", 1)
        run(h)
        if h.getInfo().primal_solution_status != 2:   # no feasible point: none exists
            return None
        units = self.lower.copy()
        units[columns] = np.round(np.asarray(h.getSolution().col_value))
        return units

    def interchange(self, units: np.ndarray, radius: float, work: float = 3e8) -> np.ndarray:
        """The cover improved for solve 2's start: while one exists, the best swap of a unit
        the plan added (not kept) to a site without one that keeps every zone within `radius`
        and shortens the residents' total trip to their nearest unit (Teitz & Bart 1968,
        restricted to covers). An estimate for a start only: solve 2 prices the plan exactly.
        `work` caps the zone x site entries evaluated, so the time is machine-independent."""
        units = units.copy()
        within = self.times <= radius + 1e-9
        zones = np.arange(len(self.times))
        while work > 0:
            open_ = np.nonzero(units > 0.5)[0]
            if len(open_) == 0:
                break
            trips = self.times[:, open_]
            order = np.argsort(trips, axis=1)
            first = trips[zones, order[:, 0]]
            nearest = open_[order[:, 0]]
            second = trips[zones, order[:, 1]] if len(open_) > 1 else np.full(len(zones), np.inf)
            count = within[:, open_].sum(axis=1)
            free = (self.upper >= 1) & (units < 0.5)
            current = float(self.weights @ first)
            gain, move = 1e-9 * max(1.0, current), None
            for i in open_[(self.lower[open_] < 0.5) & (units[open_] < 1.5)]:
                critical = count - within[:, i] == 0
                sites = np.nonzero(free & within[critical].all(axis=0))[0]
                if len(sites) == 0:
                    continue
                without = np.where(nearest == i, second, first)
                cost = self.weights @ np.minimum(self.times[:, sites], without[:, None])
                work -= cost.size * len(zones)
                best = int(np.argmin(cost))
                if current - cost[best] > gain:
                    gain, move = current - cost[best], (i, sites[best])
            if move is None:
                break
            units[move[0]], units[move[1]] = 0.0, 1.0
        return units

    def greedy(self, mask: np.ndarray) -> np.ndarray | None:
        """A cover within the mask's radius by the greedy rule, from the kept units; None when
        it needs more than the total (the MIP decides then)."""
        units = self.lower.copy()
        uncovered = ~mask[:, units > 0.5].any(axis=1)
        allowed = (self.upper >= 1) & (units < 0.5)
        while uncovered.any():
            gain = np.where(allowed, mask[uncovered].sum(axis=0), 0)
            best = int(np.argmax(gain))
            if gain[best] == 0 or units.sum() + 1 > self.total + 1e-9:
                return None
            units[best], allowed[best] = 1, False
            uncovered &= ~mask[:, best]
        return units


def _essential(mask: np.ndarray, lower: np.ndarray, upper: np.ndarray,
               most: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The zones and sites a set cover needs: a zone whose sites within reach include all of
    another zone's is covered whenever that one is (its row is implied), and a site with no
    kept unit whose zones are all within reach of another site that may hold a unit is never
    needed (that site serves them as well, at the same count). Zones already covered by kept
    units are dropped too. Dense products, so only up to `most` zones or sites; else all."""
    rows = np.arange(mask.shape[0])
    columns = np.arange(mask.shape[1])
    if max(mask.shape) > most:
        return rows, columns
    rows = rows[~mask[:, lower > 0.5].any(axis=1)]
    rows = rows[_minimal_sets(mask[rows])]
    sub = mask[rows]
    dominated = _dominated_columns(sub, lower, upper)
    return rows, columns[~dominated]


def _minimal_sets(mask: np.ndarray) -> np.ndarray:
    """Rows of a 0/1 matrix that contain no other row (one of each group of equal rows)."""
    if len(mask) == 0:
        return np.zeros(0, dtype=bool)
    m = mask.astype(np.float32)
    inside = (m @ m.T) >= mask.sum(axis=1)[:, None] - 0.5   # [a, b]: row a within row b
    size = mask.sum(axis=1)
    order = np.lexsort((np.arange(len(mask)), size))         # smaller first, then by index
    rank = np.empty(len(mask), dtype=int)
    rank[order] = np.arange(len(mask))
    earlier = rank[:, None] < rank[None, :]                  # a comes before b
    return ~(inside & earlier).any(axis=0)


def _dominated_columns(mask: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Sites with no kept unit whose zones are all reached by another site that may hold a
    unit (of equal sites, all but one)."""
    if mask.shape[0] == 0:
        return lower < 0.5
    m = mask.T.astype(np.float32)
    inside = (m @ m.T) >= mask.sum(axis=0)[:, None] - 0.5    # [a, b]: site a within site b
    size = mask.sum(axis=0)
    order = np.lexsort((np.arange(len(m)), size))
    rank = np.empty(len(m), dtype=int)
    rank[order] = np.arange(len(m))
    later = rank[:, None] < rank[None, :]                    # b comes after a
    can = (upper >= 1)[None, :]
    return (lower < 0.5) & (inside & later & can).any(axis=1)


def _sparse_rows(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, column indices, values) of a 0/1 matrix given as a boolean mask, row-wise."""
    counts = mask.sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
    return starts, np.nonzero(mask)[1].astype(np.int32), np.ones(int(counts.sum()))


def _level_reached(session, value: float) -> float:
    """The goal row's level for solve 2: solve 1's value, less half the smallest step between
    two goal values (:func:`absolute_gap`). A level within a rounding error of the value (say
    value - 1e-7 * value) left HiGHS 1.16 rows it could only meet with units a tolerance short
    of whole, and it returned plans far from the least cost (tests/test_goals.py found it)."""
    step = absolute_gap(session.inputs, session.goal)
    return value - step if session.goal.kind == "coverage" else value + step


def _coverage_floor(session, residents: float) -> float:
    """The level of `coverage >= residents`, half a step below the smallest goal value that
    meets it (whole residents: ceil(residents) - 0.5), for the reason of :func:`_level_reached`."""
    residents = float(residents)
    step = absolute_gap(session.inputs, session.goal)
    return math.ceil(residents - 1e-9) - step if step == 0.5 else residents


def _least_cost_at(session, options, level: float, first, first_result):
    """Solve 2: the exact annual cost, with the goal at least (coverage) or at most
    (worst-minutes) `level`; the result carries plan.goal and the solves' total time."""
    m, goal = session.model, session.goal
    m.goal_objective.deactivate()
    m.objective.activate()
    m.goal_level.set_value(level)
    try:
        # no MIP start from solve 1: HiGHS 1.16 with presolve returned such a start as optimal
        # (models/replanning.md); solve 2 from scratch is as fast on the county
        radius = level if goal.kind == "worst-minutes" else None
        with _far_flows_off(session, radius):
            plan = session.solve_with(options)
    except InfeasibleError as err:
        if first is not None:
            raise
        raise InfeasibleError([f"no plan covers {math.ceil(level):,.0f} residents within "
                               f"{goal.minutes:g} minutes of {goal.service} under the other "
                               "constraints (budget, urgent coverage, tiers, per-site maxima); "
                               "ask for fewer, or raise the budget."] + err.causes,
                              err.families) from None
    if plan.objective is None and first is not None:
        plan = first          # solve 2 found nothing in time: solve 1's plan attains the goal
    if plan.objective is None:
        return plan
    value = goal_value(session.inputs, plan.equipment, goal)
    status = plan.status if first is None or first.status == "optimal" else first.status
    seconds = plan.solve_seconds + (0.0 if first is None else first.solve_seconds)
    return replace(plan, goal=goal.report(value), status=status, solve_seconds=seconds)


__all__ = ["GOALS", "Goal", "GoalError", "make_goal", "solve_goal"]

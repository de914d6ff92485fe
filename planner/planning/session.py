"""Build once, solve many times: the persistent planning session behind `planner.solve`."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pydantic
import pyomo.environ as pyo

from planner.errors import InfeasibleError, PlannerError
from planner.model.aggregate import Aggregation, aggregate_zones
from planner.model.changes import add_replanning_block
from planner.model.diagnose import explain_infeasible, precheck
from planner.model.families import (
    build_model,
    cost_key,
    paused_gc,
    set_decision_bounds,
    set_objective,
    set_parameters,
    structure_key,
)
from planner.model.goals import Goal, add_goal_block, goal_inputs, make_goal, solve_goal
from planner.model.highs import HighsModel, SolveResult, SolverOptions, Status
from planner.model.inputs import ModelInputs, model_inputs
from planner.model.radius import RadiusResult, radius_units
from planner.model.size import check_size
from planner.model.start import construction_start, uses_construction_start
from planner.results.aggregated import aggregated_plan
from planner.results.plan import Plan, extract_plan
from planner.scenario.loading import Scenario
from planner.scenario.settings import SolverSettings


class OptionError(PlannerError):
    """A solver option given to planner.solve (or a session) is out of range (exit 2)."""

    exit_code = 2


def solver_options(scenario: Scenario, **overrides) -> SolverOptions:
    """Options from scenario.toml [solver], overridden by keyword arguments (None = keep)."""
    s = scenario.settings.solver
    options = SolverOptions(time_limit=s.time_limit, mip_gap=s.mip_gap, threads=s.threads,
                            seed=s.seed, presolve=s.presolve,
                            construction_start=s.construction_start)
    return with_options(options, overrides)


def with_options(options: SolverOptions, overrides: dict) -> SolverOptions:
    """`options` with keyword overrides, checked against the ranges of scenario.toml [solver]
    (planner/scenario/settings.py) and blamed on the keyword, not on scenario.toml."""
    unknown = set(overrides) - set(SolverOptions.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown solver option(s) {sorted(unknown)}; known: "
                        f"{sorted(SolverOptions.__dataclass_fields__)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    _check_options({k: v for k, v in given.items() if k in SolverSettings.model_fields})
    return replace(options, **given)


def _check_options(given: dict) -> None:
    """Keyword options against the ranges of scenario.toml [solver], blamed on the keyword."""
    try:
        SolverSettings.model_validate(given)
    except pydantic.ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}={e.get('input')!r}: {e['msg']}"
                             for e in err.errors())
        raise OptionError(f"solver option {problems} (a keyword argument or command-line flag, "
                          "not scenario.toml).") from None


def aggregate_target(scenario: Scenario, given: int | None) -> tuple[int | None, str]:
    """N of zone aggregation (planner/model/aggregate.py) and where it was given: the keyword
    (or --aggregate-zones), checked like a solver option, else scenario.toml [solver]."""
    if given is not None:
        _check_options({"aggregate_zones": given})
        return given, "--aggregate-zones, or the keyword argument"
    return scenario.settings.solver.aggregate_zones, "scenario.toml [solver]"


class PlanningSession:
    """One scenario's model, handed to HiGHS once.

    `solve(variant)` re-solves a what-if variant of the scenario: when the variant keeps the
    model's shape (same sites, zones, eligible arcs, covering sets...), only the changed
    parameter values, bounds and objective coefficients are pushed to the same HiGHS object;
    otherwise the model is rebuilt.

    `goal` (cost, coverage, worst-minutes; with `service`, `minutes` and `relax_urgent`,
    planner/model/goals.py) holds for every variant solved here: a relaxed goal's model lacks the
    urgent-coverage rows of its equipment in every variant, a kept one has them.
    """

    def __init__(self, scenario: Scenario, baseline=None, goal: str | Goal | None = None,
                 service: str | None = None, minutes: float | None = None,
                 relax_urgent: bool | None = None, aggregate_zones: int | None = None,
                 **options):
        self.scenario = scenario
        self.baseline = baseline   # decisions of an earlier plan: the re-planning block (replan)
        self.goal = make_goal(scenario, goal, service, minutes, relax_urgent)
        # zone aggregation (planner/model/aggregate.py): the keyword, else each variant's [solver]
        self._aggregate_zones = aggregate_zones
        self.aggregation: Aggregation | None = None
        self.last_result: SolveResult | None = None   # of the latest solve (re-plans read it)
        self._overrides = options      # keyword options hold for every variant solved here
        self.options = solver_options(scenario, **options)
        self.rebuilds = 0
        self._build(self._inputs(scenario))

    def _inputs(self, scenario: Scenario) -> ModelInputs:
        inp = goal_inputs(model_inputs(scenario), self.goal)
        n, where = aggregate_target(scenario, self._aggregate_zones)
        if n is None:
            self.aggregation = None
            return inp
        if self.baseline is not None or not self.goal.is_cost:
            raise OptionError(f"aggregate_zones ({where}) works with a plan of least annual "
                              "cost only (planner plan without --goal); re-plans and goals "
                              "plan on every zone: leave aggregate_zones out for them.")
        self.aggregation = aggregate_zones(inp, n, where)
        return self.aggregation.inputs

    def _build(self, inp: ModelInputs) -> None:
        precheck(self.scenario, inp)
        check_size(inp, self.options.time_limit)   # refused up front: issue 22, limits that hold
        start = time.perf_counter()
        self.inputs = inp
        self.model = build_model(inp)
        if self.baseline is not None:
            with paused_gc():
                add_replanning_block(self.model, inp, self.baseline)
        if not self.goal.is_cost:
            with paused_gc():
                add_goal_block(self.model, inp, self.goal)
        with paused_gc():
            self.highs = HighsModel(self.model)
        self.build_seconds = time.perf_counter() - start
        self.rebuilds += 1

    def solve(self, scenario: Scenario | None = None, coverage_at_least: float | None = None,
              **options) -> Plan:
        """Solve the current scenario, or a variant of it (re-using the model where possible),
        for the session's goal. `coverage_at_least` (coverage goal only): the least annual cost
        with at least that many residents covered (a point of an epsilon-constraint front)."""
        start = time.perf_counter()
        if coverage_at_least is not None and self.goal.kind != "coverage":
            raise TypeError("coverage_at_least needs a session with goal='coverage'")
        if scenario is not None and scenario is not self.scenario:
            self.scenario = scenario
            self.options = solver_options(scenario, **self._overrides)  # the variant's [solver]
            inp = self._inputs(scenario)
            if structure_key(inp) == structure_key(self.inputs):
                precheck(scenario, inp)
                same_costs = cost_key(inp) == cost_key(self.inputs)
                self.inputs = inp
                set_parameters(self.model, inp)
                set_decision_bounds(self.model, inp)
                if not same_costs:
                    set_objective(self.model, inp)
                self.highs.update()
                self.build_seconds = time.perf_counter() - start
            else:
                self._build(inp)
        solver = with_options(self.options, options)
        if self.goal.is_cost:
            plan = self._radius_plan(solver) or self._run(solver,
                                                          self._construction_start(solver))
            return replace(plan, goal=self.goal.report(plan.objective))
        return solve_goal(self, solver, coverage_at_least)

    def _greedy_units(self, options: SolverOptions) -> dict | None:
        """The greedy plan of the equipment (planner/model/start.py): (site, equipment) -> new
        units. Only for a plain plan (no re-planning block), where the model's size or [solver]
        asks."""
        if self.baseline is not None or not uses_construction_start(
                self.inputs, options.construction_start):
            return None
        return construction_start(self.inputs, seconds=min(15.0, 0.25 * options.time_limit))

    def _radius_plan(self, options: SolverOptions) -> Plan | None:
        """A p-median-like scenario (planner/model/radius.py, the proof in models/allocation.md
        "Formulations for scale"): its units decided by the radius formulation (the greedy
        plan its first incumbent), then this model solved with them fixed (the flows: each
        zone to its cheapest open site, or referred; every output as usual); the plan carries
        the radius model's status, bound and gap. None, for the usual solve, when the scenario
        does not qualify, for a re-plan, or when the radius model found no plan."""
        if self.baseline is not None:
            return None
        found = radius_units(self.inputs, options, lambda: self._greedy_units(options))
        if found is None:
            return None
        return self.with_units_fixed(found, options)

    def with_units_fixed(self, found: RadiusResult, options: SolverOptions,
                         explain: bool = True) -> Plan:
        """This model solved with new_units and units fixed to `found`'s, then freed again
        (the radius formulation's plan; also solve 2 of worst-minutes, planner/model/goals.py)."""
        m = self.model
        fixed = list(m.new_units.values()) + list(m.units.values())
        for key, v in list(m.new_units.items()) + list(m.units.items()):
            v.fix(found.units.get(key, 0))
        self.highs.push_bounds(fixed)
        try:
            plan = self._run(options, explain=explain)
        finally:
            m.new_units.unfix()
            m.units.unfix()
            set_decision_bounds(m, self.inputs)
            self.highs.push_bounds(fixed)
        return replace(plan, status=found.status, bound=found.bound, mip_gap=found.mip_gap,
                       solve_seconds=found.seconds + plan.solve_seconds)

    def _construction_start(self, options: SolverOptions):
        """The greedy plan of the equipment (:meth:`_greedy_units`) as a partial start: new
        units, no relocation, the units they put in service; HiGHS completes the rest."""
        new = self._greedy_units(options)
        if new is None:
            return None
        m, column = self.model, self.highs.column
        values = {id(v): float(new.get(k, 0)) for k, v in m.new_units.items()}
        values.update({id(v): 0.0 for v in m.relocated.values()})
        values.update({id(v): float(pyo.value(m.existing[k])) + new.get(k, 0)
                       for k, v in m.units.items()})
        columns = np.array([column[k] for k in values], dtype=np.int32)
        return columns, np.array(list(values.values()))

    def solve_current(self, start=None, explain: bool = True, **options) -> Plan:
        """Solve the model as it stands after changes made to it directly (objective, bounds,
        parameters: pushed first), optionally from the column values `start`. `explain=False`:
        an infeasible model raises InfeasibleError without computing an IIS (a probe)."""
        return self.solve_with(with_options(self.options, options), start, explain)

    def solve_with(self, options: SolverOptions, start=None, explain: bool = True) -> Plan:
        """solve_current with complete SolverOptions (the goals' solves: planner/model/goals.py)."""
        self.highs.update()
        return self._run(options, start, explain)

    def _run(self, options: SolverOptions, start=None, explain: bool = True) -> Plan:
        result = self.highs.solve(options, start=start)
        self.last_result = result
        if result.status is Status.INFEASIBLE:
            if not explain:
                raise InfeasibleError(["the model as changed has no feasible solution"])
            raise InfeasibleError(*explain_infeasible(self.scenario, self.inputs, self.highs))
        if self.aggregation is not None:   # the plan on the scenario's own zones
            return aggregated_plan(self.scenario, self.aggregation, self.model, self.highs,
                                   result, self.build_seconds)
        return extract_plan(self.scenario, self.inputs, self.model, self.highs, result,
                            self.build_seconds)


def solve(scenario: Scenario, goal: str | Goal | None = None, service: str | None = None,
          minutes: float | None = None, relax_urgent: bool | None = None,
          aggregate_zones: int | None = None, **options) -> Plan:
    """Plan a scenario: build the model, solve it with HiGHS, return the Plan.

    goal: "cost" (default, the exact annual cost), "coverage" (with service=E, minutes=T: the
    most residents within T minutes of E) or "worst-minutes" (with service=E: the shortest
    worst trip to E); both lexicographic, then the least annual cost (docs/design.md section 7).
    Every constraint of the cost model holds under a goal, urgent coverage included;
    relax_urgent=True drops the urgent-coverage rows of E (a pure location study: p-centre,
    MCLP), and plan.goal records it.
    Options (time_limit, mip_gap, threads, seed, log) override scenario.toml's [solver];
    aggregate_zones=N plans on at most N representative zones with the error bound reported
    (planner/model/aggregate.py; default: [solver] aggregate_zones, else every zone).
    """
    return PlanningSession(scenario, goal=goal, service=service, minutes=minutes,
                           relax_urgent=relax_urgent, aggregate_zones=aggregate_zones,
                           **options).solve()

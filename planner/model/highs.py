"""Hand a linear Pyomo model to HiGHS once, keep it, and re-solve after parameter changes.

Why not Pyomo's own `contrib.solver` HiGHS interface: it generates a standard representation per
constraint and tracks every variable in Python, which on this machine costs ~4 s for a 200k-column
model (more than HiGHS needs to solve the county scenario many times over). Our models are built
from linear expressions only (`quicksum(..., linear=True)`), so their terms can be read directly:
the compiler below walks each row's terms once, records which coefficients and bounds depend on
mutable parameters, and on `update()` re-evaluates just those and pushes them to the same HiGHS
object (`changeCoeff`, `changeRowsBounds`, `changeColsCost`, `changeColsBounds`).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import NamedTuple

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.tee import capture_output
from pyomo.core.base.param import ParamData
from pyomo.core.base.var import VarData
from pyomo.core.expr.numeric_expr import (
    LinearExpression,
    MonomialTermExpression,
    NPV_NegationExpression,
)
from pyomo.core.expr.visitor import identify_variables
from pyomo.repn.standard_repn import generate_standard_repn

from planner.errors import PlannerError
from planner.model.arrays import ArrayRows, Terms
from planner.model.families import paused_gc

INF = highspy.kHighsInf
_NUMBERS = (int, float)


@dataclass(frozen=True)
class SolverOptions:
    """Solver settings, mapped onto HiGHS options in one place (:meth:`HighsModel.solve`)."""

    time_limit: float = 60.0
    mip_gap: float = 1e-4
    # the absolute gap (HiGHS's default); goals set it to prove a goal's optimum exactly
    mip_abs_gap: float = 1e-6
    threads: int = 1
    seed: int = 0
    log: bool = False
    # HiGHS's sub-MIP heuristics (RINS, RENS, root reduced-cost) took 20 of 24 s on the default
    # county scenario without improving the plan; off by default (benchmarks/ measures both).
    sub_mip_heuristics: bool = False
    presolve: bool = True
    # HiGHS restarts the root when it fixes some integers; on the county scenario the restart
    # repeated the cut loop (2.8 s -> 1.5 s without it). Kept as an option.
    restart: bool = False
    # a greedy plan of the equipment as HiGHS's first incumbent (planner/model/start.py);
    # None: by the model's size (start.uses_construction_start)
    construction_start: bool | None = None


class Status(StrEnum):
    """How a solve ended. A str: it compares equal to its value and is written as it in
    plan.json, the summaries and the history ("optimal", "time_limit", ...)."""

    OPTIMAL = "optimal"
    TIME_LIMIT = "time_limit"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    SOLUTION_LIMIT = "solution_limit"
    ITERATION_LIMIT = "iteration_limit"
    INTERRUPTED = "interrupted"
    ERROR = "error"


@dataclass(frozen=True)
class SolveResult:
    status: Status
    objective: float | None
    bound: float | None
    mip_gap: float | None
    seconds: float
    values: np.ndarray | None   # column values, in the order of HighsModel.variables
    has_solution: bool


_STATUS = {
    highspy.HighsModelStatus.kOptimal: Status.OPTIMAL,
    highspy.HighsModelStatus.kTimeLimit: Status.TIME_LIMIT,
    highspy.HighsModelStatus.kInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnboundedOrInfeasible: Status.INFEASIBLE,
    highspy.HighsModelStatus.kUnbounded: Status.UNBOUNDED,
    highspy.HighsModelStatus.kSolutionLimit: Status.SOLUTION_LIMIT,
    highspy.HighsModelStatus.kIterationLimit: Status.ITERATION_LIMIT,
    highspy.HighsModelStatus.kInterrupt: Status.INTERRUPTED,
}


def status_of(h: highspy.Highs) -> Status:
    """The Status of the last run of `h` (ERROR for a model status without a name here)."""
    return _STATUS.get(h.getModelStatus(), Status.ERROR)


@functools.cache
def _banner_swallowed() -> None:
    """Construct HiGHS once with the C-level stdout captured: the first construction in a
    process prints a banner, later ones are silent (cached: done once per process)."""
    with capture_output(capture_fd=True):
        highspy.Highs()


def new_highs() -> highspy.Highs:
    """A silent HiGHS object."""
    _banner_swallowed()
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    return h


@dataclass
class _Scheduler:
    """HiGHS keeps one thread scheduler per process, sized by the first run; a later run asking
    for another size fails, so the scheduler is reset when the size changes. `threads`: the
    size of the process's scheduler (None before the first run)."""

    threads: int | None = None

    def run(self, h: highspy.Highs, threads: int) -> None:
        if self.threads is not None and self.threads != threads:
            highspy.Highs.resetGlobalScheduler(True)
        h.setOptionValue("threads", int(threads))
        self.threads = threads
        h.run()


_SCHEDULER = _Scheduler()   # per process, as HiGHS's own


def run(h: highspy.Highs, threads: int = 1) -> None:
    """Run HiGHS with `threads` threads (the process's scheduler resized when needed)."""
    _SCHEDULER.run(h, threads)


def apply_options(h: highspy.Highs, options: SolverOptions) -> None:
    """Set `options` on `h`: the one mapping of SolverOptions onto HiGHS's options."""
    def option(name: str, value) -> None:
        # HiGHS reports a rejected value (out of range, wrong type) by status only
        if h.setOptionValue(name, value) == highspy.HighsStatus.kError:
            raise PlannerError(f"HiGHS rejected the solver option {name} = {value!r} (out of "
                               "range or wrong type); check the [solver] settings or the "
                               "command-line options.")
    option("output_flag", bool(options.log))
    option("time_limit", float(options.time_limit))
    option("mip_rel_gap", float(options.mip_gap))
    option("mip_abs_gap", float(options.mip_abs_gap))
    option("random_seed", int(options.seed))
    option("presolve", "on" if options.presolve else "off")
    option("mip_allow_restart", bool(options.restart))
    for name in ("mip_heuristic_run_rins", "mip_heuristic_run_rens",
                 "mip_heuristic_run_root_reduced_cost"):
        option(name, bool(options.sub_mip_heuristics))


def _signed_param(coef) -> tuple[int, object]:
    """(+1, p) for a mutable parameter p, (-1, p) for -p: read by attribute, much faster than
    Pyomo's expression evaluator; (0, expr) for anything else (evaluated with pyo.value)."""
    if isinstance(coef, ParamData):
        return (1, coef)
    if type(coef) is NPV_NegationExpression and isinstance(coef.args[0], ParamData):
        return (-1, coef.args[0])
    return (0, coef)


def _value(sign: int, coef) -> float:
    return sign * coef.value if sign else pyo.value(coef)


def _check(status, call: str) -> None:
    """HiGHS reports errors by status, not exceptions: never go on with a half-built model."""
    if status == highspy.HighsStatus.kError:
        raise RuntimeError(f"HiGHS {call} failed; the model was not handed over")


def _terms(body):
    """(variables, coefficients, constants) of a linear body, without a standard repn when
    possible."""
    if type(body) is LinearExpression:
        args = body.args
    elif isinstance(body, VarData):
        args = (body,)
    else:  # rare shapes: let Pyomo expand them
        repn = generate_standard_repn(body, compute_values=False, quadratic=False)
        if repn.nonlinear_expr is not None:
            raise ValueError(f"non-linear expression {body}")
        # a standard repn folds fixed variables into the constant; they would then never become
        # free again (membership variables must), so such bodies must be built as linear sums
        if any(True for _ in identify_variables(repn.constant, include_fixed=True)):
            raise ValueError(f"build this row as one linear expression (quicksum): {body}")
        return list(repn.linear_vars), list(repn.linear_coefs), [repn.constant]
    variables, coefficients, constants = [], [], []
    for a in args:
        kind = type(a)
        if kind is MonomialTermExpression:
            coef, var = a.args
            variables.append(var)
            coefficients.append(coef)
        elif isinstance(a, VarData):
            variables.append(a)
            coefficients.append(1)
        else:
            constants.append(a)
    return variables, coefficients, constants


class _ProvenSolve(NamedTuple):
    """A solve proven optimal, with the model's state then (what _still_optimal compares)."""

    options: SolverOptions
    version: int
    row_lower: np.ndarray   # row bounds without the _shift of fixed columns
    row_upper: np.ndarray
    lb: np.ndarray          # column bounds
    ub: np.ndarray
    activity: np.ndarray    # row activities without the _shift
    result: SolveResult


@dataclass
class _ArrayCoefficients:
    """The mutable entries of one block of an ArrayRows family in HiGHS: rows, columns, their
    Terms (to re-read the parameters) and the values HiGHS holds."""

    rows: np.ndarray
    columns: np.ndarray
    terms: Terms
    values: np.ndarray


def _bounds_of(v: VarData) -> tuple[float, float]:
    """A variable's column bounds for HiGHS: its value twice when fixed, else its bounds (None is
    infinite)."""
    if v.fixed:
        return v.value, v.value
    lo, hi = v.bounds
    return (-INF if lo is None else lo), (INF if hi is None else hi)


def _component_columns(data: list[VarData]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower bounds, upper bounds, is integer) of one Var component's columns.

    At the speed large models need: when every entry shares one domain, has no bounds of its own
    and is not fixed (the flows: a million entries), all are read from the domain at once
    (VarData.bounds intersects the two on every call: seconds of a large hand-over); otherwise
    entry by entry (:func:`_bounds_of`). `_domain`, `_lb`, `_ub`: Pyomo's own fields, as the
    public `lower` and `upper` fold in the domain, which is what costs."""
    n = len(data)
    if n == 0:
        return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
    domain = data[0].domain
    if all(v._domain is domain and v._lb is None and v._ub is None and not v.fixed for v in data):
        lo, hi = domain.bounds()
        return (np.full(n, -INF if lo is None else float(lo)),
                np.full(n, INF if hi is None else float(hi)),
                np.full(n, data[0].is_integer()))
    bounds = np.array([_bounds_of(v) for v in data], dtype=float).reshape(n, 2)
    return bounds[:, 0].copy(), bounds[:, 1].copy(), np.array([v.is_integer() for v in data])


class HighsModel:
    """A persistent HiGHS copy of one linear Pyomo model."""

    def __init__(self, model: pyo.ConcreteModel):
        # the hand-over makes ~10 small Python objects a column; the cyclic garbage collector's
        # passes over them were a third of a 800,000-column hand-over (they hold no cycles)
        with paused_gc():
            self._hand_over(model)

    def _hand_over(self, model: pyo.ConcreteModel) -> None:
        self.model = model
        # columns in the model's order of Var components, each in its index order
        self._components = [list(var.values()) for var in model.component_objects(pyo.Var)]
        self.variables: list[VarData] = [v for data in self._components for v in data]
        self.column = dict(zip(map(id, self.variables), range(len(self.variables))))
        self.highs = new_highs()
        lb, ub, discrete = self._columns()
        n = len(self.variables)
        _check(self.highs.addVars(n, lb, ub), "addVars")
        integer = np.nonzero(discrete)[0].astype(np.int32)
        if len(integer):
            _check(self.highs.changeColsIntegrality(
                len(integer), integer,
                np.full(len(integer), highspy.HighsVarType.kInteger, dtype=np.uint8)),
                "changeColsIntegrality")
        self.is_mip = len(integer) > 0
        self._bounds = (lb, ub)
        self._row_lower, self._row_upper = np.empty(0), np.empty(0)
        self._version = 0          # bumped when costs, coefficients or rows change
        self._reusable: _ProvenSolve | None = None   # the last proven solve (_still_optimal)
        self._add_rows()
        self._objective_expr = None
        self._set_costs()

    # --- compile ------------------------------------------------------------------------------
    def _columns(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lower bounds, upper bounds, is integer) of every column, component by component."""
        columns = [_component_columns(data) for data in self._components]
        if not columns:
            return np.empty(0), np.empty(0), np.empty(0, dtype=bool)
        lb, ub, discrete = (np.concatenate([c[k] for c in columns]) for k in (0, 1, 2))
        return lb, ub, discrete

    def _column_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        lb, ub, _ = self._columns()
        return lb, ub

    def _add_rows(self) -> None:
        """Every active row, family by family in the model's order: a family built from arrays
        (ArrayRows) in one block, the others term by term (add_rows)."""
        self._mutable_coefs: list[tuple[int, int, float, list, float]] = []
        self._mutable_rows: list[tuple[int, object, object, list]] = []
        self._array_coefs: list[_ArrayCoefficients] = []
        self.constraints: list = []
        for family in self.model.component_objects(pyo.Constraint, active=True):
            if isinstance(family, ArrayRows) and all(row.active for row in family.values()):
                self._add_array_rows(family)
            else:
                self.add_rows([row for row in family.values() if row.active])

    def _first_columns(self) -> dict[int, int]:
        """id(Var component) -> the column of its first entry (columns follow the model's
        order of variables, each component's entries in its index order)."""
        first, column = {}, 0
        for var in self.model.component_objects(pyo.Var):
            first[id(var)] = column
            column += len(var)
        return first

    def _add_array_rows(self, family: ArrayRows) -> None:
        """Hand a family built from arrays to HiGHS in one call: its blocks of terms become
        (row, column, value) entries, the mutable ones remembered by block for update()."""
        first_row = len(self.constraints)
        first = self._first_columns()
        rows, cols, values = [], [], []
        for block in family.blocks:
            row = first_row + np.asarray(block.rows, dtype=np.int64)
            col = first[id(block.var)] + np.asarray(block.positions, dtype=np.int64)
            value = block.values()
            if block.param is not None:
                self._array_coefs.append(_ArrayCoefficients(row, col, block, value))
            rows.append(row)
            cols.append(col)
            values.append(value)
        row, col, value = np.concatenate(rows), np.concatenate(cols), np.concatenate(values)
        order = np.lexsort((col, row))
        row, col, value = row[order], col[order], value[order]
        if len(row) > 1 and np.any((row[1:] == row[:-1]) & (col[1:] == col[:-1])):
            raise RuntimeError(f"family {family.name}: a column appears twice in a row; build "
                               "it as expressions or merge the terms")
        count = len(family.keys_of_rows)
        starts = np.searchsorted(row, first_row + np.arange(count)).astype(np.int32)
        lower = np.array([-INF if x is None else x for x in family._lower], dtype=float)
        upper = np.array([INF if x is None else x for x in family._upper], dtype=float)
        self.constraints += list(family.values())
        self._row_lower = np.concatenate([self._row_lower, lower])
        self._row_upper = np.concatenate([self._row_upper, upper])
        self._version += 1
        _check(self.highs.addRows(count, lower, upper, len(col), starts,
                                  col.astype(np.int32), value), "addRows")

    def add_rows(self, constraints: list) -> None:
        """Compile constraints added to the Pyomo model after the hand-over and append them.

        A column may appear more than once in a row (e.g. one member's pools at two sites):
        its coefficients are summed, as HiGHS accepts one entry per column and row.
        """
        starts: list[int] = []
        index: list[int] = []
        values: list[float] = []
        lower: list[float] = []
        upper: list[float] = []
        column = self.column
        first = len(self.constraints)
        for row, con in enumerate(constraints, start=first):
            variables, coefficients, constants = _terms(con.body)
            starts.append(len(index))
            entries: dict[int, list] = {}   # column -> [numeric part, mutable coefficients]
            for var, coef in zip(variables, coefficients):
                entry = entries.setdefault(column[id(var)], [0.0, []])
                if type(coef) in _NUMBERS:
                    entry[0] += coef
                else:
                    entry[1].append(coef)
            for col, (number, mutable) in entries.items():
                mutable = [_signed_param(c) for c in mutable]
                value = number + sum(_value(sign, c) for sign, c in mutable)
                if mutable:
                    self._mutable_coefs.append((row, col, number, mutable, value))
                values.append(value)
                index.append(col)
            lo, hi = con.lower, con.upper
            if not all(type(x) in _NUMBERS or x is None for x in (lo, hi, *constants)):
                self._mutable_rows.append((row, lo, hi, constants))
            lo_value, hi_value = self._row_bounds(lo, hi, constants)
            lower.append(lo_value)
            upper.append(hi_value)
        self.constraints += list(constraints)
        self._row_lower = np.concatenate([self._row_lower, np.asarray(lower, dtype=float)])
        self._row_upper = np.concatenate([self._row_upper, np.asarray(upper, dtype=float)])
        self._version += 1
        _check(self.highs.addRows(len(lower), np.array(lower), np.array(upper), len(index),
                                  np.array(starts, dtype=np.int32),
                                  np.array(index, dtype=np.int32),
                                  np.array(values, dtype=float)), "addRows")

    @staticmethod
    def _row_bounds(lo, hi, constants) -> tuple[float, float]:
        shift = sum(pyo.value(c) for c in constants)
        return (-INF if lo is None else pyo.value(lo) - shift,
                INF if hi is None else pyo.value(hi) - shift)

    def _set_costs(self) -> None:
        objective = next(self.model.component_data_objects(pyo.Objective, active=True))
        costs = np.zeros(len(self.variables))
        recorded = getattr(self.model, "objective_costs", None)
        if recorded is not None and recorded.expr is objective.expr:
            # the same costs as arrays, per Var component (planner/model/arrays.py LinearCosts)
            first, constants = self._first_columns(), []
            for var, coefficients in recorded.costs:
                costs[first[id(var)]:first[id(var)] + len(coefficients)] += coefficients
        else:
            variables, coefficients, constants = _terms(objective.expr)
            column = self.column
            np.add.at(costs, np.fromiter((column[id(v)] for v in variables), dtype=np.int64,
                                         count=len(variables)),
                      np.fromiter((c if type(c) in _NUMBERS else pyo.value(c)
                                   for c in coefficients), dtype=float,
                                  count=len(coefficients)))
        _check(self.highs.changeColsCost(len(costs), np.arange(len(costs), dtype=np.int32),
                                         costs), "changeColsCost")
        self.highs.changeObjectiveOffset(float(sum(pyo.value(c) for c in constants)))
        sense = highspy.ObjSense.kMinimize if objective.sense == pyo.minimize \
            else highspy.ObjSense.kMaximize
        self.highs.changeObjectiveSense(sense)
        self._objective_expr = objective.expr
        self._version += 1

    # --- persistent updates ------------------------------------------------------------------
    def update(self) -> None:
        """Push changed parameter values, variable bounds/fixings and a new objective to HiGHS."""
        lb, ub = self._column_bounds()
        for k in range(len(self._mutable_coefs)):
            self._push_coefficient(k, lb, ub)
        for block in self._array_coefs:
            now = block.terms.values()
            changed = np.nonzero(now != block.values)[0]
            for k in changed.tolist():   # push only what changed
                self.highs.changeCoeff(int(block.rows[k]), int(block.columns[k]), float(now[k]))
            if np.any(lb[block.columns[changed]] != ub[block.columns[changed]]):
                self._version += 1
            block.values = now
        if self._mutable_rows:
            rows = np.array([r[0] for r in self._mutable_rows], dtype=np.int32)
            bounds = np.array([self._row_bounds(lo, hi, c) for _, lo, hi, c in self._mutable_rows])
            moved = ((bounds[:, 0] != self._row_lower[rows])
                     | (bounds[:, 1] != self._row_upper[rows]))
            if moved.any():
                rows, bounds = rows[moved], bounds[moved]
                # highspy's stubs declare only changeRowBounds (one row); the batch call exists
                _check(self.highs.changeRowsBounds(  # type: ignore[attr-defined]
                    len(rows), rows, bounds[:, 0].copy(), bounds[:, 1].copy()), "changeRowsBounds")
                self._row_lower[rows], self._row_upper[rows] = bounds[:, 0], bounds[:, 1]
        changed = np.nonzero((lb != self._bounds[0]) | (ub != self._bounds[1]))[0]
        if len(changed):
            _check(self.highs.changeColsBounds(len(changed), changed.astype(np.int32), lb[changed],
                                        ub[changed]), "changeColsBounds")
            self._bounds = (lb, ub)
        objective = next(self.model.component_data_objects(pyo.Objective, active=True))
        if objective.expr is not self._objective_expr:
            self._set_costs()

    def set_column_costs(self, columns: np.ndarray, costs: np.ndarray) -> None:
        """Change the objective coefficients of some columns in place (stage 2's member weights:
        no objective is rebuilt; the Pyomo objective keeps the system cost)."""
        columns = np.asarray(columns, dtype=np.int32)
        _check(self.highs.changeColsCost(len(columns), columns,
                                         np.asarray(costs, dtype=float)), "changeColsCost")
        self._version += 1

    def push_bounds(self, variables: list[VarData]) -> None:
        """Push the bounds (fixings) of a few variables only: a coalition switch changes the
        membership columns, and reading every column's bounds (:meth:`update`) costs more than
        the switch itself."""
        lb, ub = self._bounds[0].copy(), self._bounds[1].copy()   # copies: solves keep the old
        columns = np.array([self.column[id(v)] for v in variables], dtype=np.int32)
        for j, v in zip(columns.tolist(), variables):
            lb[j], ub[j] = _bounds_of(v)
        _check(self.highs.changeColsBounds(len(columns), columns, lb[columns], ub[columns]),
               "changeColsBounds")
        self._bounds = (lb, ub)

    def _push_coefficient(self, k: int, lb: np.ndarray, ub: np.ndarray) -> None:
        """Re-evaluate mutable coefficient k and push it to HiGHS if it changed; a change on a
        free column is a new model (on a fixed one it only shifts the row: _shift)."""
        row, col, number, mutable, old = self._mutable_coefs[k]
        value = number + sum(_value(sign, c) for sign, c in mutable)
        if value != old:
            self.highs.changeCoeff(row, col, value)
            self._mutable_coefs[k] = (row, col, number, mutable, value)
            if lb[col] != ub[col]:
                self._version += 1

    def row_pusher(self, constraints: list) -> Callable[[], None]:
        """A function that pushes the mutable coefficients and bounds of these rows only (a
        coalition switch re-sets its `equipment_rounding` rows; :meth:`update` would re-read
        every parameter and column). Which entries are mutable is found once, here."""
        wanted = {id(c) for c in constraints}
        rows = {r for r, c in enumerate(self.constraints) if id(c) in wanted}
        coefs = [k for k, entry in enumerate(self._mutable_coefs) if entry[0] in rows]
        bounds = [entry for entry in self._mutable_rows if entry[0] in rows]
        held = {self._mutable_coefs[k][0] for k in coefs} | {entry[0] for entry in bounds}
        if len(rows) != len(wanted) or held != rows:   # e.g. a family built from arrays
            raise ValueError("row_pusher takes rows of this model built as expressions, each "
                             "with a mutable coefficient or bound")

        def push() -> None:
            lb, ub = self._bounds
            for k in coefs:
                self._push_coefficient(k, lb, ub)
            for row, lo, hi, constants in bounds:
                lower, upper = self._row_bounds(lo, hi, constants)
                if (lower, upper) != (self._row_lower[row], self._row_upper[row]):
                    _check(self.highs.changeRowBounds(row, lower, upper), "changeRowBounds")
                    self._row_lower[row], self._row_upper[row] = lower, upper
        return push

    def relaxation(self) -> highspy.Highs:
        """A separate HiGHS copy of the current model with every column continuous (the LP
        relaxation), so a relaxation solve never touches this model's state."""
        lp = self.highs.getLp()
        lp.integrality_ = []
        h = new_highs()
        _check(h.passModel(lp), "passModel")
        return h

    # --- solve --------------------------------------------------------------------------------
    def solve(self, options: SolverOptions,
              start: np.ndarray | tuple[np.ndarray, np.ndarray] | None = None) -> SolveResult:
        """Solve from scratch (no state from an earlier solve: same inputs, same plan), or from
        the column values `start` (a known feasible plan HiGHS may use as its first incumbent),
        or a partial start (columns, values) that HiGHS completes by a sub-MIP of its own."""
        h = self.highs
        apply_options(h, options)
        began = time.perf_counter()
        if start is None and self._still_optimal(options):
            assert self._reusable is not None   # _still_optimal holds only with a proven solve
            return replace(self._reusable.result, seconds=time.perf_counter() - began)
        h.clearSolver()  # no state from an earlier solve: same inputs, same plan
        if start is not None:
            given, at = (start if isinstance(start, tuple) else (np.arange(len(start)), start))
            _check(h.setSolution(len(given), np.asarray(given, dtype=np.int32),
                                 np.asarray(at, dtype=float)), "setSolution")
        run(h, options.threads)
        seconds = time.perf_counter() - began
        status = status_of(h)
        info = h.getInfo()
        has_solution = info.primal_solution_status == 2
        values = np.asarray(h.getSolution().col_value) if has_solution else None
        objective = info.objective_function_value if has_solution else None
        bound = info.mip_dual_bound if self.is_mip and has_solution else objective
        gap = (info.mip_gap if self.is_mip else 0.0) if has_solution else None
        if status is Status.OPTIMAL and gap is not None and not np.isfinite(gap):
            gap = 0.0
        result = SolveResult(status, objective, bound, gap, seconds, values, has_solution)
        self._reusable = None
        if status is Status.OPTIMAL and has_solution:
            shift = self._shift()
            self._reusable = _ProvenSolve(options, self._version, self._row_lower - shift,
                                          self._row_upper - shift, *self._bounds,
                                          np.asarray(h.getSolution().row_value) - shift, result)
        return result

    def _still_optimal(self, options: SolverOptions) -> bool:
        """Whether the last proven solve answers this one too: same options, costs, coefficients
        and rows, every row and column bound at least as tight as then, and the plan found then
        within the new bounds. The feasible set has only shrunk and still holds that plan, so
        it is optimal again, and the old bound (a bound over a larger set) is still valid: a
        budget cut that the plan already meets costs no solve. Tolerance: HiGHS's primal
        feasibility tolerance (1e-7)."""
        if self._reusable is None:
            return False
        was, version, row_lo, row_hi, lb, ub, activity, result = self._reusable
        if was != options or version != self._version:
            return False
        new_lb, new_ub = self._bounds
        if not (np.all(new_lb >= lb) and np.all(new_ub <= ub)):
            return False
        shift = self._shift()
        lower, upper = self._row_lower - shift, self._row_upper - shift
        tol = 1e-7
        x = result.values
        assert x is not None, "a proven solve has a solution"
        return bool(np.all(lower >= row_lo) and np.all(upper <= row_hi)
                    and np.all(activity >= lower - tol * (1 + np.abs(lower)))
                    and np.all(activity <= upper + tol * (1 + np.abs(upper)))
                    and np.all(x >= new_lb - tol) and np.all(x <= new_ub + tol))

    def _shift(self) -> np.ndarray:
        """Per row, the part of its activity from mutable coefficients on fixed columns (such
        as a member's budget share times member_in = 1): moved to the row's bounds, a budget
        change is a change of bounds, which _still_optimal can compare."""
        shift = np.zeros(len(self._row_lower))
        lb, ub = self._bounds
        for row, col, _, _, value in self._mutable_coefs:
            if lb[col] == ub[col]:
                shift[row] += value * lb[col]
        for block in self._array_coefs:
            fixed = lb[block.columns] == ub[block.columns]
            np.add.at(shift, block.rows[fixed], block.values[fixed] * lb[block.columns[fixed]])
        return shift

    def values_of(self, component, result: SolveResult) -> dict:
        """Values of one indexed variable, keyed by its index."""
        assert result.values is not None, "only a solve with a solution has values"
        column = self.column
        return {k: result.values[column[id(v)]] for k, v in component.items()}

    def load(self, result: SolveResult) -> None:
        """Write solution values into the Pyomo variables (for users inspecting the model)."""
        if result.values is None:
            return
        for v, x in zip(self.variables, result.values.tolist()):
            if not v.fixed:
                v.set_value(x, skip_validation=True)

"""A MILP that falls apart into independent blocks once some columns are fixed, solved block by
block.

With its membership fixed, a game model of stage 2 shares no row between its equipment (units,
exams, the capital budget, reading) and each specialty (outreach days, visits, the specialty's
pool): the free columns of every row lie in one block. HiGHS searches one branch-and-bound tree
for the whole model, in which the open choices of one block multiply with the others'; apart,
each block is a small MILP of its own (models/fair_division.md, "Speed of coalition values").

Exact: the objective is a sum over columns, so the optimum is the sum of the blocks' optima plus
the fixed columns' part, and the dual bound the sum of the blocks' bounds. A relative gap g in
every block leaves at most g x the sum of the blocks' |objective| (g x the total when no block's
cost is negative, as in the planning model).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import highspy
import numpy as np

from planner.model.highs import (
    HighsModel,
    SolveResult,
    SolverOptions,
    Status,
    apply_options,
    new_highs,
    run,
    status_of,
)

# a row whose columns are all fixed must hold as it is (HiGHS's primal feasibility tolerance)
_TOLERANCE = 1e-7


@dataclass(frozen=True)
class _Partition:
    """The blocks of one sparsity pattern: per block its rows and (free) columns; `constant`:
    the rows with no free column."""

    start: np.ndarray          # the pattern it was found for (row-wise starts and indices)
    index: np.ndarray
    blocks: tuple[tuple[np.ndarray, np.ndarray], ...]
    constant: np.ndarray


def _rowwise(lp: highspy.HighsLp):
    """The constraint matrix of `lp` as a scipy CSR matrix."""
    # scipy on demand: imported after Pyomo at start-up it costs every plan (families.py)
    from scipy.sparse import csc_matrix, csr_matrix
    a = lp.a_matrix_
    kind = csr_matrix if a.format_ == highspy.MatrixFormat.kRowwise else csc_matrix
    return kind((np.asarray(a.value_), np.asarray(a.index_), np.asarray(a.start_)),
                shape=(lp.num_row_, lp.num_col_)).tocsr()


def _partition(matrix, fixed: np.ndarray) -> _Partition:
    """Connected components of the graph of rows and free columns (an edge per nonzero)."""
    from scipy.sparse import bmat
    from scipy.sparse.csgraph import connected_components
    rows, cols = matrix.shape
    free = np.setdiff1d(np.arange(cols), fixed)
    part = matrix[:, free]
    _, label = connected_components(bmat([[None, part], [part.T, None]]), directed=False)
    row_label, col_label = label[:rows], label[rows:]
    blocks = tuple((np.nonzero(row_label == k)[0], free[col_label == k])
                   for k in np.unique(col_label))
    linked = np.zeros(rows, dtype=bool)
    for block_rows, _ in blocks:
        linked[block_rows] = True
    return _Partition(matrix.indptr.copy(), matrix.indices.copy(), blocks,
                      np.nonzero(~linked)[0])


class Blocks:
    """Solve the current model of `highs` block by block, with the columns `fixed` (they must be
    fixed, lower = upper, at every solve) moved to the rows' bounds.

    The blocks follow the matrix's sparsity pattern, found again whenever it changes (rows
    added, a coefficient set to zero or from zero); the model is read from HiGHS at each solve,
    so bounds, coefficients and costs pushed there count.
    """

    def __init__(self, highs: HighsModel, fixed: np.ndarray):
        self.highs = highs
        self.fixed = np.asarray(fixed, dtype=np.int64)
        self._partition: _Partition | None = None
        self._solvers: list[highspy.Highs] = []
        self.work = (0, 0)   # the last solve's nodes and LP iterations, summed (benchmarks)

    def _blocks_of(self, matrix) -> _Partition:
        p = self._partition
        if p is None or not (np.array_equal(p.start, matrix.indptr)
                             and np.array_equal(p.index, matrix.indices)):
            p = self._partition = _partition(matrix, self.fixed)
            self._solvers = [new_highs() for _ in p.blocks]
        return p

    def count(self) -> int:
        """The number of blocks of the current model."""
        return len(self._blocks_of(_rowwise(self.highs.highs.getLp())).blocks)

    def solve(self, options: SolverOptions,
              highs_options: dict[str, bool | int | float | str] | None = None) -> SolveResult:
        """Solve every block with `options` (and the HiGHS options `highs_options`), within
        `options.time_limit` in all; the result reads as one solve of the whole model."""
        began = time.perf_counter()
        lp = self.highs.highs.getLp()
        matrix = _rowwise(lp)
        part = self._blocks_of(matrix)
        lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
        if np.any(lower[self.fixed] != upper[self.fixed]):
            raise ValueError("Blocks.solve: a column of `fixed` is not fixed")
        cost = np.asarray(lp.col_cost_)
        integrality = np.asarray(lp.integrality_, dtype=np.uint8) if len(lp.integrality_) \
            else np.zeros(lp.num_col_, dtype=np.uint8)
        at = lower[self.fixed]
        shift = matrix[:, self.fixed] @ at
        row_lower = np.asarray(lp.row_lower_) - shift
        row_upper = np.asarray(lp.row_upper_) - shift
        values = np.zeros(lp.num_col_)
        values[self.fixed] = at
        objective = bound = float(lp.offset_ + cost[self.fixed] @ at)
        if not _holds(row_lower[part.constant], row_upper[part.constant]):
            return SolveResult(Status.INFEASIBLE, None, None, None,
                               time.perf_counter() - began, None, False)
        status = Status.OPTIMAL
        nodes = iterations = 0
        for (rows, cols), h in zip(part.blocks, self._solvers):
            _pass_block(h, lp.sense_, matrix, rows, cols, cost, lower, upper, integrality,
                        row_lower, row_upper)
            left = max(options.time_limit - (time.perf_counter() - began), 0.0)
            apply_options(h, replace(options, time_limit=left))
            for name, value in (highs_options or {}).items():
                h.setOptionValue(name, value)
            run(h, options.threads)
            info = h.getInfo()
            nodes += max(info.mip_node_count, 0)
            iterations += max(info.simplex_iteration_count, 0)
            self.work = (nodes, iterations)
            if info.primal_solution_status != 2:   # no plan in this block: none for the model
                return SolveResult(status_of(h), None, None, None,
                                   time.perf_counter() - began, None, False)
            if status_of(h) is not Status.OPTIMAL and status is Status.OPTIMAL:
                status = status_of(h)
            objective += info.objective_function_value
            is_mip = bool(np.any(integrality[cols]))
            bound += info.mip_dual_bound if is_mip else info.objective_function_value
            values[cols] = h.getSolution().col_value
        gap = abs(objective - bound) / abs(objective) if objective else 0.0
        return SolveResult(status, objective, bound, gap, time.perf_counter() - began, values,
                           True)


def _holds(lower: np.ndarray, upper: np.ndarray) -> bool:
    """Whether rows with activity 0 (no free column) lie within their bounds."""
    return bool(np.all(lower <= _TOLERANCE * (1 + np.abs(lower)))
                and np.all(upper >= -_TOLERANCE * (1 + np.abs(upper))))


def _pass_block(h: highspy.Highs, sense, matrix, rows: np.ndarray, cols: np.ndarray,
                cost: np.ndarray, lower: np.ndarray, upper: np.ndarray, integrality: np.ndarray,
                row_lower: np.ndarray, row_upper: np.ndarray) -> None:
    """Hand one block to its HiGHS object (the model it held before is replaced)."""
    sub = matrix[rows][:, cols].tocsc()
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), len(rows)
    lp.sense_ = sense
    lp.col_cost_ = cost[cols]
    lp.col_lower_, lp.col_upper_ = lower[cols], upper[cols]
    lp.row_lower_, lp.row_upper_ = row_lower[rows], row_upper[rows]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(cols), len(rows)
    lp.a_matrix_.start_, lp.a_matrix_.index_ = sub.indptr, sub.indices
    lp.a_matrix_.value_ = sub.data
    if np.any(integrality[cols]):
        lp.integrality_ = [highspy.HighsVarType(int(t)) for t in integrality[cols]]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS passModel failed for a block of the model")

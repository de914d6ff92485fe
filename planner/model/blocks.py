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
class _Block:
    """One block: its rows and free columns, and its matrix column-wise, whose values are
    `data[positions]` of the whole matrix's row-wise values (a pattern found once)."""

    rows: np.ndarray
    cols: np.ndarray
    start: np.ndarray
    index: np.ndarray
    positions: np.ndarray
    integrality: np.ndarray


@dataclass(frozen=True)
class _Partition:
    """The blocks of one sparsity pattern (row-wise `start`, `index`), the rows with no free
    column (`constant`) and the fixed columns' part of the matrix (row, column, position)."""

    start: np.ndarray
    index: np.ndarray
    blocks: tuple[_Block, ...]
    constant: np.ndarray
    fixed_entries: tuple[np.ndarray, np.ndarray, np.ndarray]


def _partition(start: np.ndarray, index: np.ndarray, shape: tuple[int, int],
               fixed: np.ndarray, integrality: np.ndarray) -> _Partition:
    """Connected components of the graph of rows and free columns (an edge per nonzero)."""
    # scipy on demand: imported after Pyomo at start-up it costs every plan (families.py)
    from scipy.sparse import bmat, csr_matrix
    from scipy.sparse.csgraph import connected_components
    rows, cols = shape
    # the values are positions (+1: none is a stored zero), so slices say where their values are
    where = csr_matrix((np.arange(1, len(index) + 1, dtype=np.float64), index, start),
                       shape=shape)
    free = np.setdiff1d(np.arange(cols), fixed)
    part = where[:, free]
    _, label = connected_components(bmat([[None, part], [part.T, None]]), directed=False)
    row_label, col_label = label[:rows], label[rows:]
    blocks = []
    for k in np.unique(col_label):
        block_rows, block_cols = np.nonzero(row_label == k)[0], free[col_label == k]
        sub = where[block_rows][:, block_cols].tocsc()
        blocks.append(_Block(block_rows, block_cols, sub.indptr.astype(np.int32),
                             sub.indices.astype(np.int32), sub.data.astype(np.int64) - 1,
                             integrality[block_cols]))
    linked = np.zeros(rows, dtype=bool)
    for block in blocks:
        linked[block.rows] = True
    entries = where[:, fixed].tocoo()
    return _Partition(start.copy(), index.copy(), tuple(blocks), np.nonzero(~linked)[0],
                      (entries.row, fixed[entries.col], entries.data.astype(np.int64) - 1))


class Blocks:
    """Solve the current model of `highs` block by block, with the columns `fixed` (they must be
    fixed, lower = upper, at every solve) moved to the rows' bounds.

    The blocks follow the matrix's sparsity pattern, found again whenever it changes (rows
    added, a coefficient set to zero or from zero), and the columns' integrality read then; the
    costs, bounds and coefficients are read from HiGHS at each solve, so whatever was pushed
    there counts.
    """

    def __init__(self, highs: HighsModel, fixed: np.ndarray):
        self.highs = highs
        self.fixed = np.asarray(fixed, dtype=np.int64)
        self._partition: _Partition | None = None
        self._solvers: list[highspy.Highs] = []
        self.work = (0, 0)   # the last solve's nodes and LP iterations, summed (benchmarks)

    def _blocks_of(self, start: np.ndarray, index: np.ndarray) -> _Partition:
        p = self._partition
        if p is None or not (np.array_equal(p.start, start) and np.array_equal(p.index, index)):
            lp = self.highs.highs.getLp()
            integrality = np.asarray(lp.integrality_, dtype=np.uint8) if len(lp.integrality_) \
                else np.zeros(lp.num_col_, dtype=np.uint8)
            p = self._partition = _partition(start, index, (lp.num_row_, lp.num_col_),
                                             self.fixed, integrality)
            self._solvers = [new_highs() for _ in p.blocks]
        return p

    def _read(self):
        """(costs, column bounds, row bounds, row-wise matrix) of the model HiGHS holds."""
        h = self.highs.highs
        n, m = h.getNumCol(), h.getNumRow()
        _, _, cost, lower, upper, _ = h.getCols(n, np.arange(n, dtype=np.int32))
        _, _, row_lower, row_upper, _ = h.getRows(m, np.arange(m, dtype=np.int32))
        _, start, index, value = h.getRowsEntries(m, np.arange(m, dtype=np.int32))
        start = np.append(np.asarray(start, dtype=np.int64), len(index))
        return (np.asarray(cost), np.asarray(lower), np.asarray(upper), np.asarray(row_lower),
                np.asarray(row_upper), start, np.asarray(index), np.asarray(value))

    def count(self) -> int:
        """The number of blocks of the current model."""
        *_, start, index, _ = self._read()
        return len(self._blocks_of(start, index).blocks)

    def solve(self, options: SolverOptions,
              highs_options: dict[str, bool | int | float | str] | None = None) -> SolveResult:
        """Solve every block with `options` (and the HiGHS options `highs_options`), within
        `options.time_limit` in all; the result reads as one solve of the whole model."""
        began = time.perf_counter()
        cost, lower, upper, row_lower, row_upper, start, index, value = self._read()
        part = self._blocks_of(start, index)
        if np.any(lower[self.fixed] != upper[self.fixed]):
            raise ValueError("Blocks.solve: a column of `fixed` is not fixed")
        rows, cols, positions = part.fixed_entries
        shift = np.bincount(rows, weights=value[positions] * lower[cols],
                            minlength=len(row_lower))
        row_lower, row_upper = row_lower - shift, row_upper - shift
        values = np.zeros(len(cost))
        values[self.fixed] = lower[self.fixed]
        objective = bound = float(self.highs.highs.getObjectiveOffset()[1]
                                  + cost[self.fixed] @ lower[self.fixed])
        if not _holds(row_lower[part.constant], row_upper[part.constant]):
            return SolveResult(Status.INFEASIBLE, None, None, None,
                               time.perf_counter() - began, None, False)
        status = Status.OPTIMAL
        nodes = iterations = 0
        sense = self.highs.highs.getObjectiveSense()[1]
        for block, h in zip(part.blocks, self._solvers):
            _pass_block(h, sense, block, value, cost, lower, upper, row_lower, row_upper)
            left = max(options.time_limit - (time.perf_counter() - began), 0.0)
            apply_options(h, replace(options, time_limit=left))
            for name, setting in (highs_options or {}).items():
                h.setOptionValue(name, setting)
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
            bound += info.mip_dual_bound if np.any(block.integrality) \
                else info.objective_function_value
            values[block.cols] = h.getSolution().col_value
        gap = abs(objective - bound) / abs(objective) if objective else 0.0
        return SolveResult(status, objective, bound, gap, time.perf_counter() - began, values,
                           True)


def _holds(lower: np.ndarray, upper: np.ndarray) -> bool:
    """Whether rows with activity 0 (no free column) lie within their bounds."""
    return bool(np.all(lower <= _TOLERANCE * (1 + np.abs(lower)))
                and np.all(upper >= -_TOLERANCE * (1 + np.abs(upper))))


def _pass_block(h: highspy.Highs, sense, block: _Block, value: np.ndarray, cost: np.ndarray,
                lower: np.ndarray, upper: np.ndarray, row_lower: np.ndarray,
                row_upper: np.ndarray) -> None:
    """Hand one block to its HiGHS object (the model it held before is replaced)."""
    rows, cols = block.rows, block.cols
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cols), len(rows)
    lp.sense_ = sense
    lp.col_cost_ = cost[cols]
    lp.col_lower_, lp.col_upper_ = lower[cols], upper[cols]
    lp.row_lower_, lp.row_upper_ = row_lower[rows], row_upper[rows]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = len(cols), len(rows)
    lp.a_matrix_.start_, lp.a_matrix_.index_ = block.start, block.index
    lp.a_matrix_.value_ = value[block.positions]
    if h.passModel(lp) == highspy.HighsStatus.kError:
        raise RuntimeError("HiGHS passModel failed for a block of the model")
    integer = np.nonzero(block.integrality)[0].astype(np.int32)
    if len(integer):
        h.changeColsIntegrality(len(integer), integer, block.integrality[integer])

"""Whole constraint families built from arrays (issue 22 item 4: a build that scales).

Why: on a 500-node p-median the quarter-million two-term rows of `equipment_linking` took 1.1 s
to build as Pyomo expressions and about 3 s more to read back term by term for HiGHS, where
HiGHS driven directly builds the same rows from numpy arrays in a few hundredths of a second. An
:class:`ArrayRows` component holds a family as blocks of terms (:class:`Terms`: row, variable,
coefficient, each an array) and :class:`planner.model.highs.HighsModel` hands the blocks to HiGHS
in one call. Each row is still a Pyomo constraint, indexed by the family's own keys (a zone and
a service, an arc), whose body is built on demand when someone reads it (a diagnosis, a user at
a notebook): the formulation stays readable against models/allocation.md.

A coefficient is a number or a mutable parameter times a sign (`-demand[z,e]`), so what-ifs
change it without a rebuild, as with the expression-built families.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyomo.environ as pyo
from pyomo.core.base.constraint import IndexedConstraint
from pyomo.core.base.matrix_constraint import MatrixConstraint, _MatrixConstraintData
from pyomo.core.base.set_types import Any
from pyomo.core.base.var import VarData
from pyomo.core.expr.numeric_expr import LinearExpression, MonomialTermExpression


@dataclass(frozen=True)
class Terms:
    """One block of a family's terms: entry k is coefficient_k * var[key_k] in row rows[k],
    where key_k is the index at position positions[k] of `var` (its own order).

    The coefficient is `numbers[k]` (all 1 when None) or, with `param`, the mutable parameter
    at position param_positions[k] of `param` times `sign` (e.g. -demand[z,e], sign -1), times
    the one at factor_positions[k] of `factor` when given (-served_share[k]*demand[z,k]): a
    what-if that changes a parameter changes the coefficient. Parameters are read once per
    parameter, not once per entry (a quarter-million links share a few hundred demands)."""

    rows: np.ndarray
    var: pyo.Var
    positions: np.ndarray
    numbers: np.ndarray | None = None
    param: pyo.Param | None = None
    param_positions: np.ndarray | None = None
    sign: float = 1.0
    factor: pyo.Param | None = None
    factor_positions: np.ndarray | None = None

    def values(self) -> np.ndarray:
        """The coefficients now (the parameters' current values)."""
        if self.param is not None:
            value = self.sign * _now(self.param)[self.param_positions]
            if self.factor is not None:
                value = value * _now(self.factor)[self.factor_positions]
            return value
        if self.numbers is not None:
            return np.asarray(self.numbers, dtype=float)
        return np.ones(len(self.rows))

    def coefficients(self) -> list:
        """The coefficients as a Pyomo expression holds them (a row's body): numbers, or the
        parameters themselves (times -1 where the sign is -1, times the factor)."""
        if self.param is not None:
            assert self.param_positions is not None, "a parameter needs its positions"
            data = list(self.param.values())
            coefficients = [data[p] if self.sign == 1 else self.sign * data[p]
                            for p in self.param_positions.tolist()]
            if self.factor is not None:
                assert self.factor_positions is not None, "a factor needs its positions"
                factors = list(self.factor.values())
                coefficients = [c * factors[q]
                                for c, q in zip(coefficients, self.factor_positions.tolist())]
            return coefficients
        if self.numbers is None:
            return [1.0] * len(self.rows)
        return np.asarray(self.numbers, dtype=float).tolist()


def _now(param: pyo.Param) -> np.ndarray:
    """A mutable parameter's current values, in its index order."""
    return np.fromiter((p.value for p in param.values()), dtype=float, count=len(param))


def positions(component, keys) -> np.ndarray:
    """The positions of `keys` in the order of an indexed Var's or Param's index (the order
    HighsModel numbers a Var's columns in). `keys`: a list of keys, or a DataFrame whose columns
    are the parts of each key (matched at pandas speed, for the large families). A RangeSet
    0..n-1 (the arcs) is its own order."""
    index = component.index_set()
    if isinstance(index, pyo.RangeSet):
        return np.asarray(keys, dtype=np.int64)
    where = key_positions(list(index), keys)
    if len(where) and where.min() < 0:
        raise KeyError(f"{component.name}: a key is not in its index")
    return where


def key_positions(known: list, keys) -> np.ndarray:
    """The position in `known` (labels, or tuples) of each of `keys` (a list, or a DataFrame
    whose columns are the parts of each key), -1 where a key is not known."""
    if len(keys) == 0:
        return np.zeros(0, dtype=np.int64)
    if not known:
        return np.full(len(keys), -1, dtype=np.int64)
    if isinstance(keys, pd.DataFrame):
        if keys.shape[1] == 1:
            where = pd.Index(known).get_indexer(pd.Index(keys.iloc[:, 0]))
        else:
            where = pd.MultiIndex.from_tuples(known).get_indexer(pd.MultiIndex.from_frame(keys))
    else:
        at = {k: p for p, k in enumerate(known)}
        where = np.fromiter((at.get(k, -1) for k in keys), dtype=np.int64, count=len(keys))
    return np.asarray(where, dtype=np.int64)


class _ArrayRowData(_MatrixConstraintData):
    """A row of an :class:`ArrayRows` family: indexed (and named) by the family's key."""

    __slots__ = ()

    def index(self):
        return self.parent_component().keys_of_rows[self._index]


class ArrayRows(MatrixConstraint):
    """lower <= sum of a family's terms <= upper, one row per key, from blocks of :class:`Terms`.

    Pyomo's MatrixConstraint (a CSR matrix of numbers over a list of variables) with the
    matrix assembled from the blocks only when a row's body is read, coefficients that may be
    mutable parameters, and rows indexed by keys.
    """

    def __init__(self, keys: list, blocks: list[Terms], lower, upper):
        IndexedConstraint.__init__(self, Any)
        self.keys_of_rows = list(keys)
        self.blocks = blocks
        self._lower = [None if lo is None or lo == -np.inf else float(lo) for lo in lower]
        self._upper = [None if hi is None or hi == np.inf else float(hi) for hi in upper]
        self._position: dict | None = None   # key -> row position (_positions)
        self._matrix = None     # (data, indices, indptr, x), made on first body read

    def construct(self, data=None):
        if self._constructed:
            return
        self._constructed = True
        ref = weakref.ref(self)
        self._data = tuple(_ArrayRowData(i, ref) for i in range(len(self.keys_of_rows)))

    # MatrixConstraint's rows read these four attributes
    @property
    def _A_data(self):
        return self._csr()[0]

    @property
    def _A_indices(self):
        return self._csr()[1]

    @property
    def _A_indptr(self):
        return self._csr()[2]

    @property
    def _x(self):
        return self._csr()[3]

    def _csr(self):
        """The rows as CSR over a list of the terms' variables, coefficients as Pyomo would hold
        them (numbers or parameters). Built once; the parameters stay live."""
        if self._matrix is None:
            rows = np.concatenate([b.rows for b in self.blocks])
            order = np.argsort(rows, kind="stable")
            x, data = [], []
            for b in self.blocks:
                variables = list(b.var.values())
                x += [variables[p] for p in b.positions.tolist()]
                data += b.coefficients()
            indptr = np.searchsorted(rows[order], np.arange(len(self.keys_of_rows) + 1))
            self._matrix = ([data[k] for k in order.tolist()], list(range(len(order))),
                            indptr.tolist(), tuple(x[k] for k in order.tolist()))
        return self._matrix

    def _positions(self) -> dict:
        """key -> row position (made on first keyed access)."""
        if self._position is None:
            self._position = {k: p for p, k in enumerate(self.keys_of_rows)}
        return self._position

    def __getitem__(self, key):
        where = self._positions()
        if key not in where:
            raise KeyError(f"{self.name}: no row {key!r}")
        return self._data[where[key]]

    def __contains__(self, key):
        return key in self._positions()

    def __iter__(self):
        return iter(self.keys_of_rows)

    def keys(self, sort=False, ordered=False):
        return iter(self.keys_of_rows)

    def values(self, sort=False, ordered=False):
        return iter(self._data)

    def items(self, sort=False, ordered=False):
        return zip(self.keys_of_rows, self._data)


@dataclass(frozen=True)
class LinearCosts:
    """An objective's linear expression together with the same costs as arrays: (Var
    component, its coefficients in index order) pairs, summed where a component repeats. The
    hand-over reads the arrays (a million-term objective in one pass per component) when the
    model's objective is still `expr`; anyone else reads `expr`."""

    expr: object
    costs: tuple[tuple[pyo.Var, np.ndarray], ...]

    @staticmethod
    def of(costs: list[tuple[pyo.Var, np.ndarray]]) -> LinearCosts:
        """The expression sum c*v over the non-zero costs, and the arrays."""
        return LinearCosts(LinearExpression([MonomialTermExpression(t)
                                             for t in nonzero_terms(costs)]), tuple(costs))


def nonzero_terms(costs: list[tuple[pyo.Var, np.ndarray]]) -> list[tuple[float, VarData]]:
    """(coefficient, variable) of every non-zero cost of (Var component, coefficients in its
    index order) pairs."""
    return [(c, v) for var, coefficients in costs
            for v, c in zip(var.values(), np.asarray(coefficients, dtype=float).tolist())
            if c != 0]

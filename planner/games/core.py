"""Core, least core, nucleolus and nearest core allocations: one excess LP, grown row by row.

Excess (models/fair_division.md): profit game e(S, x) = v(S) - x(S), cost game
e(S, x) = x(S) - c(S); positive means S does better on its own, so S blocks x. In the profit form
w = sign * value, y = sign * x both read e(S) = w(S) - y(S), which is what the LPs below use.

Why one engine: the least core, every nucleolus stage and the nearest (epsilon-)core allocation are
the same LP over excess rows y(S) + eps >= w(S); they differ in the objective and in which rows are
fixed. Rows come from a separator: all 2^n - 2 at once for small games (`FULL_LP_MAX_PLAYERS`), else
the most violated ones found by vectorised enumeration, or a user's oracle (a MILP for planning
games) - constraint generation. Values are scaled to max |w| = 1 so tolerances are relative.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import highspy
import numpy as np

from planner.games.game import Game, GameError, mask_bits, popcounts, subset_sums
from planner.model.highs import new_highs, run

TOL = 1e-7                  # relative: core membership, blocking, core emptiness
LP_TOL = 1e-9               # relative: separation (a row is violated if its excess > eps + LP_TOL)
DUAL_TOL = 1e-9             # stage duals sum to 1; rows above this are tight in every optimum
FULL_LP_MAX_PLAYERS = 10    # up to here all 1022 rows go in at once; beyond, rows are generated
ROWS_PER_ROUND = 64         # rows the enumeration separator adds per LP solve
_FLOOR = -4.0               # starting lower bound on eps (scaled); lowered whenever it binds
_FREE, _FIXED, _DROPPED = 0, 1, 2

# most_dissatisfied(x, exclude) -> (coalition, excess) or None; see least_core_by_generation
Oracle = Callable[[dict[str, float], frozenset[frozenset[str]]],
                  "tuple[frozenset[str] | Sequence[str], float] | None"]


@runtime_checkable
class SeparationOracle(Protocol):
    """A separation oracle that can hand out several rows at once (e.g. cached coalitions and a
    MILP's solution pool) and knows the threshold of the round.

    `separate(x, exclude, threshold)` returns proper coalitions not in `exclude` with their
    excess e(S, x) (game units), each above `threshold`; an empty list certifies that no
    coalition outside `exclude` has an excess above `threshold`. A plain `Oracle` function
    (the single most dissatisfied coalition) serves too.
    """

    def separate(self, x: dict[str, float], exclude: frozenset[frozenset[str]],
                 threshold: float) -> list[tuple[frozenset[str], float]]: ...


@dataclass(frozen=True)
class LeastCore:
    """A least-core allocation and its epsilon (the largest excess of a proper coalition)."""

    allocation: dict[str, float]
    epsilon: float


@dataclass(frozen=True)
class Nucleolus:
    """The (pre)nucleolus and the optimal max excess of each LP stage (first: the least core's)."""

    allocation: dict[str, float]
    epsilons: tuple[float, ...]


@dataclass(frozen=True)
class GenerationResult:
    """What constraint generation found: the allocation, its epsilons and the rows it needed."""

    allocation: dict[str, float]
    epsilon: float                       # least-core epsilon (first stage)
    epsilons: tuple[float, ...]          # one per stage (a single one for the least core)
    coalitions: tuple[tuple[str, ...], ...]  # the coalition rows generated, in order
    oracle_calls: int


@dataclass(frozen=True)
class Blocking:
    coalition: tuple[str, ...]
    excess: float


@dataclass(frozen=True)
class CoreReport:
    """Is an allocation in the core; if not, which coalitions block it and by how much."""

    in_core: bool
    efficient: bool                      # x(N) = v(N) (resp. c(N)) within the tolerance
    max_excess: float | None             # over proper coalitions; None for one player
    blocking: tuple[Blocking, ...]       # excess > tolerance, most dissatisfied first
    least_core_epsilon: float
    core_empty: bool
    tolerance: float

    def to_dict(self) -> dict:
        return {"in_core": self.in_core, "efficient": self.efficient,
                "max_excess": self.max_excess, "core_empty": self.core_empty,
                "least_core_epsilon": self.least_core_epsilon,
                "blocking": [{"coalition": list(b.coalition), "excess": b.excess}
                             for b in self.blocking]}


# --- the LP engine -----------------------------------------------------------------------------

class _ExcessLP:
    """min eps (or the L1 distance to `target` with eps fixed) over excess rows, in profit form.

    Columns y_0..y_{n-1}, eps, [t_0..t_{n-1}]. Row 0: y(N) = w(N). Coalition rows:
    y(S) + eps >= w(S) while free; y(S) = its current activity once fixed (eps coefficient 0);
    no bounds once dropped. `lower` gives y_i >= w({i}) (individual rationality).
    """

    def __init__(self, n: int, grand: float, *, lower: np.ndarray | None = None,
                 target: np.ndarray | None = None, epsilon: float | None = None):
        self.n, self.h, self.floor = n, new_highs(), _FLOOR
        self.fixed_epsilon = epsilon
        for option, value in (("solver", "simplex"), ("primal_feasibility_tolerance", 1e-10),
                              ("dual_feasibility_tolerance", 1e-10)):
            self.h.setOptionValue(option, value)
        inf = highspy.kHighsInf
        columns = n + 1 + (n if target is not None else 0)
        lb, ub = np.full(columns, -inf), np.full(columns, inf)
        if lower is not None:
            lb[:n] = lower
        lb[n] = self.floor if epsilon is None else epsilon
        if epsilon is not None:
            ub[n] = epsilon
        self.h.addVars(columns, lb, ub)
        cost = np.zeros(columns)
        cost[n if target is None else slice(n + 1, columns)] = 1.0
        self.h.changeColsCost(columns, np.arange(columns, dtype=np.int32), cost)
        self.h.addRow(grand, grand, n, np.arange(n, dtype=np.int32), np.ones(n))
        if target is not None:
            for i, a in enumerate(target):  # t_i >= |y_i - a_i|
                for sign in (-1.0, 1.0):
                    self.h.addRow(sign * a, inf, 2, np.array([n + 1 + i, i], dtype=np.int32),
                                  np.array([1.0, sign]))
        self.first = self.h.getNumRow()
        self.masks: list[int] = []
        self.w: list[float] = []
        self.state: list[int] = []
        self.row_of: dict[int, int] = {}
        self.inf = inf

    def add(self, masks: Sequence[int] | np.ndarray, values: Sequence[float] | np.ndarray
            ) -> None:
        if not len(masks):
            return
        bits = mask_bits(np.asarray(masks), self.n)
        bits = np.hstack([bits, np.ones((len(masks), 1))])  # the eps column
        rows, cols = np.nonzero(bits)
        starts = np.searchsorted(rows, np.arange(len(masks))).astype(np.int32)
        self.h.addRows(len(masks), np.asarray(values, dtype=float), np.full(len(masks), self.inf),
                       len(cols), starts, cols.astype(np.int32), np.ones(len(cols)))
        for m, v in zip(masks, values):
            self.row_of[int(m)] = len(self.masks)
            self.masks.append(int(m))
            self.w.append(float(v))
            self.state.append(_FREE)

    def solve(self) -> tuple[np.ndarray, float] | None:
        """(y, eps) at an optimum, or None if infeasible."""
        run(self.h, 1)
        status = self.h.getModelStatus()
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        if status != highspy.HighsModelStatus.kOptimal:
            raise GameError("the excess LP ended with HiGHS status "
                            f"{self.h.modelStatusToString(status)}")
        values = np.asarray(self.h.getSolution().col_value)
        return values[:self.n], float(values[self.n])

    def rows(self, state: int) -> np.ndarray:
        return np.flatnonzero(np.asarray(self.state) == state)

    def duals(self, rows: np.ndarray) -> np.ndarray:
        return np.abs(np.asarray(self.h.getSolution().row_dual)[self.first + rows])

    def fix(self, rows: np.ndarray, y: np.ndarray) -> None:
        """Turn rows into equalities at their current activity y(S) (tight in every optimum)."""
        activity = mask_bits(np.asarray(self.masks)[rows], self.n) @ y
        self._retire(rows, activity, activity, _FIXED)

    def drop(self, rows: np.ndarray) -> None:
        """Rows whose excess is constant on the remaining set: they no longer steer the optimum."""
        self._retire(rows, np.full(len(rows), -self.inf), np.full(len(rows), self.inf), _DROPPED)

    def _retire(self, rows: np.ndarray, lower: np.ndarray, upper: np.ndarray, state: int) -> None:
        for k in rows:
            self.h.changeCoeff(int(self.first + k), self.n, 0.0)
            self.state[k] = state
        index = (self.first + np.asarray(rows)).astype(np.int32)
        # highspy's stubs lack changeRowsBounds (the binding has it)
        self.h.changeRowsBounds(len(index), index, lower, upper)  # type: ignore[attr-defined]

    def lower_floor(self) -> None:
        self.floor *= 4.0
        if self.floor < -1e6:
            raise GameError("the excess LP is unbounded: the oracle keeps finding no coalition "
                            "whose excess bounds epsilon")
        self.h.changeColBounds(self.n, self.floor, self.inf)


class _TableSeparator:
    """Most violated coalitions by enumeration over the mask array (vectorised, O(2^n) a call)."""

    def __init__(self, w: np.ndarray):
        self.w = w
        self.blocked = np.zeros(len(w), dtype=bool)
        self.blocked[[0, len(w) - 1]] = True
        self.calls = 0

    def exclude(self, masks: Sequence[int]) -> None:
        self.blocked[np.asarray(masks, dtype=np.int64)] = True

    def __call__(self, y: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        self.calls += 1
        excess = self.w - subset_sums(y)
        excess[self.blocked] = -np.inf
        violated = np.flatnonzero(excess > threshold)
        if len(violated) > ROWS_PER_ROUND:
            top = np.argpartition(-excess[violated], ROWS_PER_ROUND)[:ROWS_PER_ROUND]
            violated = violated[top]
        return [(int(m), float(self.w[m])) for m in violated]


class _OracleSeparator:
    """A user's most-dissatisfied-coalition oracle, in the game's own units and names."""

    def __init__(self, players: tuple[str, ...], oracle: Oracle, sign: float, scale: float,
                 value: Callable[[frozenset[str]], float] | None):
        self.players, self.oracle, self.sign, self.scale, self.value = (
            players, oracle, sign, scale, value)
        self.index = {p: i for i, p in enumerate(players)}
        self.excluded: set[frozenset[str]] = set()
        self.calls = 0

    def exclude(self, masks: Sequence[int]) -> None:
        for m in masks:
            self.excluded.add(frozenset(p for i, p in enumerate(self.players) if m >> i & 1))

    def __call__(self, y: np.ndarray, threshold: float) -> list[tuple[int, float]]:
        self.calls += 1
        x = {p: float(self.sign * self.scale * yi) for p, yi in zip(self.players, y)}
        found: Sequence[tuple[frozenset[str] | Sequence[str], float]]
        if isinstance(self.oracle, SeparationOracle):
            found = self.oracle.separate(x, frozenset(self.excluded), threshold * self.scale)
        else:
            single = self.oracle(x, frozenset(self.excluded))
            found = [] if single is None else [single]
        rows = []
        for coalition, excess in found:
            coalition, excess = frozenset(coalition), float(excess)
            self._check(coalition)
            if excess / self.scale <= threshold:
                continue
            mask = sum(1 << self.index[p] for p in coalition)
            if self.value is not None:
                w = self.sign * float(self.value(coalition)) / self.scale
            else:  # e(S) = w(S) - y(S)
                w = excess / self.scale + float(y[[self.index[p] for p in coalition]].sum())
            rows.append((mask, w))
        return rows

    def _check(self, coalition: frozenset[str]) -> None:
        unknown = coalition - self.index.keys()
        if unknown or not 0 < len(coalition) < len(self.players) or coalition in self.excluded:
            why = (f"unknown players {sorted(unknown)}" if unknown else
                   "an excluded (already fixed) coalition" if coalition in self.excluded else
                   "the empty or the grand coalition")
            raise GameError(f"the separation oracle returned {sorted(coalition)}: {why}")


class _Span:
    """An orthonormal basis of the fixed coalitions' characteristic vectors (and of N)."""

    def __init__(self, n: int):
        self.basis = np.zeros((n, 0))

    def residual(self, vectors: np.ndarray) -> np.ndarray:
        return vectors - (vectors @ self.basis) @ self.basis.T

    def add(self, vectors: np.ndarray) -> None:
        for v in vectors:
            r = self.residual(v[None, :])[0]
            if np.linalg.norm(r) > 1e-9 * max(1.0, float(np.linalg.norm(v))):
                self.basis = np.hstack([self.basis, (r / np.linalg.norm(r))[:, None]])

    def contains(self, vectors: np.ndarray) -> np.ndarray:
        return np.linalg.norm(self.residual(vectors), axis=1) <= 1e-9 * np.sqrt(self.basis.shape[0])

    @property
    def rank(self) -> int:
        return self.basis.shape[1]


def _optimise(lp: _ExcessLP, separator, tol: float) -> tuple[np.ndarray, float] | None:
    """Solve, ask the separator for violated rows, add them, repeat until none is violated."""
    while True:
        solution = lp.solve()
        if solution is None:
            return None
        y, eps = solution
        cuts = [(m, w) for m, w in separator(y, eps + tol) if m not in lp.row_of]
        if cuts:
            lp.add([m for m, _ in cuts], [w for _, w in cuts])
        elif lp.fixed_epsilon is None and eps <= lp.floor + 1e-9:
            lp.lower_floor()
        else:  # no new violated row (an oracle may re-report a present row within its accuracy)
            return y, eps


def _optimum(lp: _ExcessLP, separator, tol: float) -> tuple[np.ndarray, float]:
    """`_optimise` of an LP whose epsilon is free (no target, no fixed epsilon): raising epsilon
    satisfies every row, so that LP always has an optimum."""
    solution = _optimise(lp, separator, tol)
    assert solution is not None, "the excess LP with a free epsilon is always feasible"
    return solution


def _sequential(lp: _ExcessLP, separator, tol: float) -> tuple[np.ndarray, list[float]]:
    """Maschler-Peleg-Shapley: minimise the max free excess, fix the rows tight in every optimum,
    repeat until the fixed rows and N determine y.

    A row with a positive dual in an optimal dual is tight in every primal optimum (complementary
    slackness), and the duals of the free rows sum to 1 (eps has cost 1), so every stage fixes a
    row; rows in the span of the fixed ones have constant excess and are dropped. Generated LPs
    give valid duals too: at convergence the restricted dual is optimal for the full LP.
    """
    n = lp.n
    span = _Span(n)
    span.add(np.ones((1, n)))
    epsilons = []
    while True:
        solution = _optimise(lp, separator, tol)
        if solution is None:
            raise GameError("the nucleolus LP is infeasible")
        y, eps = solution
        epsilons.append(eps)
        free = lp.rows(_FREE)
        masks = np.asarray(lp.masks)[free]
        excess = np.asarray(lp.w)[free] - mask_bits(masks, n) @ y
        duals = lp.duals(free)
        chosen = free[(duals > DUAL_TOL) & (excess >= eps - 1e-7)]
        if not len(chosen):
            chosen = free[[int(np.argmax(duals))]]
        lp.fix(chosen, y)
        separator.exclude([lp.masks[k] for k in chosen])
        span.add(mask_bits(np.asarray(lp.masks)[chosen], n))
        if span.rank >= n:
            return y, epsilons
        free = lp.rows(_FREE)
        constant = free[span.contains(mask_bits(np.asarray(lp.masks)[free], n))]
        lp.drop(constant)
        separator.exclude([lp.masks[k] for k in constant])


# --- enumeration (explicit games) --------------------------------------------------------------

def _scale(values: np.ndarray) -> float:
    top = float(np.max(np.abs(values))) if len(values) else 0.0
    return top if top > 0 else 1.0


def _imputation_bounds(w_singletons: np.ndarray, grand: float) -> np.ndarray:
    if w_singletons.sum() > grand + TOL:
        raise GameError("the imputation set is empty (the players' standalone values add up to "
                        "more than the grand coalition's), so no allocation is individually "
                        "rational; use the prenucleolus or individually_rational=False")
    return w_singletons


def _game_lp(game: Game, *, individually_rational: bool, target: np.ndarray | None = None,
             epsilon: float | None = None) -> tuple[_ExcessLP, _TableSeparator, float]:
    n = game.n
    w = game.profit_table
    scale = _scale(w)
    ws = w / scale
    singles = 1 << np.arange(n)
    lower = _imputation_bounds(ws[singles], ws[-1]) if individually_rational else None
    lp = _ExcessLP(n, ws[-1], lower=lower,
                   target=None if target is None else game.sign * target / scale,
                   epsilon=None if epsilon is None else epsilon / scale)
    if n <= FULL_LP_MAX_PLAYERS:
        masks = np.arange(1, (1 << n) - 1)
    else:  # singletons and their complements: enough to bound eps, the rest is generated
        masks = np.concatenate([singles, ((1 << n) - 1) ^ singles])
    lp.add(masks, ws[masks])
    return lp, _TableSeparator(ws), scale


def least_core(game: Game, *, individually_rational: bool = True) -> LeastCore:
    """Minimise eps subject to e(S, x) <= eps for all proper S, x(N) = v(N) [, IR].

    With `individually_rational` (the default) this is the nucleolus's first LP: shares stay
    within the imputation set. Without it, it is the least core of Maschler, Peleg & Shapley
    (1979) over pre-imputations. The two epsilons agree whenever the core is non-empty.
    """
    if game.n == 1:
        return LeastCore(game.allocation([game.grand]), float("-inf"))
    lp, separator, scale = _game_lp(game, individually_rational=individually_rational)
    y, eps = _optimum(lp, separator, LP_TOL)
    return LeastCore(game.allocation(game.sign * scale * y), eps * scale)


def least_core_epsilon(game: Game) -> float:
    """The least-core epsilon over pre-imputations (MPS 1979): the core is empty iff it is > 0."""
    return least_core(game, individually_rational=False).epsilon


def core_is_empty(game: Game) -> bool:
    return least_core_epsilon(game) > _tolerance(game)


def _tolerance(game: Game) -> float:
    """TOL relative to the game's largest |value|."""
    return TOL * _scale(game.table)


def nucleolus_solution(game: Game, *, individually_rational: bool = True) -> Nucleolus:
    """The nucleolus (over imputations) or, without IR bounds, the prenucleolus; sequential LPs."""
    if game.n == 1:
        return Nucleolus(game.allocation([game.grand]), ())
    lp, separator, scale = _game_lp(game, individually_rational=individually_rational)
    y, epsilons = _sequential(lp, separator, LP_TOL)
    return Nucleolus(game.allocation(game.sign * scale * y), tuple(e * scale for e in epsilons))


def enumeration_oracle(game: Game) -> Oracle:
    """A brute-force `most_dissatisfied(x, exclude)` over the game's table (for checks, n <= 20)."""
    w = game.profit_table

    def most_dissatisfied(x, exclude):
        excess = w - subset_sums(game.sign * game.vector(x))
        excess[[0, -1]] = -np.inf
        for coalition in exclude:
            excess[game.mask(coalition)] = -np.inf
        best = int(np.argmax(excess))
        return (None if excess[best] == -np.inf
                else (frozenset(game.coalition(best)), float(excess[best])))

    return most_dissatisfied


# --- core report and nearest allocations --------------------------------------------------------

def excesses(game: Game, allocation: Mapping[str, float]) -> np.ndarray:
    """e(S, x) for every mask S (index 0, the empty set, is 0)."""
    return game.profit_table - subset_sums(game.sign * game.vector(allocation))


def core_report(game: Game, allocation: Mapping[str, float], k: int = 5) -> CoreReport:
    """In the core (x(N) = v(N) and every proper excess <= tolerance), blocking coalitions, eps*."""
    tol = _tolerance(game)
    excess = excesses(game, allocation)
    efficient = bool(abs(excess[-1]) <= tol)
    proper = np.arange(1, len(excess) - 1)
    max_excess = float(excess[proper].max()) if len(proper) else None
    blocking_masks = proper[excess[proper] > tol]
    order = np.lexsort((blocking_masks, popcounts(game.n)[blocking_masks],
                        -excess[blocking_masks]))
    blocking = tuple(Blocking(game.coalition(int(m)), float(excess[m]))
                     for m in blocking_masks[order][:k])
    epsilon = least_core_epsilon(game)
    return CoreReport(in_core=efficient and not len(blocking_masks), efficient=efficient,
                      max_excess=max_excess, blocking=blocking, least_core_epsilon=epsilon,
                      core_empty=bool(epsilon > tol), tolerance=tol)


def nearest_allocation(game: Game, allocation: Mapping[str, float],
                       epsilon: float = 0.0) -> dict[str, float] | None:
    """The allocation of the epsilon-core (e(S) <= epsilon, x(N) = v(N)) nearest in L1 distance
    to `allocation`; None if that set is empty."""
    target = game.vector(allocation)
    if game.n == 1:
        return game.allocation([game.grand])
    lp, separator, scale = _game_lp(game, individually_rational=False, target=target,
                                    epsilon=epsilon)
    solution = _optimise(lp, separator, LP_TOL)
    return None if solution is None else game.allocation(game.sign * scale * solution[0])


def nearest_core_allocation(game: Game, allocation: Mapping[str, float]) -> dict[str, float] | None:
    """The core allocation nearest (L1) to `allocation`, or None when the core is empty."""
    epsilon = least_core_epsilon(game)
    if epsilon > _tolerance(game):
        return None
    return _nearest_within(game, allocation, max(epsilon, 0.0))


def nearest_least_core_allocation(game: Game, allocation: Mapping[str, float]) -> dict[str, float]:
    """The least-core allocation (e(S) <= eps*) nearest (L1) to `allocation`; always exists."""
    return _nearest_within(game, allocation, least_core_epsilon(game))


def _nearest_within(game: Game, allocation: Mapping[str, float],
                    epsilon: float) -> dict[str, float]:
    """Nearest allocation with e(S) <= epsilon, where epsilon >= eps* was computed by an LP: if
    round-off makes that set look empty, widen it by the LP tolerance."""
    found = nearest_allocation(game, allocation, epsilon)
    if found is None:
        found = nearest_allocation(game, allocation, epsilon + LP_TOL * _scale(game.table))
    if found is None:
        raise GameError("numerical trouble: the least core looks empty")
    return found


# --- constraint generation (large games, oracles) ----------------------------------------------

def _generation_lp(players, v_grand, most_dissatisfied, singletons, kind, value,
                   individually_rational, target=None, epsilon=None):
    players = tuple(players)
    n = len(players)
    if kind not in ("profit", "cost"):
        raise GameError(f"kind must be 'profit' or 'cost', not {kind!r}")
    if n < 2:
        raise GameError("constraint generation needs at least two players")
    sign = 1.0 if kind == "profit" else -1.0
    single = np.array([float(singletons[p]) for p in players])
    scale = _scale(np.append(single, v_grand))
    ws_single, grand = sign * single / scale, sign * float(v_grand) / scale
    lower = _imputation_bounds(ws_single, grand) if individually_rational else None
    lp = _ExcessLP(n, grand, lower=lower,
                   target=None if target is None else sign * np.asarray(target) / scale,
                   epsilon=None if epsilon is None else epsilon / scale)
    lp.add(list(1 << np.arange(n)), ws_single)
    separator = _OracleSeparator(players, most_dissatisfied, sign, scale, value)
    return lp, separator, sign, scale


def _generated(lp: _ExcessLP, players: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    return tuple(tuple(p for i, p in enumerate(players) if m >> i & 1)
                 for m in lp.masks[len(players):])


def least_core_by_generation(players: Sequence[str], v_grand: float,
                             most_dissatisfied: "Oracle | SeparationOracle",
                             singletons: Mapping[str, float], *, kind: str = "profit",
                             value: Callable[[frozenset[str]], float] | None = None,
                             individually_rational: bool = True,
                             tol: float = LP_TOL) -> GenerationResult:
    """Least core by constraint generation: LP over the coalitions met so far -> oracle -> row.

    `most_dissatisfied(x, exclude)` gets the allocation x (player -> share, in the game's units:
    cost shares for a cost game) and a frozenset of coalitions to skip, and returns the proper
    coalition (not empty, not N, not excluded) of largest excess with that excess, or None. The
    loop stops when that excess is <= eps + tol * scale. `value(S)`, if given, prices the new
    row exactly; otherwise v(S) is read back from the reported excess.
    """
    players = tuple(players)
    lp, separator, sign, scale = _generation_lp(players, v_grand, most_dissatisfied, singletons,
                                                kind, value, individually_rational)
    y, eps = _optimum(lp, separator, tol)
    return GenerationResult({p: float(sign * scale * yi) for p, yi in zip(players, y)},
                            eps * scale, (eps * scale,), _generated(lp, players), separator.calls)


def nucleolus_by_generation(players: Sequence[str], v_grand: float,
                            most_dissatisfied: "Oracle | SeparationOracle",
                            singletons: Mapping[str, float], *, kind: str = "profit",
                            value: Callable[[frozenset[str]], float] | None = None,
                            individually_rational: bool = True,
                            tol: float = LP_TOL) -> GenerationResult:
    """The (pre)nucleolus by sequential LPs, each stage by constraint generation.

    Same oracle contract as `least_core_by_generation`; here `exclude` holds the coalitions whose
    excess earlier stages fixed (a MILP oracle adds one no-good cut per excluded coalition).
    """
    players = tuple(players)
    lp, separator, sign, scale = _generation_lp(players, v_grand, most_dissatisfied, singletons,
                                                kind, value, individually_rational)
    y, epsilons = _sequential(lp, separator, tol)
    return GenerationResult({p: float(sign * scale * yi) for p, yi in zip(players, y)},
                            epsilons[0] * scale, tuple(e * scale for e in epsilons),
                            _generated(lp, players), separator.calls)


def nearest_by_generation(players: Sequence[str], v_grand: float,
                          most_dissatisfied: "Oracle | SeparationOracle",
                          singletons: Mapping[str, float], target: Mapping[str, float], *,
                          epsilon: float = 0.0, kind: str = "profit",
                          value: Callable[[frozenset[str]], float] | None = None,
                          tol: float = LP_TOL) -> dict[str, float] | None:
    """The allocation nearest (L1) to `target` with e(S, x) <= epsilon for every proper S and
    x(N) = v(N): the nearest core allocation for epsilon = 0, the nearest least-core one for
    epsilon = eps*. The same excess LP as the least core with the distance as objective; rows
    come from the oracle until none exceeds epsilon. None when that set is empty."""
    players = tuple(players)
    lp, separator, sign, scale = _generation_lp(
        players, v_grand, most_dissatisfied, singletons, kind, value, False,
        target=[float(target[p]) for p in players], epsilon=epsilon)
    solution = _optimise(lp, separator, tol)
    if solution is None:
        return None
    return {p: float(sign * scale * yi) for p, yi in zip(players, solution[0])}


__all__ = ["Blocking", "CoreReport", "GenerationResult", "LeastCore", "Nucleolus", "Oracle",
           "core_is_empty", "core_report", "enumeration_oracle", "excesses", "least_core",
           "least_core_by_generation", "least_core_epsilon", "nearest_allocation",
           "nearest_by_generation", "SeparationOracle",
           "nearest_core_allocation", "nearest_least_core_allocation", "nucleolus_by_generation",
           "nucleolus_solution"]

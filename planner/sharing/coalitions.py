"""Coalition costs C(S) from the planning model, and the most dissatisfied coalition.

One persistent model per process, built in game mode (:func:`planner.model.inputs.model_inputs` with
``game=True``: urgent coverage and policy minimums are priced, so every coalition is feasible).
A coalition is solved by fixing the membership variables ``member_in`` (1 inside, 0 outside):
only S's sites, S's budget shares and S's specialist pools serve only S's zones. The separation
problem of constraint generation — the coalition with the largest excess for an allocation — is
the same model with ``member_in`` free: one MILP with a binary per member.
"""

from __future__ import annotations

import hashlib
import math
import pickle
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, Executor, wait
from dataclasses import dataclass, replace

import highspy
import numpy as np
import pandas as pd
import pyomo.environ as pyo

from planner.model.blocks import Blocks
from planner.model.families import build_model, linear_sum, rounding_terms
from planner.model.highs import HighsModel, SolveResult, SolverOptions, run
from planner.model.inputs import model_inputs
from planner.model.ledger import price_book
from planner.progress import TimeBudgetSpent
from planner.results.plan import extract_plan
from planner.scenario.loading import Scenario

# near-exact values (the core tolerance is 1e-6 x v(N)); 1e-7 costs 16% more time
GAME_MIP_GAP = 1e-6

# HiGHS options of coalition solves, beside SolverOptions: the feasibility jump (a primal heuristic
# HiGHS runs before the root LP) never paid on coalition models, whose root rounding finds the
# first plans; off, a coalition solve is 8-9% faster with the same value to the MIP gap
# (benchmarks/bench_coalition_speedups.py, models/fair_division.md "Speed of coalition values")
COALITION_HIGHS_OPTIONS: dict[str, bool | int | float | str] = {
    "mip_heuristic_run_feasibility_jump": False}


@dataclass(frozen=True)
class CoalitionCost:
    coalition: frozenset[str]
    cost: float
    status: str
    bound: float | None   # HiGHS's dual bound; None when it reported none
    terms: tuple[tuple[str, float], ...] = ()   # the cost by ledger term (term, amount)


@dataclass(frozen=True)
class Separation:
    """What one separation MILP found for an allocation x of the savings game.

    `candidates`: coalitions from the MILP's improving solutions, best first, each with the
    excess its solution proves (a lower bound on e(S, x): the solution's plan is feasible for S
    but maybe not S's cheapest). `bound`: a proven upper bound on max_S e(S, x) over the proper
    coalitions not excluded (the MILP's dual bound), valid even when the time limit stopped it.
    """

    candidates: tuple[tuple[frozenset[str], float], ...]
    bound: float
    status: str
    seconds: float


class CoalitionModel:
    """The planning model of a scenario in game mode, handed to HiGHS once.

    Switching coalitions changes only the bounds of the membership columns, and the separation
    objective only their costs: nothing is rebuilt between solves.
    """

    def __init__(self, scenario: Scenario, options: SolverOptions | None = None):
        self.scenario = scenario
        self.inputs = model_inputs(scenario, game=True)
        self.model = build_model(self.inputs)
        self.highs = HighsModel(self.model)
        self.members: list[str] = list(self.inputs.budget_share.index)
        s = scenario.settings.solver
        base = options or SolverOptions(time_limit=s.time_limit, threads=1, seed=s.seed)
        self.options = replace(base, mip_gap=min(base.mip_gap, GAME_MIP_GAP))
        self._cuts: dict[frozenset[str], pyo.Param] = {}
        self._member_vars = [self.model.member_in[m] for m in self.members]
        self._member_columns = np.array([self.highs.column[id(v)] for v in self._member_vars],
                                        dtype=np.int32)
        self._term_columns = _term_columns(self.model, self.inputs, self.highs)
        self._separating = False
        self.highs_options = dict(COALITION_HIGHS_OPTIONS)
        self.rounding = True    # equipment_rounding rows set per coalition (False: left off)
        self._equipment = list(self.model.equipment_rounding)
        self._exams = _member_exams(self.inputs, self.members, self._equipment)
        self._push_rounding = self.highs.row_pusher(
            [self.model.equipment_rounding[e] for e in self._equipment])
        # with membership fixed the model falls apart (equipment; each specialty): solved
        # block by block (planner/model/blocks.py); False: as one model
        self.by_blocks = True
        self._blocks = Blocks(self.highs, self._member_columns)

    def _set_rounding(self, inside: set[str] | None) -> None:
        """The `equipment_rounding` rows of the fixed coalition `inside` (models/fair_division.md:
        b_e(S) = its zones' demand and its sites' site-bound exams of e / unit capacity), or
        off (None: membership free or the LP game, r_e = 0, as the model is built)."""
        mask = np.array([m in inside for m in self.members]) if inside is not None \
            else np.zeros(len(self.members), dtype=bool)
        exams = self._exams[mask].sum(axis=0) if self.rounding else np.zeros(len(self._equipment))
        for e, total in zip(self._equipment, exams.tolist()):
            capacity = float(self.inputs.equipment.at[e, "capacity"])
            r, w = rounding_terms(total, capacity)
            self.model.rounding_units[e] = r
            self.model.rounding_weight[e] = w
        self._push_rounding()

    def _fix_members(self, coalition: Iterable[str], rounding: bool = True) -> None:
        inside = set(coalition)
        for member, var in zip(self.members, self._member_vars):
            var.fix(1 if member in inside else 0)
        self._set_rounding(inside if rounding else None)
        if self._separating:     # back from a separation: its cardinality row and costs go
            self.model.min_members = 0
            self.model.max_members = len(self.members)
            self.highs.set_column_costs(self._member_columns, np.zeros(len(self.members)))
            self._exclude(())
            self.highs.update()
            self._separating = False
        else:
            self.highs.push_bounds(self._member_vars)

    def _solve_coalition(self, by_blocks: bool = False) -> SolveResult:
        """Solve the fixed coalition with `highs_options` (COALITION_HIGHS_OPTIONS), block by
        block (`by_blocks`) or as one model; then put HiGHS's own values back: the separation
        MILP is tuned apart and keeps them."""
        if by_blocks:
            return self._blocks.solve(self.options, self.highs_options)
        h = self.highs.highs
        before = {name: h.getOptionValue(name)[1] for name in self.highs_options}
        for name, value in self.highs_options.items():
            h.setOptionValue(name, value)
        try:
            return self.highs.solve(self.options)
        finally:
            for name, value in before.items():
                h.setOptionValue(name, value)

    def terms(self, values: np.ndarray) -> tuple[tuple[str, float], ...]:
        """A solution's cost by ledger term (the price book of planner/model/ledger.py)."""
        return tuple((term, math.fsum((costs * values[columns]).tolist()))
                     for term, columns, costs in self._term_columns)

    def cost(self, coalition: Iterable[str]) -> CoalitionCost:
        """C(S): the optimal annual cost of the coalition planning alone (0 for the empty set)."""
        coalition = frozenset(coalition)
        unknown = coalition - set(self.members)
        if unknown:
            raise ValueError(f"unknown member(s) {sorted(unknown)}")
        if not coalition:
            return CoalitionCost(coalition, 0.0, "optimal", 0.0)
        self._fix_members(coalition)
        result = self._solve_coalition(self.by_blocks)
        if not result.has_solution:
            raise RuntimeError(f"coalition {sorted(coalition)}: no plan ({result.status})")
        assert result.objective is not None and result.values is not None   # has a solution
        return CoalitionCost(coalition, result.objective, result.status, result.bound,
                             self.terms(result.values))

    def plan(self, coalition: Iterable[str]):
        """The coalition's optimal plan as a Plan (tables, costs), e.g. the grand plan."""
        self._fix_members(coalition)
        result = self._solve_coalition()
        return extract_plan(self.scenario, self.inputs, self.model, self.highs, result, 0.0)

    def _relaxation(self, coalition: Iterable[str]) -> highspy.Highs:
        """The LP relaxation of the coalition's model, solved on a separate HiGHS copy (the LP
        game: without the coalition's equipment_rounding rows, whose right-hand side is not a
        multiple of membership, see lp_cost_shares)."""
        self._fix_members(coalition, rounding=False)
        h = self.highs.relaxation()
        h.setOptionValue("time_limit", float(self.options.time_limit))
        run(h, 1)
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"LP relaxation of coalition {sorted(coalition)}: "
                               f"{h.modelStatusToString(h.getModelStatus())}")
        return h

    def lp_cost(self, coalition: Iterable[str]) -> float:
        """C_LP(S): the LP relaxation's optimal cost for the coalition (a lower bound on C(S))."""
        coalition = frozenset(coalition)
        return self._relaxation(coalition).getInfo().objective_function_value if coalition \
            else 0.0

    def lp_cost_shares(self) -> tuple[dict[str, float], float]:
        """Owen's LP-duality cost shares of the grand coalition (Owen 1975).

        Every right-hand side of the game model is a multiple of the membership columns (demand,
        existing units, budget shares, pools, coverage: x member_in), so the LP relaxation's
        value f(r) at a membership vector r is bounded below by any of its dual solutions:
        f(r) >= K + sum_m w_m r_m, with w_m the reduced cost of member_in[m] (fixed at 1) and K
        the rest of the dual objective. Returns (w, K), with f(1) = K + sum_m w_m. When K >= 0,
        any split of K with non-negative parts added to w is in the core of the LP game (a
        coalition's share never exceeds its LP cost), and so in the core of the planning game
        when the grand LP has no integrality gap (Goemans & Skutella 2004).
        """
        h = self._relaxation(self.members)
        duals = np.asarray(h.getSolution().col_dual)
        value = h.getInfo().objective_function_value
        shares = {m: float(duals[j]) for m, j in zip(self.members, self._member_columns.tolist())}
        return shares, value - math.fsum(shares.values())

    def _exclude(self, coalitions: Iterable[frozenset[str]]) -> None:
        """No-good cuts: sum_{m in S} (1 - member_in[m]) + sum_{m not in S} member_in[m] >= on_S,
        one per coalition ever excluded; on_S = 1 switches a cut on, 0 off (then it is slack)."""
        wanted = set(coalitions)
        new_rows = []
        # canonical order (scenario member order), not set order: the cut rows' order shapes the
        # MILP and so which of tied coalitions it returns, and set order follows PYTHONHASHSEED
        rank = {m: k for k, m in enumerate(self.members)}
        for coalition in sorted(wanted - set(self._cuts),
                                key=lambda c: (len(c), sorted(rank[m] for m in c))):
            k = len(self._cuts)
            on = pyo.Param(mutable=True, initialize=1)
            self.model.add_component(f"no_good_on_{k}", on)
            y = self.model.member_in
            expr = linear_sum([-y[m] if m in coalition else y[m] for m in self.members])
            cut = pyo.Constraint(expr=expr >= on - len(coalition))
            self.model.add_component(f"no_good_{k}", cut)
            self._cuts[coalition] = on
            new_rows.append(cut)
        if new_rows:
            self.highs.add_rows(new_rows)
        for coalition, on in self._cuts.items():
            on.set_value(1 if coalition in wanted else 0)

    def separate(self, standalone: dict[str, float], allocation: dict[str, float],
                 exclude: Iterable[frozenset[str]] = (), time_limit: float | None = None,
                 abs_gap: float | None = None, seed: int | None = None,
                 max_nodes: int | None = None) -> Separation:
        """The coalitions S (not empty, not all, not excluded) of largest excess in the savings
        game, e(S) = v(S) - x(S) = sum_{m in S} (C({m}) - x[m]) - C(S), with a proven bound.

        One MILP: minimise system cost - sum_m (C({m}) - x[m]) * member_in[m] over free binary
        member_in with 1 <= sum member_in <= n - 1 (and no-good cuts for excluded coalitions).
        Its improving solutions are kept (HiGHS's saved MIP solutions): several candidates per
        MILP, which the caller prices exactly, in parallel.
        """
        self._exclude(frozenset(c) for c in exclude)
        self._set_rounding(None)    # the MILP chooses the coalition: no coalition's rows
        for var in self._member_vars:
            var.unfix()
        self.model.min_members = 1
        self.model.max_members = len(self.members) - 1
        self._separating = True
        self.highs.update()
        weights = np.array([standalone[m] - allocation[m] for m in self.members])
        self.highs.set_column_costs(self._member_columns, -weights)
        # near a core allocation the optimum is about 0, where a relative gap means proving it
        # to the cent: `abs_gap` (the caller's tolerance on the excess) ends the proof sooner
        # `max_nodes` (a probe) limits the branch-and-bound tree, not the clock: the same
        # inputs then give the same candidates on any machine and under any load
        options = self.options
        if time_limit is not None:
            options = replace(options, time_limit=time_limit)
        if abs_gap is not None:
            options = replace(options, mip_abs_gap=abs_gap)
        if seed is not None:
            options = replace(options, seed=seed)
        h = self.highs.highs
        h.setOptionValue("mip_improving_solution_save", True)
        h.setOptionValue("mip_max_nodes", int(max_nodes or highspy.kHighsIInf))
        try:
            result = self.highs.solve(options)
            saved = h.getSavedMipSolutions() if result.has_solution else []
        finally:
            h.setOptionValue("mip_improving_solution_save", False)
            h.setOptionValue("mip_max_nodes", highspy.kHighsIInf)
        if not result.has_solution:
            raise RuntimeError(f"separation problem: no solution ({result.status})")
        assert result.objective is not None and result.values is not None   # has a solution
        found: dict[frozenset[str], float] = {}
        for solution in [*saved, None]:
            values = result.values if solution is None else np.asarray(solution.col_value)
            objective = result.objective if solution is None else solution.objective
            coalition = frozenset(m for m, j in zip(self.members, self._member_columns.tolist())
                                  if values[j] > 0.5)
            found[coalition] = max(found.get(coalition, -math.inf), -objective)
        candidates = tuple(sorted(found.items(), key=lambda kv: (-kv[1], sorted(kv[0]))))
        bound = -result.bound if result.bound is not None else math.inf
        return Separation(candidates, max(bound, candidates[0][1]), result.status,
                          result.seconds)

    def most_dissatisfied(self, standalone: dict[str, float], allocation: dict[str, float],
                          exclude: Iterable[frozenset[str]] = ()) -> tuple[frozenset[str], float]:
        """The coalition of largest excess and that excess (an exact separation)."""
        found = self.separate(standalone, allocation, exclude)
        return found.candidates[0]


def _member_exams(inp, members: list[str], equipment: list[str]) -> np.ndarray:
    """exams[member, equipment]: the exams of each equipment (of the `equipment_rounding` rows)
    that a member brings, its zones' demand and its sites' site-bound exams; a fixed
    coalition's are its members' sum."""
    exams = np.zeros((len(members), len(equipment)))
    row = {m: k for k, m in enumerate(members)}
    col = {e: k for k, e in enumerate(equipment)}
    home = inp.zones["home_member"]
    for (z, k), amount in inp.demand.items():
        if k in col:
            exams[row[home[z]], col[k]] += float(amount)
    bound = inp.site_demand if inp.site_demand is not None else pd.Series(dtype=float)
    owner = inp.sites["member"]
    for (i, k), amount in bound.items():
        if k in col:
            exams[row[owner[i]], col[k]] += float(amount)
    return exams


def _term_columns(model, inp, highs: HighsModel) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(term, HiGHS columns, unit costs) for each ledger term: a solution's cost by term is a
    dot product (the same prices as the objective: planner/model/ledger.py)."""
    by_term: dict[str, tuple[list, list]] = {}
    for price in price_book(inp).prices:
        var = getattr(model, price.variable)
        keys = range(len(price.unit_cost)) if price.variable == "flow" \
            else list(var.index_set())
        columns, costs = by_term.setdefault(price.term, ([], []))
        columns += [highs.column[id(var[k])] for k in keys]
        costs += price.unit_cost.tolist()
    return [(term, np.array(c, dtype=np.int64), np.array(u, dtype=float))
            for term, (c, u) in by_term.items()]


# --- parallel evaluation: one persistent model per worker process ------------------------------
_MODELS: dict[str, CoalitionModel] = {}


def scenario_key(scenario: Scenario) -> str:
    """A content hash: workers keep one model per distinct scenario."""
    payload = pickle.dumps((scenario.settings.model_dump(),
                            {k: v.to_dict("list") for k, v in scenario.tables.items()}))
    return hashlib.sha256(payload).hexdigest()


def _worker_model(key: str, scenario: Scenario, options: SolverOptions | None) -> CoalitionModel:
    model = _MODELS.get(key)
    if model is None:
        model = _MODELS[key] = CoalitionModel(scenario, options)
    return model


def solve_batch(key: str, scenario: Scenario, options: SolverOptions | None,
                coalitions: list[frozenset[str]]) -> list[CoalitionCost]:
    """Task run by an executor's worker: the costs of a batch of coalitions."""
    model = _worker_model(key, scenario, options)
    return [model.cost(c) for c in coalitions]


def separate_task(key: str, scenario: Scenario, options: SolverOptions | None,
                  arguments: dict) -> Separation:
    """Task run by an executor's worker: a separation MILP on the worker's own model (a second
    MILP beside the planner's, with another seed, so both cores search)."""
    return _worker_model(key, scenario, options).separate(**arguments)


def _batches(items: list, count: int, largest: int = 32) -> list[list]:
    """`items` in about `count` batches of at most `largest`: small enough that a deadline, a
    progress bar and the disk store see results often, large enough to keep workers busy."""
    size = min(largest, max(1, -(-len(items) // max(count, 1))))
    return [items[k:k + size] for k in range(0, len(items), size)]


class CoalitionValues:
    """A cache of C(S), filled in parallel batches on a concurrent.futures.Executor.

    With ``executor=None`` the costs are computed in this process (one persistent model).
    `progress` (planner.progress.Progress) advances per coalition solved; `store` (a
    planner.sharing.store.CoalitionStore) gets every batch as soon as it is solved, so an
    interrupted run resumes from what it had; `deadline` (planner.progress.Deadline) stops
    submitting new batches once the time budget is spent (compute then returns early, and
    `complete` says so).
    """

    def __init__(self, scenario: Scenario, executor: Executor | None = None,
                 workers: int = 1, options: SolverOptions | None = None, progress=None,
                 store=None, deadline=None):
        self.scenario = scenario
        self.executor = executor
        self.workers = max(1, workers)
        self.options = options
        self.key = scenario_key(scenario)
        self.costs: dict[frozenset[str], CoalitionCost] = {}
        self.members = list(scenario.members["member"])
        self.progress = progress
        self.store = store
        self.deadline = deadline
        self.solved = 0                     # coalitions solved in this run (not from the store)
        if store is not None:
            self.costs.update(store.load())

    def local_model(self) -> CoalitionModel:
        return _worker_model(self.key, self.scenario, self.options)

    def _out_of_time(self) -> bool:
        return self.deadline is not None and self.deadline.over()

    def compute(self, coalitions: Iterable[Iterable[str]]) -> bool:
        """Compute every coalition not yet cached (in batches, in parallel when possible).

        Returns True when all are cached, False when the deadline stopped it first."""
        todo = sorted({frozenset(c) for c in coalitions} - set(self.costs), key=_order)
        if not todo:
            return True
        if self.executor is None:
            model = self.local_model()
            for batch in _batches(todo, 1, largest=8):
                if self._out_of_time():
                    return False
                self._record([model.cost(c) for c in batch])
            return True
        pending = set()
        batches = iter(_batches(todo, 8 * self.workers))
        for batch in batches:
            if self._out_of_time():
                break
            pending.add(self.executor.submit(solve_batch, self.key, self.scenario,
                                             self.options, batch))
            if len(pending) >= 2 * self.workers:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    self._record(future.result())
        for future in pending:   # what was submitted is finished, even past the deadline
            self._record(future.result())
        return all(c in self.costs for c in todo)

    def _record(self, batch: list[CoalitionCost]) -> None:
        for item in batch:
            self.costs[item.coalition] = item
        self.solved += len(batch)
        if self.store is not None:
            self.store.add(batch)
        if self.progress is not None:
            self.progress.advance(len(batch))

    def cost(self, coalition: Iterable[str]) -> float:
        key = frozenset(coalition)
        if key not in self.costs and not self.compute([key]):
            raise TimeBudgetSpent(f"the time budget ran out before coalition {sorted(key)}")
        return self.costs[key].cost

    def savings(self, coalition: Iterable[str]) -> float:
        """v(S) = sum_{m in S} C({m}) - C(S), the savings game."""
        key = frozenset(coalition)
        if not self.compute([key] + [frozenset([m]) for m in key]):
            raise TimeBudgetSpent(f"the time budget ran out before coalition {sorted(key)}")
        return math.fsum(self.costs[frozenset([m])].cost for m in key) - self.costs[key].cost

    def savings_many(self, coalitions: list[frozenset[str]]) -> list[float]:
        """v(S) of a batch, solved together (in parallel) first: the samplers' evaluator."""
        if not self.compute(list(coalitions) + [frozenset([m]) for m in self.members]):
            raise TimeBudgetSpent(f"the time budget ran out with {len(coalitions)} coalitions "
                                  "to value")
        return [self.savings(c) for c in coalitions]


def _order(coalition: frozenset[str]) -> tuple:
    return (len(coalition), sorted(coalition))

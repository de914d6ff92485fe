"""C_LP(S): the LP relaxation of each coalition's model, the control game of sampled Shapley.

The sampled Shapley value of a planning game estimates phi(v) = phi(v_LP) + phi(v - v_LP)
(planner.games.control_variate), v_LP(S) = sum_{m in S} C({m}) - C_LP(S) the savings with the
coalition's LP cost: v - v_LP = C_LP(S) - C(S), minus the integrality gap. The relaxation is of
the coalition's model exactly as its MILP is solved (the coalition switch of
planner.sharing.coalitions, its own rows included), on the same HiGHS object with
`solve_relaxation` on, from scratch each time: the value depends on the coalition alone, never on
what a worker solved before, so any split of the work over any number of workers gives the same
numbers. (A warm start from the previous coalition's basis was measured slower: coalitions drawn
at random differ too much, and presolve, which a warm start skips, removes the members outside.)
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import highspy

from planner.model.highs import SolverOptions, run
from planner.progress import TimeBudgetSpent
from planner.scenario.loading import Scenario
from planner.sharing.coalitions import (
    CoalitionModel,
    CoalitionValues,
    _batches,
    _worker_model,
)


def lp_cost(model: CoalitionModel, coalition: Iterable[str]) -> float:
    """C_LP(S) of the coalition's model (0 for the empty coalition)."""
    coalition = frozenset(coalition)
    if not coalition:
        return 0.0
    model._fix_members(coalition)
    h = model.highs.highs
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("presolve", "on")
    h.setOptionValue("random_seed", int(model.options.seed))
    # HiGHS compares an LP's time limit with the object's run time summed over all its runs
    h.setOptionValue("time_limit", h.getRunTime() + float(model.options.time_limit))
    h.clearSolver()
    try:
        run(h, 1)
    finally:
        h.setOptionValue("solve_relaxation", False)
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"LP relaxation of coalition {sorted(coalition)}: "
                           f"{h.modelStatusToString(h.getModelStatus())}")
    return float(h.getInfo().objective_function_value)


def lp_batch(key: str, scenario: Scenario, options: SolverOptions | None,
             coalitions: list[frozenset[str]]) -> list[float]:
    """Task run by an executor's worker: C_LP of a batch, on the worker's own model."""
    model = _worker_model(key, scenario, options)
    return [lp_cost(model, c) for c in coalitions]


class LPValues:
    """C_LP(S) and v_LP(S) of coalitions, computed where `values` computes C(S): its executor
    and workers (or this process), its deadline; the singletons' C({m}) are its MILP values."""

    def __init__(self, values: CoalitionValues):
        self.values = values
        self.solved = 0          # LP relaxations solved

    def costs_many(self, coalitions: list[frozenset[str]]) -> list[float]:
        """C_LP of a batch, in parallel batches; TimeBudgetSpent once the deadline is over."""
        values = self.values
        batches = _batches(list(coalitions), 4 * values.workers, largest=64)
        results: list[list[float]] = []
        if values.executor is None:
            model = values.local_model()
            for batch in batches:
                self._check_time(len(coalitions))
                results.append([lp_cost(model, c) for c in batch])
        else:   # at most two batches a worker in flight, so a deadline stops it soon
            pending: list = []
            for batch in batches:
                self._check_time(len(coalitions))
                pending.append(values.executor.submit(lp_batch, values.key, values.scenario,
                                                      values.options, batch))
                if len(pending) >= 2 * values.workers:
                    results.append(pending.pop(0).result())
            results += [future.result() for future in pending]
        out = [cost for batch in results for cost in batch]
        self.solved += len(out)
        return out

    def savings_many(self, coalitions: list[frozenset[str]]) -> list[float]:
        """v_LP(S) = sum_{m in S} C({m}) - C_LP(S) of a batch: the control game."""
        singletons = [frozenset([m]) for m in self.values.members]
        if not self.values.compute(singletons):
            raise TimeBudgetSpent("the time budget ran out before the members' own costs")
        own = {m: self.values.costs[frozenset([m])].cost for m in self.values.members}
        return [math.fsum(own[m] for m in c) - lp for c, lp in
                zip(coalitions, self.costs_many(coalitions))]

    def _check_time(self, count: int) -> None:
        if self.values._out_of_time():
            raise TimeBudgetSpent(f"the time budget ran out with {count} LP relaxations to "
                                  "solve")

"""Stage 2: share the savings of planning together (DESIGN.md section 4, models/fair_division.md).

`share(scenario, rule=...)` values coalitions with the planning model (planner/coalitions.py),
applies a sharing rule to the savings game v(S) = sum_{m in S} C({m}) - C(S), checks the result
against the core, repairs it to the nearest core allocation, and turns it into transfer payments
(planner/accounting.py). Up to `exact_limit` members every coalition is solved; beyond, Shapley
is sampled and the core, least core and nucleolus come from constraint generation whose
separation problem is one MILP (CoalitionModel.most_dissatisfied).
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from concurrent.futures import Executor, ProcessPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.optimize import linprog

from planner.accounting import borne_costs, transfers
from planner.coalitions import CoalitionCost, CoalitionValues, solve_batch
from planner.errors import PlannerError
from planner.games import core as game_core
from planner.games import rules as game_rules
from planner.games.game import Game
from planner.games.sampling import sample_shapley
from planner.scenario import Scenario

EXACT_RULES = ("shapley", "banzhaf", "nucleolus", "prenucleolus", "least-core", "equal-split")
WEIGHT_RULES = ("proportional-cost", "proportional-population", "proportional-volume",
                "weighted", "policy")
RULES = EXACT_RULES + WEIGHT_RULES
DEFAULT_RULE = "nucleolus"  # in the core whenever the core is not empty
# Beyond exact enumeration the nucleolus by generation needs many separation MILPs (> 25 min for
# the 18-member county); the default is then the sampled Shapley value with a core check, and
# the nearest core allocation when it is outside the core (Sharing.nearest_core).
LARGE_DEFAULT_RULE = "shapley"
CORE_TOL = 1e-6             # relative to v(N)


@dataclass(frozen=True)
class Sharing:
    """The savings game's values, the rule's allocation, its core report and the transfers."""

    scenario: str
    rule: str
    method: str
    currency: str
    standalone: pd.Series          # C({m})
    grand_cost: float              # C(N)
    savings: float                 # v(N)
    allocation: pd.Series          # x[m], shares of v(N)
    core: dict                     # in_core, core_empty, least_core_epsilon, blocking, ...
    nearest_core: dict | None      # the core allocation nearest to the rule's (L1)
    transfers: pd.DataFrame
    borne: pd.DataFrame
    values: dict = field(default_factory=dict, repr=False)   # coalition -> v(S) computed
    error_bounds: dict | None = None  # sampling: 95% half-widths by member

    def statements(self) -> list[str]:
        """One line per member that a manager can read."""
        lines = []
        for r in self.transfers.itertuples():
            verb = "pays" if r.transfer > 0 else "receives"
            money = abs(r.transfer) / 1e6
            lines.append(f"{r.member}: {verb} {money:,.2f} M {self.currency} "
                         f"{'into' if r.transfer > 0 else 'from'} the consortium pool; "
                         f"gains {r.gain / 1e6:,.2f} M {self.currency} a year versus planning "
                         f"alone (final cost {r.final_cost / 1e6:,.2f} M instead of "
                         f"{r.standalone_cost / 1e6:,.2f} M).")
        return lines

    def to_json(self) -> dict:
        from planner.output import json_safe
        return json_safe({
            "scenario": self.scenario, "rule": self.rule, "method": self.method,
            "currency": self.currency, "grand_cost": self.grand_cost,
            "savings": self.savings, "standalone_cost": self.standalone.to_dict(),
            "allocation": self.allocation.to_dict(), **self.core,
            "nearest_core_allocation": self.nearest_core, "error_bounds": self.error_bounds,
            "values": {",".join(sorted(k)): v for k, v in sorted(
                self.values.items(), key=lambda kv: (len(kv[0]), sorted(kv[0])))},
        })

    def save(self, path) -> None:
        """sharing.json and transfers.csv, written atomically."""
        from planner.publish import publish_folder
        with publish_folder(path, "sharing") as work:
            self.write_files(work)

    def write_files(self, folder) -> None:
        """sharing.json and transfers.csv into `folder` (a plan folder, for re-planning jobs)."""
        from planner.output import write_csv, write_json
        write_json(self.to_json(), folder / "sharing.json")
        write_csv(self.transfers, folder / "transfers.csv")


# --- helpers ------------------------------------------------------------------------------------
def _savings_task(key, scenario, options, standalone, coalition) -> float:
    """v(S) in a worker process (picklable: used by executor.map when sampling Shapley)."""
    cost = solve_batch(key, scenario, options, [frozenset(coalition)])[0].cost
    return math.fsum(standalone[m] for m in coalition) - cost


def _weights(rule: str, scenario: Scenario, plan, standalone: pd.Series, borne: pd.Series,
             policy_member: str | None) -> pd.Series:
    members = standalone.index
    zones = scenario.zones
    population = zones.groupby("home_member")["population"].sum().reindex(members, fill_value=0)
    sites = scenario.sites.set_index("site_id")["member"]
    volume = plan.flows.groupby(plan.flows["site_id"].map(sites))["units"].sum().reindex(
        members, fill_value=0.0)
    if rule in ("proportional-cost", "policy"):  # policy: the others split by standalone cost
        return standalone
    if rule == "proportional-population":
        return population
    if rule == "proportional-volume":
        return volume
    quality = scenario.members.set_index("member")["quality_score"].reindex(members).fillna(1.0)
    cost_control = standalone / (standalone + borne.clip(lower=0.0))
    criteria = pd.DataFrame({"volume": volume, "quality": quality,
                             "cost_control": cost_control.fillna(0.0)})
    shares = criteria / criteria.sum().replace(0.0, 1.0)
    weighted = shares.mean(axis=1)
    if rule == "weighted":
        return weighted
    raise ValueError(rule)


class SharingArgumentError(PlannerError):
    """An argument of `share` (or a flag of `planner share`) is wrong; found before any solve."""

    exit_code = 2


def die_with_parent(parent: int) -> None:
    """Worker initializer: on Linux the kernel kills the worker when the planner (pid `parent`)
    dies, even by SIGKILL, so a killed `planner share` leaves no solver processes behind."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return                                            # not Linux: the pool shuts down as usual
    if os.getppid() != parent:                            # the parent died before prctl
        os._exit(1)


def _kill_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued work and terminate the worker processes now (no waiting on solves)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for process in processes:
        try:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


@contextmanager
def _process_pool(workers: int):
    """A local process pool whose workers never outlive the planner.

    Workers die with the parent (die_with_parent: PR_SET_PDEATHSIG, covers SIGKILL). While the
    pool is open, a SIGTERM to the planner (handled in the main thread only) cancels the queued
    coalitions, terminates the workers and exits with status 143; any exception (Ctrl-C too)
    terminates the workers instead of waiting for their running solves."""
    import signal
    import threading

    pool = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                               initargs=(os.getpid(),))
    previous = None

    def on_sigterm(signum, frame):
        _kill_pool(pool)
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        except (ValueError, OSError):
            previous = None
    finished = False
    try:
        yield pool
        finished = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if finished:
            pool.shutdown(wait=True)
        else:
            _kill_pool(pool)


ENUMERATION_ONLY = ("banzhaf", "prenucleolus")   # no method beyond exact enumeration


def _check_arguments(members: list, rule: str, workers, exact_limit: int, rel_tol: float,
                     policy_member, policy_share: float, max_permutations: int = 2000,
                     confidence: float = 0.95) -> None:
    """Every argument checked before the first coalition is solved (a wrong flag costs nothing)."""
    problems = []
    if rule in ENUMERATION_ONLY and isinstance(exact_limit, int) and len(members) > exact_limit:
        problems.append(f"rule {rule!r} needs exact enumeration: {len(members)} members is more "
                        f"than --exact-limit {exact_limit}")
    if not (isinstance(max_permutations, int) and max_permutations >= 1):
        problems.append(f"max_permutations must be a whole number >= 1, not "
                        f"{max_permutations!r}")
    if not (isinstance(confidence, (int, float)) and 0.0 < confidence < 1.0):
        problems.append(f"confidence must be between 0 and 1, not {confidence!r}")
    if rule not in RULES:
        problems.append(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule == "policy" and policy_member not in members:
        problems.append(f"the policy rule needs --policy-member (policy_member), one of "
                        f"{members} (got {policy_member!r})")
    if not (isinstance(policy_share, (int, float)) and 0.0 <= policy_share <= 1.0):
        problems.append(f"--policy-share must be between 0 and 1, not {policy_share!r}")
    if workers is not None and not (isinstance(workers, int) and 1 <= workers <= 256):
        problems.append(f"--workers must be a whole number from 1 to 256, not {workers!r}")
    if not (isinstance(exact_limit, int) and 1 <= exact_limit <= 20):
        problems.append(f"--exact-limit must be a whole number from 1 to 20 (2^20 coalitions), "
                        f"not {exact_limit!r}")
    if not (isinstance(rel_tol, (int, float)) and 0.0 < rel_tol <= 1.0):
        problems.append(f"--rel-tol must be a number above 0 and at most 1, not {rel_tol!r}")
    if problems:
        raise SharingArgumentError("planner share: " + "; ".join(problems) + ".")


def _weight_allocation(rule, savings, weights: pd.Series, policy_member, policy_share):
    if rule == "policy":
        others = weights.drop(policy_member)
        rest = others / others.sum() if others.sum() > 0 else others * 0 + 1 / len(others)
        out = rest * savings * (1 - policy_share)
        out[policy_member] = savings * policy_share
        return out.reindex(weights.index)
    total = weights.sum()
    if total <= 0:
        return pd.Series(savings / len(weights), index=weights.index)
    return weights / total * savings


class Separator:
    """The separation oracle of constraint generation: the coalition of largest excess.

    The separation MILP is exact but costs seconds on a county. Coalitions already valued
    (cached) are checked first, and one of them is returned when its excess clearly exceeds the
    current LP's epsilon (`shortcut`: the least core and nearest-core loops, where epsilon is the
    largest excess over the rows handed out so far, or is given); only when no cached coalition
    is violated does the MILP run. Its answer also prices the coalition, C(S) = sum_{m in S} C({m})
    - x(S) - e(S), which is cached (no second solve).
    """

    def __init__(self, model, cache, standalone: pd.Series, savings: float):
        self.model, self.cache, self.standalone = model, cache, standalone.to_dict()
        self.tol = CORE_TOL * max(abs(savings), 1.0)
        self.rows: set[frozenset] = set()
        self.shortcut = True
        self.milp_calls = 0

    def excess(self, coalition, x) -> float:
        return self.cache.savings(coalition) - math.fsum(x[m] for m in coalition)

    def __call__(self, x, exclude, epsilon=None):
        members = list(self.standalone)
        if self.shortcut:
            if epsilon is None:
                known = self.rows | {frozenset([m]) for m in members}
                epsilon = max(self.excess(c, x) for c in known)
            candidates = [c for c in self.cache.costs if 0 < len(c) < len(members)
                          and c not in exclude and c not in self.rows]
            if candidates:
                best = max(candidates, key=lambda c: (self.excess(c, x), sorted(c)))
                if self.excess(best, x) > epsilon + 10 * self.tol:
                    self.rows.add(best)
                    return best, self.excess(best, x)
        self.milp_calls += 1
        coalition, excess = self.model.most_dissatisfied(self.standalone, x, exclude)
        if coalition not in self.cache.costs:
            cost = math.fsum(self.standalone[m] - x[m] for m in coalition) - excess
            self.cache.costs[coalition] = CoalitionCost(coalition, cost, "separation", cost)
        self.rows.add(coalition)
        return coalition, excess


def _nearest_by_generation(members, savings, target: pd.Series, oracle, value, epsilon=0.0,
                           max_rounds=200):
    """min sum |x - target| s.t. x(N) = v(N), v(S) - x(S) <= epsilon for the coalitions met so far;
    the separation oracle adds the most dissatisfied coalition until none exceeds epsilon."""
    n = len(members)
    index = {m: k for k, m in enumerate(members)}
    rows: list[frozenset] = [frozenset([m]) for m in members]
    tol = CORE_TOL * max(abs(savings), 1.0)
    for _ in range(max_rounds):
        # variables x (n), d (n) with d >= |x - target|
        c = np.concatenate([np.zeros(n), np.ones(n)])
        a_ub, b_ub = [], []
        for s in rows:
            row = np.zeros(2 * n)
            for m in s:
                row[index[m]] = -1.0
            a_ub.append(row)
            b_ub.append(epsilon - value(s))
        eye = np.eye(n)
        a_ub += list(np.hstack([eye, -eye])) + list(np.hstack([-eye, -eye]))
        t = target.reindex(members).to_numpy()
        b_ub += list(t) + list(-t)
        a_eq = [np.concatenate([np.ones(n), np.zeros(n)])]
        res = linprog(c, A_ub=np.array(a_ub), b_ub=np.array(b_ub), A_eq=np.array(a_eq),
                      b_eq=[savings], bounds=[(None, None)] * (2 * n), method="highs")
        if res.status != 0:
            return None
        x = pd.Series(res.x[:n], index=members)
        coalition, excess = oracle(x.to_dict(), frozenset(), epsilon)
        if coalition is None or excess <= epsilon + tol:
            return x.to_dict()
        rows.append(frozenset(coalition))
    return None


# --- the entry point ----------------------------------------------------------------------------
def share(scenario: Scenario, rule: str | None = None, *, executor: Executor | None = None,
          scheduler: str | None = None, workers: int | None = None, exact_limit: int = 12,
          rel_tol: float = 0.01, max_permutations: int = 2000, seed: int = 0,
          confidence: float = 0.95,
          policy_member: str | None = None, policy_share: float = 0.6,
          progress: bool = False) -> Sharing:
    """Share the savings of the grand plan among the members with `rule`.

    Coalition solves run on `executor` (any concurrent.futures.Executor), else on a Dask
    cluster at `scheduler`, else on a local process pool of `workers` processes (default: the
    cores), or in this process when `workers == 1`.
    """
    members = list(scenario.members["member"])
    n = len(members)
    if rule is None:   # see DEFAULT_RULE and LARGE_DEFAULT_RULE
        limit = exact_limit if isinstance(exact_limit, int) else 0
        rule = DEFAULT_RULE if n <= limit else LARGE_DEFAULT_RULE
    _check_arguments(members, rule, workers, exact_limit, rel_tol, policy_member, policy_share,
                     max_permutations, confidence)
    with ExitStack() as stack:
        if executor is None and scheduler is not None:
            from distributed import Client
            client = stack.enter_context(Client(scheduler))
            executor = client.get_executor()
            workers = workers or max(1, len(client.scheduler_info()["workers"]))
        workers = workers or os.cpu_count() or 1
        if executor is None and workers > 1:
            executor = stack.enter_context(_process_pool(workers))
        bar = None
        if progress:
            from tqdm import tqdm
            bar = stack.enter_context(tqdm(total=2 ** n - 1 if n <= exact_limit else None,
                                           unit="coalition", desc="coalitions"))
        cache = CoalitionValues(scenario, executor, workers, progress=bar)
        cache.compute([frozenset(members)] + [frozenset([m]) for m in members])
        standalone = pd.Series({m: cache.cost([m]) for m in members})
        grand = cache.cost(members)
        savings = float(standalone.sum() - grand)
        local = cache.local_model()
        plan = local.plan(members)
        borne_table = borne_costs(plan, local.inputs)
        borne = borne_table["total"]

        oracle = Separator(local, cache, standalone, savings)

        def value(coalition) -> float:
            return cache.savings(coalition)

        error_bounds = None
        if n <= exact_limit:
            method = "exact enumeration"
            cache.compute(frozenset(c) for r in range(1, n + 1)
                          for c in itertools.combinations(members, r))
            game = Game.from_function(members, value, kind="profit")
            allocation = _exact_rule(rule, game, scenario, plan, standalone, borne,
                                     policy_member, policy_share)
            report = game_core.core_report(game, allocation).to_dict()
            nearest = (game_core.nearest_core_allocation(game, allocation)
                       if not report["core_empty"]
                       else game_core.nearest_least_core_allocation(game, allocation))
        else:
            method, allocation, error_bounds = _large_rule(
                rule, members, savings, standalone, scenario, plan, borne, oracle, value,
                executor, cache, rel_tol, max_permutations, seed, policy_member, policy_share,
                confidence)
            report, nearest = _core_by_generation(members, savings, standalone, allocation,
                                                  oracle, value)
    allocation = pd.Series(allocation).reindex(members)
    table = transfers(standalone, borne, allocation)
    _check_invariants(table, savings)
    values = {k: (math.fsum(standalone[m] for m in k) - c.cost) for k, c in cache.costs.items()}
    return Sharing(scenario.name, rule, method, scenario.settings.currency, standalone, grand,
                   savings, allocation, report, nearest, table, borne_table,
                   values, error_bounds)


def _exact_rule(rule, game, scenario, plan, standalone, borne, policy_member, policy_share):
    if rule in EXACT_RULES:
        if rule == "least-core":
            return game_rules.least_core(game).allocation
        return game_rules.RULES[rule](game)
    weights = _weights(rule, scenario, plan, standalone, borne, policy_member)
    return _weight_allocation(rule, game.grand, weights, policy_member, policy_share).to_dict()


def _large_rule(rule, members, savings, standalone, scenario, plan, borne, oracle, value,
                executor, cache, rel_tol, max_permutations, seed, policy_member, policy_share,
                confidence):
    singletons = {m: 0.0 for m in members}   # v({m}) = 0 in a savings game
    if rule == "shapley":
        task = functools.partial(_savings_task, cache.key, scenario, cache.options,
                                 standalone.to_dict())
        estimate = sample_shapley(members, task if executor is not None else value,
                                  rel_tol=rel_tol, max_permutations=max_permutations,
                                  seed=seed, executor=executor, confidence=confidence)
        return (f"permutation sampling (antithetic), {100 * confidence:g}% intervals",
                estimate.estimates, {"half_widths": estimate.half_widths,
                                     "permutations": estimate.permutations,
                                     "converged": estimate.converged})
    if rule in ("nucleolus", "least-core"):
        solver = (game_core.nucleolus_by_generation if rule == "nucleolus"
                  else game_core.least_core_by_generation)
        oracle.shortcut = rule == "least-core"  # nucleolus stages fix rows: always exact
        result = solver(members, savings, oracle, singletons, kind="profit", value=value)
        oracle.shortcut = True
        return "constraint generation (separation MILP)", result.allocation, None
    if rule == "equal-split":
        return "closed form", {m: savings / len(members) for m in members}, None
    if rule in WEIGHT_RULES:
        weights = _weights(rule, scenario, plan, standalone, borne, policy_member)
        return "closed form", _weight_allocation(rule, savings, weights, policy_member,
                                                 policy_share).to_dict(), None
    raise ValueError(f"rule {rule!r} needs exact enumeration (at most the exact limit of members)")


def _core_by_generation(members, savings, standalone, allocation, oracle, value):
    """Core check of any allocation by the separation MILP; least core and nearest core too."""
    tol = CORE_TOL * max(abs(savings), 1.0)
    blocking, excluded = [], set()
    for _ in range(5):   # the five most dissatisfied coalitions, by no-good cuts
        coalition, excess = oracle.model.most_dissatisfied(oracle.standalone, allocation,
                                                           frozenset(excluded))
        if coalition is None or excess <= tol:
            break
        blocking.append({"coalition": sorted(coalition), "excess": excess})
        excluded.add(frozenset(coalition))
    oracle.rows.clear()
    if not blocking:   # in the core: the core is not empty; epsilon is not needed (and costly)
        return ({"in_core": True, "core_empty": False, "least_core_epsilon": None,
                 "blocking": [], "max_excess": None}, dict(allocation))
    least = game_core.least_core_by_generation(members, savings, oracle,
                                               {m: 0.0 for m in members}, kind="profit",
                                               value=value, individually_rational=False)
    epsilon = least.epsilon
    core_empty = epsilon > tol
    oracle.rows.clear()
    nearest = _nearest_by_generation(members, savings, pd.Series(allocation), oracle, value,
                                     epsilon=max(epsilon, 0.0) if core_empty else 0.0)
    report = {"in_core": False, "core_empty": bool(core_empty),
              "least_core_epsilon": epsilon, "blocking": blocking,
              "max_excess": blocking[0]["excess"] if blocking else None}
    return report, nearest


def _check_invariants(table: pd.DataFrame, savings: float) -> None:
    """Transfers sum to zero to the cent; the allocation shares exactly v(N)."""
    if round(table["transfer"].sum(), 2) != 0.0:
        raise AssertionError(f"transfers sum to {table['transfer'].sum():.2f}, not 0")
    if not np.isclose(table["allocation"].sum(), savings, rtol=1e-6, atol=0.05):
        raise AssertionError(f"the allocation sums to {table['allocation'].sum():.2f}, "
                             f"not v(N) = {savings:.2f}")


def sharing_summary(sharing: Sharing) -> str:
    core = sharing.core
    lines = [f"Scenario: {sharing.scenario}",
             f"Rule: {sharing.rule} ({sharing.method})",
             f"Standalone costs: {sharing.standalone.sum() / 1e6:,.2f} M {sharing.currency}; "
             f"grand plan: {sharing.grand_cost / 1e6:,.2f} M; savings to share: "
             f"{sharing.savings / 1e6:,.2f} M",
             f"In the core: {'yes' if core['in_core'] else 'no'}"
             + ("" if core["in_core"] else
                f" (blocked by {len(core['blocking'])} coalition(s); most dissatisfied: "
                f"{', '.join(core['blocking'][0]['coalition'])} by "
                f"{core['blocking'][0]['excess'] / 1e6:,.3f} M)")
             + (f"; the core is EMPTY (least-core epsilon "
                f"{core['least_core_epsilon'] / 1e6:,.3f} M)" if core["core_empty"] else "")]
    lines += sharing.statements()
    if sharing.error_bounds:
        worst = max(sharing.error_bounds["half_widths"].values())
        lines.append(f"Sampling: {sharing.error_bounds['permutations']} permutations; widest "
                     f"half-width {worst / 1e6:,.3f} M {sharing.currency}")
    return "\n".join(lines)


__all__ = ["Sharing", "share", "RULES", "DEFAULT_RULE", "LARGE_DEFAULT_RULE", "sharing_summary"]

"""Stage 2: share the savings of planning together (docs/design.md section 4,
models/fair_division.md).

`share(scenario, rule=...)` is orchestration only. The coalition values C(S) come from the
planning model (planner/sharing/coalitions.py: one persistent model per process, solves in
parallel, cached on disk by planner/sharing/store.py); the rules, the excess LP and constraint
generation are planner/games/; the money is planner/sharing/accounting.py. The savings game is
v(S) = sum_{m in S} C({m}) - C(S).

Up to `exact_limit` members every coalition is solved and everything is exact. Beyond, the
Shapley value is sampled (stratified, planner/games/sampling.py), and the core questions are
answered by constraint generation whose separation oracle (`PlanningOracle`) first looks at the
coalitions already valued and then runs one MILP with a free membership vector
(CoalitionModel.separate), whose proven bound certifies the answer even under a time limit.
"""

from __future__ import annotations

import itertools
import math
import os
from concurrent.futures import Executor
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from planner.errors import PlannerError
from planner.games import core as game_core
from planner.games import rules as game_rules
from planner.games.control_variate import control_variate_shapley
from planner.games.game import Game
from planner.games.sampling import efficient_estimates
from planner.model.ledger import term_words
from planner.progress import Deadline, Progress, TimeBudgetSpent
from planner.publish import publish_folder
from planner.results.files import json_safe, write_csv, write_json
from planner.results.summary import named
from planner.scenario.loading import Scenario
from planner.sharing.accounting import (
    borne_costs,
    cash_flags,
    cash_years,
    payment_words,
    savings_by_term,
    surplus_shares,
    transfer_flags,
    transfers,
)
from planner.sharing.coalitions import CoalitionValues, Separation, separate_task
from planner.sharing.relaxed import LPValues
from planner.workers import process_pool

# The rules of a planning game (`planner share --rule`, `planner.share`): the game's own rules
# (planner/games/rules.py declares their names), then those that read the scenario.
EXACT_RULES = tuple(game_rules.RULES)
WEIGHT_RULES = ("proportional-cost", "proportional-population", "proportional-volume",
                "weighted", "policy")
MODEL_RULES = ("lp-duality",)   # read from the planning model's LP relaxation
RULES = EXACT_RULES + WEIGHT_RULES + MODEL_RULES
ENUMERATION_ONLY = ("banzhaf", "prenucleolus")   # no method beyond exact enumeration
DEFAULT_RULE = "nucleolus"  # in the core whenever the core is not empty
# Beyond exact enumeration the default starts from Owen's LP-duality shares (seconds: one LP)
# and moves them to the nearest core allocation when a coalition blocks them (docs/design.md
# section 4: where the core is non-empty the default allocation is in it); see Sharing.adjusted. The
# sampled Shapley value costs thousands of coalition solves for a rough estimate on the county
# (benchmarks/README.md), and was moved by the core check just as far.
LARGE_DEFAULT_RULE = "lp-duality"
CORE_TOL = 1e-6             # relative to v(N)
# generation stops when no coalition's excess is above GENERATION_TOL x v(N): rows of a few CNY
# each cost a separation round and cannot change the claim; the final MILP's proof (absolute gap
# CORE_TOL / 4 x v(N)) then stays within CORE_TOL
GENERATION_TOL = CORE_TOL / 4
CACHED_ROWS = 16            # cached coalitions handed to the excess LP per round
PROBE_NODES = 20            # a separation MILP's first try (candidates come early; proof late)
CENTS = "%.2f"              # transfers.csv: amounts to the currency's cents


class SharingArgumentError(PlannerError):
    """An argument of `share` (or a flag of `planner share`) is wrong; found before any solve."""

    exit_code = 2


class SharingTimeLimit(PlannerError):
    """The time budget ran out before any result could be certified (exit 4)."""

    exit_code = 4


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
    error_bounds: dict | None = None  # sampling: half-widths by member, evaluations, converged
    savings_by_term: pd.DataFrame | None = None   # term: standalone, grand, savings
    flags: list = field(default_factory=list)     # transfers above a standalone cost or budget
    rule_allocation: dict | None = None           # the rule's own shares when adjusted
    adjusted: bool = False         # the default rule's shares were moved into the core
    complete: bool = True          # False: the time budget cut the run short
    stats: dict = field(default_factory=dict)     # solves, MILPs, seconds (benchmarks)
    # with [fund] (docs/design.md section 8): the grand plan's accounts, surplus_shares, the
    # members' cash years and make_whole; None without [fund] (then nothing below changes)
    fund: dict | None = None

    def statements(self) -> list[str]:
        """One line per member that a manager can read: the member by name (its id in
        brackets), what it pays into or receives from the pool, what it gains; with a [fund],
        its year as cash against its year alone (planner.sharing.accounting.cash_years)."""
        lines = []
        for r in self.transfers.to_dict("records"):
            money = f"{abs(r['transfer']) / 1e6:,.2f} M {self.currency}"
            lines.append(f"{named(r['member'], r.get('name'))}: "
                         f"{payment_words(r['transfer'], money)}; "
                         f"gains {r['gain'] / 1e6:,.2f} M {self.currency} a year versus planning "
                         f"alone (final cost {r['final_cost'] / 1e6:,.2f} M instead of "
                         f"{r['standalone_cost'] / 1e6:,.2f} M)."
                         + (_cash_words(r, self.currency) if self.fund is not None else ""))
        return lines

    def to_json(self) -> dict:
        by_term = (None if self.savings_by_term is None
                   else self.savings_by_term.set_index("term").to_dict("index"))
        return json_safe({
            "scenario": self.scenario, "rule": self.rule, "method": self.method,
            "currency": self.currency, "grand_cost": self.grand_cost,
            "savings": self.savings, "standalone_cost": self.standalone.to_dict(),
            "allocation": self.allocation.to_dict(), **self.core,
            "nearest_core_allocation": self.nearest_core, "error_bounds": self.error_bounds,
            "adjusted_to_core": self.adjusted, "rule_allocation": self.rule_allocation,
            "complete": self.complete, "savings_by_term": by_term, "flags": self.flags,
            "values": {",".join(sorted(k)): v for k, v in sorted(
                self.values.items(), key=lambda kv: (len(kv[0]), sorted(kv[0])))},
            **({} if self.fund is None else {"fund": self.fund}),
        })

    def save(self, path) -> None:
        """sharing.json and transfers.csv, written atomically."""
        with publish_folder(path, "sharing") as work:
            self.write_files(work)

    def write_files(self, folder) -> None:
        """sharing.json and transfers.csv into `folder` (a plan folder, for re-planning jobs)."""
        write_json(self.to_json(), folder / "sharing.json")
        write_csv(self.transfers, folder / "transfers.csv", float_format=CENTS)


def _cash_words(r: dict, currency: str) -> str:
    """A member's year as cash (planner.sharing.accounting.cash_years), in M."""
    def m(value: float) -> str:
        return f"{value / 1e6:,.2f} M"
    return (f" Its year in cash: fund payments received {m(r['fund_payments_received'])} + "
            f"patient payments received {m(r['patient_payments_received'])} - costs borne "
            f"{m(r['borne_cost'])} - transfer {m(r['transfer'])} + surplus share "
            f"{m(r['surplus_share'])} = {m(r['cash_year'])} {currency} (alone: "
            f"{m(r['cash_year_alone'])}).")


def _fund_split(scenario: Scenario, local, plan, table: pd.DataFrame,
                allocation: pd.Series) -> tuple[pd.DataFrame, dict, list[dict]]:
    """Stage 2 with a fund (docs/design.md section 8): the grand plan's surplus split by
    [fund] surplus_rule, each member's year as cash against its year alone (its standalone
    plan, re-solved here: one singleton solve per member), and the members made worse off.
    Returns (transfers.csv with the fund's columns, sharing.json `fund`, flags)."""
    fund = scenario.settings.fund
    assert fund is not None and plan.fund is not None and plan.fund_by_member is not None
    members = list(table["member"])
    received = plan.fund_by_member.set_index("member").reindex(members).fillna(0.0)
    base = (received["fund_payments_received"] if fund.surplus_rule == "policy"
            else allocation.reindex(members))
    surplus = float(plan.fund["surplus"])
    shares = surplus_shares(surplus, base, fund.lead_member, fund.surplus_to_lead)
    standalone = table.set_index("member")["standalone_cost"]
    alone = {}
    for m in members:   # C({m}) is the game's value; its plan gives the payments received
        paid = local.plan([m]).fund_by_member.set_index("member").loc[m]
        alone[m] = float(paid["fund_payments_received"] + paid["patient_payments_received"]) \
            - float(standalone[m])
    table = cash_years(table, plan.fund_by_member, shares, pd.Series(alone), surplus)
    by_member = table.set_index("member")
    cash = by_member[["fund_payments_received", "patient_payments_received", "borne_cost",
                      "transfer", "surplus_share", "cash_year", "cash_year_alone",
                      "make_whole"]]
    summary = {**plan.fund, "surplus_rule": fund.surplus_rule,
               "lead_member": fund.lead_member, "surplus_to_lead": fund.surplus_to_lead,
               "surplus_shares": by_member["surplus_share"].to_dict(),
               "cash_years": cash.to_dict("index"),
               "make_whole": {m: v for m, v in by_member["make_whole"].items() if v > 0}}
    return table, summary, cash_flags(table)


# --- the separation oracle of the planning game --------------------------------------------------
class PlanningOracle:
    """Coalitions of largest excess e(S, x) = v(S) - x(S) for constraint generation
    (planner.games.core.SeparationOracle).

    Coalitions already valued are checked first: any whose excess is above the round's threshold
    is a valid row and costs nothing. Only when none is does the separation MILP run (with the
    time that is left); its improving solutions are priced exactly, in parallel, and those above
    the threshold returned. An empty answer from the MILP certifies the round up to its proven
    bound, which is recorded (`last`): when the time limit stopped the MILP, the bound is what
    the core report may claim.
    """

    def __init__(self, values: CoalitionValues, standalone: pd.Series, savings: float,
                 deadline: Deadline, milp_seconds: float, progress: Progress,
                 max_separations: int = 1_000_000):
        self.values, self.standalone = values, standalone.to_dict()
        self.members = list(standalone.index)
        self.tol = CORE_TOL * max(abs(savings), 1.0)
        self.deadline, self.milp_seconds, self.progress = deadline, milp_seconds, progress
        self.milp_calls, self.milp_time = 0, 0.0
        self.max_separations = max_separations
        # (allocation, Separation) of the latest MILP
        self.last: tuple[dict[str, float], Separation] | None = None
        # (proven bound on the largest excess, allocation): the best allocation a MILP certified
        self.best: tuple[float, dict[str, float]] | None = None

    def excess(self, coalition: frozenset[str], x: dict[str, float]) -> float:
        """e(S, x) = sum_{m in S} (C({m}) - x[m]) - C(S), for a coalition already valued."""
        return math.fsum(self.standalone[m] - x[m] for m in coalition) \
            - self.values.costs[coalition].cost

    def cached(self, x, exclude, threshold) -> list[tuple[frozenset[str], float]]:
        n = len(self.members)
        found = [(c, self.excess(c, x)) for c in self.values.costs
                 if 0 < len(c) < n and c not in exclude]
        found = [(c, e) for c, e in found if e > threshold]
        found.sort(key=lambda ce: (-ce[1], len(ce[0]), sorted(ce[0])))
        return found[:CACHED_ROWS]

    def milp(self, x: dict[str, float], exclude=frozenset(), max_nodes: int | None = None):
        """A separation MILP at x (a probe of `max_nodes` nodes, or a proof within milp_seconds
        and the time left): its candidates, priced exactly. A second MILP with another seed runs
        in a worker at the same time (or after, here, without a pool); their candidates are
        merged and the better (lower) of their proven bounds kept."""
        seconds = min(self.milp_seconds, self.deadline.left())
        if seconds <= 1.0:
            raise TimeBudgetSpent("no time left for a separation MILP")
        if self.milp_calls >= self.max_separations:
            raise TimeBudgetSpent(f"{self.milp_calls} separation MILPs (--max-separations) "
                                  "were not enough")
        arguments = {"standalone": self.standalone, "allocation": dict(x), "exclude": exclude,
                     "time_limit": seconds, "abs_gap": self.tol / 4, "max_nodes": max_nodes}
        values = self.values
        twin = None
        if values.executor is not None:
            twin = values.executor.submit(separate_task, values.key, values.scenario,
                                          values.options, {**arguments, "seed": 1})
        found = values.local_model().separate(**arguments)
        # without a pool the twin runs here, after: the rows, hence the output, never depend on
        # the worker count
        other = (twin.result() if twin is not None
                 else values.local_model().separate(**arguments, seed=1))
        found = _merged(found, other)
        self.milp_calls += 1
        self.milp_time += found.seconds
        self.progress.note(f"{self.milp_calls} MILPs, {self.milp_time:,.0f} s")
        self.last = (dict(x), found)
        self._certify(x, exclude, found.bound)
        candidates = [c for c, _ in found.candidates if 0 < len(c) < len(self.members)]
        if not self.values.compute(candidates):
            raise TimeBudgetSpent("the time budget ran out while pricing separation candidates")
        return found, [(c, self.excess(c, x)) for c in candidates]

    def _certify(self, x: dict[str, float], exclude, bound: float) -> None:
        """Keep x as `best` when the MILP proves its largest excess smaller than any before:
        the bound covers the coalitions not excluded, and the excluded ones (rows a nucleolus
        stage fixed, all valued) are priced exactly. What a run stopped mid-generation can
        still stand behind (:func:`_stopped_generation`)."""
        if not math.isfinite(bound) or any(c not in self.values.costs for c in exclude):
            return
        worst = max([bound] + [self.excess(c, x) for c in exclude])
        if self.best is None or worst < self.best[0]:
            self.best = (worst, dict(x))

    def probe(self, x, exclude=frozenset(), threshold: float | None = None):
        """A short separation MILP first: its improving solutions come early, and a violated
        one is a row; only when it finds none and has not proved it does the long MILP run."""
        found, priced = self.milp(x, exclude, PROBE_NODES)
        threshold = self.tol if threshold is None else threshold
        if found.status != "optimal" and not any(e > threshold for _, e in priced):
            found, priced = self.milp(x, exclude)
        return found, priced

    def separate(self, x, exclude, threshold):
        rows = self.cached(x, exclude, threshold)
        if rows:
            return rows
        _, priced = self.probe(x, exclude, threshold)
        return [(c, e) for c, e in priced if e > threshold]


def _merged(one: Separation, other: Separation) -> Separation:
    """Two separation MILPs at the same allocation: all their candidates (best excess first),
    the lower of their proven bounds, optimal if either proved its optimum."""
    found: dict[frozenset[str], float] = {}
    for coalition, excess in one.candidates + other.candidates:
        found[coalition] = max(found.get(coalition, -math.inf), excess)
    candidates = tuple(sorted(found.items(), key=lambda kv: (-kv[1], sorted(kv[0]))))
    status = "optimal" if "optimal" in (one.status, other.status) else one.status
    return Separation(candidates, min(one.bound, other.bound), status,
                      max(one.seconds, other.seconds))


# --- helpers ------------------------------------------------------------------------------------
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


def _check_arguments(members: list, rule: str, workers, exact_limit: int, rel_tol: float,
                     policy_member, policy_share: float, confidence: float, abs_tol,
                     max_coalitions, time_limit, milp_seconds, max_separations=60) -> None:
    """Every argument checked before the first coalition is solved (a wrong flag costs nothing)."""
    problems = []
    if rule in ENUMERATION_ONLY and isinstance(exact_limit, int) and len(members) > exact_limit:
        problems.append(f"rule {rule!r} needs exact enumeration: {len(members)} members is more "
                        f"than --exact-limit {exact_limit}")
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
    if abs_tol is not None and not (isinstance(abs_tol, (int, float)) and 0.0 <= abs_tol < 1e15):
        problems.append(f"--abs-tol must be a non-negative amount, not {abs_tol!r}")
    if not (isinstance(max_separations, int) and 1 <= max_separations <= 100_000):
        problems.append(f"--max-separations must be a whole number from 1 to 100,000, not "
                        f"{max_separations!r}")
    if not (isinstance(max_coalitions, int) and 1 <= max_coalitions <= 10_000_000):
        problems.append(f"--max-coalitions must be a whole number from 1 to 10,000,000, not "
                        f"{max_coalitions!r}")
    if time_limit is not None and not (isinstance(time_limit, (int, float))
                                       and 0.0 < time_limit <= 1e7):
        problems.append(f"--time-limit must be a number of seconds above 0, not {time_limit!r}")
    if not (isinstance(milp_seconds, (int, float)) and 0.0 < milp_seconds <= 1e7):
        problems.append(f"milp_seconds must be a number of seconds above 0, not "
                        f"{milp_seconds!r}")
    if problems:
        raise SharingArgumentError("planner share: " + "; ".join(problems) + ".")


def _exact_rule(rule, game, closed_form) -> dict:
    if rule in EXACT_RULES:
        if rule == "least-core":
            return game_rules.least_core(game).allocation
        return game_rules.RULES[rule](game)
    return closed_form(rule)


def _lp_duality_allocation(model, standalone: pd.Series, grand: float) -> dict[str, float]:
    """Owen's (1975) LP-duality cost shares, scaled to the integer grand cost, as savings shares.

    The duals of the grand coalition's LP relaxation price each member's membership (w_m, and a
    rest K shared equally): c_m = (w_m + K/n) C(N) / C_LP(N), x_m = C({m}) - c_m. Unscaled, the
    shares are in the core of the LP game (tests/test_coalition_lp.py); the integrality gap makes
    them a candidate that the separation MILP then certifies or repairs."""
    w, rest = model.lp_cost_shares()
    members = list(standalone.index)
    lp_grand = rest + math.fsum(w.values())
    scale = grand / lp_grand if lp_grand > 0 else 1.0
    return {m: float(standalone[m] - (w[m] + rest / len(members)) * scale) for m in members}


def _enumerated(values: CoalitionValues, members, progress: Progress, cache_hint: str) -> Game:
    """Every coalition solved (phase "all coalitions"), as an explicit game."""
    everything = [frozenset(c) for r in range(1, len(members) + 1)
                  for c in itertools.combinations(members, r)]
    todo = [c for c in everything if c not in values.costs]
    with progress.phase("all coalitions", len(todo)):
        if not values.compute(todo):
            done = sum(c in values.costs for c in everything)
            raise SharingTimeLimit(
                f"planner share: the time limit ran out after {done:,} of {len(everything):,} "
                f"coalitions; nothing was written. {cache_hint}")
    return Game.from_function(members, values.savings, kind="profit")


def _large_rule(rule, members, savings, standalone, values: CoalitionValues,
                oracle: PlanningOracle, rel_tol, abs_tol, max_coalitions, seed, confidence,
                progress: Progress, closed_form):
    """(method, allocation, error bounds, complete) for a rule beyond exact enumeration."""
    if rule == "shapley":
        # the LP relaxation of each coalition as a control variate (planner.sharing.relaxed):
        # on the county a third to a half of the solver time of plain stratified sampling for
        # the same interval (benchmarks/README.md, bench_shapley_cv.py)
        with progress.phase("sampling Shapley", max_coalitions):
            try:
                estimate = control_variate_shapley(
                    members, values.savings_many, LPValues(values).savings_many,
                    rel_tol=rel_tol,
                    abs_tol=(abs_tol if abs_tol is not None
                             else rel_tol * abs(savings) / len(members)),
                    max_evaluations=max_coalitions, confidence=confidence, seed=seed,
                    progress=progress)
            except TimeBudgetSpent:
                raise SharingTimeLimit(
                    "planner share: the time limit ran out before the first round of the "
                    "Shapley sample (the coalitions of 1, 2, n-2 and n-1 members with their LP "
                    "relaxations, and two samples a stratum); nothing was written. Give more "
                    "time, or run again with a cache to resume.") from None
        bounds = {"half_widths": estimate.half_widths, "evaluations": estimate.evaluations,
                  "samples": estimate.permutations, "converged": estimate.converged,
                  "confidence": confidence,
                  "lp_relaxations": estimate.control_evaluations,
                  "lp_samples": estimate.control_samples}
        # strata are estimated apart, so the raw estimates miss v(N) by a sampling error; it is
        # spread in proportion to each member's variance (exact members keep their value)
        bounds["raw_estimates"] = estimate.estimates
        return (f"stratified sampling, LP relaxation as control variate, "
                f"{100 * confidence:g}% intervals",
                efficient_estimates(estimate, savings), bounds,
                estimate.converged or not oracle.deadline.reached)
    singletons = {m: 0.0 for m in members}   # v({m}) = 0 in a savings game
    if rule in ("nucleolus", "least-core"):
        solver = (game_core.nucleolus_by_generation if rule == "nucleolus"
                  else game_core.least_core_by_generation)
        with progress.phase(f"{rule} by constraint generation", None, unit="solve"):
            try:
                result = solver(members, savings, oracle, singletons, kind="profit",
                                value=values.savings)
            except TimeBudgetSpent as stop:
                return _stopped_generation(rule, oracle, stop)
        return "constraint generation (separation MILP)", result.allocation, None, True
    if rule == "equal-split":
        return "closed form", {m: savings / len(members) for m in members}, None, True
    if rule in MODEL_RULES:
        return ("LP duality (Owen 1975) scaled to C(N)", closed_form(rule), None, True)
    if rule in WEIGHT_RULES:
        return "closed form", closed_form(rule), None, True
    raise ValueError(f"rule {rule!r} needs exact enumeration (at most the exact limit of members)")


def _stopped_generation(rule: str, oracle: PlanningOracle, stop: TimeBudgetSpent):
    """A generation run cut short by --max-separations or --time-limit: the allocation with
    the smallest proven largest excess that a separation MILP met (oracle.best), flagged
    incomplete; error bounds carry that bound. Nothing to stand behind: SharingTimeLimit."""
    if oracle.best is None:
        raise SharingTimeLimit(
            f"planner share: the {rule} by constraint generation stopped before any separation "
            f"MILP could certify an allocation ({stop}); nothing was written. Give more time "
            "(--time-limit) or more MILPs (--max-separations); a cache (--cache) keeps the "
            "coalitions solved for the next run.")
    bound, allocation = oracle.best
    method = (f"constraint generation stopped ({stop}): not the {rule}, the allocation with the "
              "smallest proven largest excess met")
    return method, dict(allocation), {"stopped": str(stop), "max_excess_bound": bound}, False


def _core_check(members, savings, allocation, oracle: PlanningOracle, default: bool,
                method: str, complete: bool, bar: Progress):
    """The core check of a large game's allocation by separation MILPs, and the default rule's
    move to the nearest core allocation when it is blocked: (report, nearest, the rule's own
    allocation when moved, the allocation, method, complete)."""
    rule_allocation = None
    try:
        with bar.phase("core check (separation MILPs)", None, unit="solve"):
            report, nearest = _core_by_generation(members, savings, allocation, oracle,
                                                  repair=True)
            if default and report["in_core"] is False and nearest is not None \
                    and report["core_empty"] is False:
                rule_allocation, allocation = dict(allocation), nearest
                method += "; moved to the nearest core allocation"
                report = _adjusted_report(report, members, allocation, oracle)
        complete = complete and "repair" not in report
    except TimeBudgetSpent as stop:
        complete = False
        report = {"in_core": None, "core_empty": None, "least_core_epsilon": None,
                  "blocking": [], "max_excess": None, "max_excess_bound": None,
                  "separation_status": f"not run: {stop}"}
        nearest = None
    return report, nearest, rule_allocation, allocation, method, complete


def _stopped_report(oracle: PlanningOracle, allocation, bound: float) -> dict:
    """The core report a stopped generation run can certify without another MILP: in the core
    when the proven bound is within the tolerance; blocked when a coalition valued so far has an
    excess above it; otherwise open, with the bound."""
    return _proven_report(oracle.cached(allocation, frozenset(), oracle.tol)[:5], bound,
                          oracle.tol, "stopped")


def _proven_report(blocking: list, bound: float, tol: float, status: str) -> dict:
    """The core report of what is proven: `blocking` (coalition, excess) above the tolerance,
    most dissatisfied first, and the proven bound on the largest excess. In the core when the
    bound is within the tolerance, blocked when a coalition is, otherwise open."""
    in_core = True if bound <= tol else (False if blocking else None)
    return {"in_core": in_core, "core_empty": False if in_core else None,
            "least_core_epsilon": None,
            "blocking": [{"coalition": sorted(c), "excess": e} for c, e in blocking],
            "max_excess": blocking[0][1] if blocking else None,
            "max_excess_bound": bound, "separation_status": status}


def _core_by_generation(members, savings, allocation, oracle: PlanningOracle,
                        repair: bool) -> tuple[dict, dict | None]:
    """The core report of an allocation of a large game, certified by the separation MILP.

    in_core is True when the MILP proves no coalition's excess above the tolerance, False when
    it finds a blocking coalition (priced exactly), None when the time limit left the question
    open; `max_excess_bound` is the proven bound on the largest excess either way. With
    `repair`, the nearest core allocation (or, when the core is empty, the nearest least-core
    allocation) is found by constraint generation with the same oracle.
    """
    tol = oracle.tol
    # the coalitions without one member first: x_m <= v(N) - v(N \ m) are the core's upper
    # bounds, often its binding rows; n solves in parallel cost less than one MILP round
    full = frozenset(members)
    if not oracle.values.compute([full - {m} for m in members]):
        raise TimeBudgetSpent("the time budget ran out before the coalitions of n - 1 members")
    found, priced = oracle.probe(allocation)
    blocking = sorted(((c, e) for c, e in priced if e > tol),
                      key=lambda ce: (-ce[1], len(ce[0]), sorted(ce[0])))
    cached = oracle.cached(allocation, frozenset(), tol)
    blocking = sorted(dict(blocking + cached).items(),
                      key=lambda ce: (-ce[1], len(ce[0]), sorted(ce[0])))[:5]
    bound = max(found.bound, blocking[0][1] if blocking else -math.inf)
    report = _proven_report(blocking, bound, tol, found.status)
    in_core = report["in_core"]
    if in_core or not repair:
        return report, (dict(allocation) if in_core else None)
    try:
        return _repaired(members, savings, allocation, oracle, report)
    except TimeBudgetSpent as stop:   # what is certified stands; the repair is left undone
        report["repair"] = f"stopped: {stop}"
        return report, None


def _repaired(members, savings, allocation, oracle: PlanningOracle, report: dict):
    """The nearest core allocation to a blocked one, else the nearest least-core allocation."""
    tol, singletons = oracle.tol, {m: 0.0 for m in members}
    nearest = game_core.nearest_by_generation(members, savings, oracle, singletons, allocation,
                                              epsilon=0.0, value=oracle.values.savings,
                                              tol=GENERATION_TOL)
    if nearest is not None:
        report["core_empty"] = False
        return report, nearest
    least = game_core.least_core_by_generation(members, savings, oracle, singletons,
                                               kind="profit", value=oracle.values.savings,
                                               individually_rational=False, tol=GENERATION_TOL)
    report["core_empty"] = least.epsilon > tol
    report["least_core_epsilon"] = least.epsilon
    nearest = game_core.nearest_by_generation(members, savings, oracle, singletons, allocation,
                                              epsilon=max(least.epsilon, 0.0) + tol,
                                              value=oracle.values.savings, tol=GENERATION_TOL)
    return report, nearest


def _adjusted_report(rule_report: dict, members, allocation, oracle: PlanningOracle) -> dict:
    """The core report of the allocation paid out after the default rule's shares were moved
    into the core: the largest excess any coalition can have is proven by the last separation
    MILP at that allocation (the one that ended the generation; run again if it was not). The
    rule's own report is kept under `rule_in_core` and `rule_blocking`."""
    last = oracle.last
    if last is None or any(last[0][m] != allocation[m] for m in members):
        oracle.milp(allocation)
        last = oracle.last
        assert last is not None, "a separation MILP records its allocation and answer"
    bound = last[1].bound
    return {"in_core": True if bound <= oracle.tol else None, "core_empty": False,
            "least_core_epsilon": None, "blocking": [], "max_excess": None,
            "max_excess_bound": bound, "separation_status": last[1].status,
            "rule_in_core": rule_report["in_core"], "rule_blocking": rule_report["blocking"]}


def _check_invariants(table: pd.DataFrame, savings: float) -> None:
    """Transfers sum to zero to the cent; the allocation shares exactly v(N)."""
    if round(table["transfer"].sum(), 2) != 0.0:
        raise AssertionError(f"transfers sum to {table['transfer'].sum():.2f}, not 0")
    if not np.isclose(table["allocation"].sum(), savings, rtol=1e-6, atol=0.05):
        raise AssertionError(f"the allocation sums to {table['allocation'].sum():.2f}, "
                             f"not v(N) = {savings:.2f}")


def _open_executor(stack: ExitStack, executor, scheduler, workers):
    if executor is None and scheduler is not None:
        from distributed import Client  # lazy: dask (distributed) loads only with a scheduler
        client = stack.enter_context(Client(scheduler))
        executor = client.get_executor()
        workers = workers or max(1, len(client.scheduler_info()["workers"]))
    workers = workers or os.cpu_count() or 1
    if executor is None and workers > 1:
        executor = stack.enter_context(process_pool(workers))
    return executor, workers


# --- the entry point ----------------------------------------------------------------------------
def share(scenario: Scenario, rule: str | None = None, *, executor: Executor | None = None,
          scheduler: str | None = None, workers: int | None = None, exact_limit: int = 12,
          rel_tol: float = 0.01, abs_tol: float | None = None, max_coalitions: int = 2_000,
          seed: int = 0, confidence: float = 0.95, policy_member: str | None = None,
          policy_share: float = 0.6, progress: bool = False, time_limit: float | None = None,
          cache=None, milp_seconds: float = 120.0, max_separations: int = 60) -> Sharing:
    """Share the savings of the grand plan among the members with `rule`.

    Coalition solves run on `executor` (any concurrent.futures.Executor), else on a Dask
    cluster at `scheduler`, else on a local process pool of `workers` processes (default: the
    cores), or in this process when `workers == 1`. `cache`: a SQLite file or database URL
    where every coalition value is stored as soon as it is solved (a run interrupted or cut by
    `time_limit` resumes from it). `time_limit` (seconds): past it no new coalition is started;
    the result so far is returned with `complete = False` (sampling intervals and the core
    report then say how far it got), or SharingTimeLimit when nothing can be certified yet.
    Sampled Shapley stops when every member's interval half-width is within `rel_tol` of its
    own value or `abs_tol` (default: rel_tol x v(N) / n), or after `max_coalitions` solves.
    Beyond the exact limit at most `max_separations` separation MILPs run (each up to
    `milp_seconds`); a core repair that needs more is left undone and flagged.
    """
    members = list(scenario.members["member"])
    n = len(members)
    default = rule is None
    if rule is None:   # see DEFAULT_RULE and LARGE_DEFAULT_RULE
        limit = exact_limit if isinstance(exact_limit, int) else 0
        rule = DEFAULT_RULE if n <= limit else LARGE_DEFAULT_RULE
    _check_arguments(members, rule, workers, exact_limit, rel_tol, policy_member, policy_share,
                     confidence, abs_tol, max_coalitions, time_limit, milp_seconds,
                     max_separations)
    deadline, bar = Deadline(time_limit), Progress(progress)
    cache_hint = ("Run the same command again to resume: the coalitions solved are kept in "
                  f"{cache}." if cache is not None else
                  "Give a cache (--cache) to keep the coalitions solved for the next run.")
    with ExitStack() as stack:
        executor, workers = _open_executor(stack, executor, scheduler, workers)
        store = None
        if cache is not None:
            # lazy: the coalition store (SQLAlchemy) loads only with a cache
            from planner.sharing.store import CoalitionStore, game_key
            store = stack.enter_context(CoalitionStore.open(cache, game_key(scenario)))
        values = CoalitionValues(scenario, executor, workers, progress=bar, store=store,
                                 deadline=deadline)
        first = [frozenset(members)] + [frozenset([m]) for m in members]
        with bar.phase("grand plan and members alone", sum(c not in values.costs
                                                           for c in first)):
            if not values.compute(first):
                raise SharingTimeLimit("planner share: the time limit ran out before the grand "
                                       f"plan and the members' standalone plans. {cache_hint}")
        standalone = pd.Series({m: values.cost([m]) for m in members})
        grand = values.cost(members)
        savings = float(standalone.sum() - grand)
        local = values.local_model()
        plan = local.plan(members)
        borne_table = borne_costs(plan, local.inputs)
        borne = borne_table["total"]
        by_term = savings_by_term({m: dict(values.costs[frozenset([m])].terms) for m in members},
                                  dict(values.costs[frozenset(members)].terms))
        oracle = PlanningOracle(values, standalone, savings, deadline, milp_seconds, bar,
                                max_separations)

        def closed_form(name: str) -> dict:
            if name == "lp-duality":
                return _lp_duality_allocation(local, standalone, grand)
            weights = _weights(name, scenario, plan, standalone, borne, policy_member)
            return _weight_allocation(name, savings, weights, policy_member,
                                      policy_share).to_dict()

        error_bounds, complete, rule_allocation = None, True, None
        if n <= exact_limit:
            method = "exact enumeration"
            game = _enumerated(values, members, bar, cache_hint)
            allocation = _exact_rule(rule, game, closed_form)
            report = game_core.core_report(game, allocation).to_dict()
            nearest = (game_core.nearest_core_allocation(game, allocation)
                       if not report["core_empty"]
                       else game_core.nearest_least_core_allocation(game, allocation))
        else:
            method, allocation, error_bounds, complete = _large_rule(
                rule, members, savings, standalone, values, oracle, rel_tol, abs_tol,
                max_coalitions, seed, confidence, bar, closed_form)
            if error_bounds is not None and "stopped" in error_bounds:
                # the budget is spent: the core report is what the MILPs already proved
                report = _stopped_report(oracle, allocation, error_bounds["max_excess_bound"])
                nearest = None
            else:
                report, nearest, rule_allocation, allocation, method, complete = _core_check(
                    members, savings, allocation, oracle, default, method, complete, bar)
    allocation = pd.Series(allocation).reindex(members)
    names = scenario.members.set_index("member")["name"] \
        if "name" in scenario.members else None
    table = transfers(standalone, borne, allocation, names, scenario.settings.currency)
    _check_invariants(table, savings)
    fund: dict | None = None
    fund_flags: list[dict] = []
    if scenario.settings.fund is not None:
        table, fund, fund_flags = _fund_split(scenario, local, plan, table, allocation)
    budgets = scenario.members.set_index("member")["budget_contribution"] \
        if "budget_contribution" in scenario.members else pd.Series(dtype=float)
    all_values = {k: (math.fsum(standalone[m] for m in k) - c.cost)
                  for k, c in values.costs.items()}
    stats = {"coalitions": len(values.costs), "solved_this_run": values.solved,
             "milp_calls": oracle.milp_calls, "milp_seconds": oracle.milp_time,
             "seconds": deadline.elapsed(), "workers": workers}
    return Sharing(scenario.name, rule, method, scenario.settings.currency, standalone, grand,
                   savings, allocation, report, nearest, table, borne_table, all_values,
                   error_bounds, by_term, transfer_flags(table, budgets) + fund_flags,
                   rule_allocation, rule_allocation is not None,
                   complete and not deadline.reached, stats, fund)


def _core_line(sharing: Sharing) -> str:
    core = sharing.core
    if core["in_core"] is None:
        bound = core.get("max_excess_bound")
        return ("In the core: not certified (the time limit stopped the check"
                + (f"; no coalition gains more than {bound / 1e6:,.3f} M by leaving)"
                   if bound is not None and math.isfinite(bound) else ")"))
    text = f"In the core: {'yes' if core['in_core'] else 'no'}"
    bound = core.get("max_excess_bound")
    if core["in_core"] and bound is not None:
        text += (f" (certified: the separation MILP proves no coalition gains more than "
                 f"{max(bound, 0.0) / 1e6:,.3f} M a year by leaving)")
    if core["in_core"] is False:
        worst = core["blocking"][0]
        text += (f" (blocked by {len(core['blocking'])} coalition(s); most dissatisfied: "
                 f"{', '.join(worst['coalition'])} by {worst['excess'] / 1e6:,.3f} M)")
    if core.get("core_empty"):
        epsilon = core["least_core_epsilon"] / 1e6
        text += f"; the core is EMPTY (least-core epsilon {epsilon:,.3f} M)"
    return text


def sharing_summary(sharing: Sharing) -> str:
    m = 1e6
    lines = [f"Scenario: {sharing.scenario}",
             f"Rule: {sharing.rule} ({sharing.method})",
             f"Standalone costs: {sharing.standalone.sum() / m:,.2f} M {sharing.currency}; "
             f"grand plan: {sharing.grand_cost / m:,.2f} M; savings to share: "
             f"{sharing.savings / m:,.2f} M a year",
             _core_line(sharing)]
    if sharing.savings_by_term is not None:
        shown = [(term_words(r.term), r.savings) for r in sharing.savings_by_term.itertuples()
                 if abs(r.savings) >= 5e3]
        width = max((len(words) for words, _ in shown), default=0)
        lines.append(f"Where the savings come from (M {sharing.currency} a year):")
        lines += [f"  {words:<{width}}  {savings / m:>8,.2f}" for words, savings in shown]
    lines += sharing.statements()
    if sharing.error_bounds and "half_widths" in sharing.error_bounds:
        b = sharing.error_bounds
        worst = max(b["half_widths"].values())
        lines.append(f"Sampling: {b['evaluations']:,} coalitions valued; widest half-width "
                     f"{worst / m:,.3f} M {sharing.currency}"
                     + ("" if b["converged"] else " (the tolerance was NOT reached)"))
    for flag in sharing.flags:
        lines.append(f"Check: {flag['text']} {sharing.currency}.")
    if not sharing.complete:
        lines.append("INCOMPLETE: the time limit (or --max-separations) cut this run short; "
                     "the figures above are the best certified so far.")
    return "\n".join(lines)


__all__ = ["Sharing", "share", "RULES", "DEFAULT_RULE", "LARGE_DEFAULT_RULE", "sharing_summary",
           "PlanningOracle", "SharingTimeLimit", "SharingArgumentError"]

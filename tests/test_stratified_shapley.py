"""Stratified Shapley sampling (planner.games.sampling.stratified_shapley) against exact values.

References: the exact Shapley value by enumeration (planner.games.rules.shapley, O(n 2^n)), the
Littlechild-Owen closed form for airport games (Management Science 20, 1973), and the
Shapley-Shubik index of the UN Security Council (5 permanent members of weight 7, 10 others of
weight 1, quota 39), written out in `test_all_strata_exact_is_the_exact_shapley_value`.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

from planner.games.game import CoalitionValues, Game, GameError, popcounts, subset_sums
from planner.games.rules import shapley
from planner.games.sampling import ShapleyEstimate, efficient_estimates, stratified_shapley
from planner.progress import TimeBudgetSpent

# --- games ---------------------------------------------------------------------------------------


def names(n: int) -> tuple[str, ...]:
    return tuple(f"M{i:02d}" for i in range(n))


def table_game(table: np.ndarray) -> Game:
    """A profit game from its mask-indexed value array (table[0] = 0)."""
    n = int(len(table)).bit_length() - 1
    players = names(n)
    return Game(players, "profit", CoalitionValues(players, np.asarray(table, dtype=float)))


def exact_vector(game: Game) -> np.ndarray:
    values = shapley(game)
    return np.array([values[p] for p in game.players])


def facility_savings(n: int, seed: int, fixed: float = 60.0) -> np.ndarray:
    """Members at random sites each run a facility alone (cost `fixed`); a coalition shares one
    facility at its best member's site and pays the weighted travel of its members to it:
    v(S) = (|S| - 1) * fixed - min_{j in S} sum_{i in S} w_i d_ij (a 1-median savings game)."""
    rng = np.random.default_rng(seed)
    sites, weights = rng.uniform(0, 10, (n, 2)), rng.uniform(1, 3, n)
    distance = np.linalg.norm(sites[:, None] - sites[None], axis=2)
    masks = np.arange(1 << n)
    cost = np.full(1 << n, np.inf)
    for j in range(n):
        cost = np.where(masks >> j & 1, np.minimum(cost, subset_sums(weights * distance[:, j])),
                        cost)
    cost[0] = 0.0
    savings = (popcounts(n) - 1) * fixed - cost
    savings[0] = 0.0
    return savings


def sqrt_savings(n: int, seed: int) -> np.ndarray:
    """A shared facility whose cost grows as the square root of the load it serves:
    v(S) = 100 * (sum_{i in S} sqrt(b_i) - sqrt(sum_{i in S} b_i)) (concave cost, smooth)."""
    load = np.random.default_rng(seed).uniform(1, 10, n)
    return 100 * (subset_sums(np.sqrt(load)) - np.sqrt(subset_sums(load)))


def airport(costs: list[float]) -> np.ndarray:
    """c(S) = max_{i in S} c_i (a runway long enough for the largest plane)."""
    masks = np.arange(1 << len(costs))
    table = np.zeros(1 << len(costs))
    for i, c in enumerate(costs):
        table = np.where(masks >> i & 1, np.maximum(table, c), table)
    return table


def littlechild_owen(costs: list[float]) -> np.ndarray:
    """Airport Shapley value: with c_(1) <= ... <= c_(n), the j-th runway segment
    c_(j) - c_(j-1) is split equally among the n - j + 1 players needing it."""
    order = np.argsort(costs, kind="stable")
    sorted_costs = np.concatenate(([0.0], np.asarray(costs)[order]))
    n = len(costs)
    shares = np.cumsum([(sorted_costs[j] - sorted_costs[j - 1]) / (n - j + 1)
                        for j in range(1, n + 1)])
    out = np.empty(n)
    out[order] = shares
    return out


def random_game(n: int, seed: int) -> np.ndarray:
    sizes = popcounts(n)
    table = sizes ** 1.5 + np.random.default_rng(seed).uniform(0, 1, 1 << n) * sizes
    table[0] = 0.0
    return table


class Recorder:
    """A batch evaluator over a value table that records every call; optionally raises
    TimeBudgetSpent on call number `fail_on` (1-based), as the planner's evaluator does."""

    def __init__(self, players: tuple[str, ...], table: np.ndarray, fail_on: int | None = None):
        self.index = {p: i for i, p in enumerate(players)}
        self.table = table
        self.fail_on = fail_on
        self.calls: list[list[frozenset[str]]] = []

    def __call__(self, coalitions: list[frozenset[str]]) -> list[float]:
        self.calls.append(list(coalitions))
        if self.fail_on is not None and len(self.calls) == self.fail_on:
            raise TimeBudgetSpent("time budget spent")
        return [float(self.table[sum(1 << self.index[p] for p in c)]) for c in coalitions]

    @property
    def asked(self) -> list[frozenset[str]]:
        return [c for call in self.calls for c in call]


def run(table: np.ndarray, **options) -> tuple[ShapleyEstimate, Recorder]:
    n = int(len(table)).bit_length() - 1
    recorder = Recorder(names(n), table, options.pop("fail_on", None))
    return stratified_shapley(names(n), recorder, **options), recorder


def vectors(estimate: ShapleyEstimate) -> tuple[np.ndarray, np.ndarray]:
    return (np.array(list(estimate.estimates.values())),
            np.array(list(estimate.half_widths.values())))


# --- 1. exact strata ------------------------------------------------------------------------------

UNSC = ("US", "UK", "FR", "RU", "CN") + tuple(f"E{i}" for i in range(10))


def unsc_values(coalitions: list[frozenset[str]]) -> list[float]:
    return [float(sum(7 if p in UNSC[:5] else 1 for p in c) >= 39) for c in coalitions]


def test_all_strata_exact_is_the_exact_shapley_value():
    # Airport game, 9 players: the Littlechild-Owen closed form.
    costs = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.5, 5.5]
    estimate, recorder = run(airport(costs), exact_strata=5)
    got, half = vectors(estimate)
    np.testing.assert_allclose(got, littlechild_owen(costs), rtol=0, atol=1e-9)
    assert estimate.converged and not half.any() and estimate.permutations == 0
    assert estimate.evaluations == 2 ** 9 - 1 == len(recorder.asked) and len(recorder.calls) == 1
    # Random 10-player game: enumeration.
    table = random_game(10, seed=3)
    estimate, _ = run(table, exact_strata=5)
    np.testing.assert_allclose(vectors(estimate)[0], exact_vector(table_game(table)), atol=1e-9)
    # UN Security Council: an elected member is pivotal exactly when it joins the 5 permanent
    # members and 3 of the 9 other elected ones as the 9th of 15: phi = C(9,3) 8! 6! / 15!
    # = 4/2145 = 0.001865; a permanent member gets (1 - 10 phi) / 5 = 0.1963 (the published
    # Shapley-Shubik indices 0.1963 and 0.0019).
    elected = Fraction(math.comb(9, 3) * math.factorial(8) * math.factorial(6),
                       math.factorial(15))
    estimate = stratified_shapley(UNSC, unsc_values, exact_strata=8)
    assert estimate.estimates["US"] == pytest.approx(float((1 - 10 * elected) / 5), abs=1e-12)
    assert estimate.estimates["E3"] == pytest.approx(float(elected), abs=1e-12)
    assert round(estimate.estimates["CN"], 4) == 0.1963 and round(estimate.estimates["E0"], 4) == \
        0.0019


@pytest.mark.parametrize("n, exact_strata", [(1, 0), (1, 2), (2, 1), (5, 2), (7, 3)])
def test_small_games_are_exact_whatever_the_strata(n, exact_strata):
    """2 * exact_strata >= n, or n = 2 * exact_strata + 1 (the middle level's two sizes are
    both valued anyway), or n = 1: nothing is left to sample."""
    table = random_game(n, seed=n)
    estimate, _ = run(table, exact_strata=exact_strata)
    np.testing.assert_allclose(vectors(estimate)[0], exact_vector(table_game(table)), atol=1e-9)
    assert estimate.permutations == 0 and estimate.converged


def test_exact_strata_values_are_exact_and_only_the_middle_is_sampled():
    """n = 10, exact_strata = 4: every coalition but those of 5 members is valued in the first
    batch, and only the levels 4 and 5 (|S| = 4 or 5, whose pairs need coalitions of 5) are
    sampled; the estimate is within its intervals of the exact value."""
    table = facility_savings(10, seed=1)
    estimate, recorder = run(table, exact_strata=4, rel_tol=0.01, seed=2)
    sizes = {len(c) for c in recorder.asked}
    assert sizes == set(range(1, 11))
    first = recorder.calls[0]
    assert sum(1 for c in first if len(c) != 5) == 2 ** 10 - 1 - math.comb(10, 5)
    got, half = vectors(estimate)
    exact = exact_vector(table_game(table))
    assert estimate.converged and estimate.evaluations < 2 ** 10 - 1
    assert np.all(np.abs(got - exact) <= 2 * half)


# --- 2. coverage ----------------------------------------------------------------------------------

@pytest.mark.parametrize("table, options, seeds", [
    (facility_savings(10, seed=5), {"rel_tol": 0.0, "max_evaluations": 300}, 200),
    (random_game(10, seed=8), {"rel_tol": 0.0, "max_evaluations": 300}, 200),
    # rarely non-zero contributions, stopped by the tolerance (the hard case)
    (airport([2.5, 7.0, 3.0, 9.5, 1.0, 4.5, 6.0, 8.0, 5.0, 3.5]),
     {"rel_tol": 0.02, "max_evaluations": 1023}, 100),
])
def test_intervals_cover_the_exact_value_at_the_nominal_rate(table, options, seeds):
    exact = exact_vector(table_game(table))
    hits, hits_at_half = [], []
    for seed in range(seeds):
        estimate, _ = run(table, seed=seed, **options)
        got, half = vectors(estimate)
        hits.append(np.abs(got - exact) <= half + 1e-12)
        hits_at_half.append(np.abs(got - exact) <= half / 2 + 1e-12)
    coverage = np.mean(hits, axis=0)
    assert coverage.mean() >= 0.90 and coverage.min() >= 0.82, coverage
    # and the intervals are not merely wide: half of them covers far less often
    assert np.mean(hits_at_half) <= 0.85


# --- 3. accuracy --------------------------------------------------------------------------------

def test_a_tighter_tolerance_costs_more_coalitions_and_meets_it():
    """16 members, facility location: at each tolerance every member's half-width is within its
    own share's tolerance, and the error against enumeration is within twice that (a 3.9 sigma
    band: all 16 members pass with overwhelming probability for a correct interval)."""
    table = facility_savings(16, seed=2)
    exact = exact_vector(table_game(table))
    used = []
    for rel_tol in (0.05, 0.02, 0.005):
        estimate, _ = run(table, rel_tol=rel_tol, seed=1)
        got, half = vectors(estimate)
        assert estimate.converged
        assert np.all(half <= rel_tol * np.abs(got))           # each relative to its own share
        assert np.all(np.abs(got - exact) <= 2 * rel_tol * np.abs(exact))
        used.append(estimate.evaluations)
    assert used[0] < used[1] < used[2] < 2 ** 16 - 1


def test_a_member_worth_nothing_needs_an_absolute_tolerance():
    """Z adds +1 when A is in the coalition and -1 otherwise: Sh_Z = 0 exactly while its
    contributions vary, so no relative tolerance can be met; abs_tol ends sampling."""
    n = 8
    players = names(n)
    masks = np.arange(1 << n)
    base = sqrt_savings(n, seed=4)
    z_in, a_in = (masks >> 7 & 1).astype(bool), (masks >> 0 & 1).astype(bool)
    table = base + np.where(z_in, np.where(a_in, 1.0, -1.0), 0.0)
    table -= np.where(z_in, base - base[masks & ~(1 << 7)], 0.0)   # Z adds nothing else
    exact = exact_vector(table_game(table))
    assert exact[7] == pytest.approx(0.0, abs=1e-12)
    stuck, _ = run(table, rel_tol=0.05, max_evaluations=120, exact_strata=1)
    assert not stuck.converged and stuck.evaluations <= 120
    done, _ = run(table, rel_tol=0.05, abs_tol=0.5, exact_strata=1)
    assert done.converged and done.half_widths[players[7]] <= 0.5
    assert done.evaluations < 2 ** n - 1


# --- 4. batches -----------------------------------------------------------------------------------

def test_coalitions_come_in_batches_never_twice_never_empty():
    n = 12
    table = facility_savings(n, seed=3)
    estimate, recorder = run(table, rel_tol=0.01, seed=4)
    asked = recorder.asked
    assert frozenset() not in asked
    assert len(set(asked)) == len(asked) == estimate.evaluations
    assert all(isinstance(c, frozenset) and c <= set(names(n)) for c in asked)
    assert len(recorder.calls) == estimate.rounds >= 2      # one call per round
    exact_sizes = [c for s in (1, 2, n - 2, n - 1, n)
                   for c in itertools.combinations(names(n), s)]
    assert {frozenset(c) for c in exact_sizes} <= set(recorder.calls[0])
    assert len(recorder.calls[0]) > len(exact_sizes)        # the pilot rides along
    # a budget: the first round always, later rounds cut so the total stays within it
    limited, recorder = run(table, rel_tol=0.001, max_evaluations=len(recorder.calls[0]) + 150,
                            seed=4)
    assert not limited.converged
    assert len(recorder.asked) == limited.evaluations <= len(recorder.calls[0]) + 150


def test_a_wrong_or_unusable_evaluator_is_reported():
    with pytest.raises(GameError, match="2 values for 7 coalitions"):
        stratified_shapley("ABC", lambda cs: [1.0, 2.0])
    with pytest.raises(GameError, match="finite"):
        stratified_shapley("ABC", lambda cs: [math.nan] * len(cs))
    with pytest.raises(GameError, match="distinct"):
        stratified_shapley("ABA", lambda cs: [1.0] * len(cs))
    with pytest.raises(GameError, match="pilot"):
        stratified_shapley("ABC", lambda cs: [1.0] * len(cs), pilot=1)


# --- 5. time budget -------------------------------------------------------------------------------

def test_a_spent_time_budget_keeps_the_rounds_already_valued():
    table = facility_savings(12, seed=6)
    interrupted, recorder = run(table, rel_tol=0.002, seed=9, fail_on=3)
    assert not interrupted.converged and interrupted.rounds == 2
    valued = len(recorder.calls[0]) + len(recorder.calls[1])
    assert interrupted.evaluations == valued
    # the same two rounds, stopped by a budget of exactly their size instead: same estimate
    limited, _ = run(table, rel_tol=0.002, seed=9, max_evaluations=valued)
    assert limited == interrupted
    got, half = vectors(interrupted)
    assert np.all(np.isfinite(half)) and np.all(np.abs(got - exact_vector(table_game(table)))
                                                 <= 2 * half)


def test_a_time_budget_spent_before_the_exact_strata_is_raised():
    with pytest.raises(TimeBudgetSpent):
        run(facility_savings(8, seed=1), fail_on=1)


# --- 6. determinism -------------------------------------------------------------------------------

def test_the_same_seed_gives_the_same_estimate():
    table = facility_savings(11, seed=7)
    first, _ = run(table, seed=13, rel_tol=0.01)
    again, _ = run(table, seed=13, rel_tol=0.01)
    assert first == again
    assert run(table, seed=np.random.default_rng(13), rel_tol=0.01)[0] == first
    assert run(table, seed=14, rel_tol=0.01)[0] != first


SCRIPT = """
import numpy as np
from planner.games.sampling import stratified_shapley
from planner.games.game import subset_sums
players = ["north", "south", "east", "west", "centre", "lake", "hill", "port", "mill"]
sizes = np.arange(1.0, 10.0)
table = 50 * (subset_sums(np.sqrt(sizes)) - np.sqrt(subset_sums(sizes)))
index = {p: i for i, p in enumerate(players)}
values = lambda cs: [float(table[sum(1 << index[p] for p in c)]) for c in cs]
print(repr(stratified_shapley(players, values, seed=5, rel_tol=0.005)))
"""


def test_the_result_does_not_depend_on_the_hash_seed():
    outputs = {subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                              check=True, env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
               for seed in ("1", "2")}
    assert len(outputs) == 1 and "stratified" in outputs.pop()


# --- 7. what an 18-member county costs ------------------------------------------------------------

@pytest.mark.parametrize("label, table", [
    ("sqrt-cost shared facility", sqrt_savings(18, seed=0)),
    ("1-median facility location", facility_savings(18, seed=1)),
])
def test_eighteen_members_at_one_percent(label, table):
    """18 members, rel_tol 0.01: the number of coalitions valued (one MILP each in the planner,
    about 4.6 per second on 2 processes) is printed (pytest -s); a smooth game needs a couple
    of thousand of the 262,143."""
    estimate, recorder = run(table, rel_tol=0.01, seed=0)
    got, half = vectors(estimate)
    exact = exact_vector(table_game(table))
    print(f"\n{label}: {estimate.evaluations} coalitions in {estimate.rounds} batches "
          f"{[len(c) for c in recorder.calls]}, {estimate.permutations} sampled contributions, "
          f"max error {np.max(np.abs(got - exact) / np.abs(exact)):.2%}, "
          f"~{estimate.evaluations / 4.6 / 60:.0f} min of solves")
    assert estimate.converged and estimate.evaluations < 5_000 < 20_000
    assert np.all(half <= 0.01 * np.abs(got))
    assert np.all(np.abs(got - exact) <= 0.02 * np.abs(exact))


# --- helpers around the estimate ------------------------------------------------------------------

def test_efficient_estimates_close_the_gap_on_the_uncertain_members():
    table = facility_savings(12, seed=8)
    estimate, _ = run(table, rel_tol=0.02, seed=3)
    adjusted = efficient_estimates(estimate, float(table[-1]))
    assert math.fsum(adjusted.values()) == pytest.approx(table[-1], rel=1e-12)
    widths = np.array(list(estimate.half_widths.values()))
    moved = np.array([adjusted[p] - estimate.estimates[p] for p in estimate.estimates])
    gap = table[-1] - math.fsum(estimate.estimates.values())
    np.testing.assert_allclose(moved, gap * widths ** 2 / np.sum(widths ** 2), atol=1e-9)
    exact_game, _ = run(table, exact_strata=6)               # exact: nothing to move
    assert efficient_estimates(exact_game, float(table[-1])) == pytest.approx(
        exact_game.estimates, abs=1e-9)


def test_progress_hears_the_widest_interval_each_round():
    class Notes:
        def __init__(self):
            self.texts: list[str] = []

        def note(self, text: str) -> None:
            self.texts.append(text)

        def advance(self, k: int = 1) -> None:  # the evaluator's job, never called here
            raise AssertionError("advance is the evaluator's")

    notes = Notes()
    estimate, _ = run(facility_savings(10, seed=2), rel_tol=0.02, progress=notes)
    assert len(notes.texts) == estimate.rounds and all("%" in t for t in notes.texts)

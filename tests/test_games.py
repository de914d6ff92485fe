"""Cooperative games against published values, hand derivations and brute force.

Each expected value names its source: a publication, or a derivation written out next to it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helpers import brute_force_oracle
from planner.games import (
    Game,
    GameError,
    banzhaf,
    banzhaf_raw,
    core_report,
    enumeration_oracle,
    equal_split,
    least_core,
    least_core_by_generation,
    least_core_epsilon,
    load_game,
    load_game_file,
    nearest_core_allocation,
    nearest_least_core_allocation,
    nucleolus,
    nucleolus_by_generation,
    nucleolus_solution,
    policy_share,
    prenucleolus,
    proportional,
    sample_shapley,
    shapley,
    weighted,
)
from planner.games.cli import game as game_command

DATA = Path(__file__).parent / "data" / "games"


def approx(expected: dict, rel: float = 1e-9, abs_: float = 1e-9):
    return pytest.approx({k: float(v) for k, v in expected.items()}, rel=rel, abs=abs_)


def exact_shapley(players, v) -> dict[str, Fraction]:
    """The Shapley value as the mean marginal contribution over all n! orders, in fractions."""
    totals = {p: Fraction(0) for p in players}
    orders = list(itertools.permutations(players))
    for order in orders:
        before: set[str] = set()
        for p in order:
            totals[p] += Fraction(v(frozenset(before | {p}))) - Fraction(v(frozenset(before)))
            before.add(p)
    return {p: t / len(orders) for p, t in totals.items()}


def bankruptcy(estate: float, claims: dict[str, float]) -> Game:
    """O'Neill's bankruptcy game: v(S) = max(0, E - claims of the others)."""
    total = sum(claims.values())
    return Game.from_function(
        tuple(claims), lambda s: max(0.0, estate - (total - sum(claims[p] for p in s))))


def weighted_majority(quota: int, weights: dict[str, int]) -> Game:
    return Game.from_function(tuple(weights),
                              lambda s: 1.0 if sum(weights[p] for p in s) >= quota else 0.0)


# --- the docs/design.md example -------------------------------------------------------------------

def test_design_example_shapley():
    # Hand: phi_i = v(i)/3 + (v(ij) - v(j))/6 + (v(ik) - v(k))/6 + (v(N) - v(jk))/3
    #   phi_A = 0 + 4/6 + 5/6 + (12 - 6)/3 = 3.5;  phi_B = 4/6 + 6/6 + 7/3 = 4;
    #   phi_C = 5/6 + 6/6 + 8/3 = 4.5 (sum 12).
    game = load_game(DATA / "design_example.json")
    assert shapley(game) == approx({"A": 3.5, "B": 4, "C": 4.5})
    assert exact_shapley(game.players, lambda s: game.value(s) if s else 0) == {
        "A": Fraction(7, 2), "B": 4, "C": Fraction(9, 2)}


def test_design_example_nucleolus_banzhaf_and_core():
    # Hand: pair excesses are x_C - 8, x_B - 7, x_A - 6 and sum to -9, so eps* = -3 with all
    # three tight: the nucleolus (and prenucleolus) is (3, 4, 5).
    game = load_game(DATA / "design_example.json")
    assert nucleolus(game) == approx({"A": 3, "B": 4, "C": 5})
    assert prenucleolus(game) == approx({"A": 3, "B": 4, "C": 5})
    assert least_core_epsilon(game) == pytest.approx(-3)
    # Hand: raw Banzhaf = (0+4+5+6)/4, (0+4+6+7)/4, (0+5+6+8)/4 = 15/4, 17/4, 19/4; scaled to 12.
    assert banzhaf_raw(game) == approx({"A": 15 / 4, "B": 17 / 4, "C": 19 / 4})
    assert banzhaf(game) == approx({"A": 12 * 15 / 51, "B": 4, "C": 12 * 19 / 51})
    report = core_report(game, shapley(game))
    assert report.in_core and not report.core_empty and report.blocking == ()
    assert report.max_excess == pytest.approx(-2.5)  # A,B: 4 - 7.5, B,C: 6 - 8.5, A,C: 5 - 8


def test_nearest_core_allocation_is_an_l1_projection():
    # (12, 0, 0) is blocked by {B,C} (excess 6). A core point has x_A <= 6 (from x_B + x_C >= 6),
    # so its L1 distance to (12, 0, 0) is (12 - x_A) + (x_B + x_C) = 24 - 2 x_A >= 12.
    game = load_game(DATA / "design_example.json")
    start = {"A": 12.0, "B": 0.0, "C": 0.0}
    report = core_report(game, start)
    assert not report.in_core
    assert [(b.coalition, b.excess) for b in report.blocking] == [(("B", "C"), 6.0)]
    near = nearest_core_allocation(game, start)
    assert core_report(game, near).in_core
    assert sum(abs(near[p] - start[p]) for p in start) == pytest.approx(12)
    assert near["A"] == pytest.approx(6)


# --- bankruptcy games: Aumann & Maschler (1985), the Talmud rule ----------------------------------

@pytest.mark.parametrize("estate, expected", [
    # Aumann & Maschler, "Game theoretic analysis of a bankruptcy problem from the Talmud",
    # J. Economic Theory 36 (1985): claims 100, 200, 300; the nucleolus is the Talmud's division.
    (100, {"1": 100 / 3, "2": 100 / 3, "3": 100 / 3}),
    (200, {"1": 50, "2": 75, "3": 75}),
    (300, {"1": 50, "2": 100, "3": 150}),
])
def test_bankruptcy_nucleolus_is_the_talmud_rule(estate, expected):
    game = bankruptcy(estate, {"1": 100, "2": 200, "3": 300})
    assert nucleolus(game) == approx(expected, rel=1e-8)
    assert prenucleolus(game) == approx(expected, rel=1e-8)  # bankruptcy games are convex
    assert core_report(game, expected).in_core


def test_bankruptcy_nucleolus_by_generation_with_brute_force_oracle():
    game = bankruptcy(200, {"1": 100, "2": 200, "3": 300})
    single = {p: game.value([p]) for p in game.players}
    found = nucleolus_by_generation(game.players, game.grand, brute_force_oracle(game), single)
    assert found.allocation == approx({"1": 50, "2": 75, "3": 75}, rel=1e-8)
    assert found.epsilons[0] == pytest.approx(least_core(game).epsilon)
    priced = nucleolus_by_generation(game.players, game.grand, brute_force_oracle(game), single,
                                     value=game.value)
    assert priced.allocation == approx(found.allocation, rel=1e-8)


# --- airport game: Littlechild & Owen (1973) --------------------------------------------------

def test_airport_shapley_is_sequential_equal_sharing():
    # Littlechild & Owen, Management Science 20 (1973): the Shapley value splits each runway
    # segment equally among the planes that use it: 1/3; 1/3 + 1/2 = 5/6; 5/6 + 1 = 11/6.
    game = load_game(DATA / "airport_cost.json")
    assert game.kind == "cost"
    expected = {"P1": 1 / 3, "P2": 5 / 6, "P3": 11 / 6}
    assert shapley(game) == approx(expected)
    exact = exact_shapley(game.players, lambda s: max((int(p[1]) for p in s), default=0))
    assert exact == {"P1": Fraction(1, 3), "P2": Fraction(5, 6), "P3": Fraction(11, 6)}
    report = core_report(game, expected)  # cost core: x(S) <= c(S); airport games are concave
    assert report.in_core and report.efficient


def test_airport_nucleolus_and_cost_excess():
    # Hand: max excess x(S) - c(S) is attained by {P1} (x1 - 1) and {P2,P3} (-x1): x1 = 1/2;
    # next {P1,P2} (x2 - 3/2) and {P1,P3} (-x2): x2 = 3/4; x3 = 3 - 5/4 = 7/4.
    game = load_game(DATA / "airport_cost.json")
    assert nucleolus(game) == approx({"P1": 0.5, "P2": 0.75, "P3": 1.75})
    report = core_report(game, {"P1": 3.0, "P2": 0.0, "P3": 0.0})
    # e({P1}) = 3 - 1 = 2, e({P1,P2}) = 3 - 2 = 1, e({P1,P3}) = 3 - 3 = 0 (not blocking)
    assert [(b.coalition, b.excess) for b in report.blocking] == [(("P1",), 2.0),
                                                                   (("P1", "P2"), 1.0)]


def test_cost_game_rules_match_the_savings_game():
    # Shapley and nucleolus are covariant: cost share = standalone cost - share of the savings
    # game v(S) = sum of c({i}) - c(S).
    cost = load_game(DATA / "airport_cost.json")
    alone = {p: cost.value([p]) for p in cost.players}
    savings = Game.from_function(cost.players,
                                 lambda s: sum(alone[p] for p in s) - cost.value(s))
    for rule in (shapley, nucleolus, prenucleolus):
        assert rule(cost) == approx({p: alone[p] - x for p, x in rule(savings).items()})
    assert least_core(cost).epsilon == pytest.approx(least_core(savings).epsilon)


# --- glove game --------------------------------------------------------------------------------

def test_glove_game_core_is_one_point():
    # One left, two right gloves. A core x has x_L + x_Ri >= 1 and x_R2, x_R1 >= 0 with sum 1, so
    # x_R1 = x_R2 = 0: the core is {(1, 0, 0)} and eps* = 0. Shapley by hand: L is pivotal in the
    # 4 of 6 orders where it is not first: 2/3; each R: 1/6.
    game = load_game(DATA / "glove.json")
    assert shapley(game) == approx({"L": 2 / 3, "R1": 1 / 6, "R2": 1 / 6})
    assert nucleolus(game) == approx({"L": 1, "R1": 0, "R2": 0})
    assert least_core_epsilon(game) == pytest.approx(0, abs=1e-9)
    assert core_report(game, {"L": 1, "R1": 0, "R2": 0}).in_core
    report = core_report(game, shapley(game))
    assert not report.in_core and not report.core_empty
    assert [(b.coalition, b.excess) for b in report.blocking] == [
        (("L", "R1"), pytest.approx(1 / 6)), (("L", "R2"), pytest.approx(1 / 6))]
    assert nearest_core_allocation(game, shapley(game)) == approx({"L": 1, "R1": 0, "R2": 0})


# --- an empty core -------------------------------------------------------------------------------

def test_majority_game_has_an_empty_core_and_least_core_one_third():
    # v(S) = 1 for |S| >= 2: pairs need x_i + x_j >= 1 - eps, summing gives 2 >= 3 (1 - eps), so
    # eps* = 1/3, attained only at (1/3, 1/3, 1/3).
    game = load_game(DATA / "majority.json")
    third = {"A": 1 / 3, "B": 1 / 3, "C": 1 / 3}
    solution = least_core(game)
    assert solution.epsilon == pytest.approx(1 / 3)
    assert solution.allocation == approx(third)
    assert least_core_epsilon(game) == pytest.approx(1 / 3)
    report = core_report(game, equal_split(game))
    assert report.core_empty and not report.in_core
    assert len(report.blocking) == 3 and all(b.excess == pytest.approx(1 / 3)
                                             for b in report.blocking)
    assert nearest_core_allocation(game, equal_split(game)) is None
    assert nearest_least_core_allocation(game, {"A": 1, "B": 0, "C": 0}) == approx(third, abs_=1e-8)
    assert nucleolus(game) == approx(third)


def test_individually_rational_least_core_can_need_a_larger_epsilon():
    # v(1) = 0.9, v(2,3) = 1, v(1,2) = v(1,3) = 0.9, v(N) = 1, others 0. Over pre-imputations
    # x_1 >= 0.9 - eps and x_2 + x_3 >= 1 - eps give eps* = 0.45; with x_1 >= 0.9 the pair {2,3}
    # keeps at most 0.1, so eps = 0.9.
    values = {"1": 0.9, "2,3": 1.0, "1,2": 0.9, "1,3": 0.9, "1,2,3": 1.0}
    game = Game.from_function(("1", "2", "3"),
                              lambda s: values.get(",".join(sorted(s)), 0.0))
    assert least_core_epsilon(game) == pytest.approx(0.45)
    assert least_core(game, individually_rational=False).epsilon == pytest.approx(0.45)
    assert least_core(game).epsilon == pytest.approx(0.9)


# --- voting games: Shapley-Shubik index -------------------------------------------------------

def test_shapley_shubik_index_of_51_50_49_1():
    # [51; 50, 49, 1]: the 50-vote player is pivotal second (either partner) or third (after
    # 49 + 1 = 50 < 51): 4 of 6 orders; the others 1 of 6 each - the 1-vote player has the power
    # of the 49-vote one.
    weights = {"A": 50, "B": 49, "C": 1}
    game = weighted_majority(51, weights)
    exact = exact_shapley(game.players, lambda s: 1 if sum(weights[p] for p in s) >= 51 else 0)
    assert exact == {"A": Fraction(2, 3), "B": Fraction(1, 6), "C": Fraction(1, 6)}
    assert shapley(game) == approx(exact)
    # Banzhaf swings: A 3 ({B}, {C}, {B,C}), B 1 ({A}), C 1 ({A}): index (3/5, 1/5, 1/5)
    assert banzhaf(game) == approx({"A": 3 / 5, "B": 1 / 5, "C": 1 / 5})


def test_shapley_shubik_index_of_the_un_security_council():
    # 5 permanent members (veto) and 10 others, 9 votes needed: [39; 7 x 5, 1 x 10]. A non-permanent
    # member is pivotal iff preceded by all 5 permanent and exactly 3 of the other 9:
    # C(9,3) 8! 6! / 15! = 4/2145 = 0.00186; each permanent member (1 - 40/2145)/5 = 421/2145
    # = 0.1963 (Straffin, Game Theory and Strategy, MAA 1993, ch. 19; Shapley & Shubik 1954 method).
    assert Fraction(math.comb(9, 3) * math.factorial(8) * math.factorial(6),
                    math.factorial(15)) == Fraction(4, 2145)
    weights = {f"P{i}": 7 for i in range(5)} | {f"E{i}": 1 for i in range(10)}
    value = shapley(weighted_majority(39, weights))
    for p in weights:
        expected = Fraction(421, 2145) if p.startswith("P") else Fraction(4, 2145)
        assert value[p] == pytest.approx(float(expected), rel=1e-12)


# --- simple rules -------------------------------------------------------------------------------

def test_proportional_weighted_and_policy_rules():
    game = load_game(DATA / "design_example.json")
    assert equal_split(game) == approx({"A": 4, "B": 4, "C": 4})
    assert proportional(game, {"A": 1, "B": 1, "C": 2}) == approx({"A": 3, "B": 3, "C": 6})
    # volume shares (.25, .25, .5), quality shares (1/3 each); importances 3:1 -> 3/4, 1/4
    criteria = {"volume": {"A": 10, "B": 10, "C": 20}, "quality": {"A": 1, "B": 1, "C": 1}}
    shares = {p: 0.75 * v / 40 + 0.25 / 3 for p, v in criteria["volume"].items()}
    assert weighted(game, criteria, {"volume": 3, "quality": 1}) == approx(
        {p: 12 * s for p, s in shares.items()})
    assert policy_share(game, "A", 0.6) == approx({"A": 7.2, "B": 2.4, "C": 2.4})
    assert policy_share(game, "C", 0.5, {"A": 1, "B": 3}) == approx({"A": 1.5, "B": 4.5, "C": 6})
    airport = load_game(DATA / "airport_cost.json")
    # P3 pays half of c(N) = 3; the other 1.5 split in proportion to standalone costs 1 : 2
    assert policy_share(airport, "P3", 0.5, "standalone") == approx({"P1": 0.5, "P2": 1.0,
                                                                      "P3": 1.5})


@pytest.mark.parametrize("call, fragment", [
    (lambda g: proportional(g, {"A": 1, "B": 1}), "missing ['C']"),
    (lambda g: proportional(g, {"A": 1, "B": -1, "C": 1}), "finite number >= 0"),
    (lambda g: proportional(g, {"A": 0, "B": 0, "C": 0}), "sum to 0"),
    (lambda g: policy_share(g, "Z", 0.5), "unknown player 'Z'"),
    (lambda g: policy_share(g, "A", 1.5), "above 1"),
    (lambda g: weighted(g, {"volume": {"A": 1, "B": 1, "C": 1}}, {"quality": 1}), "differ"),
])
def test_rule_arguments_are_checked(call, fragment):
    with pytest.raises(GameError, match=re.escape(fragment)):
        call(load_game(DATA / "design_example.json"))


def test_nucleolus_needs_a_non_empty_imputation_set():
    game = Game.from_function(("A", "B"), lambda s: 2.0 if len(s) == 1 else 1.0)
    with pytest.raises(GameError, match="imputation set is empty"):
        nucleolus(game)
    assert prenucleolus(game) == approx({"A": 0.5, "B": 0.5})  # standard solution, symmetric


# --- constraint generation against enumeration --------------------------------------------------

@pytest.mark.parametrize("path", ["design_example.json", "airport_cost.json", "majority.json",
                                  "glove.json"])
def test_generation_matches_enumeration_on_the_example_games(path):
    game = load_game(DATA / path)
    single = {p: game.value([p]) for p in game.players}
    oracle = brute_force_oracle(game)
    found = least_core_by_generation(game.players, game.grand, oracle, single, kind=game.kind)
    assert found.epsilon == pytest.approx(least_core(game).epsilon, abs=1e-9)
    assert core_report(game, found.allocation).max_excess <= found.epsilon + 1e-9
    for ir in (True, False):
        nuc = nucleolus_by_generation(game.players, game.grand, oracle, single, kind=game.kind,
                                      individually_rational=ir)
        assert nuc.allocation == approx(
            nucleolus_solution(game, individually_rational=ir).allocation, abs_=1e-8)
        assert nuc.oracle_calls >= 1


def test_oracle_contract_is_enforced():
    game = load_game(DATA / "design_example.json")
    single = {p: 0.0 for p in game.players}
    with pytest.raises(GameError, match="grand coalition"):
        least_core_by_generation(game.players, 12, lambda x, ex: (frozenset("ABC"), 5.0), single)
    with pytest.raises(GameError, match="unknown players"):
        least_core_by_generation(game.players, 12, lambda x, ex: (frozenset("AZ"), 5.0), single)
    assert enumeration_oracle(game)({"A": 12, "B": 0, "C": 0}, frozenset()) == (
        frozenset({"B", "C"}), 6.0)


# --- sampling -----------------------------------------------------------------------------------

def six_player_value(s: frozenset[str]) -> float:
    """A 6-player game with unequal players: (|S| squared) + a player-dependent bonus."""
    return float(len(s) ** 2 + sum(ord(p) for p in s) % 7)


def test_sampled_shapley_is_efficient_and_covers_the_exact_value():
    players = tuple("ABCDEF")
    exact = shapley(Game.from_function(players, six_player_value))
    estimate = sample_shapley(players, six_player_value, rel_tol=0.005, seed=7)
    assert estimate.converged and estimate.permutations % 2 == 0
    assert 100 <= estimate.permutations <= 10_000
    assert estimate.evaluations <= 2 ** 6 - 1
    assert sum(estimate.estimates.values()) == pytest.approx(42, rel=1e-12)  # telescoping
    assert max(estimate.half_widths.values()) <= 0.005 * 42
    for p in players:  # 3 half-widths: a 99.7% normal interval
        assert abs(estimate.estimates[p] - exact[p]) <= 3 * estimate.half_widths[p] + 1e-12


def test_sampled_shapley_is_reproducible_and_executor_gives_the_same_result():
    players = tuple("ABCDEF")
    first = sample_shapley(players, six_player_value, seed=3, max_permutations=400, rel_tol=0)
    again = sample_shapley(players, six_player_value, seed=3, max_permutations=400, rel_tol=0)
    assert first == again and first.permutations == 400 and not first.converged
    with ThreadPoolExecutor(2) as pool:
        pooled = sample_shapley(players, six_player_value, seed=3, max_permutations=400,
                                rel_tol=0, executor=pool)
    assert pooled == first
    assert sample_shapley(players, six_player_value, seed=4, max_permutations=400,
                          rel_tol=0) != first


def test_sampling_stops_at_once_for_an_additive_game():
    estimate = sample_shapley(("A", "B", "C"), lambda s: float(len(s)), min_permutations=10)
    assert estimate.converged and estimate.permutations == 50  # one batch of 25 pairs
    assert estimate.estimates == approx({"A": 1, "B": 1, "C": 1})
    assert estimate.half_widths == approx({"A": 0, "B": 0, "C": 0})


# --- reading games -----------------------------------------------------------------------------

def test_keys_are_order_insensitive_and_whitespace_tolerant():
    loaded = load_game_file(DATA / "weights.json")
    assert loaded.game == load_game(DATA / "design_example.json")
    assert loaded.weights == {"A": 1.0, "B": 1.0, "C": 2.0}
    assert loaded.game.values[frozenset({"A", "B"})] == 4


@pytest.mark.parametrize("name, fragments", [
    ("bad_missing_coalition.json", ["2 coalition(s) missing", "A,C; B,C", "not 0"]),
    ("bad_unknown_player.json", ["'A,D'", "unknown player(s) 'D'"]),
    ("bad_duplicate_in_key.json", ["'A,B,A'", "A twice"]),
    ("bad_same_coalition_twice.json", ["'A,B' and 'B, A' are the same coalition"]),
    ("bad_nan.json", ["key 'B'", "NaN", "finite number"]),
    ("bad_infinity.json", ["key 'A,B'", "Infinity"]),
    ("bad_string_value.json", ["key 'A,B'", '"4"']),
    ("bad_kind.json", ["'kind'", '"savings"']),
    ("bad_kind_missing.json", ["'kind' is missing"]),
    ("bad_players_missing.json", ["players are missing"]),
    ("bad_players_duplicate.json", ["A listed twice"]),
    ("bad_players_not_list.json", ["must be a list"]),
    ("bad_syntax.json", ["not valid JSON", "line 2"]),
    ("bad_unknown_key.json", ["unknown key 'value'", "'values' is missing"]),
    ("bad_weights.json", ["unknown player 'C'", "no weight for player 'B'", "'A' has weight -1"]),
    ("no_such_file.json", ["file not found"]),
])
def test_bad_game_files_are_named_and_explained(name, fragments):
    with pytest.raises(GameError) as caught:
        load_game(DATA / name)
    message = str(caught.value)
    assert message.startswith(str(DATA / name))
    assert caught.value.exit_code == 2
    for fragment in fragments:
        assert fragment in message


def test_python_constructors_check_their_input():
    players = ("A", "B")
    with pytest.raises(GameError, match="1 coalition value"):
        Game(players, "profit", {frozenset({"A"}): 0, frozenset({"B"}): 0})
    with pytest.raises(GameError, match="finite"):
        Game.from_function(players, lambda s: math.nan)
    with pytest.raises(GameError, match="kind"):
        Game.from_function(players, lambda s: 1.0, kind="savings")
    with pytest.raises(GameError, match="listed twice"):
        Game.from_function(("A", "A"), lambda s: 1.0)
    game = Game(players, "cost", {frozenset({"A"}): 1, frozenset({"B"}): 2,
                                  frozenset({"A", "B"}): 2.5})
    assert game.grand == 2.5 and list(game.standalone) == [1, 2] and len(game.values) == 3


# --- the CLI --------------------------------------------------------------------------------------

def cli_app() -> typer.Typer:
    """The command as planner/cli.py registers it: `app.command("game")(game)`."""
    app = typer.Typer()
    app.callback()(lambda: None)
    app.command("game")(game_command)
    return app


def run_cli(*args):
    return CliRunner().invoke(cli_app(), ["game", *(str(a) for a in args)])


def test_cli_json_has_the_documented_keys():
    result = run_cli(DATA / "design_example.json", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"rule", "allocation", "in_core", "core_empty", "least_core_epsilon",
            "blocking"} <= set(data)
    assert data["rule"] == "shapley"
    assert data["allocation"] == {"A": 3.5, "B": 4.0, "C": 4.5}
    assert data["in_core"] is True and data["core_empty"] is False
    assert data["least_core_epsilon"] == -3.0 and data["blocking"] == []


def test_cli_cost_game_reports_cost_shares():
    result = run_cli(DATA / "airport_cost.json", "--rule", "nucleolus", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["kind"] == "cost" and data["excess"] == "x(S) - c(S)"
    assert data["allocation"] == {"P1": 0.5, "P2": 0.75, "P3": 1.75}
    assert sum(data["allocation"].values()) == pytest.approx(3)
    assert data["in_core"] is True


def test_cli_blocking_and_empty_core():
    glove = json.loads(run_cli(DATA / "glove.json", "--json").stdout)
    assert glove["in_core"] is False
    assert glove["blocking"] == [{"coalition": ["L", "R1"], "excess": pytest.approx(1 / 6)},
                                 {"coalition": ["L", "R2"], "excess": pytest.approx(1 / 6)}]
    assert glove["nearest_core_allocation"] == {"L": 1.0, "R1": 0.0, "R2": 0.0}
    majority = json.loads(run_cli(DATA / "majority.json", "--rule", "least-core", "--json").stdout)
    assert majority["core_empty"] is True
    assert majority["least_core_epsilon"] == pytest.approx(1 / 3)
    assert majority["nearest_core_allocation"] is None
    assert majority["nearest_least_core_allocation"] == approx({"A": 1 / 3, "B": 1 / 3,
                                                                "C": 1 / 3})


@pytest.mark.parametrize("rule", ["shapley", "banzhaf", "nucleolus", "prenucleolus", "least-core",
                                  "equal-split"])
def test_cli_every_rule_prints_a_table(rule):
    result = run_cli(DATA / "design_example.json", "--rule", rule)
    assert result.exit_code == 0, result.output
    assert f"rule: {rule}" in result.stdout and "In the core:" in result.stdout


def test_cli_proportional_weights_from_option_or_file():
    by_option = json.loads(run_cli(DATA / "design_example.json", "--rule", "proportional",
                                   "--weights", "A=1, B=1,C=2", "--json").stdout)
    assert by_option["allocation"] == {"A": 3.0, "B": 3.0, "C": 6.0}
    by_file = json.loads(run_cli(DATA / "weights.json", "--rule", "proportional",
                                 "--json").stdout)
    assert by_file["allocation"] == by_option["allocation"]
    missing = run_cli(DATA / "design_example.json", "--rule", "proportional")
    assert missing.exit_code == 2 and "needs weights" in missing.stderr
    bad = run_cli(DATA / "design_example.json", "--rule", "proportional", "--weights", "A=x,D=1")
    assert bad.exit_code == 2
    assert "unknown player 'D'" in bad.stderr and "no weight for player 'B'" in bad.stderr


@pytest.mark.parametrize("name", ["bad_missing_coalition.json", "bad_syntax.json",
                                  "no_such_file.json"])
def test_cli_bad_file_exits_2_with_a_message_and_no_traceback(name):
    result = run_cli(DATA / name, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert str(DATA / name) in result.stderr and "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


def test_cli_unknown_rule_is_a_usage_error():
    result = run_cli(DATA / "design_example.json", "--rule", "magic")
    assert result.exit_code == 2


def test_cli_is_registered_in_planner():
    from planner.cli import app

    names = {c.name or c.callback.__name__ for c in app.registered_commands}
    assert "game" in names, 'planner/cli.py must register `app.command("game")(game)`'
    result = CliRunner().invoke(app, ["game", str(DATA / "design_example.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["allocation"] == {"A": 3.5, "B": 4.0, "C": 4.5}

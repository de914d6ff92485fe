"""Registries are declared once and read everywhere (issue 19 item 4): the settings model gives the
docs' limits, the CLI flags' ranges and the flat names of Scenario.with_; the rule names of
games/rules.py give `planner game` and `planner share`; the ledger's term records give the terms."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import BUDGET, TIME_LIMIT, app
from planner.games.cli import Rule, game_result
from planner.games.rules import GAME_RULES
from planner.games.rules import RULES as GAME_ONLY_RULES
from planner.model.ledger import PENALTY_TERMS, TERM_RECORDS, TERM_WORDS, TERMS
from planner.scenario.loading import SETTING_PATHS
from planner.scenario.schema import schema_markdown
from planner.scenario.settings import LIMITS_TEXT, SETTINGS, setting
from planner.sharing.division import RULES as SHARING_RULES

NUMBERS = [s for s in SETTINGS if s.value.get("type") in ("number", "integer")]


def test_every_setting_is_in_the_docs_with_its_bounds():
    docs = schema_markdown()
    assert LIMITS_TEXT in docs
    for s in SETTINGS:
        row = next(line for line in LIMITS_TEXT.splitlines() if line.startswith(f"| {s.label()} |"))
        assert s.allowed() in row
    for s in NUMBERS:
        low, high, _ = s.bounds
        assert math.isfinite(low) and math.isfinite(high), s.path


def test_cli_flags_check_their_settings_bounds():
    assert BUDGET.bounds == setting("budget").bounds
    low, high, low_open = TIME_LIMIT.bounds
    assert low_open and low == 0
    runner = CliRunner()
    too_big = runner.invoke(app, ["plan", "--time-limit", repr(high * 10)])
    assert too_big.exit_code == 2 and "time-limit" in too_big.output.replace("_", "-")
    for path, flag in ((("solver", "threads"), "--threads"), (("solver", "seed"), "--seed")):
        result = runner.invoke(app, ["plan", flag, str(int(setting(*path).bounds[1]) + 1)])
        assert result.exit_code == 2, flag


def test_flat_names_map_to_fields_and_every_leaf_has_one():
    for flat, path in SETTING_PATHS.items():
        assert setting(*path).flat_name == flat
    without = [s.path for s in SETTINGS if s.flat_name is None]
    assert without == [("coordinates",)]   # the tables are held in WGS-84 once loaded
    assert "shortfall_cost_factor" in SETTING_PATHS
    for kept in ("urgent_soft", "penalty_per_zone", "equity_max_minutes", "min_served_share",
                 "budget", "time_limit"):
        assert kept in SETTING_PATHS


def test_with_accepts_every_flat_name(toy_scenario):
    for flat, path in SETTING_PATHS.items():
        value = toy_scenario.settings.model_dump()
        for key in path:
            value = value[key]
        assert toy_scenario.with_(**{flat: value}).settings == toy_scenario.settings, flat


@pytest.fixture
def toy_scenario():
    import toy
    # with a [fund] and a [reading], the optional sections, so that each setting has a value
    return toy.consortium(townships=2).with_(
        capitation=600.0, reimbursement={"county": 0.65, "township": 0.85, "outside": 0.5},
        reads_per_radiologist=8000.0, radiologist_cost=3e5, centres=["S_H"])


GAME_FILES = Path(__file__).parent / "data" / "games"


def _help(*command: str) -> str:
    """The help text of a command, on one line (wide, so that no word is cut)."""
    output = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "400"}).output
    return " ".join(output.split())


def test_rule_names_come_from_one_registry():
    assert SHARING_RULES[:len(GAME_ONLY_RULES)] == tuple(GAME_ONLY_RULES)
    assert len(set(SHARING_RULES)) == len(SHARING_RULES)
    assert [r.value for r in Rule] == list(GAME_RULES)
    share_help, game_help = _help("share"), _help("game")
    for rule in SHARING_RULES:
        assert rule in share_help, rule
    for rule in GAME_RULES:
        assert rule in game_help, rule


def test_planner_game_accepts_every_rule():
    for rule in GAME_RULES:
        result = game_result(GAME_FILES / "weights.json", rule)
        assert result["rule"] == rule and len(result["allocation"]) == len(result["players"])


def test_share_refuses_a_rule_outside_the_registry(toy_scenario):
    import planner
    with pytest.raises(planner.PlannerError, match="unknown rule"):
        planner.share(toy_scenario, "no-such-rule")


def test_every_term_has_words():
    assert TERMS == tuple(t.key for t in TERM_RECORDS)
    assert len(set(TERMS)) == len(TERMS)
    for t in TERM_RECORDS:
        assert TERM_WORDS[t.key] and t.words
        assert ("(priced, not cash)" in t.words) == (t.key in PENALTY_TERMS)

"""`planner game GAME.json` on hostile files: every one is a GameError (exit 2) naming the file,
never a traceback or a hang (issue 7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from planner.cli import app
from planner.games.game import MAX_ABS_VALUE, GameError, load_game_file

GOOD = {"players": ["A", "B"], "kind": "profit", "values": {"A": 0, "B": 0, "A,B": 1}}


def write(tmp_path, text: str | bytes, name: str = "game.json"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def fails(path, *fragments):
    with pytest.raises(GameError) as caught:
        load_game_file(path)
    message = str(caught.value)
    assert message.startswith(str(path)), message
    assert caught.value.exit_code == 2
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_huge_integer_value(tmp_path):
    text = '{"players": ["A", "B"], "kind": "profit", "values": {"A": 0, "B": 0, "A,B": %s}}'
    fails(write(tmp_path, text % ("9" * 5000)), "'A,B'", "5,000 characters")
    fails(write(tmp_path, text % ("1" + "0" * 400 + ".5")), "'A,B'")
    fails(write(tmp_path, text % "1e400"), "'A,B'", "finite")


@pytest.mark.parametrize("value", [1e16, -2e15])
def test_values_beyond_the_bound(tmp_path, value):
    game = {**GOOD, "values": {**GOOD["values"], "A,B": value}}
    fails(write(tmp_path, json.dumps(game)), "'A,B'", f"{MAX_ABS_VALUE:g}")


def test_value_at_the_bound_is_accepted(tmp_path):
    game = {**GOOD, "values": {**GOOD["values"], "A,B": 1e15}}
    assert load_game_file(write(tmp_path, json.dumps(game))).game.grand == 1e15


def test_deep_nesting(tmp_path):
    deep = "[" * 100_000 + "]" * 100_000
    fails(write(tmp_path, '{"players": ["A"], "kind": "profit", "values": {"A": %s}}' % deep),
          "nested")
    fails(write(tmp_path, "[" * 100_000), "nested")


def test_duplicate_keys(tmp_path):
    text = '{"players": ["A", "B"], "kind": "profit", "values": {"A": 0, "B": 0, "A,B": 1, ' \
           '"A,B": 2}}'
    fails(write(tmp_path, text), "'A,B'", "twice")
    text = '{"players": ["A", "B"], "kind": "profit", "kind": "cost", ' \
           '"values": {"A": 0, "B": 0, "A,B": 1}}'
    fails(write(tmp_path, text), "'kind'", "twice")


@pytest.mark.parametrize("players", [{"A": 1}, "AB", 3, None, [1, 2], ["A", ""], ["A", "A"],
                                     [["A"]], [int("9" * 300)]])
def test_players_must_be_a_list_of_distinct_names(tmp_path, players):
    game = {**GOOD, "players": players}
    fails(write(tmp_path, json.dumps(game)), "'players'")


def test_non_utf8(tmp_path):
    fails(write(tmp_path, b'{"players": ["\xff\xfe"], "kind": "profit"}'), "UTF-8")


def test_folder(tmp_path):
    fails(tmp_path, "folder")


def test_fifo_does_not_hang(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "game.json"
    os.mkfifo(fifo)
    fails(fifo, "regular file")


def test_huge_file_is_refused_unread(tmp_path):
    path = tmp_path / "game.json"
    with open(path, "wb") as handle:
        handle.truncate(51 * 1024 * 1024)   # sparse: no disk used
    fails(path, "MB")


def test_missing_file(tmp_path):
    fails(tmp_path / "nope.json", "not found")


def test_odd_player_names_are_accepted(tmp_path):
    names = ["=SUM(A1)", "+1", "-x", "@cmd", "tab\tinside", "bell\x07", "é"]
    values = {}
    for mask in range(1, 1 << len(names)):
        members = [p for i, p in enumerate(names) if mask >> i & 1]
        values[",".join(members)] = float(len(members) ** 2)
    game = {"players": names, "kind": "profit", "values": values}
    path = write(tmp_path, json.dumps(game))
    loaded = load_game_file(path)
    assert loaded.game.players == tuple(names)
    runner = CliRunner()
    result = runner.invoke(app, ["game", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert list(out["allocation"]) == names
    text = runner.invoke(app, ["game", str(path)])
    assert text.exit_code == 0, text.output
    assert "\x07" not in text.stdout and "\\x07" in text.stdout


def test_cli_exit_code_two_no_traceback(tmp_path):
    text = '{"players": ["A", "B"], "kind": "profit", "values": {"A": 0, "B": 0, "A,B": %s}}'
    path = write(tmp_path, text % ("9" * 5000))
    run = subprocess.run([sys.executable, "-c", "from planner.cli import app; app()", "game",
                          str(path), "--json"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and str(path) in run.stderr

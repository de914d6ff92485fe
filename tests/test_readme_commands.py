"""Every `planner` command of the README runs as written (issue 18): each is parsed by the real
CLI (command, flags, values), every input path it names exists in the repository, and the
re-planning walk-through is run for real, in order, on the default scenario."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import typer

from helpers import planner_command
from planner.cli import app

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SHELL_BLOCKS = ("bash", "sh", "cron", "ini")
# The cron and systemd examples run in a checkout at /srv/planner (their working directory).
DEPLOYED_CHECKOUT = "/srv/planner/"
# Flags whose value the command writes (or creates), not reads.
WRITTEN = {"--out", "--history", "--cache"}
# Placeholders of the README's generic examples, and what stands for them here.
PLACEHOLDERS = {"SCENARIO": "data/tianchang"}


def readme_commands() -> list[tuple[str, list[str]]]:
    """(line, argv after `planner`) for each planner command in the README's shell blocks."""
    found = []
    for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S):
        if lang not in SHELL_BLOCKS:
            continue
        for line in body.splitlines():
            match = re.search(r"(?:^|&&\s*|bin/)planner ([^#]*)", line)
            if not match or line.lstrip().startswith("#"):
                continue
            words = shlex.split(match.group(1).split("2>>")[0])
            words = [PLACEHOLDERS.get(w, w) for w in words]
            found.append((line.strip(), [w.removeprefix(DEPLOYED_CHECKOUT) for w in words]))
    return found


COMMANDS = readme_commands()


def test_the_readme_has_the_commands_a_newcomer_copies():
    subcommands = {argv[0] for _, argv in COMMANDS}
    assert {"plan", "replan", "runs", "diff", "share", "game"} <= subcommands


def _resolve(argv: list[str]) -> tuple[object, list[str], list[str]]:
    """The click command an argv names, its own arguments, and the path of subcommand names."""
    command = typer.main.get_command(app)
    names, args = [], list(argv)
    while hasattr(command, "commands") and args and args[0] in command.commands:
        names.append(args[0])
        command = command.commands[args.pop(0)]
    return command, args, names


@pytest.mark.parametrize("line,argv", COMMANDS, ids=[" ".join(a)[:60] for _, a in COMMANDS])
def test_each_readme_command_parses_and_names_existing_inputs(line, argv):
    command, args, names = _resolve(argv)
    assert names, f"README: `{line}`: no such planner command"
    if hasattr(command, "commands"):   # `planner runs --history H`: options of the group
        args = [a for a in args if a not in command.commands]
    # click parses the flags and their values and runs the flag checks (ranges, choices)
    with command.make_context(" ".join(names), list(args), resilient_parsing=False):
        pass
    written = {args[k + 1] for k, a in enumerate(args[:-1]) if a in WRITTEN}
    for word in args:
        looks_like_path = "/" in word and "://" not in word and not word.startswith("-")
        if looks_like_path and word not in written:
            assert (ROOT / word).exists(), f"README: `{line}` names {word}, which does not exist"


def test_the_replanning_walk_through_runs_as_written(tmp_path):
    """The README's re-planning block, in order, in a folder holding the checkout's data/ and
    tests/ (a checkout, without writing into this one). The last line (a nucleolus of 18
    members, ~10 minutes) is only parsed, above."""
    for name in ("data", "tests"):
        os.symlink(ROOT / name, tmp_path / name)
    block = next(body for lang, body in re.findall(r"```(\w*)\n(.*?)```", README, re.S)
                 if lang == "bash" and "planner replan" in body and "runs show" in body)
    lines = [line.split("#")[0].strip() for line in block.splitlines()]
    lines = [line for line in lines if line.startswith("planner ") and "--share" not in line]
    assert len(lines) >= 5
    env = {**os.environ, "PLANNER_CRASH_DIR": str(tmp_path)}
    for line in lines:
        argv = shlex.split(line)[1:]
        done = subprocess.run(planner_command() + argv, cwd=tmp_path, capture_output=True,
                              text=True, timeout=600, env=env)
        assert done.returncode == 0, f"`{line}` exited {done.returncode}:\n{done.stderr}"
        if argv[:1] == ["runs"] and "--json" in argv:
            runs = json.loads(done.stdout)
            assert [r["status"] for r in runs] == ["optimal", "optimal"]
            assert runs[1]["baseline_run"] == runs[0]["run_id"]
    assert (tmp_path / "plans" / "current" / "changes.csv").is_file()

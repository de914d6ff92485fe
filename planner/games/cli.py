"""`planner game GAME.json --rule RULE [--json]`: share an explicit game, check it against the core.

Why a command for explicit games: any published game (bankruptcy, airport, glove games) can be
checked with the same rules and core report the planner applies to planning games. planner/cli.py
registers it with ``app.command("game")(game)``. The rule names come from planner/games/rules.py
(importing it costs nothing more: planner.games, this module's package, already loads it).
"""

from __future__ import annotations

import json
import math
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from planner.errors import PlannerError
from planner.games.core import core_report, nearest_core_allocation, nearest_least_core_allocation
from planner.games.game import GameError, load_game_file
from planner.games.rules import GAME_RULES, PROPORTIONAL, RULES, proportional

# The choices of --rule (Rule.shapley, Rule.least_core, ...), one per name of GAME_RULES. Built
# from the registry, so mypy (which reads only literal member lists) cannot see its members.
Rule = Enum(  # type: ignore[misc]
    "Rule", {name.replace("-", "_"): name for name in GAME_RULES}, type=str)


def game(
    path: Path = typer.Argument(..., help="Game JSON: players, kind (profit|cost) and values.",
                                show_default=False),
    rule: Rule = typer.Option(Rule("shapley"), "--rule", help="Sharing rule."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON object."),
    weights: Optional[str] = typer.Option(
        None, "--weights", help="Weights for --rule proportional, e.g. A=1,B=2 (default: the "
        "file's \"weights\")."),
    top: int = typer.Option(5, "--top", min=0, help="Blocking coalitions to list."),
) -> None:
    """Share an explicit game's value by a rule and report whether the allocation is in the core."""
    try:
        result = game_result(path, rule.value, weights=weights, top=top)
    except PlannerError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(err.exit_code) from None
    typer.echo(json.dumps(result, indent=2) if json_output else format_result(result))


def game_result(path: str | Path, rule: str = "shapley", *, weights: str | None = None,
                top: int = 5) -> dict:
    """The JSON object `planner game --json` prints (docs/design.md section 5, extended).

    Keys: rule, kind, players, grand_value, excess (its definition), allocation (cost shares for
    a cost game), in_core, efficient, max_excess, core_empty, least_core_epsilon, blocking
    ([{"coalition": [...], "excess": e}], most dissatisfied first), nearest_core_allocation (null
    when the core is empty), nearest_least_core_allocation (null unless the core is empty).
    """
    loaded = load_game_file(path)
    g = loaded.game
    if rule == PROPORTIONAL:
        given = parse_weights(weights, g.players) if weights is not None else loaded.weights
        if given is None:
            raise GameError("--rule proportional needs weights: --weights A=1,B=2 or a "
                            "\"weights\" object in the file", str(path))
        allocation = proportional(g, given)
    elif rule in RULES:
        try:
            allocation = RULES[rule](g)
        except GameError as err:
            raise GameError(err.problems, str(path)) from None
    else:
        raise GameError(f"unknown rule {rule!r} (choose from {', '.join(GAME_RULES)})")
    report = core_report(g, allocation, k=top)
    nearest = nearest_core_allocation(g, allocation)
    least = nearest_least_core_allocation(g, allocation) if report.core_empty else None
    result = {"rule": rule, "kind": g.kind, "players": list(g.players),
              "grand_value": g.grand,
              "excess": "v(S) - x(S)" if g.kind == "profit" else "x(S) - c(S)",
              "allocation": allocation, **report.to_dict(),
              "nearest_core_allocation": nearest, "nearest_least_core_allocation": least}
    return _clean(result)


def parse_weights(text: str, players: tuple[str, ...]) -> dict[str, float]:
    """'A=1,B=2' -> {'A': 1.0, 'B': 2.0}; every player once, numbers >= 0."""
    weights: dict[str, float] = {}
    named: set[str] = set()
    problems = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, number = (s.strip() for s in part.partition("="))
        try:
            w = float(number) if sep else math.nan
        except ValueError:
            w = math.nan
        if name not in players:
            problems.append(f"unknown player {name!r}")
        elif name in named:
            problems.append(f"player {name!r} given twice")
        elif not math.isfinite(w) or w < 0:
            problems.append(f"{part!r} is not NAME=NUMBER with a number >= 0")
        else:
            weights[name] = w
        named.add(name)
    problems += [f"no weight for player {p!r}" for p in players if p not in named]
    if problems:
        raise GameError(problems, "--weights")
    return weights


def _printable(name: str) -> str:
    """A player name for the text table: control characters escaped (no terminal escapes)."""
    return "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii")
                   for ch in name)


def format_result(result: dict) -> str:
    """A readable table of the allocation and the core report (control characters in player
    names are shown escaped; --json keeps the names exact)."""
    def number(x: float | None) -> str:
        return "-" if x is None else f"{x:.6g}"

    result = {**result, "players": [_printable(p) for p in result["players"]],
              "allocation": {_printable(p): x for p, x in result["allocation"].items()},
              "blocking": [{**b, "coalition": [_printable(p) for p in b["coalition"]]}
                           for b in result["blocking"]]}
    for key in ("nearest_core_allocation", "nearest_least_core_allocation"):
        if result.get(key):
            result[key] = {_printable(p): x for p, x in result[key].items()}

    width = max(len("player"), *(len(p) for p in result["players"]))
    column = "cost share" if result["kind"] == "cost" else "allocation"
    lines = [f"{result['kind']} game, {len(result['players'])} players, value of the grand "
             f"coalition {number(result['grand_value'])}; rule: {result['rule']}",
             f"  {'player':<{width}}  {column:>12}"]
    lines += [f"  {p:<{width}}  {number(x):>12}" for p, x in result["allocation"].items()]
    lines.append(f"In the core: {'yes' if result['in_core'] else 'no'} (largest excess "
                 f"{number(result['max_excess'])}, excess = {result['excess']}"
                 + ("" if result["efficient"] else "; the shares do not add up to the total")
                 + ").")
    if result["blocking"]:
        lines.append("Blocking coalitions:")
        lines += [f"  {','.join(b['coalition'])}: excess {number(b['excess'])}"
                  for b in result["blocking"]]
    epsilon = number(result["least_core_epsilon"])
    if result["core_empty"]:
        lines.append(f"The core is empty (least-core epsilon {epsilon}); nearest least-core "
                     f"allocation: {_pairs(result['nearest_least_core_allocation'])}.")
    else:
        lines.append(f"The core is not empty (least-core epsilon {epsilon}); nearest core "
                     f"allocation: {_pairs(result['nearest_core_allocation'])}.")
    return "\n".join(lines)


def _pairs(allocation: dict) -> str:
    return ", ".join(f"{p}={x:.6g}" for p, x in allocation.items())


def _clean(obj):
    """JSON-ready: 12 significant digits (3.4999999999999996 -> 3.5), no -0.0, NaN/inf -> null."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, float):
        return float(f"{obj:.12g}") + 0.0 if math.isfinite(obj) else None
    return obj

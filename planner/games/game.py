"""Cooperative games in characteristic-function form, and the explicit-game JSON reader.

Why one array indexed by bit mask (bit i = ``players[i]``): every solution concept here touches all
2^n coalitions (Shapley weights, excesses, core checks). numpy passes over a dense array do that in
milliseconds for n up to 20, where a dict of 2^20 frozensets would be slow and need gigabytes.
The dict view (`Game.values`) is still there for reading a game the way it is written down.
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from planner.errors import PlannerError

MAX_PLAYERS = 20          # 2^20 coalitions: 8 MB of values; beyond, use sampling and generation
KINDS = ("profit", "cost")
TOP_LEVEL_KEYS = ("players", "kind", "values", "weights", "name", "description", "source")
_LISTED = 5               # missing coalitions named in a message


class GameError(PlannerError):
    """A game is malformed (file, players, coalitions or values) or a rule cannot be applied."""

    exit_code = 2

    def __init__(self, problems: str | list[str], source: str | None = None):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.problems) == 1:
            text = prefix + self.problems[0]
        else:
            text = f"{prefix}{len(self.problems)} problems found:\n" + "\n".join(
                f"  - {p}" for p in self.problems)
        super().__init__(text)


@lru_cache(maxsize=None)
def popcounts(n: int) -> np.ndarray:
    """Coalition sizes |S| for every mask 0 .. 2^n - 1 (read-only)."""
    counts = np.zeros(1, dtype=np.int64)
    for _ in range(n):
        counts = np.concatenate((counts, counts + 1))
    counts.flags.writeable = False
    return counts


def subset_sums(x: np.ndarray) -> np.ndarray:
    """x(S) = sum of x[i] over the bits i of S, for every mask S, in O(2^n) by doubling."""
    sums = np.zeros(1)
    for xi in np.asarray(x, dtype=float):
        sums = np.concatenate((sums, sums + xi))
    return sums


def mask_bits(masks: np.ndarray, n: int) -> np.ndarray:
    """0/1 matrix (len(masks) x n): row k is the characteristic vector of coalition masks[k]."""
    masks = np.asarray(masks, dtype=np.int64)
    return ((masks[:, None] >> np.arange(n, dtype=np.int64)) & 1).astype(float)


class CoalitionValues(Mapping):
    """Read-only dict view {frozenset(coalition): value} of a game's mask array (no empty set)."""

    def __init__(self, players: tuple[str, ...], table: np.ndarray):
        self.players = players
        self.table = table
        self._index = {p: i for i, p in enumerate(players)}

    def __getitem__(self, coalition: Iterable[str]) -> float:
        mask = 0
        for p in coalition:
            if p not in self._index:
                raise KeyError(coalition)
            mask |= 1 << self._index[p]
        if mask == 0:
            raise KeyError(coalition)
        return float(self.table[mask])

    def __iter__(self) -> Iterator[frozenset[str]]:
        for mask in range(1, len(self.table)):
            yield frozenset(p for i, p in enumerate(self.players) if mask >> i & 1)

    def __len__(self) -> int:
        return len(self.table) - 1

    def __eq__(self, other: object) -> bool:
        if isinstance(other, CoalitionValues):
            return self.players == other.players and np.array_equal(self.table, other.table)
        return Mapping.__eq__(self, other)

    def __hash__(self) -> int:
        return hash((self.players, self.table.tobytes()))

    def __repr__(self) -> str:
        return f"<{len(self)} coalition values>"


@dataclass(frozen=True)
class Game:
    """A TU game: `players`, `kind` ("profit": share v(N); "cost": share c(N)) and `values`.

    `values` maps every non-empty coalition (a frozenset of player names) to its value; the empty
    coalition is worth 0. Construction checks completeness and finiteness and stores the values in
    `table` (float array indexed by bit mask). Values are kept in the game's own units: c(S) for a
    cost game. Solution code works on the profit form w = sign * table (`profit_table`), so a cost
    game becomes the profit game w(S) = -c(S) whose allocations are minus the cost shares.
    """

    players: tuple[str, ...]
    kind: str
    values: Mapping[frozenset[str], float]
    table: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        players = _check_players(self.players)
        if self.kind not in KINDS:
            raise GameError(f"kind must be 'profit' or 'cost', not {self.kind!r}")
        values = self.values
        if isinstance(values, CoalitionValues) and values.players == players:
            table = _checked_table(values.table, players)
        else:
            table = _table_from_mapping(players, values)
        table.flags.writeable = False
        object.__setattr__(self, "players", players)
        object.__setattr__(self, "table", table)
        object.__setattr__(self, "values", CoalitionValues(players, table))

    # --- constructors ----------------------------------------------------------------------
    @classmethod
    def from_function(cls, players: Iterable[str], v: Callable[[frozenset[str]], float],
                      kind: str = "profit") -> Game:
        """Evaluate the value oracle `v` once on every non-empty coalition (2^n - 1 calls)."""
        players = _check_players(players)
        table = np.zeros(1 << len(players))
        for mask in range(1, len(table)):
            coalition = frozenset(p for i, p in enumerate(players) if mask >> i & 1)
            value = v(coalition)
            table[mask] = finite(value, f"v({_label(coalition, players)})")
        table.flags.writeable = False  # ours alone: no defensive copy needed
        return cls(players, kind, CoalitionValues(players, table))

    # --- reading ---------------------------------------------------------------------------
    @property
    def n(self) -> int:
        return len(self.players)

    @property
    def grand(self) -> float:
        """v(N) (or c(N) for a cost game)."""
        return float(self.table[-1])

    @property
    def sign(self) -> float:
        """+1 for a profit game, -1 for a cost game: profit form w = sign * value."""
        return 1.0 if self.kind == "profit" else -1.0

    @property
    def profit_table(self) -> np.ndarray:
        return self.sign * self.table

    @property
    def standalone(self) -> np.ndarray:
        """v({i}) (or c({i})) per player, in player order."""
        return self.table[1 << np.arange(self.n)]

    def mask(self, coalition: Iterable[str]) -> int:
        index = {p: i for i, p in enumerate(self.players)}
        try:
            return sum(1 << index[p] for p in set(coalition))
        except KeyError as err:
            raise GameError(f"unknown player {err.args[0]!r}") from None

    def coalition(self, mask: int) -> tuple[str, ...]:
        """The players of a mask, in player order."""
        return tuple(p for i, p in enumerate(self.players) if mask >> i & 1)

    def value(self, coalition: Iterable[str]) -> float:
        return float(self.table[self.mask(coalition)])

    def vector(self, allocation: Mapping[str, float]) -> np.ndarray:
        """An allocation dict as an array in player order (every player, finite values)."""
        missing = [p for p in self.players if p not in allocation]
        unknown = [p for p in allocation if p not in self.players]
        if missing or unknown:
            raise GameError(f"allocation must give a value to each player; missing {missing}, "
                            f"unknown {unknown}")
        return np.array([finite(allocation[p], f"allocation[{p!r}]") for p in self.players])

    def allocation(self, vector: Iterable[float]) -> dict[str, float]:
        return {p: float(x) for p, x in zip(self.players, vector)}


# --- the explicit-game JSON --------------------------------------------------------------------

@dataclass(frozen=True)
class GameFile:
    """A game read from JSON, with the optional per-player `weights` (for proportional rules)."""

    game: Game
    weights: dict[str, float] | None = None
    name: str | None = None


def load_game(path: str | Path) -> Game:
    """Read an explicit game (docs/design.md section 4); raises `GameError` naming what is wrong."""
    return load_game_file(path).game


MAX_FILE_BYTES = 50 * 1024 * 1024   # a game JSON larger than 50 MB is refused unread
MAX_ABS_VALUE = 1e15                # |v(S)| and weights beyond this are refused (cents stay exact)
MAX_DEPTH = 64                      # nesting beyond this is refused (a game needs 3 levels)
_MAX_NUMBER_DIGITS = 400            # longer number literals are refused before conversion


class _DuplicateKeys(Exception):
    def __init__(self, key: str, where: str):
        super().__init__(key)
        self.key, self.where = key, where


def _pairs_hook(pairs: list[tuple[str, object]]) -> dict:
    """json object_pairs_hook: a key given twice in one object is an error, not last-wins."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeys(key, ", ".join(repr(k) for k in list(out)[:3]))
        out[key] = value
    return out


class _LongNumber(str):
    """A number literal too long to convert (int-to-str limit, float overflow): kept as text,
    reported as not a finite number within the bound."""


def _parse_int(text: str) -> int | _LongNumber:
    if len(text) > _MAX_NUMBER_DIGITS:
        return _LongNumber(text)
    return int(text)


def _parse_float(text: str) -> float | _LongNumber:
    if len(text) > _MAX_NUMBER_DIGITS:
        return _LongNumber(text)
    return float(text)


def _max_depth(text: str) -> int:
    """Deepest nesting of [ and { outside strings (a linear scan, no recursion)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
        elif ch in "]}":
            depth -= 1
    return deepest


def load_game_file(path: str | Path) -> GameFile:
    """Read and check an explicit game JSON file; every failure is a `GameError` naming the file.

    Refused: anything but a regular file (a folder or FIFO is never opened, so never hangs),
    files over `MAX_FILE_BYTES` (50 MB), non-UTF-8 text, invalid JSON, nesting deeper than
    `MAX_DEPTH`, a key given twice in one object, number literals too long to convert, and
    values or weights that are not finite numbers with |v| <= `MAX_ABS_VALUE` (1e15).
    """
    source = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise GameError("file not found", source) from None
    except (OSError, ValueError) as err:
        raise GameError(f"cannot read the file ({getattr(err, 'strerror', None) or err})",
                        source) from None
    if stat.S_ISDIR(info.st_mode):
        raise GameError("is a folder, not a game JSON file", source)
    if not stat.S_ISREG(info.st_mode):
        raise GameError("is not a regular file (a FIFO, device or socket?); give a game JSON "
                        "file", source)
    if info.st_size > MAX_FILE_BYTES:
        raise GameError(f"the file is {info.st_size:,} bytes; game files are limited to "
                        f"{MAX_FILE_BYTES // (1024 * 1024)} MB", source)
    try:
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0)   # never block on a swapped-in FIFO
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise GameError("is not a regular file; give a game JSON file", source)
            raw = handle.read(MAX_FILE_BYTES + 1)
    except GameError:
        raise
    except IsADirectoryError:
        raise GameError("is a folder, not a game JSON file", source) from None
    except OSError as err:
        raise GameError(f"cannot read the file ({err.strerror or err})", source) from None
    if len(raw) > MAX_FILE_BYTES:
        raise GameError(f"the file is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB",
                        source)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise GameError(f"not UTF-8 text (byte {err.start})", source) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    depth = _max_depth(text)
    if depth > MAX_DEPTH:
        raise GameError(f"JSON nested {depth} levels deep; at most {MAX_DEPTH} are accepted",
                        source)
    try:
        data = json.loads(text, object_pairs_hook=_pairs_hook, parse_int=_parse_int,
                          parse_float=_parse_float)
    except _DuplicateKeys as err:
        raise GameError(f"key {err.key!r} appears twice in one object (next to {err.where}); "
                        "each key may be given once", source) from None
    except json.JSONDecodeError as err:
        raise GameError(f"not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}",
                        source) from None
    except (RecursionError, ValueError, OverflowError) as err:
        raise GameError(f"not valid JSON: {err}", source) from None
    return parse_game(data, source)


def parse_game(data: object, source: str = "game") -> GameFile:
    """Check and convert a decoded game document; every problem found is reported at once."""
    if not isinstance(data, dict):
        raise GameError("the file must hold one JSON object with keys 'players', 'kind' and "
                        "'values'", source)
    problems = [f"unknown key {k!r} (allowed: {', '.join(TOP_LEVEL_KEYS)})"
                for k in data if k not in TOP_LEVEL_KEYS]
    players = data.get("players")
    if "players" in data and not isinstance(players, list):
        raise GameError(problems + [f"'players' must be a list of distinct non-empty names, "
                                    f"not {_show(players)}"], source)
    try:
        players = _check_players(players)
    except GameError as err:
        raise GameError(problems + [f"'players': {p}" for p in err.problems], source) from None
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        problems.append(f"'kind' must be \"profit\" or \"cost\", not {_show(kind)}"
                        if "kind" in data else "'kind' is missing (\"profit\" or \"cost\")")
    values = data.get("values")
    table = None
    if not isinstance(values, dict):
        problems.append("'values' is missing" if values is None else
                        "'values' must be an object {\"A,B\": number, ...}")
    else:
        table, value_problems = _parse_values(players, values)
        problems += value_problems
    weights = None
    if "weights" in data:
        weights, weight_problems = _parse_weights(players, data["weights"])
        problems += weight_problems
    if problems:
        raise GameError(problems, source)
    assert isinstance(kind, str) and table is not None   # no problem: both were checked above
    game = Game(players, kind, CoalitionValues(players, table))
    name = data.get("name")
    if not isinstance(name, str) or isinstance(name, _LongNumber):
        name = None
    return GameFile(game, weights, name)


def _parse_values(players: tuple[str, ...], values: dict) -> tuple[np.ndarray, list[str]]:
    index = {p: i for i, p in enumerate(players)}
    table = np.zeros(1 << len(players))
    seen: dict[int, str] = {}
    problems = []
    for key, raw in values.items():
        members = [part.strip() for part in key.split(",")]
        if key.strip() == "":
            if _finite_number(raw) != 0:
                problems.append("values: the empty coalition \"\" is worth 0 by definition, "
                                f"not {_show(raw)}")
            continue
        bad = [m for m in members if m not in index]
        if "" in members:
            problems.append(f"values: key {key!r} has an empty player name")
            continue
        if bad:
            problems.append(f"values: key {key!r} names unknown player(s) "
                            f"{', '.join(repr(b) for b in bad)}")
            continue
        if len(set(members)) < len(members):
            twice = sorted({m for m in members if members.count(m) > 1})
            problems.append(f"values: key {key!r} lists player(s) {', '.join(twice)} twice")
            continue
        mask = sum(1 << index[m] for m in members)
        if mask in seen:
            problems.append(f"values: keys {seen[mask]!r} and {key!r} are the same coalition")
            continue
        seen[mask] = key
        if _finite_number(raw) is None:
            problems.append(f"values: key {key!r} has value {_show(raw)}; a finite number "
                            f"with |v| <= {MAX_ABS_VALUE:g} is required")
            continue
        table[mask] = float(raw)
    missing = [m for m in _masks_by_size(len(players)) if m not in seen]
    if missing:
        shown = "; ".join(",".join(p for i, p in enumerate(players) if m >> i & 1)
                          for m in missing[:_LISTED])
        more = f" and {len(missing) - _LISTED} more" if len(missing) > _LISTED else ""
        problems.append(f"values: {len(missing)} coalition(s) missing (missing coalitions are an "
                        f"error, not 0): {shown}{more}")
    return table, problems


def _parse_weights(players: tuple[str, ...], weights: object) -> tuple[dict | None, list[str]]:
    if not isinstance(weights, dict):
        return None, ["'weights' must be an object {\"A\": number, ...}"]
    problems = [f"weights: unknown player {k!r}" for k in weights if k not in players]
    problems += [f"weights: no weight for player {p!r}" for p in players if p not in weights]
    for k, w in weights.items():
        number = _finite_number(w)
        if k in players and (number is None or number < 0):
            problems.append(f"weights: {k!r} has weight {_show(w)}; a finite number >= 0 "
                            f"and <= {MAX_ABS_VALUE:g} is required")
    return (None if problems else {p: float(weights[p]) for p in players}), problems


# --- checks shared by the constructors ---------------------------------------------------------

def _check_players(players: object) -> tuple[str, ...]:
    if players is None:
        raise GameError("players are missing: give a list of names")
    if isinstance(players, str) or not isinstance(players, Iterable):
        raise GameError(f"players must be a list of names, not {players!r}")
    players = tuple(players)
    if len(players) > MAX_PLAYERS:   # checked first: the checks below are per player
        raise GameError(f"{len(players)} players: explicit games hold at most {MAX_PLAYERS} "
                        "(2^n coalitions); use sampling.sample_shapley and the *_by_generation "
                        "functions beyond")
    problems = []
    if not players:
        problems.append("the list of players is empty")
    for p in players:
        if not isinstance(p, str) or isinstance(p, _LongNumber) or not p.strip():
            problems.append(f"player {_show(p)} is not a non-empty name")
        elif "," in p or p != p.strip():
            problems.append(f"player {p!r}: names may not contain ',' or surrounding spaces")
    twice = sorted({p for p in players if isinstance(p, str) and players.count(p) > 1})
    if twice:
        problems.append(f"player(s) {', '.join(twice)} listed twice")
    if problems:
        raise GameError(problems)
    return players


def _table_from_mapping(players: tuple[str, ...], values: Mapping) -> np.ndarray:
    index = {p: i for i, p in enumerate(players)}
    table = np.zeros(1 << len(players))
    seen = np.zeros(len(table), dtype=bool)
    for coalition, value in values.items():
        if isinstance(coalition, str):
            raise GameError(f"coalition {coalition!r}: give a frozenset of names, not a string")
        members = list(coalition)
        unknown = [m for m in members if m not in index]
        if unknown:
            raise GameError(f"coalition {sorted(members)}: unknown player(s) {unknown}")
        mask = sum(1 << index[m] for m in set(members))
        if mask == 0:
            if value != 0:
                raise GameError(f"the empty coalition is worth 0, not {value!r}")
            continue
        table[mask] = finite(value, f"v({_label(members, players)})")
        seen[mask] = True
    missing = np.flatnonzero(~seen[1:]) + 1
    if len(missing):
        shown = "; ".join(_label(_members(m, players), players) for m in missing[:_LISTED])
        raise GameError(f"{len(missing)} coalition value(s) missing: {shown}"
                        + (" ..." if len(missing) > _LISTED else ""))
    return table


def _checked_table(table: np.ndarray, players: tuple[str, ...]) -> np.ndarray:
    """A mask array given directly: right length, finite, v(empty) = 0; copied unless read-only."""
    table = np.asarray(table, dtype=float)
    if table.shape != (1 << len(players),):
        raise GameError(f"a table of {len(players)} players needs {1 << len(players)} values "
                        f"(one per mask), not shape {table.shape}")
    bad = np.flatnonzero(~np.isfinite(table))
    if len(bad):
        raise GameError(f"v({_label(_members(int(bad[0]), players), players)}) = {table[bad[0]]}; "
                        "a finite number is required")
    if table[0] != 0:
        raise GameError(f"the empty coalition is worth 0, not {table[0]}")
    return table.copy() if table.flags.writeable else table


def _masks_by_size(n: int) -> list[int]:
    """Non-empty masks, smallest coalitions first (the order missing coalitions are listed)."""
    sizes = popcounts(n)
    return sorted(range(1, 1 << n), key=lambda m: (sizes[m], m))


def _members(mask: int, players: tuple[str, ...]) -> list[str]:
    return [p for i, p in enumerate(players) if mask >> i & 1]


def _label(coalition: Iterable[str], players: tuple[str, ...]) -> str:
    members = set(coalition)
    return "{" + ",".join(p for p in players if p in members) + "}"


def _finite_number(x: object) -> float | None:
    """A JSON number as a finite float with |x| <= MAX_ABS_VALUE, else None (strings, booleans,
    null, NaN, inf, 1e400, a 5,000-digit integer)."""
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return None
    try:
        number = float(x)
    except OverflowError:
        return None
    return number if math.isfinite(number) and abs(number) <= MAX_ABS_VALUE else None


def _show(x: object, limit: int = 60) -> str:
    """A short JSON-ish rendering of a value for messages (never fails, never huge)."""
    if isinstance(x, _LongNumber):
        return f"a number literal of {len(x):,} characters"
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 200:
        return f"an integer of about {int(x.bit_length() * 0.30103) + 1} digits"
    try:
        text = json.dumps(x, ensure_ascii=True)
    except (TypeError, ValueError, RecursionError):
        text = type(x).__name__
    return text if len(text) <= limit else text[:limit] + "..."


def finite(value: object, what: str) -> float:
    """`value` as a finite float, or a GameError saying what `what` was given."""
    if isinstance(value, (bool, str)):
        raise GameError(f"{what} = {value!r} is not a number")
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise GameError(f"{what} = {value!r} is not a finite number") from None
    if not math.isfinite(number):
        raise GameError(f"{what} = {value!r}; a finite number is required")
    return number

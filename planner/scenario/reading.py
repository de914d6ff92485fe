"""Reading scenario files safely: every failure becomes a Problem, never a traceback or a hang.

* only regular files are opened (a folder, FIFO or device named like an input is refused, so a
  FIFO can never block the reader), and a file larger than ``MAX_FILE_BYTES`` is refused;
* text must be UTF-8 (a byte-order mark is accepted); other bytes are reported with their offset;
* CSV tables are parsed with the csv module, so that the raw header can be checked (a column named
  twice is refused instead of being renamed ``capex.1``) and a row with more or fewer fields than
  the header is reported with its row number instead of shifting columns;
* workbooks are read with openpyxl, twice: formula cells without a saved value are reported
  (openpyxl gives None for them, which would otherwise read as an empty cell).

Row numbers are spreadsheet rows: the header is row 1. Tables are returned as all-text
DataFrames (NaN for empty cells) whose index is the row number minus 2, blank rows dropped.
"""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import ProblemList
from planner.scenario.schema import MAX_FILE_BYTES

HEADER_ROWS = 2  # DataFrame index 0 is spreadsheet row 2


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def regular_file(path: Path, label: str, problems: ProblemList) -> bool:
    """True if `path` is a readable regular file of acceptable size; else a Problem."""
    try:
        info = os.stat(path)
    except PermissionError:
        problems.add(label, f"cannot be read: permission denied ({path}); make it readable.")
        return False
    except OSError as err:
        problems.add(label, f"cannot be opened ({err.strerror or err}); check the path {path}.")
        return False
    if not stat.S_ISREG(info.st_mode):
        problems.add(label, f"is {_kind(info.st_mode)}, not a file ({path}); replace it with the "
                     "file itself.")
        return False
    if info.st_size > MAX_FILE_BYTES:
        problems.add(label, f"is {info.st_size / 1024 ** 2:,.0f} MB, larger than the "
                     f"{MAX_FILE_BYTES // 1024 ** 2} MB a scenario file may have; split or "
                     "aggregate the data.")
        return False
    return True


def read_bytes(path: Path, label: str, problems: ProblemList) -> bytes | None:
    if not regular_file(path, label, problems):
        return None
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open cannot hang
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                problems.add(label, f"is not a regular file ({path}); replace it with the file.")
                return None
            with os.fdopen(fd, "rb", closefd=False) as f:
                return f.read(MAX_FILE_BYTES + 1)
        finally:
            os.close(fd)
    except PermissionError:
        problems.add(label, f"cannot be read: permission denied ({path}); make it readable.")
    except OSError as err:
        problems.add(label, f"cannot be read ({err.strerror or err}); check the file {path}.")
    return None


def decode_utf8(data: bytes, label: str, problems: ProblemList) -> str | None:
    """UTF-8 text (a leading byte-order mark is dropped); else a Problem with the byte offset."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
        offset = 3
    else:
        offset = 0
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        problems.add(label, f"is not UTF-8 text (byte {err.start + offset}, line {line}: "
                     f"{data[err.start:err.start + 4]!r}); save it as UTF-8 (in Excel: "
                     "'CSV UTF-8'; in an editor: encoding UTF-8).")
        return None
    if "\x00" in text:
        problems.add(label, f"contains NUL bytes (byte {text.index(chr(0)) + offset}); it is "
                     "not a text file: save it as UTF-8 text.")
        return None
    return text


def read_text(path: Path, label: str, problems: ProblemList) -> str | None:
    data = read_bytes(path, label, problems)
    return None if data is None else decode_utf8(data, label, problems)


def read_csv(path: Path, label: str, problems: ProblemList) -> pd.DataFrame | None:
    """A CSV table as an all-text DataFrame; None (and Problems) if it cannot be used."""
    text = read_text(path, label, problems)
    if text is None:
        return None
    try:
        rows = list(csv.reader(io.StringIO(text, newline=""), skipinitialspace=True,
                               strict=True))
    except csv.Error as err:
        problems.add(label, f"cannot be read as a CSV table ({err}); check quotes and "
                     "separators (a comma between fields).")
        return None
    return frame_from_rows(rows, label, problems)


def _blank(cell) -> bool:
    return cell is None or (isinstance(cell, float) and np.isnan(cell)) or \
        (isinstance(cell, str) and not cell.strip())


def frame_from_rows(rows: list[list], label: str, problems: ProblemList,
                    ragged: str = "fields") -> pd.DataFrame | None:
    """Check a header and rows (row 1 = header) and build the all-text table."""
    if not rows or all(_blank(c) for c in rows[0]):
        if any(not all(_blank(c) for c in r) for r in rows):
            problems.add(label, "row 1 must be the header (the column names); it is empty.",
                         rows=[1])
            return None
        return pd.DataFrame()
    header = ["" if _blank(c) else str(c).strip() for c in rows[0]]
    ok = True
    seen: dict[str, int] = {}
    for pos, name in enumerate(header):
        if not name:
            continue
        folded = name.casefold()
        if folded in seen:
            first = header[seen[folded]]
            problems.add(label, f"the header names column '{name}' twice (columns "
                         f"{seen[folded] + 1} and {pos + 1}"
                         f"{'' if first == name else f', as {first!r} and {name!r}'}); "
                         "each column must appear once: delete or rename one.", name, [1])
            ok = False
        else:
            seen[folded] = pos
    width = len(header)
    data: list[list] = []
    index: list[int] = []
    bad_rows: dict[int, list[int]] = {}
    for number, row in enumerate(rows[1:], start=2):
        if all(_blank(c) for c in row):
            continue  # blank rows are dropped; row numbers stay those of the file
        if len(row) != width:
            if ragged == "fields":
                bad_rows.setdefault(len(row), []).append(number)
                continue
            # workbook rows: cells beyond the header are only a problem if they hold something
            if any(not _blank(c) for c in row[width:]):
                bad_rows.setdefault(len(row), []).append(number)
                continue
            row = list(row[:width]) + [None] * (width - len(row))
        data.append([np.nan if _blank(c) else str(c).strip() for c in row])
        index.append(number - HEADER_ROWS)
    for count, numbers in bad_rows.items():
        if ragged == "fields":
            problems.add(label, f"{len(numbers)} row(s) have {count} field(s) but the header has "
                         f"{width}; every row needs one field per column (check for a missing "
                         "or extra comma, or quote a value that contains a comma).",
                         rows=numbers)
        else:
            problems.add(label, "cells to the right of the last header column hold values; "
                         "give that column a header name or clear the cells.", rows=numbers)
        ok = False
    unnamed = [pos for pos, name in enumerate(header) if not name]
    for pos in unnamed:
        if any(not _blank(r[pos]) for r in data):
            rows_with = [i + HEADER_ROWS for r, i in zip(data, index) if not _blank(r[pos])]
            problems.add(label, f"column {pos + 1} holds values but has no name in the header "
                         "(row 1); name it or delete it.", rows=rows_with)
            ok = False
    if not ok:
        return None
    keep = [pos for pos, name in enumerate(header) if name]
    frame = pd.DataFrame([[r[p] for p in keep] for r in data], index=index,
                         columns=[header[p] for p in keep], dtype=object)
    if not data:
        frame = pd.DataFrame({header[p]: pd.Series(dtype=object) for p in keep})
    return frame


# --- workbooks ---------------------------------------------------------------------------------
def _cell_text(value):
    """A workbook cell as the text a CSV file would hold (numbers as pandas writes them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _native(value):
    """A `scenario` sheet value: whole floats become ints (as pandas reads them)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def read_workbook(path: Path, label: str, problems: ProblemList
                  ) -> tuple[list[list] | None, dict[str, list[list]]] | None:
    """(scenario sheet rows or None when the workbook has no 'scenario' sheet, {sheet: rows})
    with native values; formula cells without a saved value are reported. None if the workbook
    cannot be read."""
    if not regular_file(path, label, problems):
        return None
    # lazy: openpyxl (0.1 s) loads only for a workbook, not for a scenario folder
    import openpyxl
    from openpyxl.utils import get_column_letter

    try:
        values = openpyxl.load_workbook(path, read_only=True, data_only=True)
        formulas = openpyxl.load_workbook(path, read_only=True, data_only=False)
    except PermissionError:
        problems.add(label, f"cannot be read: permission denied ({path}); make it readable.")
        return None
    except Exception as err:  # openpyxl raises many kinds for a damaged file
        problems.add(label, f"cannot be read as an Excel workbook ({type(err).__name__}: {err}); "
                     "save it again from Excel as .xlsx.")
        return None
    sheets: dict[str, list[list]] = {}
    try:
        for ws in values.worksheets:
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            missing = []
            if any(c is None for r in rows for c in r):
                for r, (vrow, frow) in enumerate(zip(rows, formulas[ws.title].iter_rows(
                        values_only=True)), start=1):
                    for c, (v, f) in enumerate(zip(vrow, frow), start=1):
                        if v is None and f is not None and (not isinstance(f, str)
                                                            or f.startswith("=")):
                            missing.append(f"{get_column_letter(c)}{r}")
            if missing:
                shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more"
                                                  if len(missing) > 5 else "")
                problems.add(f"sheet '{ws.title}'", f"cell {shown} is a formula without a saved "
                             "value: open and save the workbook in Excel, or type the value.",
                             rows=sorted({int("".join(ch for ch in m if ch.isdigit()))
                                          for m in missing}))
            sheets[ws.title] = rows
    except Exception as err:
        problems.add(label, f"cannot be read as an Excel workbook ({type(err).__name__}: {err}); "
                     "save it again from Excel as .xlsx.")
        return None
    finally:
        values.close()
        formulas.close()
    return sheets.pop("scenario", None), sheets


def workbook_table(rows: list[list], label: str, problems: ProblemList) -> pd.DataFrame | None:
    return frame_from_rows([[_cell_text(c) for c in r] for r in rows], label, problems,
                           ragged="cells")


def settings_from_rows(rows: list[list], label: str, problems: ProblemList) -> dict:
    """The `scenario` sheet: two columns, key and value; dotted keys nest (travel.speed_kmh)."""
    rows = [r for r in rows if any(not _blank(c) for c in r)]
    if not rows:
        problems.add(label, "is empty; it needs two columns: key (name, travel.speed_kmh, ...) "
                     "and value.")
        return {}
    if max(len(r) for r in rows) < 2 or all(len(r) < 2 or _blank(r[1]) for r in rows):
        problems.add(label, "has only one column; it needs two: key (name, travel.speed_kmh, "
                     "...) and value.")
        return {}
    data: dict = {}
    origin: dict[tuple, int] = {}
    for number, row in enumerate(rows, start=1):
        key, value = row[0], (row[1] if len(row) > 1 else None)
        if _blank(key):
            if not _blank(value):
                problems.add(label, "a value without a key; write the setting's name in the "
                             "first column.", "key", [number])
            continue
        key = str(key).strip()
        if number == 1 and key.lower() == "key":
            continue  # an optional "key | value" header
        parts = tuple(p.strip() for p in key.split("."))
        if any(not p for p in parts):
            problems.add(label, f"key '{key}' has an empty part; write e.g. travel.speed_kmh.",
                         "key", [number])
            continue
        value = _native(value)
        if isinstance(value, str) and parts[-1] == "grassroots_tiers":
            value = tuple(v.strip() for v in value.split(";") if v.strip())
        target, clash = data, None
        for depth, p in enumerate(parts[:-1]):
            prefix = parts[:depth + 1]
            if p in target and not isinstance(target[p], dict):
                clash = prefix
                break
            target = target.setdefault(p, {})
        if clash is None and parts[-1] in target:
            clash = parts
        if clash is not None:
            problems.add(label, f"key '{key}' conflicts with '{'.'.join(clash)}' (row "
                         f"{origin.get(clash, '?')}); a setting is given once, either as a "
                         "value or as dotted sub-keys.", "key", [number])
            continue
        target[parts[-1]] = value
        for depth in range(len(parts)):
            origin.setdefault(parts[:depth + 1], number)
    return data

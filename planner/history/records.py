"""Between Python values and the history's rows: JSON-safe values, times, and the decisions and
transfers tables.

Everything written is checked first, so a malformed table is refused (ValueError: a caller's
bug, not a user's) before the transaction starts, and everything read comes back in one
canonical form: decisions sorted as in decisions.csv with from_site '' when empty, transfers
in the order they were given, times as ISO-8601 UTC strings ("2026-12-03T06:40:17.123Z").
"""

from __future__ import annotations

import math
import os
from datetime import date, datetime, timezone

import numpy as np
import pandas as pd

from planner.history.tables import DECISION_COLUMNS, DECISION_KINDS, TRANSFER_COLUMNS


def plain(value):
    """A JSON-safe copy: numpy scalars as Python numbers, NaN and infinities as None, tuples as
    lists, keys as strings, paths and times as strings."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, (pd.Series, pd.DataFrame)):
        return plain(value.to_dict())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def number(value) -> float | None:
    """A float column's value: None for missing, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def now() -> datetime:
    return datetime.now(timezone.utc)


def iso(value: datetime | None) -> str | None:
    """A stored time as ISO-8601 UTC with milliseconds (SQLite returns it without a zone: it was
    written in UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    value = value.astimezone(timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


# --- decisions ---------------------------------------------------------------------------------
def decision_rows(run_id: int, frame: pd.DataFrame | None) -> list[dict]:
    """The rows of a decisions table (decision, site_id, resource, from_site, amount), checked:
    a known decision kind, a site, a resource, from_site exactly for relocations, a whole amount
    above zero, each decision once."""
    if frame is None:
        return []
    missing = [c for c in DECISION_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"decisions: missing column(s) {missing}; expected {DECISION_COLUMNS}")
    rows, seen = [], set()
    for n, rec in enumerate(frame[DECISION_COLUMNS].to_dict("records")):
        kind, site, resource = rec["decision"], _text(rec["site_id"]), _text(rec["resource"])
        from_site, amount = _text(rec["from_site"]), rec["amount"]
        if kind not in DECISION_KINDS:
            raise ValueError(f"decisions row {n}: decision {kind!r} is not one of {DECISION_KINDS}")
        if not site or not resource:
            raise ValueError(f"decisions row {n}: site_id and resource are required")
        if (kind == "relocated") != bool(from_site):
            raise ValueError(f"decisions row {n}: from_site is required for relocated decisions "
                             "and must be empty for the others")
        if not _whole_positive(amount):
            raise ValueError(f"decisions row {n}: amount {amount!r} is not a whole number > 0")
        key = (kind, site, resource, from_site)
        if key in seen:
            raise ValueError(f"decisions row {n}: {key} is listed twice")
        seen.add(key)
        rows.append({"run_id": run_id, "decision": kind, "site_id": site, "resource": resource,
                     "from_site": from_site, "amount": round(float(amount))})
    return rows


def decisions_frame(rows) -> pd.DataFrame:
    """Stored decision rows -> the decisions table in the order of decisions.csv (decision kind,
    then site_id, resource, from_site)."""
    records = [(r.decision, r.site_id, r.resource, r.from_site or "", int(r.amount))
               for r in rows]
    rank = {kind: k for k, kind in enumerate(DECISION_KINDS)}
    records.sort(key=lambda r: (rank[r[0]], r[1], r[2], r[3]))
    frame = pd.DataFrame(records, columns=DECISION_COLUMNS)
    for column in DECISION_COLUMNS[:-1]:
        frame[column] = frame[column].astype(str)
    frame["amount"] = frame["amount"].astype(np.int64)
    return frame


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    return str(value)


def _whole_positive(value) -> bool:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return False
    return math.isfinite(value) and value > 0 and abs(value - round(value)) < 1e-6


# --- transfers ---------------------------------------------------------------------------------
def transfer_rows(run_id: int, frame: pd.DataFrame | None) -> list[dict]:
    """The rows of a transfers table (member, then the six amounts), in the order given."""
    if frame is None:
        return []
    source = frame.reset_index() if "member" not in frame.columns else frame
    missing = [c for c in TRANSFER_COLUMNS if c not in source.columns]
    if missing:
        raise ValueError(f"transfers: missing column(s) {missing}; expected {TRANSFER_COLUMNS}")
    members = [str(m) for m in source["member"]]
    if len(set(members)) != len(members):
        raise ValueError("transfers: a member is listed twice")
    rows = []
    for position, rec in enumerate(source[TRANSFER_COLUMNS].to_dict("records")):
        rows.append({"run_id": run_id, "member": members[position], "position": position,
                     **{c: number(rec[c]) for c in TRANSFER_COLUMNS[1:]}})
    return rows


def transfers_frame(rows) -> pd.DataFrame:
    records = [[r.member, *(getattr(r, c) for c in TRANSFER_COLUMNS[1:])]
               for r in sorted(rows, key=lambda r: r.position)]
    frame = pd.DataFrame(records, columns=TRANSFER_COLUMNS)
    frame["member"] = frame["member"].astype(str)
    for column in TRANSFER_COLUMNS[1:]:
        frame[column] = frame[column].astype(float)
    return frame

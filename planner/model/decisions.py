"""Decisions: the plan's table of what to do, the commitments that bound it, and what changed.

A plan's decisions (docs/design.md section 7) are its non-zero integer choices, one row each:
`new_units` (site_id, resource = equipment), `relocated` (units of `resource` moved from
`from_site` to `site_id`), `outreach_days` (site_id, resource = specialty) and
`hired_radiologists` (FTE hired at a [reading] centre site_id, resource = `radiologists`,
docs/design.md section 9). The same table,
read from a scenario's `implemented.csv`, bounds the next plan; and two such tables compared give
the changes a re-plan counts (`changes` = the sum of |after - before| over every decision).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model.inputs import ModelInputs
from planner.scenario.schema import DECISION_COLUMNS, DECISIONS
from planner.scenario.validate import RADIOLOGISTS

KEY = ["decision", "site_id", "resource", "from_site"]
CHANGE_COLUMNS = KEY + ["before", "after"]


def model_key(decision: str, site_id, resource: str, from_site) -> tuple:
    """The index of a decision's variable (its kind names the variable): (site, resource), or
    (from, to, resource) for `relocated`, the centre alone for `hired_radiologists`."""
    if decision == "hired_radiologists":
        return site_id
    return (from_site, site_id, resource) if decision == "relocated" else (site_id, resource)


def decision_table(new: pd.Series, moved: pd.Series, days: pd.Series,
                   hired: pd.Series | None = None) -> pd.DataFrame:
    """The non-zero decisions, in a fixed order (decision kind, site, resource, from_site).

    `new` is indexed by (site_id, equipment), `moved` by (from_site, to_site, equipment),
    `days` by (site_id, specialty), `hired` ([reading]) by the centre's site_id; values are
    whole numbers."""
    rows = [("new_units", i, e, "", n) for (i, e), n in new.items() if n > 0]
    rows += [("relocated", j, e, i, n) for (i, j, e), n in moved.items() if n > 0]
    rows += [("outreach_days", i, s, "", n) for (i, s), n in days.items() if n > 0]
    rows += [("hired_radiologists", c, RADIOLOGISTS, "", n)
             for c, n in (hired if hired is not None else pd.Series(dtype=int)).items() if n > 0]
    return normalise(pd.DataFrame(rows, columns=DECISION_COLUMNS))


def normalise(decisions: pd.DataFrame) -> pd.DataFrame:
    """Decisions with from_site "" where empty, whole amounts and the canonical row order, so
    that tables from a plan, a CSV file or the run history compare equal."""
    frame = decisions.reindex(columns=DECISION_COLUMNS).copy()
    frame["from_site"] = frame["from_site"].where(frame["from_site"].notna(), "")
    for c in KEY:
        frame[c] = frame[c].astype(str)
    frame["amount"] = pd.to_numeric(frame["amount"]).round().astype(np.int64)
    frame = frame.groupby(KEY, as_index=False, sort=False)["amount"].sum()   # duplicates add up
    return _ordered(frame[frame["amount"] != 0])


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the order of decisions.csv: decision kind, site, resource, from_site."""
    order = frame["decision"].map({d: k for k, d in enumerate(DECISIONS)})
    frame = frame.assign(_order=order).sort_values(["_order", "site_id", "resource", "from_site"],
                                                   kind="stable")
    return frame.drop(columns="_order").reset_index(drop=True)


def decision_changes(before: pd.DataFrame | None, after: pd.DataFrame) -> pd.DataFrame:
    """One row per decision whose amount differs (decision, site_id, resource, from_site,
    before, after); `before` None or empty means every decision of `after` is new."""
    after = normalise(after).set_index(KEY)["amount"]
    if before is None:
        before = pd.DataFrame(columns=DECISION_COLUMNS)
    before = normalise(before).set_index(KEY)["amount"]
    keys = before.index.union(after.index)
    both = pd.DataFrame({"before": before.reindex(keys, fill_value=0),
                         "after": after.reindex(keys, fill_value=0)}, index=keys)
    both = both.astype(np.int64)
    both = both[both["before"] != both["after"]].reset_index()
    return _ordered(both.reindex(columns=CHANGE_COLUMNS))


def change_count(changes: pd.DataFrame) -> int:
    """changes = sum |after - before| (docs/design.md section 7)."""
    return int((changes["after"] - changes["before"]).abs().sum()) if len(changes) else 0


# What one unit of each decision kind counts, for people: a change count adds units and days.
CHANGE_UNITS = {"new_units": ("new unit", "new units"),
                "relocated": ("relocated unit", "relocated units"),
                "outreach_days": ("outreach day", "outreach days"),
                "hired_radiologists": ("radiologist hired (FTE)", "radiologists hired (FTE)")}


def changes_by_kind(changes: pd.DataFrame) -> dict:
    """{kind: {"decisions": rows of changes.csv, "amount": sum |after - before|}} for each
    decision kind with a change, in decisions.csv order; the amounts add up to change_count."""
    moved = (changes["after"] - changes["before"]).abs()
    return {kind: {"decisions": int((changes["decision"] == kind).sum()),
                   "amount": int(moved[changes["decision"] == kind].sum())}
            for kind in DECISIONS if (changes["decision"] == kind).any()}


def changes_in_words(by_kind: dict) -> str:
    """'85 decisions changed: 12 new units, 3 relocated units, 1,785 outreach days' (each kind
    counted in its own unit; never one sum of units and days); 'no decision changed'."""
    rows = sum(k["decisions"] for k in by_kind.values())
    if rows == 0:
        return "no decision changed"
    parts = [f"{by_kind[kind]['amount']:,} {CHANGE_UNITS[kind][by_kind[kind]['amount'] != 1]}"
             for kind in DECISIONS if kind in by_kind]   # stored JSON may sort the keys
    return f"{rows:,} decision{'s' if rows != 1 else ''} changed: {', '.join(parts)}"


# --- commitments (implemented.csv) ------------------------------------------------------------
def commitment_targets(inp: ModelInputs) -> list[tuple[pd.Series, list[tuple]]]:
    """Each implemented.csv row with the model keys it bounds: (site, equipment) of new_units,
    (from, to, equipment) of relocated, (site, specialty) of outreach_days. An empty list means
    the plan has no such decision (the tier may not hold the equipment, the site has no units to
    move...): :func:`planner.model.diagnose.precheck` explains it before solving."""
    new = set(map(tuple, inp.new_pairs.to_numpy()))
    moves = list(map(tuple, inp.moves.to_numpy()))
    days = {(i, s) for i in inp.sites.index for s in inp.specialties.index}
    out: list[tuple[pd.Series, list]] = []
    for _, row in inp.commitments.iterrows():
        i, k = row["site_id"], row["resource"]
        if row["decision"] == "relocated":   # an empty site_id: every destination
            keys = [m for m in moves if m[0] == row["from_site"] and m[2] == k
                    and (pd.isna(i) or m[1] == i)]
        elif row["decision"] == "hired_radiologists":   # hires exist at [reading] centres only
            keys = [i] if i in inp.reading_centres else []
        else:
            key = model_key(row["decision"], i, k, None)
            keys = [key] if key in (new if row["decision"] == "new_units" else days) else []
        out.append((row, keys))
    return out


def decision_bounds(inp: ModelInputs) -> dict[str, dict[tuple, list]]:
    """{variable name: {key: [lower, upper]}} from the commitments (upper None = unbounded)."""
    bounds: dict[str, dict] = {"new_units": {}, "relocated": {}, "outreach_days": {},
                               "hired_radiologists": {}}
    for row, keys in commitment_targets(inp):
        for key in keys:
            lower, upper = bounds[row["decision"]].setdefault(key, [0.0, None])
            amount = float(row["amount"])
            if row["limit"] == "at_most":
                upper = amount if upper is None else min(upper, amount)
            else:
                lower = max(lower, amount)
            bounds[row["decision"]][key] = [lower, upper]
    return bounds

"""What changed between two plans, as tidy tables: decisions, units in service by site,
relocations, outreach days, capital by member, KPIs and annual cost by term and by member.

A plan to compare is a :class:`planner.results.plan.Plan`, a plan folder (its plan.json,
decisions.csv and, when present, equipment.csv, budget.csv, ledger.csv and the sites of
plan.gpkg), or a run of the history (`planner diff RUN_A RUN_B`); all become a
:class:`~planner.results.folders.PlanRecord` (planner.results.folders reads them). A run records
only its decisions, KPIs and cost terms, so the tables that need a plan's own tables (units,
capital, costs by member, sites) are empty for it. The decision changes are the same table a re-plan
writes as changes.csv (:func:`planner.model.decisions.decision_changes`); every other table has the
columns of its keys then ``before, after, change`` (after minus before), one row per key that is
non-zero in either plan, sorted by the keys.

The tables keep the plans' exact values (tests re-derive them). What a person or a script reads
(`summary`, `to_json`: `planner diff`) is rounded: money to the currency's cents, units, days and
shares to DIGITS decimals, the change recomputed from the rounded values; the summary leaves out
what did not change once rounded, and prints no e-notation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from planner.model.decisions import change_count, decision_changes, normalise
from planner.model.ledger import term_words
from planner.results.files import json_safe
from planner.results.folders import CompareError, PlanRecord, from_folder

CHANGE = ["before", "after", "change"]
CENT_DIGITS = 2            # money: the currency's cents
DIGITS = 6                 # unit counts, days, shares
MONEY_TABLES = ("capital", "costs", "member_costs", "fund")
MONEY_KPIS = ("annual_cost", "capital_budget", "capital_used")   # the other KPIs are not money


def _empty(*keys: str) -> pd.DataFrame:
    return pd.DataFrame(columns=[*keys, *CHANGE])


@dataclass(frozen=True)
class Comparison:
    """Tables of what changed from `before` to `after` (labels of the two plans).

    The map of a comparison (units gained and lost by site, relocations as arrows) reads
    `units`, `relocations` and `sites`, which holds the coordinates of both plans' sites.
    """

    before: str
    after: str
    decisions: pd.DataFrame   # decision, site_id, resource, from_site, before, after
    kpis: pd.DataFrame        # kpi, before, after, change (numbers only; nested keys dotted)
    costs: pd.DataFrame       # term, before, after, change (annual cost by objective term)
    units: pd.DataFrame = field(default_factory=lambda: _empty("site_id", "equipment"))
    relocations: pd.DataFrame = field(
        default_factory=lambda: _empty("from_site", "to_site", "equipment"))
    outreach: pd.DataFrame = field(default_factory=lambda: _empty("site_id", "specialty"))
    capital: pd.DataFrame = field(default_factory=lambda: _empty("member"))
    member_costs: pd.DataFrame = field(default_factory=lambda: _empty("member", "term"))
    sites: pd.DataFrame = field(default_factory=pd.DataFrame)
    # account, before, after, change: the fund's accounts (docs/design.md section 8), when both
    # plans have them
    fund: pd.DataFrame = field(default_factory=lambda: _empty("account"))

    TABLES = ("decisions", "units", "relocations", "outreach", "capital", "kpis", "costs",
              "member_costs", "fund")

    @property
    def changes(self) -> int:
        return change_count(self.decisions)

    def costs_by_member(self) -> pd.DataFrame:
        """member, before, after, change: the annual cost each member bears (all terms)."""
        if self.member_costs.empty:
            return _empty("member")
        return self.member_costs.groupby("member", as_index=False, sort=True)[CHANGE].sum()

    def explore(self, *, tiles: str | None = "OpenStreetMap"):
        """A folium map: sites coloured by the change in their units in service (added,
        removed, changed, unchanged), the relocations of both plans (planner/pictures/map.py)."""
        # Upward import 2 of the house's 2 (docs/architecture.md): a façade of the public API
        # over pictures/; lazy, so folium loads only to draw a map.
        from planner.pictures.map import comparison_map
        return comparison_map(self, tiles=tiles)

    def rounded(self, name: str) -> pd.DataFrame:
        """Table `name` (one of TABLES, or "costs_by_member") as people read it: money to the
        cents, the rest to DIGITS decimals (:func:`rounded`)."""
        table = self.costs_by_member() if name == "costs_by_member" else getattr(self, name)
        return rounded(table, is_money(name, table))

    def to_json(self) -> dict:
        """Every table, rounded (numbers stay numbers)."""
        data = {"before": self.before, "after": self.after, "changes": self.changes}
        data.update({name: self.rounded(name).to_dict("records") for name in self.TABLES})
        return json_safe(data)

    def summary(self) -> str:
        """The decision changes, then each table's rows that changed once rounded; money with
        thousands separators and cents, cost terms in words."""
        lines = [f"{self.before} -> {self.after}: {self.changes} change(s) in the decisions."]
        lines += self._surplus_lines()
        if len(self.decisions):
            lines.append(self.decisions.to_string(index=False))
        sections = [("Units in service that changed:", "units"),
                    ("Capital spent by member that changed:", "capital"),
                    ("KPIs that changed:", "kpis"),
                    ("Annual cost by term that changed:", "costs"),
                    ("Annual cost borne by member that changed:", "costs_by_member"),
                    ("Fund accounts that changed:", "fund")]
        for title, name in sections:
            table = self.rounded(name)
            money = is_money(name, table)
            moved = (table["change"] != 0).to_numpy()
            if moved.any():
                shown = table[moved].reset_index(drop=True)
                if name == "costs":
                    shown["term"] = shown["term"].map(term_words)
                lines += ["", title, _text(shown, money[moved])]
        return "\n".join(lines)


    def _surplus_lines(self) -> list[str]:
        """The fund's surplus before and after (negative: a deficit), when both plans have a
        fund."""
        table = self.rounded("fund")
        row = table[table["account"] == "surplus"] if len(table) else table
        if row.empty:
            return []
        before, after, change = (float(row[c].iloc[0]) for c in CHANGE)
        return [f"Fund surplus: {_number(before, True)} -> {_number(after, True)} "
                f"({_number(change, True, sign=True)}; negative: a deficit)"]


def is_money(name: str, table: pd.DataFrame) -> np.ndarray:
    """Which rows of comparison table `name` are money: all of capital and the cost tables;
    the KPIs named in MONEY_KPIS (nested keys by their first part); nothing else."""
    if name in (*MONEY_TABLES, "costs_by_member"):
        return np.ones(len(table), dtype=bool)
    if name == "kpis":
        return table["kpi"].astype(str).str.split(".").str[0].isin(MONEY_KPIS).to_numpy()
    return np.zeros(len(table), dtype=bool)


def rounded(table: pd.DataFrame, money: np.ndarray) -> pd.DataFrame:
    """before and after rounded (money rows to CENT_DIGITS, others to DIGITS); change is after
    minus before of the rounded values, so the three agree to the cent."""
    out = table.copy()
    if out.empty:
        return out

    def round_rows(values: pd.Series) -> np.ndarray:
        x = values.to_numpy(float)
        return np.where(money, np.round(x, CENT_DIGITS), np.round(x, DIGITS)) + 0.0

    for column in ("before", "after"):
        out[column] = round_rows(out[column])
    out["change"] = round_rows(out["after"] - out["before"])
    if all(float(v).is_integer() for v in out[CHANGE].to_numpy().ravel()):
        out[CHANGE] = out[CHANGE].astype(np.int64)
    return out


def _number(value: float, money: bool, sign: bool = False) -> str:
    """A rounded number for the terminal: money with thousands separators and cents, whole
    numbers without decimals, others with up to DIGITS decimals; never e-notation."""
    plus = "+" if sign else ""
    if money:
        return f"{value:{plus},.{CENT_DIGITS}f}"
    if float(value).is_integer():
        return f"{value:{plus},.0f}"
    return f"{value:{plus},.{DIGITS}f}".rstrip("0")


def _text(table: pd.DataFrame, money: np.ndarray) -> str:
    """A rounded table as text: keys left-aligned, before/after/change (`_number`) right-aligned."""
    keys = [c for c in table.columns if c not in CHANGE]
    cells = {c: [str(v) for v in table[c]] for c in keys}
    cells.update({c: [_number(v, m, sign=c == "change") for v, m in zip(table[c], money)]
                  for c in CHANGE})
    widths = {c: max(len(c), *(len(v) for v in cells[c])) for c in cells}

    def line(values: dict) -> str:
        return " ".join([*(values[c].ljust(widths[c]) for c in keys),
                         *(values[c].rjust(widths[c]) for c in CHANGE)]).rstrip()

    rows = [line({c: c for c in cells})]
    rows += [line({c: cells[c][k] for c in cells}) for k in range(len(table))]
    return "\n".join(rows)


def flatten(data: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested dicts, keyed by dotted paths."""
    out: dict[str, float] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, (int, float)) and not isinstance(value, bool) and \
                value is not None and math.isfinite(value):
            out[name] = float(value)
    return out


def _side_by_side(before: dict, after: dict, name: str) -> pd.DataFrame:
    keys = sorted(set(before) | set(after))
    frame = pd.DataFrame({name: keys, "before": [before.get(k, 0.0) for k in keys],
                          "after": [after.get(k, 0.0) for k in keys]})
    frame["change"] = frame["after"] - frame["before"]
    return frame


def before_after(before: pd.Series | None, after: pd.Series | None,
                 keys: list[str]) -> pd.DataFrame:
    """Two Series indexed by `keys` side by side: keys, before, after, change; a key missing on
    one side is 0 there, keys zero on both sides are left out. Empty when either side is None
    (its source does not have the table)."""
    if before is None or after is None:
        return _empty(*keys)
    both = pd.concat([before.rename("before"), after.rename("after")], axis=1).fillna(0)
    both = both[(both["before"] != 0) | (both["after"] != 0)]
    both["change"] = both["after"] - both["before"]
    both = both.sort_index().reset_index()
    both.columns = [*keys, *CHANGE]
    if all(float(v).is_integer() for v in both[CHANGE].to_numpy().ravel()):
        both[CHANGE] = both[CHANGE].astype(np.int64)
    return both


def _summed(table: pd.DataFrame | None, keys: list[str], value: str,
            rename: dict | None = None) -> pd.Series | None:
    if table is None:
        return None
    frame = table.rename(columns=rename or {})
    return frame.groupby(keys, sort=True)[value].sum().astype(float)


def _decisions_of(decisions: pd.DataFrame, kind: str, keys: list[str]) -> pd.Series:
    """The amounts of one decision kind, indexed by `keys` (from decisions.csv's columns)."""
    rows = normalise(decisions)
    rows = rows[rows["decision"] == kind].rename(
        columns={"site_id": "to_site" if kind == "relocated" else "site_id",
                 "resource": "equipment" if kind != "outreach_days" else "specialty"})
    return rows.groupby(keys, sort=True)["amount"].sum().astype(float)


def _sites(a: PlanRecord, b: PlanRecord) -> pd.DataFrame:
    frames = [r.sites for r in (b, a) if r.sites is not None and len(r.sites)]
    if not frames:
        return pd.DataFrame()
    return pd.concat(frames, ignore_index=True).drop_duplicates("site_id") \
        .sort_values("site_id", kind="stable").reset_index(drop=True)


def compare(before, after, *, labels: tuple[str, str] | None = None) -> Comparison:
    """Compare two plans (Plan objects, plan folders or PlanRecords): `after` minus `before`.

    `labels` names the two plans in the tables' summary (default: "before"/"after" for Plans,
    the folder for plan folders, "run N" for runs).
    """
    a, b = as_record(before, "before"), as_record(after, "after")
    if labels is not None:
        a, b = replace(a, label=str(labels[0])), replace(b, label=str(labels[1]))
    units = before_after(_summed(a.equipment, ["site_id", "equipment"], "total"),
                         _summed(b.equipment, ["site_id", "equipment"], "total"),
                         ["site_id", "equipment"])
    moves = ["from_site", "to_site", "equipment"]
    relocations = before_after(_decisions_of(a.decisions, "relocated", moves),
                               _decisions_of(b.decisions, "relocated", moves), moves)
    days = ["site_id", "specialty"]
    outreach = before_after(_decisions_of(a.decisions, "outreach_days", days),
                            _decisions_of(b.decisions, "outreach_days", days), days)
    capital = before_after(_summed(a.budget, ["member"], "capital_used"),
                           _summed(b.budget, ["member"], "capital_used"), ["member"])
    member_costs = before_after(_summed(a.ledger, ["member", "term"], "amount"),
                                _summed(b.ledger, ["member", "term"], "amount"),
                                ["member", "term"])
    fund = (_side_by_side(flatten(a.fund), flatten(b.fund), "account")
            if a.fund is not None and b.fund is not None else _empty("account"))
    return Comparison(a.label, b.label, decision_changes(a.decisions, b.decisions),
                      _side_by_side(flatten(a.kpis), flatten(b.kpis), "kpi"),
                      _side_by_side(a.costs, b.costs, "term"), units, relocations, outreach,
                      capital, member_costs, _sites(a, b), fund)


def as_record(plan, label: str) -> PlanRecord:
    if isinstance(plan, PlanRecord):
        return plan
    if isinstance(plan, (str, Path)):
        return from_folder(Path(plan))
    if getattr(plan, "objective", None) is None:
        raise CompareError(f"the {label} plan has no solution (status {plan.status}); there is "
                           "nothing to compare.")
    return PlanRecord(label, plan.decisions, plan.kpis, plan.costs.to_dict(), plan.objective,
                      plan.equipment, plan.budget, plan.ledger, plan.geometry.get("sites"),
                      plan.fund)

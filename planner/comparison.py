"""What changed between two plans: decisions, KPIs and cost terms, as tidy tables.

A plan to compare is a :class:`planner.plan.Plan`, a plan folder (its decisions.csv and
plan.json), or a run of the history (`planner diff RUN_A RUN_B`); all become a
:class:`PlanRecord`. The decision changes are the same table a re-plan writes as changes.csv
(:func:`planner.decisions.decision_changes`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from planner.decisions import change_count, decision_changes
from planner.errors import PlannerError


class CompareError(PlannerError):
    """A plan to compare cannot be read (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class PlanRecord:
    """The parts of a plan a comparison reads."""

    label: str
    decisions: pd.DataFrame
    kpis: dict
    costs: dict
    objective: float | None


@dataclass(frozen=True)
class Comparison:
    """Tables of what changed from `before` to `after`."""

    before: str
    after: str
    decisions: pd.DataFrame   # decision, site_id, resource, from_site, before, after
    kpis: pd.DataFrame        # kpi, before, after, change (numbers only; nested keys dotted)
    costs: pd.DataFrame       # term, before, after, change (annual cost by objective term)

    @property
    def changes(self) -> int:
        return change_count(self.decisions)

    def to_json(self) -> dict:
        from planner.output import json_safe
        return json_safe({"before": self.before, "after": self.after, "changes": self.changes,
                          "decisions": self.decisions.to_dict("records"),
                          "kpis": self.kpis.to_dict("records"),
                          "costs": self.costs.to_dict("records")})

    def summary(self) -> str:
        lines = [f"{self.before} -> {self.after}: {self.changes} change(s) in the decisions."]
        if len(self.decisions):
            lines.append(self.decisions.to_string(index=False))
        moved = self.kpis[self.kpis["change"].abs() > 1e-12]
        if len(moved):
            lines += ["", "KPIs that changed:", moved.to_string(index=False)]
        if len(self.costs):
            lines += ["", "Annual cost by term:", self.costs.to_string(index=False)]
        return "\n".join(lines)


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


def compare(before, after) -> Comparison:
    """Compare two plans (Plan objects, plan folders or PlanRecords): `after` minus `before`."""
    a, b = as_record(before, "before"), as_record(after, "after")
    return Comparison(a.label, b.label, decision_changes(a.decisions, b.decisions),
                      _side_by_side(flatten(a.kpis), flatten(b.kpis), "kpi"),
                      _side_by_side(a.costs, b.costs, "term"))


def as_record(plan, label: str) -> PlanRecord:
    if isinstance(plan, PlanRecord):
        return plan
    if isinstance(plan, (str, Path)):
        return from_folder(Path(plan))
    if getattr(plan, "objective", None) is None:
        raise CompareError(f"the {label} plan has no solution (status {plan.status}); there is "
                           "nothing to compare.")
    return PlanRecord(label, plan.decisions, plan.kpis, plan.costs.to_dict(), plan.objective)


def from_folder(folder: Path) -> PlanRecord:
    """A plan folder written by the planner: plan.json and decisions.csv."""
    from planner.errors import ProblemList
    from planner.output import csv_unquote
    from planner.reading import read_csv, read_text

    files = {name: folder / name for name in ("plan.json", "decisions.csv")}
    missing = [n for n, p in files.items() if not p.is_file()]
    if missing:
        raise CompareError(f"{folder}: not a plan folder of this planner version ({', '.join(missing)} "
                           "missing); give a folder written by `planner plan --out` or "
                           "`planner replan --out`, or a run id with --history.")
    problems = ProblemList()
    text = read_text(files["plan.json"], "plan.json", problems)
    decisions = read_csv(files["decisions.csv"], "decisions.csv", problems)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError as err:
        problems.add("plan.json", f"not valid JSON ({err})")
    if problems.problems or not isinstance(data, dict):
        shown = "; ".join(str(p) for p in problems.problems) or "plan.json: not a JSON object"
        raise CompareError(f"{folder}: cannot read the plan ({shown}); write the plan again.")
    decisions = csv_unquote(decisions.fillna(""))
    return PlanRecord(str(folder), decisions, data.get("kpis") or {}, data.get("costs") or {},
                      data.get("objective"))


def from_run(history, run_id: int) -> PlanRecord:
    """A run of the history (its decisions and the KPIs recorded with it)."""
    run = history.run(run_id)
    if not run.get("succeeded"):
        raise CompareError(f"run {run_id} ({run.get('status')}) has no plan to compare; pick a "
                           "successful run (planner runs --history ...).")
    kpis = dict(run.get("kpis") or {})
    costs = kpis.pop("costs", {}) or {}
    return PlanRecord(f"run {run_id}", run["decisions"], kpis, costs, run.get("objective"))

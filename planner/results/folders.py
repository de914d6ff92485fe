"""A plan read back: a plan folder the planner wrote, or a run of the history, as a
:class:`PlanRecord` (the parts a comparison and the pictures read). `planner diff` compares two
records (planner.results.comparison); `planner report` draws one (planner.pictures.data).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError, ProblemList
from planner.publish import csv_unquote
from planner.scenario.reading import read_csv, read_text


class CompareError(PlannerError):
    """A plan to compare or draw cannot be read (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class PlanRecord:
    """The parts of a plan a comparison or a picture reads (None: the source does not have that
    table)."""

    label: str
    decisions: pd.DataFrame
    kpis: dict
    costs: dict
    objective: float | None
    equipment: pd.DataFrame | None = None   # site_id, equipment, total, ... (equipment.csv)
    budget: pd.DataFrame | None = None      # site_id, member, capital_used, ... (budget.csv)
    ledger: pd.DataFrame | None = None      # the cost ledger (ledger.csv, planner/model/ledger.py)
    sites: pd.DataFrame | None = None       # site_id, name, member, tier, lon, lat
    fund: dict | None = None                # plan.json `fund`: the fund's accounts, if any


# columns read as numbers from a plan folder's tables (the rest stay text)
NUMERIC = {"equipment.csv": ["existing", "new", "relocated_in", "relocated_out", "total",
                             "exams", "utilization", "site_bound_exams"],
           "budget.csv": ["new_units_capex", "relocation_cost", "capital_used"],
           "ledger.csv": ["amount"]}


def from_folder(folder: Path) -> PlanRecord:
    """A plan folder written by the planner: plan.json and decisions.csv, and the tables that a
    folder of an earlier planner version may lack (equipment.csv, budget.csv, ledger.csv, the
    sites of plan.gpkg)."""
    files = {name: folder / name for name in ("plan.json", "decisions.csv")}
    missing = [n for n, p in files.items() if not p.is_file()]
    if missing:
        raise CompareError(f"{folder}: not a plan folder of this planner version "
                           f"({', '.join(missing)} missing); give a folder written by "
                           "`planner plan --out` or `planner replan --out`, or a run id with "
                           "--history.")
    problems = ProblemList()
    text = read_text(files["plan.json"], "plan.json", problems)
    decisions = read_csv(files["decisions.csv"], "decisions.csv", problems)
    tables = {}
    for name, numeric in NUMERIC.items():
        if (folder / name).is_file():
            table = read_csv(folder / name, name, problems)
            if table is not None:
                tables[name] = typed_table(table, numeric, name, problems)
    try:
        data = json.loads(text) if text is not None else None
    except ValueError as err:
        problems.add("plan.json", f"not valid JSON ({err})")
    if problems.problems or not isinstance(data, dict):
        shown = "; ".join(str(p) for p in problems.problems) or "plan.json: not a JSON object"
        raise CompareError(f"{folder}: cannot read the plan ({shown}); write the plan again.")
    assert decisions is not None   # read_csv reports a problem whenever it gives None
    decisions = csv_unquote(decisions.fillna(""))
    return PlanRecord(str(folder), decisions, data.get("kpis") or {}, data.get("costs") or {},
                      data.get("objective"), tables.get("equipment.csv"),
                      tables.get("budget.csv"), tables.get("ledger.csv"),
                      _folder_sites(folder), _fund_of(data))


def _fund_of(data: dict) -> dict | None:
    """plan.json's `fund` (docs/design.md section 8), when it is a table of accounts."""
    fund = data.get("fund")
    return fund if isinstance(fund, dict) else None


def typed_table(table: pd.DataFrame, numeric: list[str], name: str,
                problems) -> pd.DataFrame | None:
    """An all-text table read back: text cells unquoted (csv_safe), `numeric` columns as numbers."""
    table = csv_unquote(table.fillna(""))
    for column in numeric:
        if column not in table.columns:
            continue
        values = pd.to_numeric(table[column].replace("", np.nan), errors="coerce")
        bad = values.isna() & table[column].ne("")
        if bad.any():
            problems.add(name, f"column {column} holds {table[column][bad].iloc[0]!r}, "
                         "not a number", rows=[int(bad.to_numpy().argmax()) + 2])
            return None
        table[column] = values.fillna(0.0)
    return table


def _folder_sites(folder: Path) -> pd.DataFrame | None:
    """The sites layer of plan.gpkg without its geometry (it holds lon and lat)."""
    path = folder / "plan.gpkg"
    if not path.is_file():
        return None
    # lazy: pyogrio (GDAL) loads only to read a plan folder's GeoPackage
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        frame = pyogrio.read_dataframe(path, layer="sites", read_geometry=False)
    except (DataLayerError, DataSourceError) as err:   # not a readable GeoPackage
        raise CompareError(f"{folder / 'plan.gpkg'}: cannot read the sites layer ({err}); "
                           "write the plan again.") from err
    keep = [c for c in ("site_id", "name", "member", "tier", "lon", "lat") if c in frame.columns]
    return pd.DataFrame(frame[keep])


def from_run(history, run_id: int) -> PlanRecord:
    """A run of the history (its decisions and the KPIs recorded with it)."""
    run = history.run(run_id)
    if not run.get("succeeded"):
        raise CompareError(f"run {run_id} ({run.get('status')}) has no plan to compare; pick a "
                           "successful run (planner runs --history ...).")
    kpis = dict(run.get("kpis") or {})
    costs = kpis.pop("costs", {}) or {}
    return PlanRecord(f"run {run_id}", run["decisions"], kpis, costs, run.get("objective"))

"""What the pictures of a plan read, from a solved Plan or from a plan folder, in one shape.

Why this module: `plan.plot()` and `plan.explore()` draw a Plan in memory, `planner report`
draws a plan folder (it reads the folder only), and both must draw the same thing. Each source
is turned into a :class:`PictureData` here, so the figure and map code never ask where the
numbers came from.

Travel minutes to the nearest unit (the access curves and the zone colours) come from the plan's
access table (zone_id, service, population, minutes_before, minutes_after: ``access.csv``, or
``plan.access_minutes`` in memory) when the plan has one. A plan (or folder) without it still gets
pictures: the curves fall back to the KPIs' shares within 15/30/60 minutes, and the zones to the
nearest-unit minutes of urgent.csv (equipment with an urgent condition), else to the mean minutes
of the trips the plan serves (zones.csv); the legend says which.

The scenario's area outline comes from ``plan.boundary`` or the folder's ``boundary.geojson``
(planner/scenario/boundary.py), when the scenario has one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import PlannerError, ProblemList
from planner.results.access import share_within
from planner.results.folders import CompareError, typed_table
from planner.results.folders import from_folder as record_of
from planner.scenario.boundary import FILE as BOUNDARY_FILE
from planner.scenario.boundary import read_boundary
from planner.scenario.reading import read_csv


class PictureError(PlannerError):
    """A plan (folder) that cannot be drawn (exit 2)."""

    exit_code = 2


@dataclass(frozen=True)
class ZoneMinutes:
    """Minutes per zone for one equipment, and what they measure (shown in the legend)."""

    minutes: pd.Series          # zone_id -> minutes (inf: no unit anywhere)
    meaning: str


@dataclass(frozen=True)
class PictureData:
    """The tables a picture of a plan needs (see the module docstring for their sources)."""

    scenario: str
    status: str
    objective: float | None
    currency: str
    kpis: dict
    sites: pd.DataFrame        # site_id, name, member, tier, lon, lat
    zones: pd.DataFrame        # zone_id, population, lon, lat
    equipment: pd.DataFrame    # equipment.csv: site_id, equipment, existing, new, ..., total,
    #                            exams, utilization
    outreach: pd.DataFrame     # site_id, specialty, outreach_days
    decisions: pd.DataFrame    # decisions.csv
    costs: pd.Series           # objective term -> annual cost
    access: pd.DataFrame | None = None   # zone_id, service, population, minutes_before,
    #                                      minutes_after (access.csv), when the plan has them
    urgent: pd.DataFrame | None = None   # urgent.csv: zone_id, equipment, nearest_minutes, ...
    zone_service: pd.DataFrame | None = None   # zones.csv: zone_id, service, mean_minutes, ...
    boundary: dict | None = None   # GeoJSON outline of the area (boundary.geojson), if any
    fund: dict | None = None       # the fund's accounts (plan.json `fund`), if the plan has them
    kind: str | None = None        # the consortium's kind (plan.json `kind`; older folders: none)
    # central reading (reading.csv, planner/results/reading.py; `centre` a bool), if [reading]
    reading: pd.DataFrame | None = None

    @property
    def equipment_names(self) -> list[str]:
        """The equipment of the plan in the order of its tables (the first is the default)."""
        return list(dict.fromkeys(self.equipment["equipment"]))

    def relocations(self) -> pd.DataFrame:
        """from_site, to_site, equipment, units: the relocated decisions."""
        d = self.decisions
        rows = d[d["decision"] == "relocated"] if len(d) else d
        if not len(rows):
            return pd.DataFrame(columns=["from_site", "to_site", "equipment", "units"])
        return pd.DataFrame({"from_site": rows["from_site"].to_numpy(),
                             "to_site": rows["site_id"].to_numpy(),
                             "equipment": rows["resource"].to_numpy(),
                             "units": pd.to_numeric(rows["amount"]).to_numpy()})

    def units_in_service(self) -> pd.DataFrame:
        """site_id x equipment: units in service after the plan (0 where none)."""
        return self.equipment.pivot_table(index="site_id", columns="equipment", values="total",
                                          aggfunc="sum", fill_value=0)

    def access_curve(self, equipment: str) -> pd.DataFrame:
        """minutes, share_before, share_after: the share of residents within t minutes of a
        unit of `equipment`, before and after the plan.

        From the access table: at every distinct finite minutes of a zone (as
        :meth:`planner.results.plan.Plan.access_curve`, with the same share rule), starting at 0.
        Without it: the KPIs' points at 15/30/60 minutes.
        """

        if self.access is not None:
            rows = self.access[self.access["service"] == equipment]
            values = rows[["minutes_before", "minutes_after"]].to_numpy(dtype=float).ravel()
            points = np.unique(np.concatenate([[0.0], values[np.isfinite(values)]]))
            return pd.DataFrame({"minutes": points, **{
                f"share_{when}": [share_within(rows["population"], rows[f"minutes_{when}"], t)
                                  for t in points] for when in ("before", "after")}})
        shares = {when: self.kpis.get(f"access_{when}", {}) for when in ("before", "after")}
        listed = sorted(float(key.rsplit("_within_", 1)[1].removesuffix("min"))
                        for key in shares["after"] if key.startswith(f"{equipment}_within_"))
        return pd.DataFrame({"minutes": listed, **{
            f"share_{when}": [float(shares[when].get(f"{equipment}_within_{t:g}min", np.nan))
                              for t in listed] for when in ("before", "after")}})

    def zone_minutes(self, equipment: str) -> ZoneMinutes:
        """Minutes from each zone to `equipment` after the plan (see the module docstring)."""
        if self.access is not None:
            rows = self.access[self.access["service"] == equipment]
            return ZoneMinutes(rows.set_index("zone_id")["minutes_after"].astype(float),
                               f"minutes to the nearest {equipment} unit")
        if self.urgent is not None and len(self.urgent) and \
                (self.urgent["equipment"] == equipment).any():
            rows = self.urgent[self.urgent["equipment"] == equipment]
            minutes = rows.groupby("zone_id", sort=False)["nearest_minutes"].first()
            return ZoneMinutes(minutes.astype(float), f"minutes to the nearest {equipment} unit")
        rows = self.zone_service[self.zone_service["service"] == equipment] \
            if self.zone_service is not None else pd.DataFrame(columns=["zone_id", "mean_minutes"])
        return ZoneMinutes(rows.set_index("zone_id")["mean_minutes"].astype(float),
                           f"mean minutes of the {equipment} trips served")


def site_label(name: str, longest: int = 24) -> str:
    """A site's name as a label: the name before a gloss in parentheses ("秦栏镇卫生院
    (Qinlan Township Health Centre)" -> "秦栏镇卫生院"), at most `longest` characters, so the
    labels of a county's sites stay readable side by side (map labels, figure ticks)."""
    short = str(name).split(" (", 1)[0].strip() or str(name)
    return short if len(short) <= longest else short[:longest - 1] + "\u2026"


def check_equipment(data: PictureData, equipment: str | None) -> str:
    """The equipment to draw: `equipment`, or the plan's first one; a clear error if unknown."""
    names = data.equipment_names
    if equipment is None:
        if not names:
            raise PictureError("the plan has no equipment to draw; give a plan with at least "
                               "one row in equipment.csv.")
        return names[0]
    if equipment not in names:
        raise PictureError(f"equipment {equipment!r} is not in the plan; choose one of "
                           f"{', '.join(names)}.")
    return equipment


def from_plan(plan) -> PictureData:
    """The pictures' tables of a solved :class:`planner.results.plan.Plan`."""
    if plan.objective is None:
        raise PictureError(f"the plan has no solution (status {plan.status}); there is nothing "
                           "to draw.")
    access = plan.access_minutes if len(plan.access_minutes) else None
    return PictureData(
        plan.scenario, plan.status, plan.objective, plan.currency, plan.kpis,
        plan.geometry["sites"], plan.geometry["zones"], plan.equipment,
        plan.specialist_days[["site_id", "specialty", "outreach_days"]], plan.decisions,
        plan.costs, access, plan.urgent, plan.zones, plan.boundary, plan.fund, plan.kind,
        plan.reading)


# The numeric columns of the folder tables read here (comparison.NUMERIC covers the rest).
FOLDER_NUMERIC = {"specialist_days.csv": ["outreach_days"],
                  "costs.csv": ["annual_cost"],
                  "urgent.csv": ["limit_minutes", "population", "nearest_minutes"],
                  "zones.csv": ["population", "demand", "served", "unmet", "unmet_share",
                                "mean_minutes"],
                  "access.csv": ["population", "minutes_before", "minutes_after"],
                  "reading.csv": ["radiologists", "hired", "exams", "reads_local",
                                  "reads_remote", "reads_bought", "capacity", "reads_done",
                                  "utilisation"]}


def from_folder(folder: str | Path) -> PictureData:
    """The pictures' tables of a plan folder written by the planner (it reads nothing else)."""

    folder = Path(folder)
    if not folder.is_dir():
        raise PictureError(f"{folder}: no such plan folder; give a folder written by "
                           "`planner plan --out`.")
    try:
        record = record_of(folder)
    except CompareError as err:
        raise PictureError(str(err)) from None
    missing = [n for n in ("equipment.csv", "specialist_days.csv", "costs.csv", "plan.gpkg")
               if not (folder / n).is_file()]
    if missing or record.equipment is None or record.sites is None:
        raise PictureError(f"{folder}: {', '.join(missing) or 'equipment.csv'} missing or "
                           "unreadable; the report needs a plan folder of this planner version "
                           "(write it again with `planner plan --out`).")
    problems = ProblemList()
    tables: dict[str, pd.DataFrame] = {}
    for name, numeric in FOLDER_NUMERIC.items():
        if (folder / name).is_file():
            table = read_csv(folder / name, name, problems)
            if table is not None and name == "access.csv":   # an empty cell: no unit anywhere
                table = table.replace({c: {"": "inf"} for c in numeric[1:]})
            if table is not None:
                table = typed_table(table, numeric, name, problems)   # None: a problem added
            if table is not None:
                tables[name] = table
    if problems.problems:
        shown = "; ".join(str(p) for p in problems.problems)
        raise PictureError(f"{folder}: cannot read the plan ({shown}); write the plan again.")
    info = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    costs = tables["costs.csv"].set_index("term")["annual_cost"].astype(float)
    access = tables.get("access.csv")
    sites = record.sites
    for column in ("lon", "lat"):
        sites[column] = sites[column].astype(float)
    return PictureData(
        str(info.get("scenario", folder.name)), str(info.get("status", "")),
        info.get("objective"), str(info.get("currency", "")), info.get("kpis") or {},
        sites, _folder_zones(folder), record.equipment,
        tables["specialist_days.csv"][["site_id", "specialty", "outreach_days"]],
        record.decisions, costs, access, tables.get("urgent.csv"), tables.get("zones.csv"),
        _folder_boundary(folder), record.fund,
        str(info["kind"]) if isinstance(info.get("kind"), str) else None,
        _folder_reading(tables.get("reading.csv")))


def _folder_reading(table: pd.DataFrame | None) -> pd.DataFrame | None:
    """reading.csv as the pictures read it: `centre` back to a bool (written True/False)."""
    if table is None:
        return None
    return table.assign(centre=table["centre"].astype(str).str.strip() == "True")


def _folder_boundary(folder: Path) -> dict | None:
    """The folder's boundary.geojson (written with the plan when its scenario has one)."""
    if not (folder / BOUNDARY_FILE).exists():
        return None
    problems = ProblemList()
    boundary = read_boundary(folder / BOUNDARY_FILE, problems)
    if problems.problems:
        raise PictureError(f"{folder}: {problems.problems[0]} Write the plan again, or delete "
                           f"{BOUNDARY_FILE} from the folder to draw the map without it.")
    return boundary


def _folder_zones(folder: Path) -> pd.DataFrame:
    """The zones layer of plan.gpkg without its geometry (it holds lon, lat and population)."""
    # lazy: pyogrio (GDAL) loads only to read a plan folder's GeoPackage
    import pyogrio
    from pyogrio.errors import DataLayerError, DataSourceError

    try:
        frame = pyogrio.read_dataframe(folder / "plan.gpkg", layer="zones", read_geometry=False)
    except (DataLayerError, DataSourceError) as err:
        raise PictureError(f"{folder / 'plan.gpkg'}: cannot read the zones layer ({err}); "
                           "write the plan again.") from None
    return pd.DataFrame(frame[["zone_id", "population", "lon", "lat"]])

"""Writing a plan folder (docs/design.md section 5), and the GeoPackage layers.

Folders are published by :mod:`planner.publish` (only a folder the planner wrote is replaced, in
one atomic swap). The files themselves are made safe to open and reproducible: text cells that a
spreadsheet would run as a formula are neutralised (:func:`csv_safe`), and the GeoPackage gets a
fixed timestamp, so the same inputs give byte-identical files.
"""

from __future__ import annotations

import json
import math
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from planner.errors import PlannerError
from planner.publish import csv_safe, publish_folder
from planner.scenario.boundary import write_boundary

FLOAT_FORMAT = "%.6f"


def json_safe(value):
    """JSON-safe values: NaN and infinities become null."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return json_safe(value.item())
    return value


# GeoPackages record a last-change time; a fixed one keeps reruns byte-identical.
GPKG_DATE = "2000-01-01T00:00:00.000Z"


class NoPlanError(PlannerError):
    """A result without a plan is never written over a folder (exit 4, as for `planner plan`)."""

    exit_code = 4


def write_csv(frame: pd.DataFrame, path: Path, float_format: str = FLOAT_FORMAT) -> None:
    """Every CSV the planner writes: formula-safe text, fixed float format (money tables such
    as transfers.csv: "%.2f", the cents), Unix line ends."""
    csv_safe(frame).to_csv(path, index=False, float_format=float_format, lineterminator="\n")


def write_json(data: dict, path: Path) -> None:
    path.write_text(json.dumps(json_safe(data), indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")


@contextmanager
def _fixed_gpkg_date():
    import pyogrio  # lazy: pyogrio (GDAL) loads only to write a GeoPackage

    before = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": GPKG_DATE})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": before})


def access_csv(table: pd.DataFrame) -> pd.DataFrame:
    """The plan's access table as written: no site offering a service (inf) is an empty cell."""
    columns = ["zone_id", "service", "population", "minutes_before", "minutes_after"]
    if table.empty:
        return pd.DataFrame(columns=columns)
    return table[columns].replace([math.inf], math.nan)


def plan_json(plan) -> dict:
    data = {
        "scenario": plan.scenario, "kind": plan.kind, "status": plan.status,
        "objective": plan.objective, "bound": plan.bound, "mip_gap": plan.mip_gap,
        "solve_seconds": round(plan.solve_seconds, 3),
        "currency": plan.currency, "costs": plan.costs.to_dict(), "kpis": plan.kpis}
    if plan.goal is not None:   # docs/design.md section 7
        data["goal"] = plan.goal
    if plan.fund is not None:   # a scenario with [fund] (docs/design.md section 8)
        data["fund"] = plan.fund
    if plan.changes is not None:   # a re-plan (docs/design.md section 7)
        data.update(changes=plan.change_count, changes_by_kind=plan.changes_by_kind,
                    baseline_run=plan.baseline_run)
    return json_safe(data)


def geodataframe(plan, layer: str):
    # lazy: geopandas and shapely load only to write a GeoPackage
    import geopandas as gpd
    from shapely import LineString

    sites = plan.geometry["sites"]
    zones = plan.geometry["zones"]
    if layer == "sites":
        units = plan.equipment.pivot_table(index="site_id", columns="equipment",
                                           values=["existing", "new", "total"], aggfunc="sum")
        units.columns = [f"{e}_{what}" for what, e in units.columns]
        days = plan.specialist_days.pivot_table(index="site_id", columns="specialty",
                                                values="outreach_days", aggfunc="sum")
        days.columns = [f"{s}_days" for s in days.columns]
        frame = sites.merge(units.reset_index(), how="left").merge(days.reset_index(), how="left")
        frame = frame.merge(plan.budget[["site_id", "capital_used"]], how="left")
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
                                crs="EPSG:4326")
    if layer == "zones":
        kpi = plan.zones.pivot_table(index="zone_id", columns="service",
                                     values=["mean_minutes", "unmet_share"], aggfunc="first")
        kpi.columns = [f"{k}_{what}" for what, k in kpi.columns]
        frame = zones.merge(kpi.reset_index(), how="left")
        return gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(frame["lon"], frame["lat"]),
                                crs="EPSG:4326")
    if layer == "flows":
        at_zone = zones.set_index("zone_id")[["lon", "lat"]]
        at_site = sites.set_index("site_id")[["lon", "lat"]]
        f = plan.flows
        lines = [LineString([tuple(at_zone.loc[z]), tuple(at_site.loc[i])])
                 for z, i in zip(f["zone_id"], f["site_id"])]
        return gpd.GeoDataFrame(f.copy(), geometry=lines, crs="EPSG:4326")
    raise ValueError(f"unknown layer {layer!r}; choose sites, zones or flows")


def save_plan(plan, path: str | Path, *also) -> None:
    """Publish the plan folder: :func:`write_plan_files`, plus the files of each of `also`
    (objects with a `write_files(folder)` method, e.g. the Sharing of a re-planning job), in
    one atomic swap.

    A result without a plan (no solution within the limits) raises :class:`NoPlanError` and
    writes nothing, so an earlier plan in the folder is never replaced by an empty one.
    """
    if plan.objective is None:
        raise NoPlanError(f"no plan to write to {path} (status: {plan.status}); nothing was "
                          "written and an earlier plan there is kept.")
    with publish_folder(path, "plan") as work:
        write_plan_files(plan, work)
        for extra in also:
            extra.write_files(work)


def write_plan_files(plan, work: Path) -> None:
    """plan.json, equipment.csv, specialist_days.csv, flows.csv, zones.csv, urgent.csv,
    budget.csv, costs.csv, ledger.csv (term, site_id, zone_id, member, service, amount: the
    cost ledger that costs.csv sums by term), decisions.csv (changes.csv for a re-plan),
    access.csv (zone_id, service, population, minutes_before, minutes_after: minutes to the
    nearest site offering each service, empty where none does; the access curves of a report),
    fund.csv when the scenario has a [fund] (member, fund_payments_received,
    patient_payments_received, outside_payments_for_residents),
    reading.csv when the scenario has [reading] (planner/results/reading.py),
    plan.gpkg (layers sites, zones, flows) and, when the scenario has one, its boundary.geojson
    (the report draws it)."""
    write_json(plan_json(plan), work / "plan.json")
    for name in ("equipment", "specialist_days", "flows", "zones", "urgent", "budget"):
        write_csv(getattr(plan, name), work / f"{name}.csv")
    write_csv(plan.costs.reset_index(), work / "costs.csv")
    write_csv(plan.ledger, work / "ledger.csv")   # every cost contribution (model/ledger.py)
    write_csv(plan.decisions, work / "decisions.csv")
    if plan.changes is not None:
        write_csv(plan.changes, work / "changes.csv")
    write_csv(access_csv(plan.access_minutes), work / "access.csv")
    if plan.fund_by_member is not None:   # the fund's accounts by member (results/fund.py)
        write_csv(plan.fund_by_member, work / "fund.csv")
    if getattr(plan, "reading", None) is not None:   # [reading] (results/reading.py)
        write_csv(plan.reading, work / "reading.csv")
    if plan.boundary is not None:
        write_boundary(plan.boundary, work)
    with _fixed_gpkg_date():
        for layer in ("sites", "zones", "flows"):
            frame = geodataframe(plan, layer)
            frame.to_file(work / "plan.gpkg", layer=layer, driver="GPKG")

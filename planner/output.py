"""Writing a plan folder (DESIGN.md section 5) atomically, and the GeoPackage layers.

Everything is written to a temporary folder next to the target and renamed into place at the end,
so a failed run never leaves a half-written folder and an earlier output stays intact.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

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


@contextmanager
def atomic_folder(target: str | Path):
    """Yield a temporary folder; on success it replaces `target`, on failure it is removed."""
    target = Path(target).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield work
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
    os.replace(work, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def plan_json(plan) -> dict:
    return json_safe({
        "scenario": plan.scenario, "status": plan.status, "objective": plan.objective,
        "bound": plan.bound, "mip_gap": plan.mip_gap, "solve_seconds": round(plan.solve_seconds, 3),
        "currency": plan.currency, "costs": plan.costs.to_dict(), "kpis": plan.kpis})


def geodataframe(plan, layer: str):
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


def _csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, float_format=FLOAT_FORMAT, lineterminator="\n")


def save_plan(plan, path: str | Path) -> None:
    """plan.json, equipment.csv, specialist_days.csv, flows.csv, zones.csv, urgent.csv,
    budget.csv, costs.csv and plan.gpkg (layers sites, zones, flows)."""
    with atomic_folder(path) as work:
        (work / "plan.json").write_text(json.dumps(plan_json(plan), indent=2, ensure_ascii=False)
                                        + "\n", encoding="utf-8")
        if plan.objective is None:
            return
        _csv(plan.equipment, work / "equipment.csv")
        _csv(plan.specialist_days, work / "specialist_days.csv")
        _csv(plan.flows, work / "flows.csv")
        _csv(plan.zones, work / "zones.csv")
        _csv(plan.urgent, work / "urgent.csv")
        _csv(plan.budget, work / "budget.csv")
        _csv(plan.costs.reset_index(), work / "costs.csv")
        for layer in ("sites", "zones", "flows"):
            geodataframe(plan, layer).to_file(work / "plan.gpkg", layer=layer, driver="GPKG")

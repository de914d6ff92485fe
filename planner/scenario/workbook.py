"""Writing a scenario as one .xlsx workbook that `load_scenario` reads back.

Layout (the one `load_scenario` reads): a `scenario` sheet of key/value rows with dotted keys for
nested settings (`travel.speed_kmh`, `policy.min_outreach_days.neurology`) and `;`-joined lists
(`policy.grassroots_tiers` = `township;community`), then one sheet per table with the CSV's
columns. Written cell by cell with openpyxl so that a text beginning with `=` stays text (pandas'
writer would store it as a formula, which Excel would run).

An existing workbook is replaced only if the planner wrote it and nobody changed it since
(:func:`_written_by_planner`): its creator and last author are the planner (Excel and LibreOffice
put the user's name as last author when they save) and it holds only the planner's sheets.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from planner.publish import planner_version, publish_file
from planner.scenario.schema import TABLES

CREATOR = "consortium-planner"
SHEETS = {"scenario", *TABLES}   # the sheets the planner writes


def _flat(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _flat(value, f"{prefix}{key}.")
        elif isinstance(value, (list, tuple)):
            if value:   # an empty list is the default: no row
                rows.append((f"{prefix}{key}", ";".join(map(str, value))))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _cell_value(value):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    if isinstance(value, np.generic):
        return value.item()
    return value


def _append(sheet, row) -> None:
    sheet.append([_cell_value(v) for v in row])
    for cell in sheet[sheet.max_row]:
        if isinstance(cell.value, str) and cell.value.startswith("="):
            cell.data_type = "s"   # text, never a formula


def _written_by_planner(path: Path) -> bool:
    """The planner's own workbook, unchanged since: created and last saved by the planner
    (earlier planners left the last author empty), with no sheet but the planner's."""
    import openpyxl  # lazy: openpyxl (0.1 s) loads only for a workbook

    try:
        book = openpyxl.load_workbook(path, read_only=True)
    except Exception:  # not a workbook at all (openpyxl raises many kinds): not ours
        return False
    properties, sheets = book.properties, set(book.sheetnames)
    book.close()
    return (properties.creator == CREATOR and properties.lastModifiedBy in (None, CREATOR)
            and sheets <= SHEETS)


def save_workbook(scenario, path: str | Path) -> None:
    """The scenario as one workbook (coordinates in WGS-84, as held)."""
    import openpyxl  # lazy: openpyxl (0.1 s) loads only for a workbook

    settings = scenario.settings.model_dump(exclude_none=True)
    settings["coordinates"] = "wgs84"
    book = openpyxl.Workbook()
    book.properties.creator = book.properties.lastModifiedBy = CREATOR
    book.properties.description = (f"Scenario workbook written by consortium-planner "
                                   f"{planner_version()}; the planner replaces it only while "
                                   "nobody else has saved it.")
    sheet = book.active
    sheet.title = "scenario"
    _append(sheet, ("key", "value"))
    for row in _flat(settings):
        _append(sheet, row)
    for name, frame in scenario.tables.items():
        if not (len(frame) or TABLES[name].required):
            continue
        sheet = book.create_sheet(name)
        _append(sheet, list(frame.columns))
        for row in frame.replace([np.inf], np.nan).itertuples(index=False):
            _append(sheet, [None if (isinstance(v, float) and math.isnan(v)) else v for v in row])
    with publish_file(path, _written_by_planner, "workbook") as work:
        book.save(work)

"""A scenario as one .xlsx workbook: the same tables as sheets plus a key/value `scenario` sheet."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pandas as pd
import pytest

import planner
from helpers import flat_settings
from planner.errors import ScenarioError


def write_workbook(folder: Path, path: Path, **changes: pd.DataFrame) -> Path:
    """The scenario folder as one workbook; `changes` replace whole sheets."""
    settings = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    sheets = {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))}
    sheets.update(changes)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(flat_settings(settings), columns=["key", "value"]).to_excel(
            writer, sheet_name="scenario", index=False, header=False)
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def test_workbook_scenario_sheet_uses_dotted_keys(tiny_folder, tmp_path):
    book = write_workbook(tiny_folder, tmp_path / "tiny.xlsx")
    keys = pd.read_excel(book, sheet_name="scenario", header=None)[0].tolist()
    assert {"name", "travel.speed_kmh", "policy.grassroots_tiers",
            "policy.min_outreach_days.neurology", "solver.seed"} <= set(keys)
    with pd.ExcelFile(book) as workbook:
        assert set(workbook.sheet_names) == {
            "scenario", "members", "sites", "zones", "conditions", "condition_services",
            "equipment", "specialties", "resources"}


def test_workbook_loads_like_the_folder(tiny_folder, tmp_path):
    from_folder = planner.load_scenario(tiny_folder)
    from_book = planner.load_scenario(write_workbook(tiny_folder, tmp_path / "tiny.xlsx"))
    assert from_book.settings == from_folder.settings
    for name in ("sites", "zones", "equipment", "resources"):
        pd.testing.assert_frame_equal(from_book.tables[name], from_folder.tables[name],
                                      check_dtype=False)


def test_workbook_gives_the_same_plan_as_the_folder(tiny_folder, tmp_path):
    folder_plan = planner.solve(planner.load_scenario(tiny_folder))
    book_plan = planner.solve(planner.load_scenario(write_workbook(tiny_folder,
                                                                   tmp_path / "tiny.xlsx")))
    assert folder_plan.status == book_plan.status == "optimal"
    assert book_plan.objective == pytest.approx(folder_plan.objective, rel=1e-9)
    pd.testing.assert_frame_equal(book_plan.equipment, folder_plan.equipment)


def test_bad_cell_is_reported_with_sheet_and_row(tiny_folder, tmp_path):
    zones = pd.read_csv(tiny_folder / "zones.csv")
    zones["population"] = zones["population"].astype(object)
    zones.loc[2, "population"] = "lots"  # third data row: spreadsheet row 4
    book = write_workbook(tiny_folder, tmp_path / "bad.xlsx", zones=zones)
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(book)
    problem = info.value.problems[0]
    assert (problem.file, problem.column, problem.rows) == ("sheet 'zones'", "population", (4,))
    assert "'lots' is not a number" in problem.message
    assert "sheet 'zones', column 'population', row 4" in str(info.value)


def test_unknown_reference_is_reported_with_sheet_and_row(tiny_folder, tmp_path):
    sites = pd.read_csv(tiny_folder / "sites.csv")
    sites.loc[1, "member"] = "M_NOBODY"
    book = write_workbook(tiny_folder, tmp_path / "bad.xlsx", sites=sites)
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(book)
    [problem] = info.value.problems
    assert (problem.file, problem.column, problem.rows) == ("sheet 'sites'", "member", (3,))


def test_workbook_without_a_required_sheet(tiny_folder, tmp_path):
    book = write_workbook(tiny_folder, tmp_path / "tiny.xlsx")
    with pd.ExcelWriter(tmp_path / "short.xlsx", engine="openpyxl") as writer:
        for name, frame in pd.read_excel(book, sheet_name=None, header=None).items():
            if name != "zones":
                frame.to_excel(writer, sheet_name=name, index=False, header=False)
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(tmp_path / "short.xlsx")
    [problem] = info.value.problems
    assert problem.file == "short.xlsx" and "'zones' sheet" in problem.message


def test_bad_setting_is_reported_in_the_scenario_sheet(tiny_folder, tmp_path):
    book = write_workbook(tiny_folder, tmp_path / "tiny.xlsx")
    sheets = pd.read_excel(book, sheet_name=None, header=None)
    settings = sheets["scenario"]
    settings.loc[settings[0] == "travel.speed_kmh", 1] = "fast"
    with pd.ExcelWriter(tmp_path / "bad.xlsx", engine="openpyxl") as writer:
        for name, frame in sheets.items():
            frame.to_excel(writer, sheet_name=name, index=False, header=False)
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(tmp_path / "bad.xlsx")
    [problem] = info.value.problems
    assert "travel.speed_kmh" in problem.message
    assert problem.file == "sheet 'scenario'"

"""Scenario.save: a folder or one workbook that load_scenario reads back, never over a user's
file."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

import planner
from helpers import TINY, write_scenario
from planner.publish import OutputError


@pytest.mark.parametrize("name", ["saved", "saved.xlsx"])
def test_saved_scenario_reads_back_to_the_same_plan(tiny_folder, tmp_path, name):
    scenario = planner.load_scenario(tiny_folder)
    scenario.save(tmp_path / name)
    again = planner.load_scenario(tmp_path / name)
    assert again.settings == scenario.settings
    for table, frame in scenario.tables.items():
        pd.testing.assert_frame_equal(again.tables[table].reset_index(drop=True),
                                      frame.reset_index(drop=True), check_dtype=False)
    assert planner.solve(again).objective == pytest.approx(planner.solve(scenario).objective,
                                                           rel=1e-9)


def test_workbook_keeps_formula_like_text_as_text(tmp_path):
    tables = dict(TINY, sites=TINY["sites"].replace("West township centre", "=1+1"))
    scenario = planner.load_scenario(write_scenario(tmp_path / "s", **tables))
    scenario.save(tmp_path / "s.xlsx")
    sheet = openpyxl.load_workbook(tmp_path / "s.xlsx")["sites"]
    cell = next(c for row in sheet.iter_rows() for c in row if c.value == "=1+1")
    assert cell.data_type == "s"
    assert "=1+1" in set(planner.load_scenario(tmp_path / "s.xlsx").sites["name"])


def test_save_never_replaces_a_users_file(tiny_folder, tmp_path):
    scenario = planner.load_scenario(tiny_folder)
    theirs = tmp_path / "budget.xlsx"
    pd.DataFrame({"a": [1]}).to_excel(theirs, index=False)
    before = theirs.read_bytes()
    with pytest.raises(OutputError):
        scenario.save(theirs)
    assert theirs.read_bytes() == before
    with pytest.raises(OutputError):
        scenario.save(tiny_folder)        # the user's own scenario folder, not the planner's
    assert (tiny_folder / "scenario.toml").exists()
    scenario.save(tmp_path / "mine.xlsx")
    scenario.with_(budget=1.0).save(tmp_path / "mine.xlsx")   # its own workbook: replaced
    assert planner.load_scenario(tmp_path / "mine.xlsx").settings.budget == 1.0
    assert sorted(p.name for p in tmp_path.iterdir() if ".planner-" in p.name) == []

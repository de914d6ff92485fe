"""Inputs a fuzzer got through (issue 18, items 11-14): each is bad input (exit 2, one paragraph
naming file, column and row) or is handled without harm, never accepted silently or a crash.

* 11: sites far outside the area of their zones, urgent minutes without an urgent service,
  GCJ-02 coordinates outside China (where the converter only warns);
* 12: ids that differ only in case (`CT` and `ct`), a scenario.toml nested 2,000 levels deep;
* 13: a folder holding a hand-made `.consortium-planner` file, or the planner's folder with a
  user's file added, is never replaced;
* 14: control characters in names: refused at input, and escape sequences shown escaped (never
  stripped or obeyed) on the terminal.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import planner
from helpers import (
    TINY,
    append_row,
    only_problem,
    problems_of,
    run_planner,
    set_cell,
    write_scenario,
)
from planner.errors import ScenarioError
from planner.publish import MARKER, OutputError, check_target, publish_folder


def problem_for(folder: Path, file: str, column: str | None = None):
    """The one problem reported for `file` (and `column`), with every problem in the message."""
    found = problems_of(folder)
    mine = [p for p in found if p.file == file and (column is None or p.column == column)]
    assert len(mine) == 1, "\n".join(map(str, found))
    return mine[0]


# --- 11: where sites are, urgent minutes, GCJ-02 --------------------------------------------------
@pytest.mark.parametrize("lon, lat, km", [
    ("-5", "40", 10_000),          # "the CTs came from Spain"
    ("-61.0", "-32.7", 19_000),    # the antipode of the county
    ("32.65", "-18.92", 9_000),    # a site's lon and lat swapped and mirrored (within range)
])
def test_a_site_far_outside_its_zones_is_refused(tiny_folder, lon, lat, km):
    set_cell(tiny_folder, "sites", 3, "lon", lon)
    set_cell(tiny_folder, "sites", 3, "lat", lat)
    p = only_problem(tiny_folder)
    assert (p.file, p.column, p.rows) == ("sites.csv", "lon, lat", (3,)), str(p)
    assert "S_T1" in p.message and "200 km" in p.message
    shown = int(p.message.split(" km from")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert shown > km


def test_swapped_coordinates_are_named_as_such(tiny_folder):
    # the tiny county moved to Kashgar (lon 76, lat 39.5), where lat and lon both fit either way
    for table, rows in (("sites", range(2, 5)), ("zones", range(2, 6))):
        for row in rows:
            for column, shift in (("lon", -43.0), ("lat", 6.8)):
                path = tiny_folder / f"{table}.csv"
                frame = pd.read_csv(path, keep_default_na=False, dtype=str)
                value = float(frame.at[row - 2, column]) + shift
                set_cell(tiny_folder, table, row, column, f"{value:.2f}")
    assert planner.load_scenario(tiny_folder).name == "tiny"
    set_cell(tiny_folder, "sites", 4, "lon", "39.45")
    set_cell(tiny_folder, "sites", 4, "lat", "75.92")
    p = only_problem(tiny_folder)
    assert (p.file, p.rows) == ("sites.csv", (4,)) and "swapped" in p.message, str(p)


def test_the_distance_floor_and_the_zones_own_extent(tiny_folder):
    # 150 km east of the zones (about 1.6 degrees of longitude at 32.7 N): a referral hospital
    set_cell(tiny_folder, "sites", 4, "lon", "120.62")
    assert planner.load_scenario(tiny_folder).name == "tiny"
    set_cell(tiny_folder, "sites", 4, "lon", "121.70")   # about 250 km: refused
    assert only_problem(tiny_folder).rows == (4,)
    # zones spread over 600 km: a site 250 km outside their area is within their extent
    append_row(tiny_folder, "zones", "Z5,Far west,114.0,32.7,10,")
    assert planner.load_scenario(tiny_folder).name == "tiny"


def test_urgent_minutes_without_an_urgent_service(tiny_folder):
    set_cell(tiny_folder, "conditions", 3, "urgent_minutes", "45")
    p = only_problem(tiny_folder)
    assert (p.file, p.column, p.rows) == ("conditions.csv", "urgent_service", (3,)), str(p)
    assert "urgent_minutes" in p.message


def test_gcj02_outside_china_is_bad_input_not_a_warning(tiny_folder):
    write_scenario(tiny_folder, scenario=TINY["scenario"].replace(
        'currency = "CNY"', 'currency = "CNY"\ncoordinates = "gcj02"'))
    assert planner.load_scenario(tiny_folder).name == "tiny"   # inside China: converted quietly
    set_cell(tiny_folder, "zones", 4, "lon", "140.5")          # Japan; the site check passes
    p = only_problem(tiny_folder)                               # (filterwarnings = error)
    assert (p.file, p.column, p.rows) == ("zones.csv", "lon, lat", (4,)), str(p)
    assert "GCJ-02" in p.message and "wgs84" in p.message


def test_the_gcj02_converter_refuses_points_it_cannot_convert():
    from planner.scenario.geo import gcj02_to_wgs84
    lon, lat = gcj02_to_wgs84([119.0], [32.7])
    assert abs(lon[0] - 119.0) < 0.01 and abs(lat[0] - 32.7) < 0.01
    with pytest.raises(ValueError, match="outside China"):
        gcj02_to_wgs84([-5.0], [40.0])


def test_the_default_and_the_or_library_scenarios_pass_the_location_rule():
    from planner.scenario.orlib import pmedian_scenario
    assert planner.load_scenario().name
    # OR-Library instances put every node at (0, 0): travel minutes come from travel.csv
    scenario = pmedian_scenario(np.array([[0.0, 3.0], [3.0, 0.0]]), 1)
    assert len(scenario.sites) == 2
    # the location rule refuses the same instance with one site moved 300 km away
    sites = scenario.sites.assign(lon=[0.0, 2.7])
    with pytest.raises(ScenarioError, match="km from"):
        scenario.with_(tables={"sites": sites})


# --- 12: ids that differ only in case; deep nesting -------------------------------------------
CASE_TWINS = {
    "equipment": ("CT,", "ct,"),
    "sites": ("S_C,", "s_c,"),
    "zones": ("Z1,", "z1,"),
    "members": ("M_TOWN,", "m_town,"),
    "conditions": ("stroke,", "Stroke,"),
    "specialties": ("neurology,", "Neurology,"),
}


@pytest.mark.parametrize("table", sorted(CASE_TWINS))
def test_ids_that_differ_only_in_case_are_refused(tiny_folder, table, tmp_path):
    first, twin = CASE_TWINS[table]
    lines = (tiny_folder / f"{table}.csv").read_text(encoding="utf-8").splitlines()
    original = next(line for line in lines[1:] if line.startswith(first))
    row = append_row(tiny_folder, table, twin + original[len(first):])
    p = problem_for(tiny_folder, f"{table}.csv")
    assert p.rows == (lines.index(original) + 1, row), str(p)
    assert "case" in p.message and twin.rstrip(",") in p.message


def test_an_equipment_and_a_specialty_differing_only_in_case(tiny_folder):
    append_row(tiny_folder, "specialties", "mri,20,1500,350")
    p = problem_for(tiny_folder, "specialties.csv")
    assert "MRI" in p.message and "mri" in p.message and "case" in p.message


def test_case_twins_give_exit_2_not_a_crash(tiny_folder, tmp_path):
    append_row(tiny_folder, "equipment", "ct,4000000,8,720000,22800,600,0.85,40,county,2,,")
    result = run_planner("plan", tiny_folder, "--out", tmp_path / "plan", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "equipment.csv, column 'equipment', rows 2, 4" in result.stderr
    assert not (tmp_path / "plan").exists()


def test_a_scenario_toml_nested_2000_levels_deep(tiny_folder, tmp_path):
    deep = "[" + ".".join(["a"] * 2000) + "]\nx = 1\n"
    write_scenario(tiny_folder, scenario=textwrap.dedent(TINY["scenario"]) + deep)
    p = problem_for(tiny_folder, "scenario.toml")
    assert "nested" in p.message and "a.a.a" in p.message and len(str(p)) < 400
    result = run_planner("validate", tiny_folder, cwd=tmp_path)
    assert result.returncode == 2 and "nested" in result.stderr, result.stderr


def test_a_workbook_key_with_2000_parts(tiny_folder, tmp_path):
    import openpyxl
    book = tmp_path / "s.xlsx"
    planner.load_scenario(tiny_folder).save(book)
    wb = openpyxl.load_workbook(book)
    wb["scenario"].append([".".join(["travel"] * 2000), 1])
    wb.save(book)
    with pytest.raises(ScenarioError, match="nested"):
        planner.load_scenario(book)


# --- 13: what the planner may replace --------------------------------------------------------
def _users_folder(path: Path, marker: str | None) -> Path:
    path.mkdir()
    (path / "data.xlsx").write_bytes(b"the user's own workbook")
    if marker is not None:
        (path / MARKER).write_text(marker, encoding="utf-8")
    return path


@pytest.mark.parametrize("marker", ["", "x\n", '{"kind": "plan"}\n',
                                    '{"written_by": "consortium-planner", "kind": "plan"}\n'])
def test_a_hand_made_marker_does_not_make_a_folder_the_planners(tmp_path, marker):
    folder = _users_folder(tmp_path / "mine", marker)
    with pytest.raises(OutputError, match="data.xlsx"):
        check_target(folder)
    with pytest.raises(OutputError), publish_folder(folder, "plan") as work:
        (work / "plan.json").write_text("{}")
    assert (folder / "data.xlsx").read_bytes() == b"the user's own workbook"


def test_scenario_save_never_replaces_a_users_folder(tiny_folder, tmp_path):
    folder = _users_folder(tmp_path / "mine", "")
    with pytest.raises(OutputError):
        planner.load_scenario(tiny_folder).save(folder)
    assert (folder / "data.xlsx").exists()


def test_the_marker_is_signed_and_lists_the_planners_files(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    result = run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    first, second = (out / MARKER).read_text(encoding="utf-8").splitlines()
    assert first.startswith("consortium-planner output folder")
    record = json.loads(second)
    assert record["kind"] == "plan" and record["written_by"].startswith("consortium-planner ")
    assert set(record["files"]) == {p.name for p in out.iterdir()} - {MARKER}
    # a report written into the folder is the planner's too: the folder stays replaceable
    assert run_planner("report", out, cwd=tmp_path).returncode == 0
    assert check_target(out) == out
    # a file of the user's in it makes it the user's
    (out / "notes.txt").write_text("my notes")
    with pytest.raises(OutputError, match="notes.txt"):
        check_target(out)
    result = run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path)
    assert result.returncode == 2 and (out / "notes.txt").exists()


def test_files_the_planner_adds_to_a_point_folder_are_listed(tmp_path):
    from planner.publish import publish_file
    sweep = tmp_path / "sweep"
    with publish_folder(sweep, "sweep") as work:
        (work / "point_000").mkdir()
        (work / "point_000" / "plan.json").write_text("{}")
        (work / "sweep.csv").write_text("variant\n0\n")
    with publish_file(sweep / "point_000" / "report.html", lambda p: False, "report") as work:
        work.write_text("<html></html>")
    files = json.loads((sweep / MARKER).read_text().splitlines()[1])["files"]
    assert files == ["point_000/plan.json", "point_000/report.html", "sweep.csv"]
    assert check_target(sweep) == sweep
    (sweep / "point_000" / "mine.docx").write_text("x")
    with pytest.raises(OutputError, match="point_000/mine.docx"):
        check_target(sweep)


def test_folders_of_the_earlier_planner(tmp_path):
    """The earlier marker's exact content is accepted when every file is of a kind the planner
    writes (plan.json, CSVs, plan.gpkg, report.html, point_* folders); not with other files."""
    old = tmp_path / "old"
    old.mkdir()
    (old / MARKER).write_text('{"written_by": "consortium-planner", "kind": "plan"}\n')
    (old / "plan.json").write_text("{}")
    (old / "costs.csv").write_text("term,amount\n")
    assert check_target(old) == old
    (old / "budget.xlsx").write_text("x")
    with pytest.raises(OutputError, match="budget.xlsx"):
        check_target(old)


def test_scenario_workbooks_edited_after_the_planner_are_kept(tiny_folder, tmp_path):
    import openpyxl
    scenario = planner.load_scenario(tiny_folder)
    book = tmp_path / "s.xlsx"
    scenario.save(book)
    scenario.save(book)                       # its own workbook: replaced
    wb = openpyxl.load_workbook(book)
    wb.create_sheet("my notes")
    wb.properties.lastModifiedBy = "analyst"  # as Excel does when it saves
    wb.save(book)
    with pytest.raises(OutputError):
        scenario.save(book)
    assert "my notes" in openpyxl.load_workbook(book).sheetnames


# --- 14: control characters --------------------------------------------------------------------
@pytest.mark.parametrize("name", ["West \x1b[31mRED\x1b[0m", "line\nbreak", "bell\x07",
                                  "csi\x9b2J", "del\x7f"])
def test_control_characters_in_text_cells_are_refused(tiny_folder, name):
    set_cell(tiny_folder, "sites", 3, "name", name)
    p = only_problem(tiny_folder)
    assert (p.file, p.column, p.rows) == ("sites.csv", "name", (3,)), str(p)
    assert "control character" in p.message
    assert "\x1b" not in p.message and "\n" not in p.message   # shown escaped


def test_control_characters_in_extra_columns_and_headers(tiny_folder):
    path = tiny_folder / "zones.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",note\x07"] + [line + ",ok" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    p = only_problem(tiny_folder)
    assert (p.file, p.rows) == ("zones.csv", (1,)) and "control character" in p.message


def test_control_characters_in_tables_given_from_python(tiny_folder):
    scenario = planner.load_scenario(tiny_folder)
    members = scenario.members.assign(name=["ok", "bad\x1b]0;x\x07"])
    with pytest.raises(ScenarioError, match="members.csv, column 'name', row 3"):
        scenario.with_(tables={"members": members})
    with pytest.raises(ScenarioError, match="control character"):
        scenario.with_(name="tiny\x1b[2J")
    # a tab inside a name is harmless (the terminal and the CSV writer leave it as it is)
    tabbed = scenario.with_(tables={"members": scenario.members.assign(name=["a\tb", "c"])})
    assert tabbed.members.at[0, "name"] == "a\tb"


def test_escape_sequences_reach_the_terminal_escaped_not_stripped(tmp_path):
    script = textwrap.dedent("""
        import typer
        from planner.terminal import run_safely
        app = typer.Typer()
        @app.command()
        def show():
            typer.echo("csi \\x1b[31mRED\\x1b[0m osc \\x1b]0;title\\x07 end")
            typer.echo("to stderr \\x1b[2J", err=True)
        raise SystemExit(run_safely(app))
        """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "csi \\x1b[31mRED\\x1b[0m osc \\x1b]0;title\\x07 end\n"
    assert result.stderr == "to stderr \\x1b[2J\n"


def test_the_clis_own_help_on_a_terminal_carries_no_escaped_codes(tmp_path):
    """On a terminal, a library's own colour codes passed through the filter would show as
    text (\\x1b[1m...): the filtered streams say they are not terminals, so none are made."""
    import os
    import pty
    leader, follower = pty.openpty()
    command = [sys.executable, "-c", "from planner.cli import main; main()", "--help"]
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PY_COLORS")}
    proc = subprocess.Popen(command, stdout=follower, stderr=follower, env=env)
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:   # the terminal closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(timeout=60)
    os.close(leader)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    assert proc.returncode == 0 and "Usage" in text, text
    assert "\\x1b" not in text and "\x1b" not in text, text[:300]

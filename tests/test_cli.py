"""The `planner` command line, end to end: exit codes, messages and the plan folder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pyogrio
import pytest
from typer.testing import CliRunner

from helpers import TINY, run_planner, snapshot, write_scenario
from planner.cli import app

PLAN_CSV_COLUMNS = {
    "equipment.csv": ["site_id", "member", "tier", "equipment", "existing", "new", "relocated_in",
                      "relocated_out", "total", "exams", "utilization", "site_bound_exams"],
    "specialist_days.csv": ["site_id", "member", "specialty", "outreach_days", "clinic_visits",
                            "visits", "capacity"],
    "flows.csv": ["zone_id", "site_id", "service", "units", "minutes"],
    "zones.csv": ["zone_id", "home_member", "population", "service", "demand", "served", "unmet",
                  "unmet_share", "mean_minutes"],
}

runner = CliRunner()


def invoke(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def make_invalid(folder: Path) -> None:
    write_scenario(folder, sites="""
        site_id,name,member,tier,lon,lat
        S_C,County hospital,M_COUNTY,county,119.00,95
        """)


def make_infeasible(folder: Path) -> None:
    # 60 neurology days at each of the 2 township sites, but the pool holds 100
    write_scenario(folder, scenario=TINY["scenario"].replace("neurology = 5", "neurology = 60"))


@pytest.fixture
def planned(tiny_folder, tmp_path) -> Path:
    """The tiny scenario's plan folder, written by `planner plan`."""
    out = tmp_path / "plan"
    result = invoke("plan", tiny_folder, "--out", out)
    assert result.exit_code == 0, result.output
    return out


# --- planner plan --------------------------------------------------------------------------------
def test_plan_prints_a_summary_and_writes_the_folder(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    result = invoke("plan", tiny_folder, "--out", out)
    assert result.exit_code == 0, result.output
    assert "Status: optimal" in result.output
    assert f"Plan written to {out}" in result.output
    for name in ["plan.json", "plan.gpkg", *PLAN_CSV_COLUMNS]:
        assert (out / name).is_file(), name


def test_plan_json_has_the_documented_keys(planned):
    data = json.loads((planned / "plan.json").read_text(encoding="utf-8"))
    assert {"status", "objective", "bound", "mip_gap", "solve_seconds", "kpis"} <= set(data)
    assert data["status"] == "optimal"
    assert data["objective"] > 0
    assert data["bound"] == pytest.approx(data["objective"], rel=1e-6)
    assert 0 <= data["mip_gap"] <= 1e-6
    assert data["solve_seconds"] >= 0
    assert data["objective"] == pytest.approx(math.fsum(data["costs"].values()), rel=1e-9)
    assert data["kpis"]["annual_cost"] == pytest.approx(data["objective"])
    assert data["kpis"]["urgent_uncovered_zones"] == 0


@pytest.mark.parametrize("name", sorted(PLAN_CSV_COLUMNS))
def test_plan_csv_files_have_the_documented_columns(planned, name):
    with (planned / name).open(encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split(",")
        assert f.readline(), f"{name} has no rows"
    assert header == PLAN_CSV_COLUMNS[name]


def test_plan_geopackage_has_sites_zones_and_flows_layers(planned):
    layers = {name: geometry for name, geometry in pyogrio.list_layers(planned / "plan.gpkg")}
    assert set(layers) == {"sites", "zones", "flows"}
    assert layers["sites"] == "Point" and layers["zones"] == "Point"
    assert layers["flows"] == "LineString"
    assert pyogrio.read_info(planned / "plan.gpkg", layer="sites")["features"] == 3
    assert pyogrio.read_info(planned / "plan.gpkg", layer="zones")["features"] == 4
    assert pyogrio.read_info(planned / "plan.gpkg", layer="sites")["crs"] == "EPSG:4326"


def test_rerun_gives_identical_files(tiny_folder, planned, tmp_path):
    again = tmp_path / "again"
    assert invoke("plan", tiny_folder, "--out", again).exit_code == 0
    for name in PLAN_CSV_COLUMNS:
        assert (again / name).read_bytes() == (planned / name).read_bytes(), name
    first, second = (json.loads((folder / "plan.json").read_text(encoding="utf-8"))
                     for folder in (planned, again))
    first.pop("solve_seconds")
    second.pop("solve_seconds")
    assert first == second


def test_plan_with_a_budget_option(tiny_folder):
    result = invoke("plan", tiny_folder, "--budget", "0")
    assert result.exit_code == 0, result.output
    assert "of 0.00 M CNY" in result.output


# --- bad input and infeasibility -----------------------------------------------------------------
def test_validate_accepts_the_tiny_scenario(tiny_folder):
    result = invoke("validate", tiny_folder)
    assert result.exit_code == 0, result.output
    assert "valid (2 members, 3 sites, 4 zones" in result.output


def test_validate_bad_folder_exits_2_with_the_file_name(tiny_folder):
    make_invalid(tiny_folder)
    result = invoke("validate", tiny_folder)
    assert result.exit_code == 2
    assert "sites.csv, column 'lat', row 2" in result.output
    assert "Traceback" not in result.output


def test_validate_missing_folder_exits_2(tmp_path):
    result = invoke("validate", tmp_path / "nowhere")
    assert result.exit_code == 2
    assert "does not exist" in result.output


def test_plan_bad_folder_exits_2(tiny_folder):
    make_invalid(tiny_folder)
    result = invoke("plan", tiny_folder)
    assert result.exit_code == 2
    assert "sites.csv" in result.output and "Traceback" not in result.output


def test_infeasible_scenario_exits_3_with_the_cause(tiny_folder):
    make_infeasible(tiny_folder)
    result = invoke("plan", tiny_folder)
    assert result.exit_code == 3
    assert "no feasible plan" in result.output
    assert "neurology" in result.output and "120 days" in result.output


@pytest.mark.parametrize("spoil", [make_invalid, make_infeasible], ids=["bad-input", "infeasible"])
def test_failed_run_leaves_an_existing_plan_folder_intact(tiny_folder, planned, spoil):
    before = snapshot(planned)
    spoil(tiny_folder)
    result = invoke("plan", tiny_folder, "--out", planned)
    assert result.exit_code in (2, 3)
    assert snapshot(planned) == before
    assert sorted(p.name for p in planned.parent.iterdir()) == ["plan", "tiny"]  # no leftovers


# --- the installed console script --------------------------------------------------------------
def test_console_script_plans_and_reports_bad_input(tiny_folder, tmp_path):
    out = tmp_path / "cli-plan"
    done = run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "Status: optimal" in done.stdout
    assert json.loads((out / "plan.json").read_text(encoding="utf-8"))["status"] == "optimal"

    make_invalid(tiny_folder)
    done = run_planner("validate", tiny_folder, cwd=tmp_path)
    assert done.returncode == 2
    assert "sites.csv" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_console_script_infeasible_exits_3(tiny_folder, tmp_path):
    make_infeasible(tiny_folder)
    done = run_planner("plan", tiny_folder, cwd=tmp_path)
    assert done.returncode == 3
    assert "no feasible plan" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


# --- the embedded default scenario ---------------------------------------------------------------
def test_plan_without_argument_uses_the_default_scenario(tmp_path):
    out = tmp_path / "default"
    result = invoke("plan", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "plan.json").read_text(encoding="utf-8"))
    assert data["scenario"].startswith("Tianchang")
    assert data["status"] == "optimal"
    assert data["kpis"]["urgent_uncovered_zones"] == 0

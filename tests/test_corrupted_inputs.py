"""Corrupted inputs: every defect is a ScenarioError naming file, column and row, never a
traceback, a hang or a silent wrong answer (issue 7). Cases are generated from the tiny scenario
of conftest.py: one defect per case, across every table, numeric column and scenario.toml key."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomli_w

import planner
from helpers import TINY, flat_settings, set_cell, write_scenario
from planner.errors import PlannerError, ScenarioError, ScenarioWarning
from planner.scenario.schema import TABLES

EXTRA = {  # the optional tables, so that their columns are corrupted too
    "travel": "zone_id,site_id,minutes\nZ1,S_C,10\n",
    "zone_conditions": "zone_id,condition,cases_per_1000\nZ1,stroke,4\n",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return write_scenario(tmp_path / "s", **TINY, **EXTRA)


def problems_of(path: Path):
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(path)
    return info.value.problems


def assert_reported(path: Path, file: str, column: str | None = None, row: int | None = None,
                    *words: str):
    found = problems_of(path)
    text = "\n".join(map(str, found))
    for p in found:
        if p.file == file and (column is None or p.column == column) and \
                (row is None or row in p.rows):
            assert all(w.lower() in str(p).lower() for w in words), text
            return p
    raise AssertionError(f"no problem for {file}/{column}/row {row}:\n{text}")


# --- every numeric cell ------------------------------------------------------------------------
def _numeric_cases():
    for name, table in TABLES.items():
        text = TINY.get(name) or EXTRA.get(name)
        if text is None:
            continue
        header = text.strip().splitlines()[0].strip().split(",")
        for f in table.fields:
            if f.kind == "text" or f.name not in header:
                continue
            values = ["many", "inf", "-inf", "nan", "1e308", "1,5"]
            if (f.minimum is not None and f.minimum >= 0) or f.strictly_positive:
                values.append("-1")
            for value in values:
                yield pytest.param(name, f.name, value, id=f"{name}.{f.name}={value}")


@pytest.mark.parametrize("table, column, value", list(_numeric_cases()))
def test_bad_number_in_every_numeric_column(folder, table, column, value):
    if value == "1,5":  # an unquoted decimal comma: one field too many
        path = folder / f"{table}.csv"
        lines = path.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(",")
        cells = lines[1].split(",")
        cells[header.index(column)] = "1,5"
        lines[1] = ",".join(cells)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert_reported(folder, f"{table}.csv", None, 2, "field")
        return
    set_cell(folder, table, 2, column, value)
    assert_reported(folder, f"{table}.csv", column, 2)


# --- every scenario.toml key -------------------------------------------------------------------
TOML_CASES = {
    ("name",): [5, True],
    ("discount_rate",): ["x", math.inf, math.nan, 2.0, -0.1, True],
    ("budget",): [math.inf, 1e308, -1.0, "big"],
    ("travel", "speed_kmh"): [math.inf, 1e308, 0.0, "fast", 1e-300],
    ("travel", "circuity"): [0.5, math.inf, 1e9],
    ("travel", "value_per_minute"): [math.inf, -1.0, 1e308, math.nan],
    ("policy", "min_outreach_days", "neurology"): [math.inf, 1e9, -1.0, "five"],
    ("policy", "grassroots_tiers"): ["township", [1]],
    ("urgent", "soft"): ["yes", 1],
    ("urgent", "penalty_per_zone"): [math.inf, 1e308, -5.0],
    ("solver", "time_limit"): [math.inf, 0.0, "x"],
    ("solver", "mip_gap"): [math.nan, 2.0],
    ("solver", "threads"): [1000, True, 1.5, 0],
    ("solver", "seed"): [99999999999, True, -1, 2.5],
    ("solver", "presolve"): ["on"],
    ("travel",): [5],
}


@pytest.mark.parametrize("keys, value", [
    pytest.param(k, v, id=f"{'.'.join(k)}={v!r}") for k, vs in TOML_CASES.items() for v in vs])
def test_bad_setting_in_every_key(folder, keys, value):
    data = tomllib.loads(TINY["scenario"].replace("\n        ", "\n"))
    target = data
    for k in keys[:-1]:
        target = target.setdefault(k, {})
    target[keys[-1]] = value
    (folder / "scenario.toml").write_text(tomli_w.dumps(data), encoding="utf-8")
    p = assert_reported(folder, "scenario.toml")
    assert ".".join(keys[:2]) in p.message or keys[0] in p.message, str(p)


# --- encodings, files that are not files -------------------------------------------------------
def test_gbk_scenario_toml(folder):
    (folder / "scenario.toml").write_bytes(
        TINY["scenario"].replace('"tiny"', '"天长"').encode("gbk"))
    assert_reported(folder, "scenario.toml", None, None, "not UTF-8", "byte")


def test_gbk_csv(folder):
    text = (folder / "zones.csv").read_text(encoding="utf-8").replace("Town", "天长镇")
    (folder / "zones.csv").write_bytes(text.encode("gbk"))
    assert_reported(folder, "zones.csv", None, None, "not UTF-8", "save it as UTF-8")


def test_bom_is_accepted(folder):
    for name in ("scenario.toml", "zones.csv"):
        path = folder / name
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert planner.load_scenario(folder).name == "tiny"


def test_nul_bytes(folder):
    (folder / "sites.csv").write_bytes(b"site_id,name\x00\x00\n")
    assert_reported(folder, "sites.csv", None, None, "NUL")


@pytest.mark.parametrize("name", ["sites.csv", "scenario.toml", "travel.csv"])
def test_folder_instead_of_file(folder, name):
    (folder / name).unlink()
    (folder / name).mkdir()
    assert_reported(folder, name, None, None, "folder")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
@pytest.mark.parametrize("name", ["sites.csv", "scenario.toml"])
def test_fifo_instead_of_file_does_not_hang(folder, name):
    (folder / name).unlink()
    os.mkfifo(folder / name)
    assert_reported(folder, name, None, None, "pipe")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifo_workbook(tmp_path):
    os.mkfifo(tmp_path / "book.xlsx")
    assert_reported(tmp_path / "book.xlsx", "book.xlsx", None, None, "pipe")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads everything")
def test_unreadable_file(folder):
    (folder / "zones.csv").chmod(0)
    try:
        assert_reported(folder, "zones.csv", None, None, "permission")
    finally:
        (folder / "zones.csv").chmod(0o644)


def test_dangling_symlink(folder):
    (folder / "zones.csv").unlink()
    (folder / "zones.csv").symlink_to(folder / "nowhere.csv")
    assert_reported(folder, "zones.csv")


# --- CSV structure -----------------------------------------------------------------------------
@pytest.mark.parametrize("second", ["capex", " capex", "CAPEX"])
def test_duplicate_header(folder, second):
    path = folder / "equipment.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + "," + second] + [line + ",1" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_reported(folder, "equipment.csv", "capex" if second != "CAPEX" else "CAPEX", 1,
                    "twice")


@pytest.mark.parametrize("table", ["sites", "zones", "members", "equipment", "resources"])
@pytest.mark.parametrize("change", ["more", "fewer"])
def test_ragged_row(folder, table, change):
    path = folder / f"{table}.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + ",extra" if change == "more" else lines[2].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    found = problems_of(folder)
    assert [(p.file, p.rows) for p in found] == [(f"{table}.csv", (3,))], found
    assert "field" in found[0].message


def test_misspelled_optional_column(folder):
    path = folder / "equipment.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("max_utilization",
                                                             "max_utilisation"), encoding="utf-8")
    assert_reported(folder, "equipment.csv", "max_utilisation", 1, "max_utilization")


def test_misspelled_required_column(folder):
    path = folder / "zones.csv"
    path.write_text(path.read_text(encoding="utf-8").replace("population", "Populaton"),
                    encoding="utf-8")
    assert_reported(folder, "zones.csv", "population", None, "'Populaton' should be")


def test_near_duplicate_extra_column_warns(folder):
    path = folder / "specialties.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",cost_per_days"] + [line + ",1" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.warns(ScenarioWarning, match="cost_per_day"):
        planner.load_scenario(folder)


def test_unrelated_extra_columns_are_kept_silently(folder):
    path = folder / "sites.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",notes,source"] + [line + ",a note,survey" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    scenario = planner.load_scenario(folder)  # filterwarnings=error: no warning either
    assert list(scenario.sites["notes"]) == ["a note"] * 3


def test_values_under_an_unnamed_column(folder):
    path = folder / "members.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ","] + [line + ",x" for line in lines[1:]]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_reported(folder, "members.csv", None, 2, "no name")


def test_unterminated_quote(folder):
    path = folder / "sites.csv"
    path.write_text(path.read_text(encoding="utf-8") + 'S_X,"broken,M_TOWN,county,119,32\n',
                    encoding="utf-8")
    assert_reported(folder, "sites.csv")


# --- no demand, sizes, derived coefficients ----------------------------------------------------
def test_zones_header_only(folder):
    write_scenario(folder, zones="zone_id,name,lon,lat,population,home_member")
    assert_reported(folder, "zones.csv", "population", None, "no demand")


def test_every_population_zero(folder):
    for row in range(2, 6):
        set_cell(folder, "zones", row, "population", "0")
    assert_reported(folder, "zones.csv", "population", None, "no demand")


def test_too_many_zones(folder, monkeypatch):
    import planner.scenario.validate
    monkeypatch.setattr(planner.scenario.validate, "MAX_ZONES", 3)
    assert_reported(folder, "zones.csv", None, None, "at most 3")


def test_too_many_pairs(folder, monkeypatch):
    import planner.scenario.validate
    monkeypatch.setattr(planner.scenario.validate, "MAX_ZONE_SITE_PAIRS", 10)
    assert_reported(folder, "zones.csv", None, None, "zone-site pairs")


def test_huge_derived_demand(folder):
    set_cell(folder, "zones", 2, "population", "1e9")
    set_cell(folder, "conditions", 2, "cases_per_1000", "1e5")
    set_cell(folder, "condition_services", 2, "units_per_case", "1e4")
    assert_reported(folder, "zones.csv", "population", 2, "1e+13")


def test_huge_budget_from_contributions(folder):
    lines = ["member,name,budget_contribution"] + [f"M{k},m,1e12" for k in range(12)]
    text = (folder / "members.csv").read_text(encoding="utf-8").strip()
    (folder / "members.csv").write_text(text + "\n" + "\n".join(lines[1:]) + "\n",
                                        encoding="utf-8")
    assert_reported(folder, "members.csv", "budget_contribution", None, "budget")


# --- workbooks ---------------------------------------------------------------------------------
def _workbook(folder: Path, path: Path, scenario_rows: list | None = None, **sheets):
    settings = tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8"))
    rows = flat_settings(settings) if scenario_rows is None else scenario_rows
    frames = {p.stem: pd.read_csv(p) for p in sorted(folder.glob("*.csv"))}
    frames.update(sheets)
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        pd.DataFrame(rows).to_excel(writer, sheet_name="scenario", index=False, header=False)
        for name, frame in frames.items():
            frame.to_excel(writer, sheet_name=name, index=False)
    return path


def test_workbook_reference_loads(folder, tmp_path):
    assert planner.load_scenario(_workbook(folder, tmp_path / "ok.xlsx")).name == "tiny"


def test_workbook_one_column_scenario_sheet(folder, tmp_path):
    book = _workbook(folder, tmp_path / "b.xlsx", scenario_rows=[["name"], ["currency"]])
    assert_reported(book, "sheet 'scenario'", None, None, "one column")


def test_workbook_empty_scenario_sheet(folder, tmp_path):
    book = _workbook(folder, tmp_path / "b.xlsx", scenario_rows=[])
    assert_reported(book, "sheet 'scenario'", None, None, "empty")


@pytest.mark.parametrize("order", ["value first", "dotted first"])
def test_workbook_conflicting_keys(folder, tmp_path, order):
    rows = flat_settings(tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8")))
    clash = ("travel", 5)
    rows = [clash] + rows if order == "value first" else rows + [clash]
    book = _workbook(folder, tmp_path / "b.xlsx", scenario_rows=rows)
    assert_reported(book, "sheet 'scenario'", "key", None, "conflicts")


def test_workbook_formula_without_saved_value(folder, tmp_path):
    import openpyxl
    book = _workbook(folder, tmp_path / "b.xlsx")
    wb = openpyxl.load_workbook(book)
    ws = wb["zones"]
    col = [c.value for c in ws[1]].index("population") + 1
    ws.cell(row=3, column=col).value = "=1000*15"
    wb.save(book)  # openpyxl saves formulas without a cached value
    p = assert_reported(book, "sheet 'zones'", None, 3, "formula without a saved value")
    assert "E3" in p.message or "3" in str(p.rows)


def test_workbook_duplicate_header(folder, tmp_path):
    eq = pd.read_csv(folder / "equipment.csv")
    eq.insert(2, "capex ", eq["capex"])
    book = _workbook(folder, tmp_path / "b.xlsx", equipment=eq)
    assert_reported(book, "sheet 'equipment'", "capex", 1, "twice")


def test_workbook_huge_number(folder, tmp_path):
    zones = pd.read_csv(folder / "zones.csv")
    zones["population"] = zones["population"].astype(float)
    zones.loc[0, "population"] = 1e308
    book = _workbook(folder, tmp_path / "b.xlsx", zones=zones)
    assert_reported(book, "sheet 'zones'", "population", 2)


def test_not_a_workbook(tmp_path):
    (tmp_path / "b.xlsx").write_bytes(b"this is not a zip file")
    assert_reported(tmp_path / "b.xlsx", "b.xlsx", None, None, "Excel workbook")


# --- numerics and the solver -------------------------------------------------------------------
def test_annuity_factor_is_numerically_safe():
    from planner.model.inputs import annuity_factor
    assert annuity_factor(1e-17, 8) == pytest.approx(1 / 8)
    assert annuity_factor(0.0, 8) == 1 / 8
    assert annuity_factor(0.05, 10) == pytest.approx(0.05 / (1 - 1.05 ** -10), rel=1e-12)
    assert math.isfinite(annuity_factor(0.05, 1e-300))
    with pytest.raises(ValueError):
        annuity_factor(0.05, 0.0)


def _undominated_dense(sets: np.ndarray) -> np.ndarray:
    """The former dense implementation (rows x rows matrix), kept as the reference."""
    a = sets.astype(np.int32)
    extra = a @ (1 - a).T
    size = a.sum(axis=1)
    keep = np.ones(len(sets), dtype=bool)
    for q in range(len(sets)):
        subsets = np.nonzero(extra[:, q] == 0)[0]
        smaller = subsets[(size[subsets] < size[q]) | ((size[subsets] == size[q]) & (subsets < q))]
        if len(smaller) and size[q] > 0:
            keep[q] = False
    return keep


@pytest.mark.parametrize("dense_sets", [5_000, 0], ids=["numpy", "scipy-sparse"])
def test_undominated_matches_the_dense_version(dense_sets, monkeypatch):
    from planner.model import inputs
    from planner.model.inputs import _undominated
    monkeypatch.setattr(inputs, "DENSE_SETS", dense_sets)   # both products of _intersections
    rng = np.random.default_rng(7)
    for _ in range(400):
        n, m = int(rng.integers(1, 40)), int(rng.integers(1, 9))
        sets = rng.random((n, m)) < rng.uniform(0.05, 0.95)
        assert (_undominated(sets) == _undominated_dense(sets)).all(), sets


def test_rejected_solver_option_is_a_clear_error():
    import toy
    from planner.model.highs import SolverOptions
    from planner.planning.session import PlanningSession, solve
    with pytest.raises(PlannerError, match="seed"):       # the keyword, checked first
        solve(toy.scenario(), seed=99_999_999_999)
    highs = PlanningSession(toy.scenario()).highs       # HiGHS's own check, behind it
    with pytest.raises(PlannerError, match="random_seed"):
        highs.solve(SolverOptions(seed=99_999_999_999))


# --- the command line --------------------------------------------------------------------------
def _cli(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planner.cli", "validate", str(path)],
                          capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[1])


def test_cli_bad_inputs_exit_2_without_traceback(folder, tmp_path):
    cases = []
    bad = write_scenario(tmp_path / "gbk", **TINY)
    (bad / "scenario.toml").write_bytes(TINY["scenario"].replace('"tiny"', '"天长"')
                                        .encode("gbk"))
    cases.append((bad, "not UTF-8"))
    big = write_scenario(tmp_path / "big", **TINY)
    set_cell(big, "equipment", 2, "capex", "1e308")
    cases.append((big, "capex"))
    if hasattr(os, "mkfifo"):
        fifo = write_scenario(tmp_path / "fifo", **TINY)
        (fifo / "sites.csv").unlink()
        os.mkfifo(fifo / "sites.csv")
        cases.append((fifo, "sites.csv"))
    rows = flat_settings(tomllib.loads((folder / "scenario.toml").read_text(encoding="utf-8")))
    cases.append((_workbook(folder, tmp_path / "clash.xlsx", scenario_rows=rows
                            + [("travel", 5)]), "conflicts"))
    for path, word in cases:
        result = _cli(path)
        assert result.returncode == 2, (path, result.stderr)
        assert "Traceback" not in result.stderr and word in result.stderr, result.stderr

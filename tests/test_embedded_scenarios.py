"""The embedded scenarios (docs/design.md section 9, "Embedded scenarios"): `planner scenarios`
lists every scenario folder of data/ with its kind and size, `planner plan NAME` plans each for
real, the report of each renders in headless Chromium, each builder rewrites its committed files
byte for byte, and an unknown name exits 2 naming the embedded ones.

Expected values are read from the data files with the csv and tomllib modules, never from the
planner's own loading code."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import planner
from helpers import needs_browser, open_page
from planner.cli import app
from planner.pictures.report import write_report

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
NAMES = sorted(p.name for p in DATA.iterdir() if (p / "scenario.toml").is_file())
# builder -> the scenario folders it writes (each builder takes --out FOLDER)
BUILDERS = {"build_deqing.py": ["deqing"], "build_urban_group.py": ["luohu"]}
KINDS = {"county", "urban-group", "specialist-alliance", "telemedicine"}

runner = CliRunner()


def rows(name: str, table: str) -> list[dict]:
    path = DATA / name / table
    if not path.is_file():
        return []
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def toml(name: str) -> dict:
    return tomllib.loads((DATA / name / "scenario.toml").read_text(encoding="utf-8"))


def test_the_shipped_scenarios_are_those_of_the_design():
    assert {"tianchang", "deqing", "luohu"} <= set(NAMES)
    assert {toml(n).get("kind", "county") for n in NAMES} <= KINDS
    assert toml("deqing")["kind"] == "county"
    assert toml("luohu")["kind"] == "urban-group"
    assert toml("luohu")["policy"]["grassroots_tiers"] == ["community"]


def test_planner_scenarios_lists_each_with_its_kind_and_size():
    done = runner.invoke(app, ["scenarios", "--json"])
    assert done.exit_code == 0, done.output
    listed = {s["name"]: s for s in json.loads(done.output)}
    assert sorted(listed) == NAMES
    for name in NAMES:
        zones = rows(name, "zones.csv")
        assert listed[name]["kind"] == toml(name).get("kind", "county")
        assert listed[name]["members"] == len(rows(name, "members.csv"))
        assert listed[name]["sites"] == len(rows(name, "sites.csv"))
        assert listed[name]["zones"] == len(zones)
        assert listed[name]["population"] == round(sum(float(z["population"]) for z in zones))
    table = runner.invoke(app, ["scenarios"])
    assert table.exit_code == 0
    lines = table.output.splitlines()
    assert lines[0].split()[:6] == ["name", "kind", "members", "sites", "zones", "population"]
    for name in NAMES:
        line = next(x for x in lines if x.startswith(name + " "))
        assert line.split()[1] == toml(name).get("kind", "county")


@pytest.mark.parametrize("name", ["no-such-consortium", "deqing.xlsx", "sub/deqing"])
def test_an_unknown_name_exits_2_naming_the_embedded_ones(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # no path of that name exists here
    done = runner.invoke(app, ["plan", name, "--out", str(tmp_path / "plan")])
    assert done.exit_code == 2
    assert "Traceback" not in done.output
    assert all(n in done.output for n in NAMES), done.output
    assert not (tmp_path / "plan").exists()


def test_a_path_of_that_name_wins_over_the_embedded_scenario(tmp_path, monkeypatch):
    folder = tmp_path / "deqing"
    planner.load_scenario("tianchang").save(folder)
    monkeypatch.chdir(tmp_path)
    assert planner.load_scenario("deqing").name == planner.load_scenario("tianchang").name


def test_kind_defaults_to_county_and_a_wrong_kind_exits_2(tmp_path):
    folder = tmp_path / "s"
    planner.load_scenario("tianchang").with_(kind="urban-group").save(folder)
    text = (folder / "scenario.toml").read_text(encoding="utf-8")
    assert 'kind = "urban-group"' in text
    (folder / "scenario.toml").write_text(text.replace('kind = "urban-group"\n', ""),
                                          encoding="utf-8")
    assert planner.load_scenario(folder).settings.kind == "county"
    (folder / "scenario.toml").write_text(text.replace('"urban-group"', '"city"'),
                                          encoding="utf-8")
    done = runner.invoke(app, ["validate", str(folder)])
    assert done.exit_code == 2
    assert "scenario.toml" in done.output and "kind" in done.output


def demand_from_files(name: str) -> dict[str, float]:
    """service -> residents' yearly demand, recomputed from zones, conditions and units per
    case (design section 3), with zone_conditions overrides."""
    rate = {r["condition"]: float(r["cases_per_1000"]) for r in rows(name, "conditions.csv")}
    override = {(r["zone_id"], r["condition"]): float(r["cases_per_1000"])
                for r in rows(name, "zone_conditions.csv")}
    demand: dict[str, float] = {}
    for z in rows(name, "zones.csv"):
        for cs in rows(name, "condition_services.csv"):
            c = cs["condition"]
            cases = float(z["population"]) / 1000 * override.get((z["zone_id"], c), rate[c])
            demand[cs["service"]] = demand.get(cs["service"], 0.0) + \
                cases * float(cs["units_per_case"])
    return demand


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    """Each embedded scenario planned by `planner plan NAME --out` (a real solve)."""
    out = {}
    for name in NAMES:
        folder = tmp_path_factory.mktemp(name) / "plan"
        done = runner.invoke(app, ["plan", name, "--out", str(folder)])
        out[name] = (done, folder)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_planner_plan_name_solves_and_validates(name, planned):
    done, folder = planned[name]
    assert done.exit_code == 0, done.output
    assert f"Kind: {toml(name).get('kind', 'county')}" in done.output
    assert runner.invoke(app, ["validate", name]).exit_code == 0
    data = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert data["status"] == "optimal"
    assert data["kind"] == toml(name).get("kind", "county")
    assert data["objective"] == pytest.approx(math.fsum(data["costs"].values()), rel=1e-9)
    # the plan's demand is the residents' demand recomputed from the scenario's files
    with (folder / "zones.csv").open(encoding="utf-8") as f:
        written: dict[str, float] = {}
        for r in csv.DictReader(f):
            written[r["service"]] = written.get(r["service"], 0.0) + float(r["demand"])
    expected = demand_from_files(name)
    assert written.keys() == expected.keys()
    for service, units in expected.items():
        assert written[service] == pytest.approx(units, rel=1e-7), service  # CSV rounding
    # every unit in service was there, bought or moved in (equipment.csv)
    with (folder / "equipment.csv").open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            total = (float(r["existing"]) + float(r["new"]) + float(r["relocated_in"])
                     - float(r["relocated_out"]))
            assert float(r["total"]) == pytest.approx(total)


@needs_browser
@pytest.mark.parametrize("name", NAMES)
def test_the_report_of_each_renders_in_chromium(name, planned, browser):
    from selenium.webdriver.common.by import By

    done, folder = planned[name]
    assert done.exit_code == 0, done.output
    console, _ = open_page(browser, write_report(folder))
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    kind = toml(name).get("kind", "county")
    assert browser.find_element(By.ID, "kind").text == f"Consortium kind: {kind}"
    with (folder / "equipment.csv").open(encoding="utf-8") as f:
        sites = {r["site_id"] for r in csv.DictReader(f)}
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map-box svg path.planner-site")) \
        >= len(sites) > 0


@pytest.mark.parametrize("builder", sorted(BUILDERS))
def test_each_builder_rewrites_its_committed_files(builder, tmp_path):
    done = subprocess.run([sys.executable, str(DATA / builder), "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    for name in BUILDERS[builder]:
        built = sorted(p.name for p in (tmp_path / name).iterdir())
        assert built == sorted(p.name for p in (DATA / name).iterdir() if p.is_file())
        for file in built:
            assert (tmp_path / name / file).read_bytes() == (DATA / name / file).read_bytes(), \
                f"{name}/{file}"


@pytest.mark.parametrize("name", [n for n in NAMES if rows(n, "site_demand.csv")])
def test_each_hospital_keeps_the_units_its_own_demand_needs(name, planned):
    """Site-bound exams never travel: a hospital's units in service hold them, the fewest units
    being ceil(exams / (capacity_per_year x max_utilization)), computed here from the files."""
    done, folder = planned[name]
    assert done.exit_code == 0, done.output
    usable = {e["equipment"]: float(e["capacity_per_year"]) * float(e["max_utilization"])
              for e in rows(name, "equipment.csv")}
    with (folder / "equipment.csv").open(encoding="utf-8") as f:
        total = {(r["site_id"], r["equipment"]): float(r["total"]) for r in csv.DictReader(f)}
    for r in rows(name, "site_demand.csv"):
        need = math.ceil(float(r["units_per_year"]) / usable[r["service"]] - 1e-9)
        assert total.get((r["site_id"], r["service"]), 0) >= need, r


@pytest.mark.parametrize("name", [n for n in NAMES if "reading" in toml(n)])
def test_the_reading_centres_read_remotely_for_the_others(name, planned):
    """With [reading], the centres read more than their own exams (reading.csv): what the other
    sites send them, each site reading locally at most radiologists x reads_per_radiologist."""
    done, folder = planned[name]
    assert done.exit_code == 0, done.output
    with (folder / "reading.csv").open(encoding="utf-8") as f:
        table = {r["site_id"]: r for r in csv.DictReader(f)}
    centres = toml(name)["reading"]["centres"]
    remote = sum(float(r["reads_remote"]) for s, r in table.items() if s not in centres)
    assert remote > 0
    fte = {r["site_id"]: float(r["amount"]) for r in rows(name, "resources.csv")
           if r["resource"] == "radiologists"}
    per = float(toml(name)["reading"]["reads_per_radiologist"])
    for s, r in table.items():   # a site reads locally at most what its radiologists can
        assert float(r["reads_local"]) <= (fte.get(s, 0) + float(r["hired"])) * per + 1e-6
        assert float(r["reads_local"]) + float(r["reads_remote"]) == \
            pytest.approx(float(r["exams"]), abs=1e-3)
    done_at = sum(float(table[c]["reads_done"]) for c in centres)
    own = sum(float(table[c]["exams"]) for c in centres)
    assert done_at > own
    assert done_at == pytest.approx(own + remote, rel=1e-6)
    if name == "luohu":
        assert centres == ["S_IMG"] and float(table["S_IMG"]["reads_done"]) > \
            float(table["S_IMG"]["exams"])

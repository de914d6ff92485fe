"""The map's geography (issue 18, items 6 and 8): the county boundary shipped with the default
scenario, the optional boundary.geojson of the scenario format, the sites labelled by name, and
figures that clip nothing.

References nobody here wrote: the published GCJ-02 forward formula (the "Mars coordinates" of
Chinese web maps, as in googollee/eviltransform and wandergis/coordtransform, re-typed here from
the formula, not from the planner's converter), the county's area and extent published by the
county government (data/sources/FACTS.md §0: 1,770 km², 32°27′27″–32°57′36″N,
118°39′19″–119°13′23″E), and matplotlib's own measure of drawn text.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod
from shapely.geometry import Point, shape
from typer.testing import CliRunner

import planner
from helpers import TINY, needs_browser, open_page, write_scenario
from planner.cli import app
from planner.pictures.data import PictureError, from_folder, site_label
from planner.pictures.plot import plan_figure

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "data" / "tianchang" / "boundary.geojson"
FENCE = ROOT / "data" / "sources" / "fence_341181.json"
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def county():
    scenario = planner.load_scenario(None)
    return scenario, planner.solve(scenario)


def _fence_positions() -> np.ndarray:
    return np.array(json.loads(FENCE.read_text(encoding="utf-8"))["coordinates"][0], float)


def _shipped_polygon():
    return shape(json.loads(SHIPPED.read_text(encoding="utf-8"))["geometry"])


# --- the shipped boundary ----------------------------------------------------------------------
def _wgs84_to_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """The published GCJ-02 obfuscation (Krasovsky 1940 ellipsoid), WGS-84 -> GCJ-02."""
    a, ee = 6378245.0, 0.00669342162296594323
    x, y = lon - 105.0, lat - 35.0
    waves = (20 * math.sin(6 * x * math.pi) + 20 * math.sin(2 * x * math.pi)) * 2 / 3
    d_lat = (-100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x)) + waves
             + (20 * math.sin(y * math.pi) + 40 * math.sin(y / 3 * math.pi)) * 2 / 3
             + (160 * math.sin(y / 12 * math.pi) + 320 * math.sin(y * math.pi / 30)) * 2 / 3)
    d_lon = (300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x)) + waves
             + (20 * math.sin(x * math.pi) + 40 * math.sin(x / 3 * math.pi)) * 2 / 3
             + (150 * math.sin(x / 12 * math.pi) + 300 * math.sin(x / 30 * math.pi)) * 2 / 3)
    rad = lat / 180 * math.pi
    magic = 1 - ee * math.sin(rad) ** 2
    d_lat = d_lat * 180 / ((a * (1 - ee)) / (magic * math.sqrt(magic)) * math.pi)
    d_lon = d_lon * 180 / (a / math.sqrt(magic) * math.cos(rad) * math.pi)
    return lon + d_lon, lat + d_lat


def test_the_builder_writes_the_committed_boundary_byte_for_byte():
    from planner.data import build_tianchang
    from planner.scenario.boundary import boundary_text

    first, second = build_tianchang.county_boundary(), build_tianchang.county_boundary()
    assert boundary_text(first) == boundary_text(second) == SHIPPED.read_text(encoding="utf-8")
    assert first["geometry"]["type"] == "Polygon"
    assert "Vonng/adcode" in first["properties"]["source"]


def test_the_boundary_is_the_source_fence_moved_from_gcj02_to_wgs84():
    wgs = np.array(json.loads(SHIPPED.read_text(encoding="utf-8"))["geometry"]["coordinates"][0])
    gcj = _fence_positions()
    assert wgs.shape == gcj.shape
    # the published forward formula takes every converted vertex back onto the source's
    back = np.array([_wgs84_to_gcj02(lon, lat) for lon, lat in wgs])
    _, _, error = GEOD.inv(back[:, 0], back[:, 1], gcj[:, 0], gcj[:, 1])
    assert np.max(error) < 0.5                      # metres: the 6-decimal rounding, 0.1 m
    # and the datum shift is the expected few hundred metres, to the west-south-west
    _, _, shift = GEOD.inv(gcj[:, 0], gcj[:, 1], wgs[:, 0], wgs[:, 1])
    assert 300 < shift.min() and shift.max() < 700
    assert np.all(wgs[:, 0] < gcj[:, 0])


def test_the_boundary_has_the_county_published_area_and_extent():
    county = _shipped_polygon()
    area_km2 = abs(GEOD.geometry_area_perimeter(county)[0]) / 1e6
    assert area_km2 == pytest.approx(1770, rel=0.03)
    west, south, east, north = county.bounds
    official = (118 + 39 / 60 + 19 / 3600, 32 + 27 / 60 + 27 / 3600,
                119 + 13 / 60 + 23 / 3600, 32 + 57 / 60 + 36 / 3600)
    metres_per_degree = (111_320 * math.cos(math.radians(32.7)), 110_940)
    off = [abs(got - want) * metres_per_degree[n % 2]
           for n, (got, want) in enumerate(zip((west, south, east, north), official))]
    assert max(off) < 400
    # the GCJ-02 fence is half a kilometre east of the official extent; the WGS-84 one is not
    gcj_west, _, gcj_east, _ = shape(json.loads(FENCE.read_text(encoding="utf-8"))).bounds
    assert (gcj_west - official[0]) * metres_per_degree[0] > 500
    assert (gcj_east - official[2]) * metres_per_degree[0] > 500
    assert off[0] < 300 and off[2] < 300


def test_every_site_and_zone_of_the_default_scenario_lies_inside_the_county(county):
    scenario = county[0]
    outline = shape(scenario.boundary["geometry"])
    for table in ("sites", "zones"):
        frame = scenario.tables[table]
        inside = [outline.contains(Point(x, y)) for x, y in zip(frame["lon"], frame["lat"])]
        assert all(inside), frame.loc[[not i for i in inside]]
    # the loader's converted sites agree with the published formula too
    raw = pd.read_csv(ROOT / "data" / "tianchang" / "sites.csv")
    sites = scenario.tables["sites"].set_index("site_id")
    for row in raw.itertuples():
        lon, lat = _wgs84_to_gcj02(sites.at[row.site_id, "lon"], sites.at[row.site_id, "lat"])
        assert GEOD.inv(lon, lat, row.lon, row.lat)[2] < 0.5


def test_pip_install_ships_the_boundary():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert '"tianchang/*.geojson"' in text
    assert (planner.default_scenario_path() / "boundary.geojson").is_file()


# --- the scenario format -----------------------------------------------------------------------
def test_the_boundary_survives_save_with_and_restricted_to(county, tmp_path):
    scenario = county[0]
    assert scenario.boundary is not None
    for variant in (scenario.with_(budget=14e6), scenario.restricted_to(["PH", "THC_QINLAN"]),
                    pickle.loads(pickle.dumps(scenario))):
        assert variant.boundary == scenario.boundary
    scenario.restricted_to(["PH", "THC_QINLAN"]).save(tmp_path / "slice")
    assert (tmp_path / "slice" / "boundary.geojson").read_bytes() == SHIPPED.read_bytes()
    again = planner.load_scenario(tmp_path / "slice")
    assert again.boundary == scenario.boundary


def test_a_scenario_without_a_boundary_draws_none(tmp_path):
    folder = write_scenario(tmp_path / "tiny", **TINY)
    scenario = planner.load_scenario(folder)
    assert scenario.boundary is None
    plan = planner.solve(scenario)
    plan.save(tmp_path / "plan")
    assert not (tmp_path / "plan" / "boundary.geojson").exists()
    assert "planner-boundary" not in plan.explore(tiles=None).get_root().render()
    # a boundary added to the folder is read, kept and drawn
    outline = {"type": "Polygon", "coordinates": [[[118.8, 32.5], [119.2, 32.5], [119.2, 32.9],
                                                   [118.8, 32.9], [118.8, 32.5]]]}
    (folder / "boundary.geojson").write_text(json.dumps(outline), encoding="utf-8")
    plan = planner.solve(planner.load_scenario(folder))
    assert plan.boundary == outline
    assert "planner-boundary" in plan.explore(tiles=None).get_root().render()


BAD_BOUNDARIES = {
    "not JSON": ("county outline", "is not JSON"),
    "not UTF-8": (b"\xff\xfe{}", "is not UTF-8 text"),
    "an array": ("[1, 2, 3]", "the top level is a JSON array"),
    "a point": ('{"type": "Point", "coordinates": [119.0, 32.7]}', "is a 'Point'"),
    "a feature without geometry": ('{"type": "Feature", "properties": {}}', "has no geometry"),
    "latitude and longitude swapped": (
        ('{"type": "Polygon", "coordinates": [[[32.5, 118.8], [32.5, 119.2], [32.9, 119.2], '
         '[32.5, 118.8]]]}'), "is out of range"),
    "an open ring": (('{"type": "Polygon", "coordinates": [[[118.8, 32.5], [119.2, 32.5], '
                      '[119.2, 32.9], [118.8, 32.9]]]}'), "is not closed"),
    "NaN": (('{"type": "Polygon", "coordinates": [[[118.8, NaN], [119.2, 32.5], [119.2, 32.9], '
             '[118.8, NaN]]]}'), "holds NaN"),
    "text coordinates": (('{"type": "Polygon", "coordinates": [[["118.8", "32.5"], '
                          '[119.2, 32.5], [119.2, 32.9], ["118.8", "32.5"]]]}'),
                         "not [longitude, latitude]"),
    "nested too deeply": ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
}


@pytest.mark.parametrize("case", sorted(BAD_BOUNDARIES))
def test_a_bad_boundary_file_is_bad_input(case, tmp_path):
    content, expected = BAD_BOUNDARIES[case]
    folder = write_scenario(tmp_path / "s", **TINY)
    path = folder / "boundary.geojson"
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "boundary.geojson" in line]
    assert len(lines) == 1 and expected in lines[0], result.output
    if case != "not UTF-8":     # (that one says how to save UTF-8, as for every file)
        assert "delete the file (the boundary is optional)" in lines[0]


def test_a_folder_named_like_the_boundary_is_bad_input(tmp_path):
    folder = write_scenario(tmp_path / "s", **TINY)
    (folder / "boundary.geojson").mkdir()
    result = CliRunner().invoke(app, ["validate", str(folder)])
    assert result.exit_code == 2
    assert "boundary.geojson: is a folder, not a file" in result.output


def test_explore_checks_a_boundary_given_in_python(county):
    with pytest.raises(PictureError, match="boundary: is not a usable boundary: the object is a "
                                           "'LineString'"):
        county[1].explore(boundary={"type": "LineString", "coordinates": [[0, 0], [1, 1]]})


# --- drawing it ----------------------------------------------------------------------------------
def test_the_plan_folder_and_the_report_carry_the_boundary(county, tmp_path):
    scenario, plan = county
    plan.save(tmp_path / "plan")
    assert (tmp_path / "plan" / "boundary.geojson").read_bytes() == SHIPPED.read_bytes()
    assert from_folder(tmp_path / "plan").boundary == scenario.boundary
    result = CliRunner().invoke(app, ["report", str(tmp_path / "plan")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "plan" / "report.html").read_text(encoding="utf-8")
    assert page.count('"className": "planner-boundary"') == 1
    assert "the area&#39;s boundary as a dashed line" in page or \
        "the area's boundary as a dashed line" in page
    # a damaged copy in the folder is a clear error, not a traceback
    (tmp_path / "plan" / "boundary.geojson").write_text("{", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(tmp_path / "plan")])
    assert result.exit_code == 2 and "boundary.geojson: is not JSON" in result.output


def _labels(html: str) -> list[str]:
    """The texts of the permanent site labels in a rendered map."""
    calls = re.findall(r'bindTooltip\(("(?:[^"\\]|\\.)*"), (\{[^}]*\})\)', html)
    return [json.loads(text) for text, options in calls
            if json.loads(options).get("className") == "planner-site-label"
            and json.loads(options).get("permanent") is True]


def test_every_site_is_labelled_by_its_name_on_the_map(county):
    plan = county[1]
    sites = plan.geometry["sites"]
    labels = _labels(plan.explore(tiles=None).get_root().render())
    assert sorted(labels) == sorted(site_label(name) for name in sites["name"])
    assert "天长市人民医院 建设东路194号" in labels and "秦栏镇卫生院" in labels
    assert not set(labels) & set(sites["site_id"])          # names, not ids


def test_site_label_is_the_name_before_its_gloss():
    assert site_label("秦栏镇卫生院 (Qinlan Township Health Centre)") == "秦栏镇卫生院"
    assert site_label("County hospital") == "County hospital"
    assert site_label("(only a gloss)") == "(only a gloss)"
    assert site_label("x" * 40) == "x" * 23 + "\u2026"


# --- figures clip nothing ------------------------------------------------------------------------
def _outside_texts(figure) -> list[str]:
    """Drawn texts whose extent leaves the figure (Agg, after layout), and matplotlib's own
    tight box of everything drawn when it leaves the figure."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(figure)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    hidden = set()   # tick labels of ticks outside the view limits are not drawn
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            slack = 1e-9 * max(1.0, high - low)
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if not low - slack <= tick.get_loc() <= high + slack:
                    hidden.update({id(tick.label1), id(tick.label2)})
    box = figure.bbox
    outside = []
    for text in figure.findobj(Text):
        if not text.get_visible() or not text.get_text() or id(text) in hidden:
            continue
        extent = text.get_window_extent(renderer)
        if (extent.x0 < box.x0 - 0.5 or extent.y0 < box.y0 - 0.5 or extent.x1 > box.x1 + 0.5
                or extent.y1 > box.y1 + 0.5):
            outside.append(text.get_text())
    tight = figure.get_tightbbox(renderer)
    inches = figure.bbox_inches
    if (tight.x0 < -0.01 or tight.y0 < -0.01 or tight.x1 > inches.x1 + 0.01
            or tight.y1 > inches.y1 + 0.01):
        outside.append(f"tight box {tight.bounds} beyond {inches.bounds}")
    return outside


def test_the_pareto_figure_clips_nothing(county):
    front = planner.pareto(county[0], service="CT", minutes=15, budgets=[13e6, 16e6, 24e6],
                           progress=False)
    figure = front.plot()
    assert _outside_texts(figure) == []
    ax = figure.axes[0]
    assert ax.get_ylabel() == "annual cost (M CNY)"
    assert ax.yaxis.get_offset_text().get_text() == ""      # no "1e7" above the axis
    assert {t.get_text() for t in ax.texts} == {"budget 13 M", "budget 16 M", "budget 24 M"}


@pytest.mark.parametrize("figsize", [(8.0, 5.0), (6.0, 6.0)])
def test_the_plan_figure_clips_nothing(county, figsize):
    assert _outside_texts(county[1].plot(figsize=figsize)) == []


def test_long_titles_are_wrapped_to_the_figure(county):
    from dataclasses import replace

    from planner.pictures.data import from_plan

    data = replace(from_plan(county[1]), scenario="A consortium with a very long name " * 6)
    figure = plan_figure(data, figsize=(8.0, 5.0))
    assert _outside_texts(figure) == []
    assert figure.get_suptitle().count("\n") >= 2


# --- in a browser ---------------------------------------------------------------------------------
@needs_browser
def test_the_report_shows_the_boundary_and_the_site_names(browser, county, tmp_path):
    from selenium.webdriver.common.by import By

    from planner.pictures.report import write_report

    plan = county[1]
    plan.save(tmp_path / "plan")
    console, _ = open_page(browser, write_report(tmp_path / "plan"))
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map-box svg path.planner-boundary")) == 1
    shown = [e.get_attribute("textContent") for e in
             browser.find_elements(By.CSS_SELECTOR, "#map-box .leaflet-tooltip.planner-site-label")]
    assert sorted(shown) == sorted(site_label(n) for n in plan.geometry["sites"]["name"])
    # the outline is drawn around the sites: their markers lie inside its screen box
    outline = browser.find_element(By.CSS_SELECTOR, "path.planner-boundary").rect
    for marker in browser.find_elements(By.CSS_SELECTOR, "path.planner-site"):
        box = marker.rect
        centre = (box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        assert outline["x"] <= centre[0] <= outline["x"] + outline["width"]
        assert outline["y"] <= centre[1] <= outline["y"] + outline["height"]


def test_wrap_counts_a_chinese_character_as_a_full_em():
    from planner.pictures.plot import wrap
    assert wrap("a b", 1000, 10) == "a b"
    # 8 wide characters are 8 em: twice that and a space fit in 17 em (at 10 pt, 12 pt of
    # margin), not in 15
    twice = "天长市县域医共体 天长市县域医共体"
    assert wrap(twice, 12 + 170, 10) == twice
    assert wrap(twice, 12 + 150, 10) == twice.replace(" ", "\n")

"""plan.plot(), plan.explore(), Comparison.explore() and `planner report`, without a browser.

The figure's numbers are checked against references computed here from the plan's other tables
(the ledger, the access table, the KPIs computed in plan.py, the scenario's capacities); the
maps by counting folium's elements and reading their coordinates back; the report by running
the CLI (the browser test is tests/test_report_browser.py).
"""

from __future__ import annotations

import re
import textwrap

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
from helpers import TINY, write_scenario
from planner.cli import app
from planner.model.ledger import term_words
from planner.pictures.data import PictureError, from_folder, from_plan
from planner.pictures.plot import plan_figure


def elements_of(m, kind: str) -> list:
    """Every folium element of class `kind` in the map's tree."""
    found, stack = [], [m]
    while stack:
        element = stack.pop()
        if type(element).__name__ == kind:
            found.append(element)
        stack.extend(element._children.values())
    return found


def circle_markers(m, class_name: str) -> list:
    return [e for e in elements_of(m, "CircleMarker")
            if e.options.get("className", "").split()[0] == class_name]


def rendered(m) -> str:
    return m.get_root().render()


@pytest.fixture(scope="module")
def county():
    scenario = planner.load_scenario(None)
    return scenario, planner.solve(scenario)


@pytest.fixture(scope="module")
def county_folder(county, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pictures") / "plan"
    county[1].save(folder)
    return folder


def _axes(figure) -> dict:
    return {ax.get_label(): ax for ax in figure.axes}


def _step_value(minutes: np.ndarray, share: np.ndarray, t: float) -> float:
    """A steps-post curve's value at t: the share at the last point at or before t."""
    return float(share[np.searchsorted(minutes, t, side="right") - 1])


def test_figure_has_the_three_panels(county):
    figure = county[1].plot()
    assert set(_axes(figure)) == {"costs", "access", "utilization"}


def test_cost_panel_is_the_ledger_by_term(county):
    plan = county[1]
    bars = _axes(plan.plot())["costs"].patches
    drawn = {label.get_text(): bar.get_width() * 1e6 for bar, label in
             zip(bars, _axes(plan.plot())["costs"].get_yticklabels())}
    by_term = plan.ledger.groupby("term")["amount"].sum()
    expected = by_term[by_term.abs() > 1e-9].rename(index=term_words)   # labels in words
    assert set(drawn) == set(expected.index)
    for term, amount in expected.items():
        assert drawn[term] == pytest.approx(amount, rel=1e-9)
    assert sum(drawn.values()) == pytest.approx(plan.objective, rel=1e-9)


def test_access_curves_meet_the_kpis_and_the_access_table(county):
    plan = county[1]
    lines = {line.get_label(): line for line in _axes(plan.plot())["access"].get_lines()}
    access = plan.access_minutes
    for equipment in plan.equipment["equipment"].unique():
        rows = access[(access["service"] == equipment)]
        for when, kpi in (("before", "access_before"), ("after", "access_after")):
            line = lines[f"{equipment} {when}"]
            minutes, share = (np.asarray(v, dtype=float) for v in line.get_data())
            assert np.all(np.diff(minutes) >= 0) and np.all(np.diff(share) >= -1e-12)
            for t in (15, 30, 60):   # the KPIs, computed in plan.py from the travel matrix
                assert _step_value(minutes, share, t) == pytest.approx(
                    plan.kpis[kpi][f"{equipment}_within_{t}min"], abs=1e-12)
            for t in (5.0, 12.5, 25.0, 47.0):   # brute force on the access table
                within = rows[rows[f"minutes_{when}"] <= t]["population"].sum()
                assert _step_value(minutes, share, t) == pytest.approx(
                    within / rows["population"].sum(), abs=1e-12)


def test_utilisation_panel_is_exams_over_capacity(county):
    scenario, plan = county
    ax = _axes(plan.plot())["utilization"]
    capacity = scenario.tables["equipment"].set_index("equipment")["capacity_per_year"]
    used = plan.equipment[plan.equipment["total"] > 0]
    # the exams from the villages and the site's own (site_demand.csv), over nameplate capacity
    expected = sorted(float((r.exams + r.site_bound_exams) / (r.total * capacity[r.equipment]))
                      for r in used.itertuples())
    drawn = sorted(bar.get_width() for bar in ax.patches if bar.get_height() > 0)
    assert drawn == pytest.approx(expected, abs=1e-9)
    labels = {t.get_text() for t in ax.get_yticklabels()}
    assert all(any(f"({site})" in label for label in labels) for site in used["site_id"])


def test_the_folder_draws_the_same_figure(county, county_folder):
    from_memory = {line.get_label(): line.get_xydata() for line in
                   _axes(county[1].plot())["access"].get_lines()}
    from_files = {line.get_label(): line.get_xydata() for line in
                  _axes(plan_figure(from_folder(county_folder)))["access"].get_lines()}
    assert from_memory.keys() == from_files.keys()
    for label, points in from_memory.items():
        np.testing.assert_allclose(from_files[label], points, rtol=1e-6)


def test_without_an_access_table_the_curves_are_the_kpi_points(county):
    from dataclasses import replace
    plan = county[1]
    data = replace(from_plan(plan), access=None)
    lines = {line.get_label(): line for line in _axes(plan_figure(data))["access"].get_lines()}
    minutes, share = lines["CT after"].get_data()
    assert list(minutes) == [15, 30, 60]
    assert list(share) == [plan.kpis["access_after"][f"CT_within_{t}min"] for t in (15, 30, 60)]


def test_map_has_a_circle_per_site_and_zone_and_an_arrow_per_relocation(county):
    plan = county[1]
    m = plan.explore()
    sites = circle_markers(m, "planner-site")
    assert len(sites) == len(plan.geometry["sites"])
    assert len(circle_markers(m, "planner-zone")) == len(plan.geometry["zones"])
    at = plan.geometry["sites"].set_index("site_id")
    moves = plan.decisions[plan.decisions["decision"] == "relocated"]
    assert len(moves) > 0
    lines = [e for e in elements_of(m, "PolyLine")
             if e.options.get("className") == "planner-relocation"]
    arrows = [e for e in elements_of(m, "Polygon") if e.options.get("className") == "planner-arrow"]
    assert len(lines) == len(arrows) == len(moves)
    drawn = sorted((*line.locations[0], *line.locations[1]) for line in lines)
    expected = sorted((at.at[r.from_site, "lat"], at.at[r.from_site, "lon"],
                       at.at[r.site_id, "lat"], at.at[r.site_id, "lon"])
                      for r in moves.itertuples())
    np.testing.assert_allclose(drawn, expected)
    for arrow in arrows:   # the arrowhead's tip is the line's end
        assert any(np.allclose(arrow.locations[0], line.locations[1]) for line in lines)


def test_site_size_grows_with_units_and_popup_names_the_site(county):
    plan = county[1]
    m = plan.explore("MRI", tiles=None)
    units = plan.equipment.groupby("site_id")["total"].sum()
    radii = {}
    html = rendered(m)
    for marker in circle_markers(m, "planner-site"):
        lat, lon = marker.location
        site = plan.geometry["sites"][np.isclose(plan.geometry["sites"]["lat"], lat)
                                      & np.isclose(plan.geometry["sites"]["lon"], lon)].iloc[0]
        radii[site.site_id] = marker.options["radius"]
    ordered = units.reindex(list(radii)).fillna(0).sort_values()
    assert np.all(np.diff([radii[s] for s in ordered.index])[np.diff(ordered.to_numpy()) > 0] > 0)
    ph = plan.geometry["sites"].set_index("site_id").loc["S_PH"]
    assert f"tier: {ph.tier}, member: {ph.member}" in html
    assert "MRI: 2 in service (+1 new)" in html
    assert "minutes to the nearest MRI unit" in html


def test_unknown_equipment_is_a_clear_error(county):
    with pytest.raises(PictureError, match="'PET' is not in the plan; choose one of CT, MRI"):
        county[1].explore("PET")


def test_boundary_is_drawn_only_when_given(county):
    from shapely.geometry import box
    plan = county[1]
    # the county's own boundary.geojson is drawn by default (tests/test_geography.py)
    assert "planner-boundary" not in rendered(plan.explore(tiles=None, boundary=False))
    sites = plan.geometry["sites"]
    outline = box(sites["lon"].min(), sites["lat"].min(), sites["lon"].max(), sites["lat"].max())
    assert "planner-boundary" in rendered(plan.explore(tiles=None, boundary=outline))
    with pytest.raises(PictureError, match="boundary /no/such/boundary.geojson: cannot be opened"):
        plan.explore(boundary="/no/such/boundary.geojson")


def test_names_cannot_break_out_of_the_map_script(tmp_path):
    hostile = "Evil `${alert(1)}` </script><b>x</b>"
    sites = textwrap.dedent(TINY["sites"]).replace("West township centre", hostile)
    plan = planner.solve(planner.load_scenario(write_scenario(tmp_path / "s", **{
        **TINY, "sites": sites})))
    html = rendered(plan.explore(tiles=None))
    assert html.count("</script>") == rendered(planner.solve(planner.load_scenario(
        write_scenario(tmp_path / "t", **TINY))).explore(tiles=None)).count("</script>")
    assert "<b>x</b>" not in html
    # the name is only ever inside a JSON string (folium's Tooltip would put it in a template
    # literal, where `${...}` runs)
    quoted = re.findall(r'"(?:[^"\\\n]|\\.)*\$\{alert\(1\)\}(?:[^"\\\n]|\\.)*"', html)
    assert len(quoted) == html.count("${alert(1)}") > 0


def test_comparison_map_colours_sites_by_the_change_in_units(county):
    scenario, plan = county
    cut = planner.solve(scenario.with_(budget=14e6))   # the second MRI goes
    comparison = planner.compare(plan, cut)
    m = comparison.explore(tiles=None)
    markers = circle_markers(m, "planner-site")
    assert len(markers) == len(plan.geometry["sites"])
    before = plan.equipment.groupby(["site_id", "equipment"])["total"].sum()
    after = cut.equipment.groupby(["site_id", "equipment"])["total"].sum()
    change = after.sub(before, fill_value=0)
    at = plan.geometry["sites"].set_index(["lat", "lon"])["site_id"]
    for marker in markers:
        site = at.loc[tuple(marker.location)]
        moved = change[change.index.get_level_values("site_id") == site]
        kind = ("changed" if (moved > 0).any() and (moved < 0).any() else "added"
                if (moved > 0).any() else "removed" if (moved < 0).any() else "unchanged")
        assert marker.options["className"] == f"planner-site planner-{kind}", site
    relocated = [d[d["decision"] == "relocated"] for d in (plan.decisions, cut.decisions)]
    arrows = [e for e in elements_of(m, "Polygon") if e.options.get("className") ==
              "planner-arrow"]
    assert len(arrows) == sum(len(r) for r in relocated)


def test_comparison_of_runs_has_no_map():
    from planner.results.comparison import compare
    from planner.results.folders import PlanRecord
    empty = pd.DataFrame(columns=["decision", "site_id", "resource", "from_site", "amount"])
    runs = compare(PlanRecord("run 1", empty, {}, {}, 1.0), PlanRecord("run 2", empty, {}, {}, 1.0))
    with pytest.raises(PictureError, match="no site coordinates"):
        runs.explore()


def test_report_command_writes_a_self_contained_page(county, county_folder, tmp_path):
    result = CliRunner().invoke(app, ["report", str(county_folder)])
    assert result.exit_code == 0, result.output
    page = (county_folder / "report.html").read_text(encoding="utf-8")
    assert not re.search(r"<(script|link)\b[^>]*(src|href)=", page)   # nothing to fetch
    assert page.count('class="planner-site"') == 0   # markers are made by the script ...
    assert page.count('"className": "planner-site"') == len(county[1].geometry["sites"])
    assert '<table id="kpis">' in page and 'id="panel-utilization"' in page
    # the same plan gives the same bytes; the planner's own report is replaced
    again = CliRunner().invoke(app, ["report", str(county_folder)])
    assert again.exit_code == 0
    assert (county_folder / "report.html").read_text(encoding="utf-8") == page
    out = tmp_path / "elsewhere" / "r.html"
    assert CliRunner().invoke(app, ["report", str(county_folder), "--out", str(out),
                                    "--equipment", "MRI"]).exit_code == 0
    assert "minutes to the nearest MRI unit" in out.read_text(encoding="utf-8")


def test_report_never_replaces_what_it_did_not_write(county_folder, tmp_path):
    mine = tmp_path / "notes.html"
    mine.write_text("<html>my notes</html>", encoding="utf-8")
    result = CliRunner().invoke(app, ["report", str(county_folder), "--out", str(mine)])
    assert result.exit_code == 2
    assert "did not write; it is never replaced" in result.output
    assert mine.read_text(encoding="utf-8") == "<html>my notes</html>"
    result = CliRunner().invoke(app, ["report", str(county_folder), "--out", str(tmp_path)])
    assert result.exit_code == 2 and "this is a folder" in result.output
    assert list(tmp_path.iterdir()) == [mine]


def test_report_of_a_folder_that_is_not_a_plan(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert "not a plan folder" in result.output
    assert list(tmp_path.iterdir()) == []

"""The HTML report in a real headless Chromium, offline: it renders, the map holds the sites,
the charts are there, and the console shows no JavaScript error and no network request.

Chromium and its driver are Debian's packages (`chromium`, `chromium-driver`; .ci/run installs
them). The tests skip when they are missing, unless PLANNER_REQUIRE_CHROMIUM is set (CI sets
it), so CI fails rather than skips (the `browser` fixture, tests/conftest.py). Every host name
resolves to nothing (--host-resolver-rules), so a report that fetched anything would log a
failed request.
"""

from __future__ import annotations

import json

import pyogrio
import pytest

import planner
from helpers import needs_browser, open_page
from planner.pictures.report import write_report

pytestmark = needs_browser


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report") / "plan"
    planner.solve(planner.load_scenario(None)).save(folder)
    return write_report(folder), folder


def test_report_renders_offline_with_no_console_error(browser, report):
    from selenium.webdriver.common.by import By

    page, folder = report
    console, network = open_page(browser, page)
    assert [e for e in console if e["level"] in ("SEVERE", "WARNING")] == []
    requested = [e["params"]["request"]["url"] for e in network
                 if e["method"] == "Network.requestWillBeSent"]
    assert requested and all(u.startswith(("file:", "data:")) for u in requested), requested
    assert [e for e in network if e["method"] == "Network.loadingFailed"] == []

    plan_json = json.loads((folder / "plan.json").read_text(encoding="utf-8"))
    assert browser.title == f"Plan report: {plan_json['scenario']}"
    rows = browser.find_elements(By.CSS_SELECTOR, "#kpis tr")
    assert len(rows) >= 10 and rows[0].text.startswith("Scenario")
    decisions = (folder / "decisions.csv").read_text(encoding="utf-8").splitlines()[1:]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#decisions tbody tr")) == len(decisions)

    # the map: one drawn circle per site of plan.gpkg, per zone, an arrow per relocation
    sites = pyogrio.read_dataframe(folder / "plan.gpkg", layer="sites", read_geometry=False)
    zones = pyogrio.read_dataframe(folder / "plan.gpkg", layer="zones", read_geometry=False)

    def count(css: str) -> int:
        return len(browser.find_elements(By.CSS_SELECTOR, css))

    assert count("#map-box .leaflet-container") == 1
    assert count("#map-box svg path.planner-site") == len(sites) > 0
    assert count("#map-box svg path.planner-zone") == len(zones)
    relocated = [line for line in decisions if line.startswith("relocated,")]
    assert count("#map-box svg path.planner-arrow") == len(relocated) > 0
    assert count(".leaflet-tile") == 0                       # no tile layer to fail offline
    # the charts: one inline SVG with the three panels
    for panel in ("costs", "access", "utilization"):
        assert count(f"#charts svg g#panel-{panel}") == 1


def test_a_site_popup_opens_with_its_units(browser, report):
    from selenium.webdriver.common.by import By

    page, folder = report
    open_page(browser, page)
    browser.execute_script("document.getElementById('map-box').scrollIntoView();")
    biggest = max(browser.find_elements(By.CSS_SELECTOR, "path.planner-site"),
                  key=lambda e: e.size["width"])
    browser.execute_script("arguments[0].dispatchEvent(new MouseEvent('click', "
                           "{bubbles: true}));", biggest)
    # Leaflet fades the popup in: read its text once it is there rather than at one instant
    # (`.text` of a half-faded element can still be empty on a loaded machine).
    from selenium.webdriver.support.ui import WebDriverWait

    def popup_text(driver):
        found = driver.find_elements(By.CSS_SELECTOR, ".leaflet-popup-content")
        text = found[0].get_attribute("textContent") if found else ""
        return text if "tier:" in text else False

    text = WebDriverWait(browser, 10, poll_frequency=0.1).until(popup_text)
    assert "tier:" in text and "in service" in text
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []

"""Central reading in the pictures (issue 21 item 2): the HTML report of a plan with [reading]
holds a reading table whose numbers are those of the folder's reading.csv, and the map (the
report's and Plan.explore()'s) draws one remote-read line per sending site and centre, with a
tooltip giving the reads. A plan without [reading] has neither."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

import planner
from planner.pictures.report import write_report
from test_reading_sharing import three_members


def cells(page: str, table_id: str) -> list[list[str]]:
    """The body rows of the table `table_id` of a page, as text cells."""
    found = re.search(rf'<table id="{table_id}">(.*?)</table>', page, re.S)
    assert found, table_id
    body = found[1].split("<tbody>", 1)[1]
    return [[html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
            for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]


def number(text: str) -> float:
    return float(text.replace(",", "").rstrip("%"))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("reading") / "plan"
    planner.solve(three_members()).save(out)
    return out


def test_the_report_holds_the_reading_table_of_reading_csv(folder):
    page = write_report(folder).read_text(encoding="utf-8")
    reading = pd.read_csv(folder / "reading.csv").set_index("site_id")
    sites = cells(page, "reading-sites")
    assert sorted(row[1] for row in sites) == sorted(reading.index)
    for row in sites:
        expected = reading.loc[row[1], ["exams", "reads_local", "reads_remote", "reads_bought"]]
        assert [number(v) for v in row[2:]] == pytest.approx(list(expected), abs=0.5)
    centres = cells(page, "reading-centres")
    assert [row[1] for row in centres] == list(reading.index[reading["centre"]])
    for row in centres:
        r = reading.loc[row[1]]
        assert number(row[2]) == r["radiologists"] and int(row[3]) == r["hired"]
        assert number(row[4]) == pytest.approx(r["capacity"], abs=0.5)
        assert number(row[5]) == pytest.approx(r["reads_done"], abs=0.5)
        assert number(row[6]) == pytest.approx(100 * r["utilisation"], abs=0.05)
    # the remote reads: one line per sending site to the one centre, its reads in the tooltip
    senders = reading[reading["reads_remote"] > 0]
    assert len(senders) >= 1 and reading.loc["H", "hired"] >= 1
    assert page.count('"className": "planner-remote-reads"') == len(senders)
    for site, r in senders.iterrows():
        assert f"{r['reads_remote']:,.0f} reads a year: {site} -\\u0026gt; H" in page


def test_explore_draws_the_remote_reads():
    plan = planner.solve(three_members())
    text = plan.explore(tiles=None).get_root().render()
    senders = plan.reading[plan.reading["reads_remote"] > 0]
    assert text.count('"className": "planner-remote-reads"') == len(senders) >= 1


def test_without_reading_no_table_and_no_lines(tmp_path):
    planner.solve(three_members(reading=False)).save(tmp_path / "plan")
    page = write_report(tmp_path / "plan").read_text(encoding="utf-8")
    assert 'id="reading-sites"' not in page and "planner-remote-reads" not in page

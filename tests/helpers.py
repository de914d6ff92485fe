"""Helpers shared by several test modules (fixtures live in conftest.py, which uses these).

A test module imports what it needs from here, never from another test module: test modules
stay independent of each other's contents and collection order."""

from __future__ import annotations

import csv
import itertools
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

import planner
from planner.errors import Problem, ScenarioError
from planner.games import Game

# The tiny scenario: 2 members, a county hospital (with 1 CT and the neurology pool) and two
# township centres, 4 zones around them (WGS-84), stroke (urgent: CT within 60 min) and cancer.
# Every zone is within 60 minutes of the county CT, so the plan is feasible without capital.
TINY: dict[str, str] = {
    "scenario": """
        name = "tiny"
        currency = "CNY"
        discount_rate = 0.05

        [travel]
        speed_kmh = 40.0
        circuity = 1.3
        value_per_minute = 1.0

        [policy]
        grassroots_tiers = ["township"]

        [policy.min_outreach_days]
        neurology = 5

        [solver]
        time_limit = 30
        mip_gap = 0.0
        threads = 1
        seed = 0
        """,
    "members": """
        member,name,budget_contribution
        M_COUNTY,County hospital,1000000
        M_TOWN,Township centres,500000
        """,
    "sites": """
        site_id,name,member,tier,lon,lat
        S_C,County hospital,M_COUNTY,county,119.00,32.70
        S_T1,West township centre,M_TOWN,township,118.92,32.65
        S_T2,East township centre,M_TOWN,township,119.08,32.76
        """,
    "zones": """
        zone_id,name,lon,lat,population,home_member
        Z1,Town,119.01,32.71,40000,M_COUNTY
        Z2,West,118.93,32.64,15000,
        Z3,East,119.07,32.77,15000,
        Z4,North,119.02,32.79,10000,
        """,
    "conditions": """
        condition,cases_per_1000,urgent_service,urgent_minutes
        stroke,3,CT,60
        cancer,3,,
        """,
    "condition_services": """
        condition,service,units_per_case
        stroke,CT,1.5
        stroke,MRI,0.5
        stroke,neurology,4
        cancer,CT,4
        cancer,MRI,1
        """,
    "equipment": """
        equipment,capex,lifetime_years,opex_per_year,capacity_per_year,referral_cost,max_utilization,cost_per_exam,allowed_tiers,max_per_site,max_minutes,relocation_cost
        CT,4000000,8,720000,22800,600,0.85,40,county;township,2,,300000
        MRI,5900000,10,970000,9600,900,0.85,60,county,1,,
        """,
    "specialties": """
        specialty,visits_per_day,cost_per_day,referral_cost
        neurology,20,1500,350
        """,
    "resources": """
        site_id,resource,amount
        S_C,CT,1
        S_C,neurology.outreach_days,100
        """,
}


def write_scenario(folder: str | Path, **tables: str | pd.DataFrame | None) -> Path:
    """(Re)write single files of a scenario folder.

    ``scenario=`` is the text of scenario.toml; any other keyword is a table name (``sites=``,
    ``travel=``, ...) given as CSV text (indentation is removed) or a DataFrame. ``None`` deletes
    the file.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in tables.items():
        path = folder / ("scenario.toml" if name == "scenario" else f"{name}.csv")
        if content is None:
            path.unlink(missing_ok=True)
        elif isinstance(content, pd.DataFrame):
            content.to_csv(path, index=False, lineterminator="\n")
        else:
            path.write_text(textwrap.dedent(content).strip() + "\n", encoding="utf-8")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of `folder` by name, with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


# --- editing scenario files ----------------------------------------------------------------------
def set_cell(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one cell of `table`.csv; `row` is the spreadsheet row number (the header is row 1)."""
    path = folder / f"{table}.csv"
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    rows[row - 1][rows[0].index(column)] = value
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)


def append_row(folder: Path, table: str, line: str) -> int:
    """Append one CSV line to `table`.csv and return its spreadsheet row number."""
    path = folder / f"{table}.csv"
    text = path.read_text(encoding="utf-8")
    path.write_text(text + line + "\n", encoding="utf-8")
    return len(text.splitlines()) + 1


def problems_of(folder: Path) -> list[Problem]:
    """The problems validation finds in the scenario folder (it must find some)."""
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(folder)
    return info.value.problems


def only_problem(folder: Path) -> Problem:
    """The one problem validation finds in the scenario folder."""
    found = problems_of(folder)
    assert len(found) == 1, "\n".join(map(str, found))
    return found[0]


def flat_settings(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """scenario.toml as key/value rows with dotted keys (travel.speed_kmh); lists `;`-joined."""
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += flat_settings(value, f"{prefix}{key}.")
        elif isinstance(value, list):
            rows.append((f"{prefix}{key}", ";".join(value)))
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


# --- the `planner` command -----------------------------------------------------------------------
def planner_command() -> list[str]:
    """The installed `planner` console script (next to this Python first), else its entry point."""
    here = Path(sys.executable).parent / "planner"
    if here.exists():
        return [str(here)]
    found = shutil.which("planner")
    if found:
        return [found]
    return [sys.executable, "-c", "from planner.cli import main; main()"]


def run_planner(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    """`planner ARGS` in a process of its own, in `cwd`."""
    return subprocess.run(planner_command() + [str(a) for a in args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


# --- games ----------------------------------------------------------------------------------------
def brute_force_oracle(game: Game):
    """most_dissatisfied(x, exclude) by itertools over all proper coalitions (no library code)."""
    def oracle(x, exclude):
        best = None
        for r in range(1, game.n):
            for members in itertools.combinations(game.players, r):
                coalition = frozenset(members)
                if coalition in exclude:
                    continue
                share, value = sum(x[p] for p in coalition), game.values[coalition]
                excess = value - share if game.kind == "profit" else share - value
                if best is None or excess > best[1]:
                    best = (coalition, excess)
        return best
    return oracle


# --- a CT-only catalogue (the reading cases) ------------------------------------------------------
def ct_only_catalogue(ct: dict[str, float]) -> dict[str, pd.DataFrame]:
    """conditions, condition_services, equipment and specialties of a case where one condition
    (100 scans per 1,000) needs one CT exam and a CT (at most one a site, lifetime 1 year) has
    ct's capex, opex, capacity, referral and per_exam figures; the specialty is never asked."""
    return {
        "conditions": pd.DataFrame({"condition": ["scan"], "cases_per_1000": [100.0]}),
        "condition_services": pd.DataFrame({"condition": ["scan"], "service": ["CT"],
                                            "units_per_case": [1.0]}),
        "equipment": pd.DataFrame({
            "equipment": ["CT"], "capex": [ct["capex"]], "lifetime_years": [1.0],
            "opex_per_year": [ct["opex"]], "capacity_per_year": [ct["capacity"]],
            "referral_cost": [ct["referral"]], "cost_per_exam": [ct["per_exam"]],
            "max_per_site": [1]}),
        "specialties": pd.DataFrame({"specialty": ["cardiology"], "visits_per_day": [10.0],
                                     "cost_per_day": [100.0], "referral_cost": [30.0]}),
    }


# --- databases ------------------------------------------------------------------------------------
# PostgreSQL cases run on the server PLANNER_TEST_POSTGRES_URL names (.ci/run --postgres-only
# starts one); without it they skip, unless PLANNER_REQUIRE_POSTGRES=1 (CI), where they fail.
POSTGRES_URL = os.environ.get("PLANNER_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("PLANNER_REQUIRE_POSTGRES") == "1"


def integrity_ok(path) -> bool:
    """SQLite's own check of a database file."""
    connection = sqlite3.connect(path)
    try:
        return connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        connection.close()


# --- the HTML report in headless Chromium --------------------------------------------------------
# Debian's `chromium` and `chromium-driver` (.ci/run installs them). Tests marked `needs_browser`
# skip when they are missing, unless PLANNER_REQUIRE_CHROMIUM is set (CI), where the `browser`
# fixture fails instead. Every host name resolves to nothing (--host-resolver-rules), so a page
# that fetched anything would log a failed request.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync",
                  "--host-resolver-rules=MAP * ~NOTFOUND", "--window-size=1300,1000"]
REQUIRE_CHROMIUM = bool(os.environ.get("PLANNER_REQUIRE_CHROMIUM"))


def _browser_missing() -> str | None:
    if not (Path(CHROMIUM).is_file() and Path(DRIVER).is_file()):
        return f"Chromium ({CHROMIUM}) or chromedriver ({DRIVER}) is not installed"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed"
    return None


BROWSER_MISSING = _browser_missing()
needs_browser = pytest.mark.skipif(BROWSER_MISSING is not None and not REQUIRE_CHROMIUM,
                                   reason=BROWSER_MISSING or "")


def open_page(driver, path: Path) -> tuple[list[dict], list[dict]]:
    """Load `path` and return (console entries, network events of that page)."""
    driver.get_log("browser")        # drop what the start-up page logged
    driver.get_log("performance")
    url = path.resolve().as_uri()
    driver.get(url)
    driver.execute_async_script("var done = arguments[0]; requestAnimationFrame(() => "
                                "setTimeout(done, 200));")   # let Leaflet draw
    events = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
    starts = [n for n, e in enumerate(events) if e["method"] == "Network.requestWillBeSent"
              and e["params"]["request"]["url"] == url]
    return driver.get_log("browser"), events[starts[0]:] if starts else events

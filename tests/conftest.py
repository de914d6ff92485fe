"""Shared fixtures: a tiny valid scenario folder written fresh for each test, a PostgreSQL
schema of its own per test, and a headless Chromium. Plain helpers are in helpers.py."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from helpers import (
    BROWSER_MISSING,
    CHROMIUM,
    CHROMIUM_FLAGS,
    DRIVER,
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    TINY,
    write_scenario,
)


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """A small valid scenario folder (solves to optimal in well under a second)."""
    return write_scenario(tmp_path / "tiny", **TINY)


# --- PostgreSQL (the run history, the coalition store) -------------------------------------------
@pytest.fixture(scope="session")
def postgres_server():
    """An engine on the server PLANNER_TEST_POSTGRES_URL names: skip without one, fail when
    PLANNER_REQUIRE_POSTGRES=1 or when it cannot be reached."""
    if not POSTGRES_URL:
        message = ("PLANNER_TEST_POSTGRES_URL is not set (e.g. postgresql+psycopg://planner:"
                   "planner@127.0.0.1:5432/planner_test; .ci/run --postgres-only starts one)")
        if REQUIRE_POSTGRES:
            pytest.fail(message + " but PLANNER_REQUIRE_POSTGRES=1")
        pytest.skip(message)
    engine = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as err:
        engine.dispose()
        pytest.fail(f"PostgreSQL at PLANNER_TEST_POSTGRES_URL cannot be reached: {err.orig}")
    yield engine
    engine.dispose()


@pytest.fixture
def postgres_target(postgres_server):
    """A URL whose search_path is a new schema: the tables (and alembic's version table) live
    there, so tests and reruns never see each other's rows."""
    schema = f"planner_test_{uuid.uuid4().hex[:12]}"
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    yield url.render_as_string(hide_password=False)
    with postgres_server.connect() as connection:
        connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


# --- headless Chromium (the HTML report) ---------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A headless Chromium driven by selenium; tests using it are marked helpers.needs_browser
    (they skip when it is missing, but here it fails: PLANNER_REQUIRE_CHROMIUM is set)."""
    if BROWSER_MISSING:
        pytest.fail(f"PLANNER_REQUIRE_CHROMIUM is set but {BROWSER_MISSING}; install Debian's "
                    "chromium and chromium-driver (as .ci/run does).")
    # here, not at the top: only the browser tests need selenium
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()

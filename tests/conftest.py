"""Shared fixtures: a tiny valid scenario folder, written fresh for each test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest

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


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """A small valid scenario folder (solves to optimal in well under a second)."""
    return write_scenario(tmp_path / "tiny", **TINY)

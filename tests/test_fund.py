"""The fund's accounts (docs/design.md section 8, "Prices." and "The fund."): recomputed here
from a plan folder's flows.csv and zones.csv and the scenario's own files, by a short function
that shares nothing with planner/results/fund.py; bad prices and [fund] settings exit 2."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

import planner
from helpers import TINY, write_scenario
from planner.cli import app
from planner.pictures.report import report_html

runner = CliRunner()

FUND = """
[fund]
capitation = 600.0
insured_share = 0.9
other_spending = 20000000.0
lead_member = "M_COUNTY"
surplus_to_lead = 0.6

[fund.reimbursement]
county = 0.65
township = 0.85
outside = 0.5
"""
# per-tier prices: CT is dearer at the county hospital, neurology has a township price
PRICES = """
service,tier,price
CT,county,300
CT,township,180
neurology,township,25
"""


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def with_fund(folder: Path, fund: str = FUND, prices: str | None = PRICES) -> Path:
    """The tiny scenario with prices (MRI only by its price_per_exam, neurology elsewhere by
    price_per_visit) and a [fund]."""
    toml = TINY["scenario"].replace("[solver]", fund + "\n[solver]")
    equipment = pd.read_csv(folder / "equipment.csv")
    equipment["price_per_exam"] = [250.0, 500.0]
    equipment["outside_price"] = [400.0, 800.0]
    specialties = pd.read_csv(folder / "specialties.csv")
    specialties["price_per_visit"] = [30.0]
    specialties["outside_price"] = [60.0]
    return write_scenario(folder, scenario=toml, prices=prices, equipment=equipment,
                          specialties=specialties)


def recomputed(scenario_folder: Path, plan_folder: Path) -> tuple[dict, pd.DataFrame]:
    """The accounts of section 8, from the written files only, written out formula by formula."""
    settings = tomllib.loads((scenario_folder / "scenario.toml").read_text())["fund"]
    insured, share = settings.get("insured_share", 1.0), settings["reimbursement"]
    sites = pd.read_csv(scenario_folder / "sites.csv").set_index("site_id")
    population = pd.read_csv(scenario_folder / "zones.csv")["population"].sum()
    equipment = pd.read_csv(scenario_folder / "equipment.csv").set_index("equipment")
    specialties = pd.read_csv(scenario_folder / "specialties.csv").set_index("specialty")
    base = {**equipment["price_per_exam"].to_dict(), **specialties["price_per_visit"].to_dict()}
    outside_price = {**equipment["outside_price"].to_dict(),
                     **specialties["outside_price"].to_dict()}
    tier_price = {}
    if (scenario_folder / "prices.csv").exists():
        for r in pd.read_csv(scenario_folder / "prices.csv").itertuples():
            tier_price[(r.service, r.tier)] = r.price
    flows = pd.read_csv(plan_folder / "flows.csv")
    zones = pd.read_csv(plan_folder / "zones.csv")

    members = {m: [0.0, 0.0, 0.0] for m in pd.read_csv(scenario_folder / "members.csv")["member"]}
    in_county = patient = 0.0
    for f in flows.itertuples():
        tier = sites.at[f.site_id, "tier"]
        price = tier_price.get((f.service, tier), base[f.service])
        paid = insured * f.units * price * share[tier]
        in_county += paid
        patient += f.units * price - paid
        members[sites.at[f.site_id, "member"]][0] += paid
        members[sites.at[f.site_id, "member"]][1] += f.units * price - paid
    outside = 0.0
    for z in zones.itertuples():
        paid = insured * z.unmet * outside_price[z.service] * share["outside"]
        outside += paid
        patient += z.unmet * outside_price[z.service] - paid
        members[z.home_member][2] += paid
    revenue = settings["capitation"] * insured * population
    other = settings.get("other_spending", 0.0)
    accounts = {"revenue": revenue, "in_county_payments": in_county,
                "outside_payments": outside, "other_spending": other,
                "surplus": revenue - other - in_county - outside, "out_of_pocket": patient}
    table = pd.DataFrame([(m, *v) for m, v in members.items()],
                         columns=["member", "fund_payments_received", "patient_payments_received",
                                  "outside_payments_for_residents"])
    return accounts, table


@pytest.fixture
def fund_folder(tiny_folder):
    return with_fund(tiny_folder)


def test_accounts_equal_the_recomputation_from_the_written_files(fund_folder, tmp_path):
    out = tmp_path / "plan"
    result = invoke("plan", fund_folder, "--out", out)
    assert result.exit_code == 0, result.output
    written = json.loads((out / "plan.json").read_text())["fund"]
    expected, by_member = recomputed(fund_folder, out)
    assert set(written) == set(expected)
    for key, value in expected.items():
        assert written[key] == pytest.approx(value, rel=1e-9, abs=1e-6), key
    # the plan exercises every term: a tier price (CT at the county, neurology at townships),
    # the service's own price (neurology at the county), referrals out (MRI)
    flows = pd.read_csv(out / "flows.csv")
    tiers = flows["site_id"].map(pd.read_csv(fund_folder / "sites.csv")
                                 .set_index("site_id")["tier"])
    assert set(zip(flows["service"], tiers)) >= {("CT", "county"), ("neurology", "county"),
                                                 ("neurology", "township")}
    assert expected["outside_payments"] > 0 and expected["in_county_payments"] > 0
    table = pd.read_csv(out / "fund.csv")
    assert list(table.columns) == list(by_member.columns)
    pd.testing.assert_frame_equal(table, by_member, rtol=1e-6)
    assert table["fund_payments_received"].sum() == pytest.approx(written["in_county_payments"])
    assert table["outside_payments_for_residents"].sum() == \
        pytest.approx(written["outside_payments"])
    surplus = written["surplus"]
    word = "surplus" if surplus >= 0 else "DEFICIT"
    assert f"Fund: revenue {written['revenue'] / 1e6:,.2f} M CNY -> {word} " \
           f"{abs(surplus) / 1e6:,.2f} M CNY" in result.output


def test_prices_are_accounts_not_costs(tiny_folder, fund_folder, tmp_path):
    """The same plan and objective with or without prices and a fund; without [fund] no
    accounts at all (no plan.json key, no fund.csv, Plan.fund None)."""
    plain = write_scenario(tmp_path / "plain", **TINY)
    a, b = planner.solve(planner.load_scenario(plain)), \
        planner.solve(planner.load_scenario(fund_folder))
    assert a.objective == pytest.approx(b.objective, rel=1e-12)
    pd.testing.assert_frame_equal(a.decisions, b.decisions)
    assert a.fund is None and a.fund_by_member is None
    assert b.fund is not None and b.fund_by_member is not None
    a.save(tmp_path / "a")
    assert "fund" not in json.loads((tmp_path / "a" / "plan.json").read_text())
    assert not (tmp_path / "a" / "fund.csv").exists()
    assert "Fund:" not in a.summary()


def test_a_price_not_given_is_zero_and_prices_without_a_fund_change_nothing(tiny_folder,
                                                                           tmp_path):
    """No prices.csv and no price columns: every in-county payment is 0, the surplus is the
    capitation less other spending."""
    fund = FUND.replace("other_spending = 20000000.0", "")
    folder = write_scenario(tiny_folder, scenario=TINY["scenario"].replace(
        "[solver]", fund + "\n[solver]"))
    plan = planner.solve(planner.load_scenario(folder))
    assert plan.fund is not None
    assert plan.fund["in_county_payments"] == 0 and plan.fund["outside_payments"] == 0
    assert plan.fund["surplus"] == pytest.approx(600 * 0.9 * 80_000)


def test_diff_reports_the_surplus_change(fund_folder, tmp_path):
    assert invoke("plan", fund_folder, "--out", tmp_path / "a").exit_code == 0
    less = FUND.replace("other_spending = 20000000.0", "other_spending = 25000000.0")
    with_fund(fund_folder, fund=less)
    assert invoke("plan", fund_folder, "--out", tmp_path / "b").exit_code == 0
    result = invoke("diff", tmp_path / "a", tmp_path / "b")
    assert result.exit_code == 0, result.output
    a = json.loads((tmp_path / "a" / "plan.json").read_text())["fund"]["surplus"]
    b = json.loads((tmp_path / "b" / "plan.json").read_text())["fund"]["surplus"]
    assert b - a == pytest.approx(-5e6)
    assert f"Fund surplus: {a:,.2f} -> {b:,.2f} ({b - a:+,.2f}" in result.output
    table = planner.compare(tmp_path / "a", tmp_path / "b").fund.set_index("account")
    assert table.at["surplus", "change"] == pytest.approx(b - a)
    assert table.at["other_spending", "change"] == pytest.approx(5e6)


def test_report_has_a_fund_panel(fund_folder, tmp_path):
    assert invoke("plan", fund_folder, "--out", tmp_path / "plan").exit_code == 0
    page = report_html(tmp_path / "plan")
    surplus = json.loads((tmp_path / "plan" / "plan.json").read_text())["fund"]["surplus"]
    assert '<table id="fund">' in page
    assert f"{surplus / 1e6:,.2f} M CNY" in page


def test_a_slice_keeps_a_valid_fund(fund_folder):
    """A scenario of some members (planner --members, the coalitions) keeps the shares and
    prices of its own tiers; a lead it does not hold is none."""
    town = planner.load_scenario(fund_folder).restricted_to(["M_TOWN"])
    assert town.settings.fund is not None
    assert set(town.settings.fund.reimbursement) == {"township", "outside"}
    assert town.settings.fund.lead_member is None
    assert set(town.tables["prices"]["tier"]) == {"township"}


BAD = [
    ("prices", "service,tier,price\nCT,county,-5\n", "price"),
    ("prices", "service,tier,price\nCT,regional,100\n", "regional"),
    ("prices", "service,tier,price\nXRAY,county,100\n", "XRAY"),
    ("scenario", FUND.replace("township = 0.85", "township = 1.2"), "reimbursement"),
    ("scenario", FUND.replace("township = 0.85", "township = 0.85\nregional = 0.7"), "regional"),
    ("scenario", FUND.replace("outside = 0.5", ""), "outside"),
    ("scenario", FUND.replace("township = 0.85", ""), "township"),
    ("scenario", FUND.replace("insured_share = 0.9", "insured_share = -0.1"), "insured_share"),
    ("scenario", FUND.replace('"M_COUNTY"', '"M_NOBODY"'), "M_NOBODY"),
    ("equipment", None, "price_per_exam"),
]


@pytest.mark.parametrize("table, content, named", BAD)
def test_bad_prices_and_fund_settings_exit_2(fund_folder, table, content, named):
    if table == "scenario":
        write_scenario(fund_folder, scenario=TINY["scenario"].replace(
            "[solver]", content + "\n[solver]"))
    elif table == "equipment":
        frame = pd.read_csv(fund_folder / "equipment.csv")
        frame.loc[1, "price_per_exam"] = -1.0
        write_scenario(fund_folder, equipment=frame)
    else:
        write_scenario(fund_folder, **{table: content})
    result = invoke("validate", fund_folder)
    assert result.exit_code == 2, result.output
    assert named in result.output
    assert "Traceback" not in result.output
    if table == "equipment":
        assert "equipment.csv, column 'price_per_exam', row 3" in result.output
    elif table == "prices":
        assert "prices.csv" in result.output
    else:
        assert "scenario.toml" in result.output

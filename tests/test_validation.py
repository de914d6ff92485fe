"""Validation: every rule names the file, column and spreadsheet rows (header = row 1), and an
infeasible scenario is explained in the scenario's own words before anything is solved."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import planner
from helpers import TINY, append_row, only_problem, problems_of, set_cell, write_scenario
from planner.errors import InfeasibleError, Problem, ScenarioError


# --- helpers -----------------------------------------------------------------------------------
def assert_problem(problem: Problem, file: str, column: str | None, rows: tuple[int, ...],
                   *words: str) -> None:
    assert (problem.file, problem.column, problem.rows) == (file, column, rows), str(problem)
    for word in words:
        assert word in problem.message, str(problem)
    # the text users see carries the same location
    assert file in str(problem)
    if column:
        assert f"column '{column}'" in str(problem)


def infeasibility_of(folder: Path) -> InfeasibleError:
    scenario = planner.load_scenario(folder)
    with pytest.raises(InfeasibleError) as info:
        planner.solve(scenario)
    return info.value


def test_tiny_scenario_is_valid(tiny_folder):
    scenario = planner.load_scenario(tiny_folder)
    assert len(scenario.sites) == 3 and len(scenario.zones) == 4


# --- files and columns -------------------------------------------------------------------------
def test_missing_scenario_toml(tiny_folder):
    write_scenario(tiny_folder, scenario=None)
    problem = only_problem(tiny_folder)
    assert_problem(problem, "scenario.toml", None, (), "missing")


def test_invalid_toml_syntax(tiny_folder):
    write_scenario(tiny_folder, scenario='name = "tiny\n')
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (), "not valid TOML")


def test_missing_required_file(tiny_folder):
    write_scenario(tiny_folder, zones=None)
    problem = only_problem(tiny_folder)
    assert_problem(problem, "zones.csv", None, (), "missing", "zone_id", "population")


def test_optional_files_may_be_missing(tiny_folder):
    write_scenario(tiny_folder, resources=None)
    assert planner.load_scenario(tiny_folder).resources.empty


def test_missing_required_column(tiny_folder):
    write_scenario(tiny_folder, zones="""
        zone_id,lon,lat
        Z1,119.01,32.71
        """)
    problem = only_problem(tiny_folder)
    assert_problem(problem, "zones.csv", "population", (), "missing required column",
                   "'population'")


# --- cells -------------------------------------------------------------------------------------
def test_text_in_a_number_column(tiny_folder):
    set_cell(tiny_folder, "zones", 3, "population", "many")
    assert_problem(problems_of(tiny_folder)[0], "zones.csv", "population", (3,),
                   "'many' is not a number")


def test_text_in_an_optional_number_column(tiny_folder):
    set_cell(tiny_folder, "equipment", 3, "cost_per_exam", "sixty")
    assert_problem(only_problem(tiny_folder), "equipment.csv", "cost_per_exam", (3,),
                   "'sixty' is not a number")


def test_negative_number(tiny_folder):
    set_cell(tiny_folder, "zones", 4, "population", "-5")
    assert_problem(only_problem(tiny_folder), "zones.csv", "population", (4,), "out of range",
                   ">= 0")


def test_non_finite_number(tiny_folder):
    set_cell(tiny_folder, "equipment", 2, "capex", "inf")
    assert_problem(problems_of(tiny_folder)[0], "equipment.csv", "capex", (2,), "finite")


@pytest.mark.parametrize("bad", ["many", "inf"])
def test_a_bad_number_in_a_required_column_is_reported_once(tiny_folder, bad):
    set_cell(tiny_folder, "zones", 3, "population", bad)
    found = problems_of(tiny_folder)
    assert [(p.file, p.column, p.rows) for p in found] == [("zones.csv", "population", (3,))], \
        "\n".join(map(str, found))


def test_zero_where_strictly_positive(tiny_folder):
    set_cell(tiny_folder, "specialties", 2, "visits_per_day", "0")
    assert_problem(only_problem(tiny_folder), "specialties.csv", "visits_per_day", (2,),
                   "out of range", "> 0")


def test_empty_required_text_cell(tiny_folder):
    set_cell(tiny_folder, "sites", 3, "tier", "")
    assert_problem(only_problem(tiny_folder), "sites.csv", "tier", (3,), "empty")


def test_empty_required_number_cells(tiny_folder):
    set_cell(tiny_folder, "zones", 2, "lat", "")
    set_cell(tiny_folder, "zones", 5, "lat", "  ")
    assert_problem(only_problem(tiny_folder), "zones.csv", "lat", (2, 5), "empty")


def test_duplicate_id(tiny_folder):
    set_cell(tiny_folder, "sites", 4, "site_id", "S_C")
    assert_problem(only_problem(tiny_folder), "sites.csv", "site_id", (2, 4), "duplicate",
                   "S_C")


def test_duplicate_composite_key_in_resources(tiny_folder):
    row = append_row(tiny_folder, "resources", "S_C,CT,2")
    assert_problem(problems_of(tiny_folder)[0], "resources.csv", "site_id + resource", (2, row),
                   "duplicate", "S_C, CT")


def test_duplicate_composite_key_is_reported_once(tiny_folder):
    append_row(tiny_folder, "resources", "S_C,CT,2")
    assert len(problems_of(tiny_folder)) == 1


def test_latitude_out_of_range(tiny_folder):
    set_cell(tiny_folder, "sites", 3, "lat", "95")
    assert_problem(only_problem(tiny_folder), "sites.csv", "lat", (3,), "out of range",
                   "between -90 and 90")


def test_longitude_out_of_range(tiny_folder):
    set_cell(tiny_folder, "zones", 5, "lon", "-190")
    assert_problem(only_problem(tiny_folder), "zones.csv", "lon", (5,), "out of range",
                   "between -180 and 180")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(2, 5),
       lat=st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: abs(x) > 90))
def test_any_latitude_out_of_range_is_located(tiny_folder, row, lat):
    set_cell(tiny_folder, "zones", row, "lat", repr(lat))
    try:
        assert_problem(only_problem(tiny_folder), "zones.csv", "lat", (row,), "out of range")
    finally:
        set_cell(tiny_folder, "zones", row, "lat", "32.7")


def test_max_utilization_above_one(tiny_folder):
    set_cell(tiny_folder, "equipment", 3, "max_utilization", "1.2")
    assert_problem(only_problem(tiny_folder), "equipment.csv", "max_utilization", (3,),
                   "out of range", "between 0 and 1")


def test_fractional_max_per_site(tiny_folder):
    set_cell(tiny_folder, "equipment", 2, "max_per_site", "1.5")
    assert_problem(only_problem(tiny_folder), "equipment.csv", "max_per_site", (2,),
                   "whole number")


def test_row_numbers_count_blank_lines(tiny_folder):
    write_scenario(tiny_folder, sites="""
        site_id,name,member,tier,lon,lat
        S_C,County hospital,M_COUNTY,county,119.00,32.70

        S_T1,West township centre,M_TOWN,township,118.92,95
        S_T2,East township centre,M_TOWN,township,119.08,32.76
        """)
    assert only_problem(tiny_folder).rows == (4,)


# --- references between tables -----------------------------------------------------------------
def test_unknown_member_in_sites(tiny_folder):
    set_cell(tiny_folder, "sites", 4, "member", "M_NOBODY")
    assert_problem(only_problem(tiny_folder), "sites.csv", "member", (4,), "'M_NOBODY'",
                   "members.csv")


def test_unknown_home_member_in_zones(tiny_folder):
    set_cell(tiny_folder, "zones", 3, "home_member", "M_NOBODY")
    assert_problem(only_problem(tiny_folder), "zones.csv", "home_member", (3,), "'M_NOBODY'",
                   "members.csv")


def test_unknown_site_in_resources(tiny_folder):
    set_cell(tiny_folder, "resources", 3, "site_id", "S_NOWHERE")
    assert_problem(only_problem(tiny_folder), "resources.csv", "site_id", (3,), "'S_NOWHERE'",
                   "sites.csv")


@pytest.mark.parametrize("name", ["PET", "neurology.beds", "cardiology.outreach_days"])
def test_unknown_resource_name(tiny_folder, name):
    row = append_row(tiny_folder, "resources", f"S_T1,{name},1")
    assert_problem(only_problem(tiny_folder), "resources.csv", "resource", (row,),
                   f"unknown resource '{name}'")


def test_unknown_service_in_condition_services(tiny_folder):
    set_cell(tiny_folder, "condition_services", 4, "service", "cardiology")
    assert_problem(only_problem(tiny_folder), "condition_services.csv", "service", (4,),
                   "'cardiology'")


def test_unknown_condition_in_condition_services(tiny_folder):
    set_cell(tiny_folder, "condition_services", 6, "condition", "flu")
    assert_problem(only_problem(tiny_folder), "condition_services.csv", "condition", (6,),
                   "'flu'", "conditions.csv")


@pytest.mark.parametrize("service", ["PET", "neurology"], ids=["does-not-exist", "specialty"])
def test_urgent_service_must_be_an_equipment(tiny_folder, service):
    set_cell(tiny_folder, "conditions", 2, "urgent_service", service)
    assert_problem(only_problem(tiny_folder), "conditions.csv", "urgent_service", (2,),
                   f"'{service}'", "equipment.csv")


def test_urgent_service_without_urgent_minutes(tiny_folder):
    set_cell(tiny_folder, "conditions", 3, "urgent_service", "CT")
    assert_problem(only_problem(tiny_folder), "conditions.csv", "urgent_minutes", (3,),
                   "urgent_minutes")


def test_unknown_tier_in_allowed_tiers(tiny_folder):
    set_cell(tiny_folder, "equipment", 3, "allowed_tiers", "county;village")
    assert_problem(only_problem(tiny_folder), "equipment.csv", "allowed_tiers", (3,),
                   "'village'", "county", "township")


def test_fractional_existing_units(tiny_folder):
    set_cell(tiny_folder, "resources", 2, "amount", "1.5")
    assert_problem(only_problem(tiny_folder), "resources.csv", "amount", (2,), "whole numbers")


def test_fractional_outreach_days_are_allowed(tiny_folder):
    set_cell(tiny_folder, "resources", 3, "amount", "100.5")
    assert planner.load_scenario(tiny_folder).resources["amount"].sum() == 101.5


# --- scenario.toml -----------------------------------------------------------------------------
def toml_with(*replacements: tuple[str, str]) -> str:
    text = TINY["scenario"]
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return text


def test_unknown_specialty_in_policy_minimum(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(("neurology = 5", "cardiology = 5")))
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (),
                   "min_outreach_days", "cardiology", "neurology")


def test_unknown_grassroots_tier(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(('["township"]', '["village"]')))
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (),
                   "grassroots_tiers", "village")


def test_unknown_key_in_scenario_toml(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(("circuity = 1.3", "circuity = 1.3\nwind = 2")))
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (), "travel.wind")


def test_wrong_type_in_scenario_toml(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(("speed_kmh = 40.0", 'speed_kmh = "fast"')))
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (), "travel.speed_kmh",
                   "'fast'")


def test_missing_setting_in_scenario_toml(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(("discount_rate = 0.05", "")))
    assert_problem(only_problem(tiny_folder), "scenario.toml", None, (), "discount_rate")


# --- all problems at once ----------------------------------------------------------------------
def test_several_problems_are_reported_together(tiny_folder):
    set_cell(tiny_folder, "zones", 3, "population", "many")
    set_cell(tiny_folder, "sites", 2, "lat", "95")
    set_cell(tiny_folder, "equipment", 2, "max_utilization", "2")
    write_scenario(tiny_folder, scenario=toml_with(("speed_kmh = 40.0", "speed_kmh = -1")))
    found = {(p.file, p.column, p.rows) for p in problems_of(tiny_folder)}
    assert found == {("zones.csv", "population", (3,)), ("sites.csv", "lat", (2,)),
                     ("equipment.csv", "max_utilization", (2,)), ("scenario.toml", None, ())}


def test_several_reference_problems_are_reported_together(tiny_folder):
    set_cell(tiny_folder, "sites", 3, "member", "M_NOBODY")
    set_cell(tiny_folder, "resources", 2, "site_id", "S_NOWHERE")
    set_cell(tiny_folder, "condition_services", 2, "service", "PET")
    found = {(p.file, p.column, p.rows) for p in problems_of(tiny_folder)}
    assert found == {("sites.csv", "member", (3,)), ("resources.csv", "site_id", (2,)),
                     ("condition_services.csv", "service", (2,))}


def test_error_message_lists_every_problem(tiny_folder):
    set_cell(tiny_folder, "zones", 3, "population", "-1")
    set_cell(tiny_folder, "sites", 2, "lat", "95")
    with pytest.raises(ScenarioError) as info:
        planner.load_scenario(tiny_folder)
    text = str(info.value)
    assert "2 problem(s)" in text
    assert "zones.csv, column 'population', row 3" in text
    assert "sites.csv, column 'lat', row 2" in text


# --- infeasibility explained ----------------------------------------------------------------------
FAR_NORTH = """
    zone_id,site_id,minutes
    Z4,S_C,90
    Z4,S_T1,95
    Z4,S_T2,80
    """


def test_zone_out_of_urgent_reach_is_named(tiny_folder):
    write_scenario(tiny_folder, travel=FAR_NORTH)
    causes = infeasibility_of(tiny_folder).causes
    assert len(causes) == 1, causes
    assert "urgent coverage" in causes[0]
    assert "Z4 (80 min)" in causes[0]
    assert "60 minutes" in causes[0] and "stroke" in causes[0]
    for zone in ("Z1", "Z2", "Z3"):
        assert zone not in causes[0]


def test_policy_minimum_above_pool_is_explained(tiny_folder):
    write_scenario(tiny_folder, scenario=toml_with(("neurology = 5", "neurology = 60")))
    causes = infeasibility_of(tiny_folder).causes
    assert len(causes) == 1, causes
    # 60 days at each of the 2 township sites = 120 days > the pool of 100
    for words in ("neurology", "60", "2 grassroots sites", "120 days", "holds 100"):
        assert words in causes[0], causes[0]


def test_zero_budget_when_urgent_cover_needs_new_units_is_explained(tiny_folder):
    set_cell(tiny_folder, "conditions", 2, "urgent_minutes", "15")  # Z2, Z3, Z4 lose cover
    write_scenario(tiny_folder, scenario=toml_with(("discount_rate = 0.05",
                                                    "discount_rate = 0.05\nbudget = 0")))
    causes = infeasibility_of(tiny_folder).causes
    assert len(causes) == 1, causes
    assert "capital budget" in causes[0]
    assert "the budget is 0 CNY" in causes[0]
    # a lower bound: one CT moved (300,000 each) to each of S_T1 and S_T2
    assert "needs at least 600,000 CNY" in causes[0]
    assert "CT at S_T1" in causes[0] and "CT at S_T2" in causes[0]


def test_same_scenario_with_a_large_budget_is_feasible(tiny_folder):
    set_cell(tiny_folder, "conditions", 2, "urgent_minutes", "15")
    write_scenario(tiny_folder, scenario=toml_with(("discount_rate = 0.05",
                                                    "discount_rate = 0.05\nbudget = 1e7")))
    plan = planner.solve(planner.load_scenario(tiny_folder))
    assert plan.status == "optimal"
    assert plan.kpis["urgent_uncovered_zones"] == 0
    assert plan.urgent["covered"].all()
    assert plan.kpis["capital_used"] <= plan.kpis["capital_budget"] == 1e7


def test_soft_urgent_coverage_reports_the_uncovered_zone(tiny_folder):
    write_scenario(tiny_folder, travel=FAR_NORTH,
                   scenario=TINY["scenario"] + "\n[urgent]\nsoft = true\n")
    plan = planner.solve(planner.load_scenario(tiny_folder))
    assert plan.status == "optimal"
    assert plan.kpis["urgent_uncovered_zones"] == 1
    uncovered = plan.urgent[~plan.urgent["covered"]]
    assert uncovered[["zone_id", "condition"]].values.tolist() == [["Z4", "stroke"]]
    assert uncovered["nearest_minutes"].iloc[0] == pytest.approx(90.0)
    assert plan.urgent["covered"].sum() == 3

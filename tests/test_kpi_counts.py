"""The plan's `urgent_uncovered_zones` counts zones, as its name and the Pareto column say: a
zone with two uncovered urgent conditions counts once (the urgent table has one row per zone
and condition)."""

from __future__ import annotations

import planner
from helpers import TINY, write_scenario
from test_validation import FAR_NORTH


def test_a_zone_with_two_uncovered_conditions_counts_once(tmp_path):
    conditions = """
        condition,cases_per_1000,urgent_service,urgent_minutes
        stroke,3,CT,60
        trauma,2,CT,60
        cancer,3,,
        """
    services = TINY["condition_services"].rstrip() + "\n        trauma,CT,1.0\n"
    tables = {**TINY, "conditions": conditions, "condition_services": services,
              "travel": FAR_NORTH, "scenario": TINY["scenario"] + "\n[urgent]\nsoft = true\n"}
    folder = write_scenario(tmp_path / "tiny", **tables)
    plan = planner.solve(planner.load_scenario(folder))
    uncovered = plan.urgent[~plan.urgent["covered"]]
    # counted here from the table: two rules broken, both in zone Z4
    assert sorted(uncovered[["zone_id", "condition"]].values.tolist()) == [
        ["Z4", "stroke"], ["Z4", "trauma"]]
    assert plan.kpis["urgent_uncovered_zones"] == 1

"""Central reading in studies (issue 21 item 4): a sweep over reads_per_radiologist or
radiologist_cost solves every variant to the brute force's optimum (tests/test_reading.py's
enumeration), with the reading term in its `cost.reading` column; `planner diff` of two plans
shows the reading term's change, read against each folder's costs.csv."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import planner
from helpers import run_planner
from planner.model.ledger import term_words
from test_reading import CASES, brute_force, case

POPULATION, KNOBS, FTE = CASES["pool_binds"]


def reading_of(**changes):
    return {**KNOBS, "centres": ["H"], **changes}


@pytest.mark.parametrize("key, values", [
    ("radiologist_cost", [1_000.0, 12_000.0, 40_000.0]),
    ("reads_per_radiologist", [300.0, 500.0, 1_500.0]),
])
def test_a_sweep_over_a_reading_setting_equals_brute_force(key, values):
    table = planner.sweep(case(POPULATION, reading_of(), FTE), {key: values}, progress=False,
                          workers=1)
    assert list(table[key]) == values
    for value, row in zip(values, table.to_dict("records")):
        expected, (_, hires) = brute_force(POPULATION, reading_of(**{key: value}), FTE)
        assert row["objective"] == pytest.approx(expected, rel=1e-7), (key, value)
        cost = value if key == "radiologist_cost" else KNOBS["radiologist_cost"]
        assert row["cost.reading"] == pytest.approx(hires * cost)


def test_planner_diff_shows_the_reading_term(tmp_path):
    folders = []
    for name, cost in (("cheap", 1_000.0), ("dear", 40_000.0)):
        case(POPULATION, reading_of(radiologist_cost=cost), FTE).save(tmp_path / name)
        run = run_planner("plan", tmp_path / name, "--out", tmp_path / f"{name}-plan",
                          cwd=tmp_path)
        assert run.returncode == 0, run.stdout + run.stderr
        folders.append(tmp_path / f"{name}-plan")
    costs = [pd.read_csv(f / "costs.csv").set_index("term")["annual_cost"] for f in folders]
    assert costs[0]["reading"] != costs[1]["reading"]
    run = run_planner("diff", *folders, "--json", cwd=tmp_path)
    assert run.returncode == 0, run.stdout + run.stderr
    terms = {r["term"]: r for r in json.loads(run.stdout)["costs"]}
    assert terms["reading"]["before"] == pytest.approx(costs[0]["reading"])
    assert terms["reading"]["after"] == pytest.approx(costs[1]["reading"])
    assert terms["reading"]["change"] == pytest.approx(costs[1]["reading"] - costs[0]["reading"])
    text = run_planner("diff", *folders, cwd=tmp_path)
    assert text.returncode == 0 and term_words("reading") in text.stdout

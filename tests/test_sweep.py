"""planner.sweep: each row equals an independent planner.solve of the same variant, on one session
or on any executor (the result does not depend on where or on how many workers it ran)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import planner
import toy
from planner.errors import InfeasibleError
from planner.publish import OutputError
from planner.studies.sweep import TIMING_COLUMNS, SweepError

GRID = {"budget": [2.5e6, 5e6, 1e7], "value_per_minute": [1.0, 3.0]}


@pytest.fixture(scope="module")
def consortium():
    return toy.consortium(townships=4)


@pytest.fixture(scope="module")
def swept(consortium):
    return planner.sweep(consortium, GRID, keep_plans=True, progress=False, chunk_size=2)


def deterministic(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=TIMING_COLUMNS + ["plan"], errors="ignore")


def test_rows_follow_the_product_of_the_values(swept):
    expected = [(b, v) for b in GRID["budget"] for v in GRID["value_per_minute"]]
    assert list(zip(swept["budget"], swept["value_per_minute"])) == expected
    assert list(swept["variant"]) == list(range(len(expected)))


def test_each_row_equals_an_independent_solve(consortium, swept):
    for row in swept.itertuples():
        variant = consortium.with_(budget=row.budget, value_per_minute=row.value_per_minute)
        try:
            alone = planner.solve(variant)
        except InfeasibleError as err:   # the toy needs 2.7M of capital for stroke coverage
            assert row.status == "infeasible" and row.plan is None
            assert "no feasible plan" in row.message and str(err) == row.message
            assert pd.isna(row.objective)
            continue
        assert row.status == "optimal"
        assert row.objective == pytest.approx(alone.objective, rel=1e-6)
        pd.testing.assert_frame_equal(row.plan.decisions, alone.decisions)
        record = swept.loc[row.Index]
        for term, amount in alone.costs.items():
            assert record[f"cost.{term}"] == pytest.approx(amount, rel=1e-6, abs=1e-6)
        assert record["in_county_rate"] == pytest.approx(alone.kpis["in_county_rate"])
        assert record["capital_used"] == pytest.approx(alone.kpis["capital_used"])
        assert record["new_units.CT"] == alone.kpis["new_units"].get("CT", 0)
    assert (swept["status"] == "infeasible").sum() == 2   # budget 2.5M, both prices


def test_process_pool_gives_the_local_table(consortium, swept):
    remote = planner.sweep(consortium, GRID, workers=2, progress=False, chunk_size=2)
    pd.testing.assert_frame_equal(deterministic(remote), deterministic(swept))


def test_dask_cluster_gives_the_local_table(consortium, swept):
    import distributed  # here, not at the top: dask takes a second to import
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        remote = planner.sweep(consortium, GRID, executor=client, progress=False, chunk_size=2)
    pd.testing.assert_frame_equal(deterministic(remote), deterministic(swept))


def test_table_cells_and_variant_lists(consortium):
    cheap = consortium.equipment.assign(capex=1e6)
    by_cell = planner.sweep(consortium, {"equipment.capex[CT]": [1e6]}, progress=False)
    alone = planner.solve(consortium.with_(tables={"equipment": cheap}))
    assert by_cell.loc[0, "objective"] == pytest.approx(alone.objective, rel=1e-6)
    assert by_cell.loc[0, "equipment.capex[CT]"] == 1e6

    scenarios = planner.sweep(consortium, variants=[consortium,
                                                    consortium.with_(value_per_minute=3.0)],
                              progress=False)
    dicts = planner.sweep(consortium, variants=[{}, {"value_per_minute": 3.0}], progress=False)
    assert list(scenarios["scenario"]) == ["toy"] * 2
    assert list(scenarios["objective"]) == pytest.approx(list(dicts["objective"]), rel=1e-9)
    assert scenarios.loc[1, "objective"] > scenarios.loc[0, "objective"]


def test_bad_keys_name_what_is_known(consortium):
    with pytest.raises(SweepError, match="value_per_minute.*equipment.capex"):
        planner.sweep(consortium, {"budgte": [1e6]}, progress=False)
    with pytest.raises(SweepError, match="no row of equipment.csv.*CT"):
        planner.sweep(consortium, {"equipment.capex[PET]": [1e6]}, progress=False)
    with pytest.raises(SweepError, match="no column 'price'"):
        planner.sweep(consortium, {"equipment.price[CT]": [1e6]}, progress=False)
    with pytest.raises(SweepError, match="not both or neither"):
        planner.sweep(consortium, progress=False)
    with pytest.raises(SweepError, match="budget"):   # a value validation rejects
        planner.sweep(consortium, {"budget": [-1.0]}, progress=False)


def test_plans_kept_as_folders(consortium, tmp_path):
    out = tmp_path / "sweep"
    table = planner.sweep(consortium, {"budget": [2.5e6, 5e6]}, keep_plans=out, progress=False)
    written = pd.read_csv(out / "sweep.csv", keep_default_na=False)
    assert list(written["plan_folder"]) == ["", "point_001"] == list(table["plan_folder"])
    saved = json.loads((out / "point_001" / "plan.json").read_text())
    assert saved["objective"] == pytest.approx(table.loc[1, "objective"], rel=1e-9)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError):
        planner.sweep(consortium, {"budget": [5e6]}, keep_plans=mine, progress=False)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_progress_bar_on_stderr(consortium, capsys):
    planner.sweep(consortium, {"value_per_minute": [1.0, 2.0]}, progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err and "plan" in err
    planner.sweep(consortium, {"value_per_minute": [1.0]}, progress=False)
    assert capsys.readouterr().err == ""

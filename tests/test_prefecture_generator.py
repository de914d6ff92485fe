"""The synthetic prefecture of benchmarks/prefecture.py (issue 22's scale benchmark): seeded, of
the documented shape, valid, and solvable at a small size with urgent coverage met."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pandas as pd

import planner

SOURCE = Path(__file__).resolve().parent.parent / "benchmarks" / "prefecture.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("prefecture", SOURCE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_prefecture_is_seeded_and_of_the_documented_shape():
    generator = load_generator()
    one, again, other = (generator.prefecture(500, 0), generator.prefecture(500, 0),
                         generator.prefecture(500, 1))
    pd.testing.assert_frame_equal(one.zones, again.zones)
    pd.testing.assert_frame_equal(one.sites, again.sites)
    assert not one.zones[["lon", "lat"]].equals(other.zones[["lon", "lat"]])
    assert len(one.zones) == 500 and len(one.sites) == 50 and len(one.members) == 12
    assert abs(one.zones["population"].sum() - 3_000_000) < 0.01 * 3_000_000
    assert sorted(one.sites["tier"].value_counts().items()) == [
        ("county", 11), ("tertiary", 2), ("township", 37)]


def test_a_small_prefecture_plans_with_every_stroke_zone_covered():
    plan = planner.solve(load_generator().prefecture(60, 3), time_limit=60)
    assert plan.status == "optimal"
    assert plan.urgent["covered"].all()
    # within 90 minutes of a CT, measured here from the coordinates and the travel settings
    assert (plan.urgent["nearest_minutes"] <= 90.0 + 1e-9).all()

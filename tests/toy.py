"""A toy consortium built in code, small enough that its optimal plan is known by hand or by
brute force. Every table can be replaced or edited by keyword."""

from __future__ import annotations

import pandas as pd

from planner.scenario import from_tables


def settings(**changes) -> dict:
    base = {"name": "toy", "currency": "CNY", "discount_rate": 0.0,
            "travel": {"speed_kmh": 60.0, "circuity": 1.0, "value_per_minute": 1.0},
            "policy": {"grassroots_tiers": ["township"], "min_outreach_days": {}},
            "solver": {"time_limit": 30, "mip_gap": 0.0, "threads": 1, "seed": 0}}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def tables(n_zones: int = 3) -> dict[str, pd.DataFrame]:
    """2 sites (county hospital H, township centre T) and `n_zones` zones of 1,000 residents."""
    zones = [f"Z{k}" for k in range(1, n_zones + 1)]
    return {
        "members": pd.DataFrame({"member": ["MH", "MT"], "name": ["hospital", "township"],
                                 "budget_contribution": [0.0, 0.0]}),
        "sites": pd.DataFrame({"site_id": ["H", "T"], "name": ["hospital", "centre"],
                               "member": ["MH", "MT"], "tier": ["county", "township"],
                               "lon": [119.0, 119.2], "lat": [32.7, 32.7]}),
        "zones": pd.DataFrame({"zone_id": zones, "lon": 119.0, "lat": 32.7,
                               "population": 1000.0}),
        "conditions": pd.DataFrame({"condition": ["scan"], "cases_per_1000": [100.0]}),
        "condition_services": pd.DataFrame({"condition": ["scan"], "service": ["CT"],
                                            "units_per_case": [1.0]}),
        "equipment": pd.DataFrame({
            "equipment": ["CT"], "capex": [1000.0], "lifetime_years": [1.0],
            "opex_per_year": [100.0], "capacity_per_year": [10_000.0],
            "referral_cost": [50.0]}),
        "specialties": pd.DataFrame({"specialty": ["cardiology"], "visits_per_day": [10.0],
                                     "cost_per_day": [100.0], "referral_cost": [30.0]}),
        "resources": pd.DataFrame(columns=["site_id", "resource", "amount"]),
    }


def travel(minutes: dict[tuple[str, str], float]) -> pd.DataFrame:
    return pd.DataFrame([(z, i, t) for (z, i), t in minutes.items()],
                        columns=["zone_id", "site_id", "minutes"])


def scenario(settings_changes: dict | None = None, **table_changes):
    t = tables()
    t.update(table_changes)
    return from_tables(settings(**(settings_changes or {})), t, "toy")

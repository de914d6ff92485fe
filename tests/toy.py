"""A toy consortium built in code, small enough that its optimal plan is known by hand or by
brute force. Every table can be replaced or edited by keyword."""

from __future__ import annotations

import pandas as pd

from planner.scenario.loading import from_tables


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


def consortium(townships: int = 4, seed: int = 0):
    """A county hospital and `townships` centres (one member each), two villages per township,
    CT with hard stroke coverage and one specialty: a planning game with 1 + townships players."""
    import numpy as np

    rng = np.random.default_rng(seed)
    angles = np.linspace(0, 2 * np.pi, townships, endpoint=False)
    t_ids = [f"T{k + 1}" for k in range(townships)]
    site_lon = np.concatenate([[119.0], 119.0 + 0.25 * np.cos(angles)])
    site_lat = np.concatenate([[32.7], 32.7 + 0.2 * np.sin(angles)])
    sites = pd.DataFrame({"site_id": ["S_H"] + [f"S_{t}" for t in t_ids],
                          "name": ["hospital"] + t_ids, "member": ["H"] + t_ids,
                          "tier": ["county"] + ["township"] * townships,
                          "lon": site_lon, "lat": site_lat})
    members = pd.DataFrame({"member": ["H"] + t_ids, "name": ["hospital"] + t_ids,
                            "budget_contribution": [3e6] + [5e5] * townships,
                            "quality_score": [0.9] + list(rng.uniform(0.6, 0.9, townships))})
    zones = pd.DataFrame([(f"Z{t}{v}", sites.lon[k + 1] + rng.normal(0, 0.03),
                           sites.lat[k + 1] + rng.normal(0, 0.03),
                           float(rng.integers(3000, 9000)), t)
                          for k, t in enumerate(t_ids) for v in "ab"],
                         columns=["zone_id", "lon", "lat", "population", "home_member"])
    conditions = pd.DataFrame({"condition": ["stroke", "chest"], "cases_per_1000": [3.5, 40.0],
                               "urgent_service": ["CT", None],
                               "urgent_minutes": [45.0, None]})
    cs = pd.DataFrame({"condition": ["stroke", "chest", "chest"],
                       "service": ["CT", "CT", "cardiology"], "units_per_case": [1.0, 1.0, 1.0]})
    equipment = pd.DataFrame({"equipment": ["CT"], "capex": [2.5e6], "lifetime_years": [8.0],
                              "opex_per_year": [3e5], "capacity_per_year": [20000.0],
                              "referral_cost": [600.0], "max_utilization": [0.85],
                              "cost_per_exam": [40.0], "relocation_cost": [2e5],
                              "max_per_site": [3]})
    specialties = pd.DataFrame({"specialty": ["cardiology"], "visits_per_day": [20.0],
                                "cost_per_day": [1500.0], "referral_cost": [400.0]})
    resources = pd.DataFrame({"site_id": ["S_H", "S_H", "S_H"],
                              "resource": ["CT", "cardiology.outreach_days",
                                           "cardiology.clinic_visits"],
                              "amount": [2.0, 200.0, 3000.0]})
    config = settings(discount_rate=0.05,
                      travel={"speed_kmh": 40.0, "circuity": 1.3, "value_per_minute": 1.0},
                      policy={"grassroots_tiers": ["township"],
                              "min_outreach_days": {"cardiology": 12}},
                      urgent={"soft": False, "penalty_per_zone": 2e6},
                      solver={"time_limit": 60, "mip_gap": 1e-6, "threads": 1, "seed": 0})
    return from_tables(config, {
        "members": members, "sites": sites, "zones": zones, "conditions": conditions,
        "condition_services": cs, "equipment": equipment, "specialties": specialties,
        "resources": resources}, "toy consortium")


def capital_conflict():
    """The pre-checks pass (the budget is ample), but site T may not spend any capital and only T
    is within 20 minutes of zones Z2 and Z3, where a scan is urgent: infeasible, found by HiGHS."""
    conditions = pd.DataFrame({"condition": ["scan"], "cases_per_1000": [100.0],
                               "urgent_service": ["CT"], "urgent_minutes": [20.0]})
    tr = travel({("Z1", "H"): 5, ("Z1", "T"): 40, ("Z2", "H"): 30, ("Z2", "T"): 10,
                 ("Z3", "H"): 35, ("Z3", "T"): 12})
    sites = tables()["sites"].assign(capital_limit=[1e6, 0.0])
    return scenario({"budget": 1e6}, conditions=conditions, travel=tr, sites=sites)

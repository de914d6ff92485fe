"""A synthetic prefecture (issue 22): seeded, 1,000-100,000 villages, 50 sites, 12 members.

    python benchmarks/prefecture.py --zones 1000 --out /tmp/prefecture-1000   # a scenario folder

The shape of a prefecture-level city's health system, built from the county's own figures
(data/tianchang: equipment, prices, the disease spectrum) so that the model is the county's
model at twelve times its size:

* a square of 150 x 150 km (a prefecture of ~20,000 km2) at Anhui's latitude;
* 12 members: the city (member CITY, two tertiary hospitals and four community health centres
  around the centre) and 11 counties (member Cnn, one county hospital and three township health
  centres each): 6 + 44 = 50 sites;
* villages clustered around the 12 seats (normal scatter, 12 km), each with a log-normal
  population, scaled so that the prefecture has 3 million residents whatever the village count;
* CT (county and township tiers) and MRI (county tier), cardiology and neurology; stroke needs a
  CT within 90 minutes (the issue's rule); existing units: 3 CT + 2 MRI at each tertiary
  hospital, 1 CT at each county hospital, 1 MRI at every other one;
* budgets: 12 M CNY per tertiary hospital, 4 M per county hospital, 0.5 M per centre.

Deterministic: the same (zones, seed) gives the same scenario, byte for byte when saved.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.scenario.loading import Scenario, from_tables

CENTRE = (117.3, 31.8)          # lon, lat of the city centre (Anhui)
SIDE_KM = 150.0
RESIDENTS = 3_000_000
COUNTIES = 11
TOWNSHIPS_PER_COUNTY = 3


def _lonlat(x_km: np.ndarray, y_km: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Kilometres east/north of the centre to degrees (a local equirectangular projection)."""
    lat = CENTRE[1] + y_km / 111.32
    lon = CENTRE[0] + x_km / (111.32 * math.cos(math.radians(CENTRE[1])))
    return np.round(lon, 6), np.round(lat, 6)


def _sites(rng: np.random.Generator) -> tuple[pd.DataFrame, np.ndarray]:
    """The 50 sites and the 12 seats (km coordinates) the villages cluster around."""
    angles = np.linspace(0.0, 2 * np.pi, COUNTIES, endpoint=False) + rng.uniform(0, 0.3)
    radius = rng.uniform(40.0, 62.0, COUNTIES)
    seats = np.vstack([[0.0, 0.0], np.column_stack([radius * np.cos(angles),
                                                     radius * np.sin(angles)])])
    rows = [("S_CITY1", "CITY", "tertiary", 0.0, 0.0), ("S_CITY2", "CITY", "tertiary", 4.0, -3.0)]
    rows += [(f"S_CITY_C{k + 1}", "CITY", "township", 8 * math.cos(a), 8 * math.sin(a))
             for k, a in enumerate(np.linspace(0, 2 * np.pi, 4, endpoint=False))]
    for c in range(COUNTIES):
        sx, sy = seats[c + 1]
        member = f"C{c + 1:02d}"
        rows.append((f"S_{member}_H", member, "county", sx, sy))
        for t in range(TOWNSHIPS_PER_COUNTY):
            a = rng.uniform(0, 2 * np.pi)
            d = rng.uniform(12.0, 22.0)
            rows.append((f"S_{member}_T{t + 1}", member, "township",
                         sx + d * math.cos(a), sy + d * math.sin(a)))
    frame = pd.DataFrame(rows, columns=["site_id", "member", "tier", "x", "y"])
    frame["lon"], frame["lat"] = _lonlat(frame["x"].to_numpy(), frame["y"].to_numpy())
    frame["name"] = frame["site_id"]
    return frame[["site_id", "name", "member", "tier", "lon", "lat"]], seats


def _zones(rng: np.random.Generator, count: int, seats: np.ndarray) -> pd.DataFrame:
    """`count` villages: the city's seat draws a fifth of them, each county the rest evenly."""
    weights = np.array([0.2] + [0.8 / COUNTIES] * COUNTIES)
    seat = rng.choice(len(seats), size=count, p=weights)
    xy = seats[seat] + rng.normal(0.0, 12.0, (count, 2))
    xy = np.clip(xy, -SIDE_KM / 2, SIDE_KM / 2)
    population = rng.lognormal(0.0, 0.6, count)
    population = np.maximum(np.round(population / population.sum() * RESIDENTS), 50.0)
    lon, lat = _lonlat(xy[:, 0], xy[:, 1])
    home = np.array(["CITY"] + [f"C{c + 1:02d}" for c in range(COUNTIES)])[seat]
    return pd.DataFrame({"zone_id": [f"V{k + 1:06d}" for k in range(count)], "lon": lon,
                         "lat": lat, "population": population, "home_member": home})


def _resources(sites: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for site, tier in zip(sites["site_id"], sites["tier"]):
        if tier == "tertiary":
            rows += [(site, "CT", 3.0), (site, "MRI", 2.0),
                     (site, "cardiology.outreach_days", 400.0),
                     (site, "neurology.outreach_days", 300.0),
                     (site, "cardiology.clinic_visits", 30_000.0),
                     (site, "neurology.clinic_visits", 20_000.0)]
        elif tier == "county":
            rows += [(site, "CT", 1.0), (site, "cardiology.outreach_days", 150.0),
                     (site, "cardiology.clinic_visits", 8_000.0)]
            if site.endswith(("1_H", "3_H", "5_H", "7_H", "9_H")):
                rows.append((site, "MRI", 1.0))
    return pd.DataFrame(rows, columns=["site_id", "resource", "amount"])


def prefecture(zones: int = 1000, seed: int = 0) -> Scenario:
    """The synthetic prefecture with `zones` villages (module docstring)."""
    if not 12 <= zones <= 100_000:
        raise ValueError(f"zones must be between 12 and 100,000, not {zones}")
    rng = np.random.default_rng(seed)
    sites, seats = _sites(rng)
    members = sorted(set(sites["member"]))
    budget = {"tertiary": 12e6, "county": 4e6, "township": 0.5e6}
    contributions = sites.assign(b=sites["tier"].map(budget)).groupby("member")["b"].sum()
    tables = {
        "members": pd.DataFrame({"member": members, "name": members,
                                 "budget_contribution": [contributions[m] for m in members]}),
        "sites": sites,
        "zones": _zones(rng, zones, seats),
        "conditions": pd.DataFrame({
            "condition": ["stroke", "cancer", "heart", "other_imaging"],
            "cases_per_1000": [3.451, 3.4175, 8.07, 112.0],
            "urgent_service": ["CT", None, None, None],
            "urgent_minutes": [90.0, None, None, None]}),
        "condition_services": pd.DataFrame({
            "condition": ["stroke", "stroke", "stroke", "cancer", "cancer", "heart", "heart",
                          "other_imaging"],
            "service": ["CT", "MRI", "neurology", "CT", "MRI", "cardiology", "CT", "CT"],
            "units_per_case": [1.5, 0.5, 4.0, 4.0, 1.0, 6.0, 0.3, 1.0]}),
        "equipment": pd.DataFrame({
            "equipment": ["CT", "MRI"], "capex": [4.0e6, 5.9e6], "lifetime_years": [8.0, 10.0],
            "opex_per_year": [720_000.0, 970_000.0], "capacity_per_year": [22_800.0, 9_600.0],
            "referral_cost": [600.0, 900.0], "max_utilization": [0.85, 0.85],
            "cost_per_exam": [40.0, 60.0], "allowed_tiers": ["tertiary;county;township",
                                                             "tertiary;county"],
            "max_per_site": [6, 3], "max_minutes": [90.0, 120.0]}),
        "specialties": pd.DataFrame({
            "specialty": ["cardiology", "neurology"], "visits_per_day": [25.0, 20.0],
            "cost_per_day": [1500.0, 1500.0], "referral_cost": [350.0, 350.0],
            "max_minutes": [90.0, 90.0]}),
        "resources": _resources(sites),
    }
    settings = {"name": f"synthetic prefecture, {zones:,} villages (seed {seed})",
                "currency": "CNY", "discount_rate": 0.05,
                "travel": {"speed_kmh": 40.0, "circuity": 1.3, "value_per_minute": 2.25},
                "policy": {"grassroots_tiers": ["township"],
                           "min_outreach_days": {"cardiology": 12}},
                "solver": {"time_limit": 300, "mip_gap": 1e-4, "threads": 1, "seed": 0}}
    return from_tables(settings, tables, settings["name"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zones", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, help="scenario folder to write")
    args = parser.parse_args()
    scenario = prefecture(args.zones, args.seed)
    scenario.save(args.out)
    print(f"{scenario.name}: {len(scenario.zones):,} villages, {len(scenario.sites)} sites, "
          f"{len(scenario.members)} members, {scenario.zones['population'].sum():,.0f} residents"
          f" -> {args.out}")


if __name__ == "__main__":
    main()

"""OR-Library p-median instances (Beasley 1985/1990) expressed as planner scenarios.

Each node is a zone with one unit of demand and a candidate site; one equipment `F` costs 1 with
lifetime 1 and discount 0 (so its annual capital is 1), has unbounded capacity and at most one
unit per site; the budget is p; travel minutes are the shortest-path distances and
value_per_minute is 1. The planner's optimum is then p + the p-median optimum.

No condition is urgent, so a coverage or worst-minutes goal on these scenarios (MCLP, p-centre)
is a pure location study whether or not it passes relax_urgent=True.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from scipy.sparse.csgraph import csgraph_from_dense, shortest_path

from planner.scenario.loading import Scenario, from_tables


def read_pmed(path: str | Path) -> tuple[np.ndarray, int]:
    """The all-pairs shortest-path matrix and p of an OR-Library pmed file.

    Edges listed twice keep their LAST cost, as OR-Library's note prescribes.
    """
    numbers = Path(path).read_text().split()
    n, m, p = (int(x) for x in numbers[:3])
    edges = np.array(numbers[3:3 + 3 * m], dtype=float).reshape(m, 3)
    dense = np.full((n, n), np.inf)
    for i, j, cost in edges:  # in file order: a later line overwrites an earlier one
        dense[int(i) - 1, int(j) - 1] = dense[int(j) - 1, int(i) - 1] = cost
    np.fill_diagonal(dense, 0.0)
    graph = csgraph_from_dense(dense, null_value=np.inf)
    return shortest_path(graph, method="D", directed=False), p


def pmedian_scenario(distances: np.ndarray, p: int, name: str = "p-median",
                     zones: list[str] | None = None, sites: list[str] | None = None) -> Scenario:
    """A zones x sites distance matrix as a planner scenario (square OR-Library graphs: every
    node is both a zone and a site)."""
    zones = zones or [f"N{k + 1}" for k in range(distances.shape[0])]
    sites = sites or [f"N{k + 1}" for k in range(distances.shape[1])]
    zone_ids, site_ids = np.meshgrid(zones, sites, indexing="ij")
    settings = {"name": name, "currency": "unit", "discount_rate": 0.0, "budget": float(p),
                "travel": {"speed_kmh": 1.0, "circuity": 1.0, "value_per_minute": 1.0},
                "solver": {"time_limit": 600, "mip_gap": 0.0}}
    tables = {
        "members": pd.DataFrame({"member": ["ALL"], "name": ["all nodes"]}),
        "sites": pd.DataFrame({"site_id": sites, "name": sites, "member": "ALL", "tier": "node",
                               "lon": 0.0, "lat": 0.0}),
        "zones": pd.DataFrame({"zone_id": zones, "lon": 0.0, "lat": 0.0, "population": 1.0,
                               "home_member": "ALL"}),
        "conditions": pd.DataFrame({"condition": ["visit"], "cases_per_1000": [1000.0]}),
        "condition_services": pd.DataFrame({"condition": ["visit"], "service": ["F"],
                                            "units_per_case": [1.0]}),
        "equipment": pd.DataFrame({
            "equipment": ["F"], "capex": [1.0], "lifetime_years": [1.0], "opex_per_year": [0.0],
            "capacity_per_year": [float(len(zones))], "referral_cost": [1e9],
            "max_per_site": [1]}),
        "specialties": pd.DataFrame(columns=["specialty", "visits_per_day", "cost_per_day",
                                             "referral_cost"]),
        "travel": pd.DataFrame({"zone_id": zone_ids.ravel(), "site_id": site_ids.ravel(),
                                "minutes": distances.ravel()}),
    }
    return from_tables(settings, tables, name)


def load_pmed(path: str | Path) -> Scenario:
    distances, p = read_pmed(path)
    return pmedian_scenario(distances, p, Path(path).stem)

"""Access: the share of residents within t minutes of care. One formula for the plan's KPIs and
access curves (planner.results.plan) and the pictures' curves (planner.pictures.data)."""

from __future__ import annotations

import pandas as pd


def share_within(population: pd.Series, minutes: pd.Series, t: float) -> float:
    """Share of the residents whose nearest minutes are at most t (0 without residents)."""
    total = population.sum()
    return float(population[minutes.to_numpy() <= t].sum() / total) if total else 0.0

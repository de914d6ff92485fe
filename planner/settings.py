"""`scenario.toml`: the scenario's scalar settings, checked by pydantic models."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TravelSettings(_Strict):
    speed_kmh: PositiveFloat = Field(description="average road speed, km/h")
    circuity: float = Field(1.0, ge=1.0, description="road distance / great-circle distance")
    value_per_minute: NonNegativeFloat = Field(
        description="currency per patient-minute of the one-way trip")


class PolicySettings(_Strict):
    grassroots_tiers: tuple[str, ...] = ()
    min_outreach_days: dict[str, NonNegativeFloat] = Field(default_factory=dict)
    shortfall_cost_factor: NonNegativeFloat = Field(
        3.0, description="fair-division games: a policy day a coalition cannot staff from its "
        "own pools is bought in at this multiple of the specialty's cost_per_day")


class UrgentSettings(_Strict):
    soft: bool = Field(False, description="price uncovered zones instead of forbidding them")
    penalty_per_zone: NonNegativeFloat = Field(
        1.0e7, description="currency per year for each populated zone left without urgent cover")


class SolverSettings(_Strict):
    time_limit: PositiveFloat = 60.0
    mip_gap: NonNegativeFloat = 1.0e-4
    threads: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)
    presolve: bool = Field(True, description="HiGHS presolve; off can be faster on small models")


class ScenarioSettings(_Strict):
    name: str
    currency: str = "CNY"
    discount_rate: NonNegativeFloat
    budget: NonNegativeFloat | None = None
    coordinates: Literal["wgs84", "gcj02"] = "wgs84"
    travel: TravelSettings
    policy: PolicySettings = Field(default_factory=PolicySettings)
    urgent: UrgentSettings = Field(default_factory=UrgentSettings)
    solver: SolverSettings = Field(default_factory=SolverSettings)

"""`scenario.toml`: the scenario's scalar settings, checked by pydantic models.

Every number must be finite and lies in a documented range (:data:`LIMITS_TEXT`); booleans and
integers are strict (``soft = "yes"`` or ``seed = true`` are refused), and floats accept integers
but neither text nor booleans. Text holds no control characters, and nothing is nested deeper
than :data:`MAX_NESTING` (a table nested 2,000 levels deep is one short message, not a
RecursionError while the message is built).
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

# Characters no text of a scenario may hold (names, ids, header names, scenario.toml strings):
# the C0 controls but the tab (ESC starts terminal escape sequences, a line break would forge a
# line of a message or a CSV row), DEL and the C1 controls (U+0080-U+009F; U+009B is a one-byte
# CSI on some terminals). Outputs carry inputs' text, so refusing them here keeps every output
# and terminal clean.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


MAX_MONEY = 1e12          # any amount of money (currency)
MAX_THREADS = 64          # HiGHS threads: more only oversubscribes the machine
MAX_SEED = 2_147_483_647  # HiGHS random_seed is a C int
MAX_TIME_LIMIT = 1e7      # seconds (about 116 days)
MAX_ACCESS_MINUTES = 1e5  # minutes (about 70 days), as urgent_minutes and max_minutes
MAX_NESTING = 8           # tables in tables: the deepest setting has 3 ([policy.min_outreach_days])


def _plain_text(value: str) -> str:
    """Text settings (name, currency, tiers...) carry no control characters (planner/scenario/schema.py
    CONTROL_CHARACTERS): the name reaches terminals and every output."""
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise ValueError(f"holds a control character (\\x{ord(found.group()):02x}); text may "
                         "not contain control characters (escape sequences, line breaks)")
    return value


Text = Annotated[StrictStr, AfterValidator(_plain_text)]


def _too_deep(data) -> tuple[tuple[str, ...], int] | None:
    """(path, depth) of the first value nested deeper than MAX_NESTING tables or lists, found
    without recursion (the input may be nested thousands of levels deep); None if none is."""
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_NESTING:
            depth = len(path)
            while isinstance(value, (dict, list, tuple)) and value:   # measure, iteratively
                value = next(iter(value.values())) if isinstance(value, dict) else value[0]
                depth += 1
            return path, depth
        if isinstance(value, dict):
            stack += [((*path, str(k)), v) for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            stack += [((*path, str(k)), v) for k, v in enumerate(value)]
    return None


def _number(*, gt: float | None = None, ge: float | None = None, le: float,
            description: str = ""):
    """A strict, finite float (TOML integers are accepted) with bounds."""
    return Annotated[float, Strict(), Field(gt=gt, ge=ge, le=le, allow_inf_nan=False,
                                            description=description)]


Money = _number(ge=0, le=MAX_MONEY)
Rate = _number(ge=0, le=1)
Days = _number(ge=0, le=366)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TravelSettings(_Strict):
    speed_kmh: _number(ge=1, le=300) = Field(description="average road speed, km/h (1 to 300)")
    circuity: _number(ge=1, le=5) = Field(
        1.0, description="road distance / great-circle distance (1 to 5)")
    value_per_minute: _number(ge=0, le=1e4) = Field(
        description="currency per patient-minute of the one-way trip (0 to 10,000)")


class PolicySettings(_Strict):
    grassroots_tiers: tuple[Text, ...] = ()
    min_outreach_days: dict[Text, Days] = Field(
        default_factory=dict, description="days per year at each grassroots site (0 to 366)")
    shortfall_cost_factor: _number(ge=0, le=1000) = Field(
        3.0, description="fair-division games: a policy day a coalition cannot staff from its "
        "own pools is bought in at this multiple of the specialty's cost_per_day (0 to 1,000)")
    shortfall_priced_as: Literal["buy-in", "referrals"] = Field(
        "buy-in", description="fair-division games: a missing policy day costs its buy-in "
        "(shortfall_cost_factor x cost_per_day) or the visits it would have served, referred "
        "out (visits_per_day x referral_cost)")


class UrgentSettings(_Strict):
    soft: StrictBool = Field(False, description="price uncovered zones instead of forbidding them")
    penalty_per_zone: Money = Field(
        1.0e7, description="currency per year for each populated zone left without urgent cover "
        "(0 to 1e12)")
    cost_per_late_case: Money = Field(
        0.0, description="currency for each urgent case (cases_per_1000 x population / 1,000 a "
        "year) of a zone left without urgent cover, added to penalty_per_zone wherever coverage "
        "is priced (soft = true, and the coalitions of the fair-division games) (0 to 1e12)")


class EquitySettings(_Strict):
    """Optional equity limits of the cost model (models/allocation.md: access_guarantee,
    min_served_share), keyed by service (an equipment or a specialty)."""

    max_minutes: dict[Text, _number(gt=0, le=MAX_ACCESS_MINUTES)] = Field(
        default_factory=dict, description="service -> every populated zone has a site offering "
        "it within this many minutes (> 0, at most 1e5)")
    min_served_share: dict[Text, Rate] = Field(
        default_factory=dict, description="service -> share of each zone's demand served in "
        "the consortium (0 to 1)")
    penalty_per_zone: Money = Field(
        1.0e7, description="fair-division games: currency per year for each zone and service a "
        "coalition leaves without its access guarantee (0 to 1e12)")
    penalty_per_unit: Money = Field(
        1.0e4, description="fair-division games: currency per unit of demand a coalition serves "
        "below the minimum share (0 to 1e12)")


class SolverSettings(_Strict):
    time_limit: _number(gt=0, le=MAX_TIME_LIMIT) = Field(
        60.0, description="seconds (> 0, at most 1e7)")
    mip_gap: Rate = Field(1.0e-4, description="relative MIP gap (0 to 1)")
    threads: StrictInt = Field(1, ge=1, le=MAX_THREADS, description="HiGHS threads (1 to 64)")
    seed: StrictInt = Field(0, ge=0, le=MAX_SEED,
                            description="HiGHS random seed (0 to 2,147,483,647)")
    presolve: StrictBool = Field(True, description="HiGHS presolve; off can be faster on small "
                                 "models")


class ScenarioSettings(_Strict):
    name: Text
    currency: Text = "CNY"
    discount_rate: Rate = Field(description="annual discount rate (0 to 1)")
    budget: Money | None = Field(None, description="capital budget (0 to 1e12)")
    coordinates: Literal["wgs84", "gcj02"] = "wgs84"
    travel: TravelSettings
    policy: PolicySettings = Field(default_factory=PolicySettings)
    urgent: UrgentSettings = Field(default_factory=UrgentSettings)
    equity: EquitySettings = Field(default_factory=EquitySettings)
    solver: SolverSettings = Field(default_factory=SolverSettings)

    @model_validator(mode="before")
    @classmethod
    def _not_nested_too_deeply(cls, data):
        """Refuse a value nested deeper than MAX_NESTING with a short error: pydantic's own
        errors carry the input, and printing one nested 2,000 levels deep recurses too far."""
        found = _too_deep(data)
        if found is None:
            return data
        path, depth = found
        shown = (*path[:4], "...") if len(path) > 4 else path
        raise ValidationError.from_exception_data(cls.__name__, [InitErrorDetails(
            type=PydanticCustomError(
                "too_deep", "nested {depth} levels deep; no setting is nested more than 3 "
                "levels ([policy.min_outreach_days] neurology = 5): remove this key",
                {"depth": depth}),
            loc=shown, input=f"{depth} levels")])


LIMITS_TEXT = """\
| setting | allowed |
| --- | --- |
| `discount_rate` | 0 to 1 |
| `budget` | 0 to 1e12 |
| `[travel] speed_kmh` | 1 to 300 km/h |
| `[travel] circuity` | 1 to 5 |
| `[travel] value_per_minute` | 0 to 10,000 |
| `[policy.min_outreach_days]` | 0 to 366 days per site |
| `[policy] shortfall_cost_factor` | 0 to 1,000 |
| `[urgent] soft` | true or false |
| `[policy] shortfall_priced_as` | "buy-in" or "referrals" |
| `[urgent] penalty_per_zone` | 0 to 1e12 |
| `[urgent] cost_per_late_case` | 0 to 1e12 |
| `[equity.max_minutes]` | > 0, at most 1e5 minutes per service |
| `[equity.min_served_share]` | 0 to 1 per service |
| `[equity] penalty_per_zone` | 0 to 1e12 |
| `[equity] penalty_per_unit` | 0 to 1e12 |
| `[solver] time_limit` | > 0, at most 1e7 seconds |
| `[solver] mip_gap` | 0 to 1 |
| `[solver] threads` | whole number, 1 to 64 |
| `[solver] seed` | whole number, 0 to 2,147,483,647 |
| `[solver] presolve` | true or false |

Numbers must be finite (no `inf`, `nan`); `true`/`false` must be TOML booleans, not text."""

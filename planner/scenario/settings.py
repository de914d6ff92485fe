"""`scenario.toml`: the scenario's scalar settings, checked by pydantic models.

The model below is the one declaration of every setting: its bounds, unit, meaning and flat name
(:data:`SETTINGS`, read off the model's JSON schema) give the limits of the column reference
(:data:`LIMITS_TEXT`), the range checks of the CLI flags (:func:`setting`) and the flat names of
``Scenario.with_`` (planner/scenario/loading.py SETTING_PATHS).

Every number must be finite and lies in a documented range (:data:`LIMITS_TEXT`); booleans and
integers are strict (``soft = "yes"`` or ``seed = true`` are refused), and floats accept integers
but neither text nor booleans. Text holds no control characters, and nothing is nested deeper
than :data:`MAX_NESTING` (a table nested 2,000 levels deep is one short message, not a
RecursionError while the message is built).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)
from pydantic.fields import FieldInfo
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
MAX_AGGREGATE_ZONES = 200_000   # [solver] aggregate_zones: the zones a scenario may hold
MAX_ACCESS_MINUTES = 1e5  # minutes (about 70 days), as urgent_minutes and max_minutes
MAX_READS = 1e9           # reads per radiologist a year
MAX_NESTING = 8           # tables in tables: the deepest setting has 3 ([policy.min_outreach_days])


def _plain_text(value: str) -> str:
    """Text settings (name, currency, tiers...) carry no control characters
    (CONTROL_CHARACTERS): the name reaches terminals and every output."""
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise ValueError(f"holds a control character (\\x{ord(found.group()):02x}); text may "
                         "not contain control characters (escape sequences, line breaks)")
    return value


Text = Annotated[StrictStr, AfterValidator(_plain_text)]


def _too_deep(data) -> tuple[tuple[str, ...], int] | None:
    """(path, depth) of the first value nested deeper than MAX_NESTING tables or lists, found
    without recursion (the input may be nested thousands of levels deep); None if none is."""
    stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
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


def _within(*, gt: float | None = None, ge: float | None = None, le: float) -> FieldInfo:
    """The bounds of a finite number, as the metadata of ``Annotated[StrictFloat, ...]``: a
    strict, finite float (TOML integers are accepted) in this range. (Metadata rather than a
    function returning the whole type: a type checker reads a call only inside Annotated.)"""
    return Field(gt=gt, ge=ge, le=le, allow_inf_nan=False)


def _unit(unit: str) -> dict:
    """The unit of a setting as the column reference shows it after its range (e.g. "km/h",
    "days per site")."""
    return {"unit": unit}


def _flat_name(name: str | None) -> dict:
    """The name of a setting for ``Scenario.with_`` when it is not the setting's own name (two
    sections hold a `penalty_per_zone`), or None: ``with_`` cannot change it."""
    return {"flat_name": name}


Money = Annotated[StrictFloat, _within(ge=0, le=MAX_MONEY)]
Rate = Annotated[StrictFloat, _within(ge=0, le=1)]
Days = Annotated[StrictFloat, _within(ge=0, le=366)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TravelSettings(_Strict):
    speed_kmh: Annotated[StrictFloat, _within(ge=1, le=300)] = Field(
        description="average road speed", json_schema_extra=_unit("km/h"))
    circuity: Annotated[StrictFloat, _within(ge=1, le=5)] = Field(
        default=1.0, description="road distance / great-circle distance")
    value_per_minute: Annotated[StrictFloat, _within(ge=0, le=1e4)] = Field(
        description="currency per patient-minute of the one-way trip")


class PolicySettings(_Strict):
    grassroots_tiers: tuple[Text, ...] = Field(
        default=(), description="the site tiers that count as grassroots sites")
    min_outreach_days: dict[Text, Days] = Field(
        default_factory=dict, description="specialty -> outreach days per year at each "
        "grassroots site", json_schema_extra=_unit("days per site"))
    shortfall_cost_factor: Annotated[StrictFloat, _within(ge=0, le=1000)] = Field(
        default=3.0,
        description="fair-division games: a policy day a coalition cannot staff from its "
        "own pools is bought in at this multiple of the specialty's cost_per_day")
    shortfall_priced_as: Literal["buy-in", "referrals"] = Field(
        default="buy-in", description="fair-division games: a missing policy day costs its buy-in "
        "(shortfall_cost_factor x cost_per_day) or the visits it would have served, referred "
        "out (visits_per_day x referral_cost)")


class UrgentSettings(_Strict):
    soft: StrictBool = Field(
        default=False, description="price uncovered zones instead of forbidding them",
        json_schema_extra=_flat_name("urgent_soft"))
    penalty_per_zone: Money = Field(
        default=1.0e7,
        description="currency per year for each populated zone left without urgent cover")
    cost_per_late_case: Money = Field(
        default=0.0,
        description="currency for each urgent case (cases_per_1000 x population / 1,000 a "
        "year) of a zone left without urgent cover, added to penalty_per_zone wherever coverage "
        "is priced (soft = true, and the coalitions of the fair-division games)")


class EquitySettings(_Strict):
    """Optional equity limits of the cost model (models/allocation.md: access_guarantee,
    min_served_share), keyed by service (an equipment or a specialty)."""

    max_minutes: dict[Text, Annotated[StrictFloat, _within(gt=0, le=MAX_ACCESS_MINUTES)]] = Field(
        default_factory=dict, description="service -> every populated zone has a site offering "
        "it within this many minutes", json_schema_extra={**_unit("minutes per service"),
                                                          **_flat_name("equity_max_minutes")})
    min_served_share: dict[Text, Rate] = Field(
        default_factory=dict, description="service -> share of each zone's demand served in "
        "the consortium", json_schema_extra=_unit("per service"))
    penalty_per_zone: Money = Field(
        default=1.0e7,
        description="fair-division games: currency per year for each zone and service a "
        "coalition leaves without its access guarantee",
        json_schema_extra=_flat_name("equity_penalty_per_zone"))
    penalty_per_unit: Money = Field(
        default=1.0e4,
        description="fair-division games: currency per unit of demand a coalition serves "
        "below the minimum share")


class TierSettings(_Strict):
    """Tier targets of the commission (docs/design.md section 8, models/allocation.md:
    min_in_county_share, min_grassroots_share), keyed by service (an equipment or a specialty):
    hard constraints of the plan."""

    min_in_county_share: dict[Text, Rate] = Field(
        default_factory=dict, description="service -> least share of the county's demand "
        "served in the consortium (not referred out)", json_schema_extra=_unit("per service"))
    min_grassroots_share: dict[Text, Rate] = Field(
        default_factory=dict, description="service -> least share of the county's demand "
        "served at sites of the [policy] grassroots_tiers", json_schema_extra=_unit("per service"))


class FundSettings(_Strict):
    """The prepaid resident insurance fund (docs/design.md section 8, "The fund."): a scenario
    with [fund] gets fund accounts in every plan; without it, none. Prices are accounts, not
    costs: nothing here changes the objective."""

    capitation: Money = Field(
        description="what the fund prepays the consortium per insured resident a year",
        json_schema_extra=_unit("per insured resident a year"))
    insured_share: Rate = Field(
        default=1.0, description="share of the residents insured by the fund (the capitation "
        "and the reimbursed share of every price count only them)")
    other_spending: Money = Field(
        default=0.0, description="the fund's yearly spending on care the model does not plan "
        "(in-patient stays, drugs...), subtracted from the surplus",
        json_schema_extra=_unit("per year"))
    reimbursement: dict[Text, Rate] = Field(
        description="site tier -> share of the price the fund pays; every tier of sites.csv "
        "and the key `outside` (care referred out of the consortium) are required",
        json_schema_extra=_unit("per tier"))
    lead_member: Text | None = Field(
        default=None, description="the member (members.csv) that receives surplus_to_lead of "
        "the surplus (fair division)")
    surplus_to_lead: Rate = Field(
        default=0.0, description="share of the surplus that goes to lead_member (0.6 in "
        "Tianchang)")
    surplus_rule: Literal["policy", "allocation"] = Field(
        default="policy", description="how the rest of the surplus is split in fair division: "
        "by the fund payments each member received (policy) or by its allocation")


class ReadingSettings(_Strict):
    """Central image reading (docs/design.md section 9, models/allocation.md: reading_overflow,
    reading_capacity): every exam needs one read, done by the site's own radiologists (resource
    `radiologists`) or at the reading centres, which may hire. Absent: reads are not
    modelled."""

    reads_per_radiologist: Annotated[StrictFloat, _within(gt=0, le=MAX_READS)] = Field(
        description="reads one radiologist (FTE) does in a year",
        json_schema_extra=_unit("reads per FTE a year"))
    radiologist_cost: Money = Field(
        description="what one radiologist hired at a reading centre costs a year",
        json_schema_extra=_unit("per FTE a year"))
    centres: tuple[Text, ...] = Field(
        min_length=1, description="the sites (sites.csv) of the regional reading centre(s), "
        "which read the exams other sites cannot read themselves")


class SolverSettings(_Strict):
    time_limit: Annotated[StrictFloat, _within(gt=0, le=MAX_TIME_LIMIT)] = Field(
        default=60.0,
        description="HiGHS time limit of one solve", json_schema_extra=_unit("seconds"))
    mip_gap: Rate = Field(default=1.0e-4, description="relative MIP gap")
    threads: StrictInt = Field(default=1, ge=1, le=MAX_THREADS, description="HiGHS threads")
    seed: StrictInt = Field(default=0, ge=0, le=MAX_SEED, description="HiGHS random seed")
    presolve: StrictBool = Field(
        default=True, description="HiGHS presolve; off can be faster on small models")
    construction_start: StrictBool | None = Field(
        default=None, description="start HiGHS from a greedy plan of the equipment "
        "(planner/model/start.py); default: on for models of 100,000 arcs or more")
    aggregate_zones: StrictInt | None = Field(
        default=None, ge=1, le=MAX_AGGREGATE_ZONES,
        description="plan on at most this many representative zones, each standing for "
        "nearby zones of its home member, with the error bound reported "
        "(planner/model/aggregate.py, models/aggregation.md); default: every zone")


class ScenarioSettings(_Strict):
    name: Text = Field(description="the scenario's name, shown in every output")
    currency: Text = Field(default="CNY", description="the currency of every amount")
    discount_rate: Rate = Field(description="annual discount rate")
    budget: Money | None = Field(
        default=None, description="capital budget (default: the sum of the members' "
        "budget_contribution)")
    # once loaded, the tables are held in WGS-84: a variant cannot change their datum
    coordinates: Literal["wgs84", "gcj02"] = Field(
        default="wgs84",
        description="the datum of the tables' lon/lat (gcj02: converted to WGS-84 on "
        "loading)", json_schema_extra=_flat_name(None))
    # descriptive: no default of any other setting depends on it (docs/design.md section 9)
    kind: Literal["county", "urban-group", "specialist-alliance", "telemedicine"] = Field(
        default="county",
        description="the kind of consortium (county medical community, urban medical group, "
        "specialist alliance, telemedicine network): shown in summaries, reports and plan.json; "
        "it changes no default")
    travel: TravelSettings
    policy: PolicySettings = Field(default_factory=PolicySettings)
    urgent: UrgentSettings = Field(default_factory=UrgentSettings)
    equity: EquitySettings = Field(default_factory=EquitySettings)
    fund: FundSettings | None = Field(
        default=None, description="the prepaid insurance fund; absent: no fund accounts")
    tiers: TierSettings = Field(default_factory=TierSettings)
    reading: ReadingSettings | None = Field(
        default=None, description="central image reading; absent: reads are not modelled")
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


@dataclass(frozen=True)
class Setting:
    """One leaf setting of scenario.toml as the model above declares it (its JSON schema, so the
    bounds, unit and meaning are the model's own): what the docs, the CLI and ``with_`` read."""

    path: tuple[str, ...]      # ("travel", "speed_kmh"); a table's setting is its own key
    schema: dict               # pydantic's JSON schema of the field

    @property
    def name(self) -> str:
        return self.path[-1]

    @property
    def flat_name(self) -> str | None:
        """Its keyword for ``Scenario.with_`` (its own name unless the model says otherwise)."""
        return self.schema.get("flat_name", self.name)

    @property
    def keyed(self) -> bool:
        """A table of values by key (service or specialty -> value), e.g. [equity.max_minutes]."""
        return self.schema.get("type") == "object"

    @property
    def value(self) -> dict:
        """The schema of one value: of each entry of a table, of the number of an optional one."""
        if self.keyed:
            return self.schema["additionalProperties"]
        given = [s for s in self.schema.get("anyOf", [self.schema]) if s.get("type") != "null"]
        return given[0]

    @property
    def bounds(self) -> tuple[float, float, bool]:
        """(low, high, low_open) of a number: the range a CLI flag of this setting checks."""
        v = self.value
        if v.get("type") not in ("number", "integer"):
            raise ValueError(f"setting {'.'.join(self.path)} is not a number")
        low_open = "exclusiveMinimum" in v
        low = v.get("exclusiveMinimum", v.get("minimum", -math.inf))
        return float(low), float(v.get("maximum", math.inf)), low_open

    def label(self) -> str:
        """As the column reference names it: `budget`, `[travel] speed_kmh`,
        `[equity.max_minutes]`."""
        if self.keyed:
            return f"`[{'.'.join(self.path)}]`"
        if len(self.path) == 1:
            return f"`{self.name}`"
        return f"`[{'.'.join(self.path[:-1])}] {self.name}`"

    def allowed(self) -> str:
        """The values allowed, in words: "0 to 1e12", "> 0, at most 1e7 seconds", "true or
        false"."""
        v = self.value
        if "enum" in v:
            return " or ".join(f'"{x}"' for x in v["enum"])
        kind = v.get("type")
        if kind == "boolean":
            return "true or false"
        if kind == "string":
            return "text"
        if kind == "array":
            return "a list of text"
        low, high, low_open = self.bounds
        text = (f"> {_figure(low)}, at most {_figure(high)}" if low_open
                else f"{_figure(low)} to {_figure(high)}")
        if kind == "integer":
            text = f"whole number, {text}"
        unit = self.schema.get("unit")
        return f"{text} {unit}" if unit else text


def _figure(x: float) -> str:
    """A bound as people write it: 1e12 for large powers of ten, else with thousands commas."""
    if x >= 1e5 and math.log10(x).is_integer():
        return f"1e{int(math.log10(x))}"
    return f"{x:,.0f}" if x == int(x) else f"{x:g}"


def _leaves(schema: dict, defs: dict, path: tuple[str, ...] = ()) -> list[Setting]:
    """The leaf settings of a (section's) schema, sections walked in their declared order."""
    found = []
    for name, field in schema["properties"].items():
        # a section, or an optional one ([fund]: anyOf the section and null)
        ref = field.get("$ref") or next((s["$ref"] for s in field.get("anyOf", [])
                                         if "$ref" in s), None)
        if ref is not None:
            found += _leaves(defs[ref.rsplit("/", 1)[-1]], defs, (*path, name))
        else:
            found.append(Setting((*path, name), field))
    return found


def _settings() -> tuple[Setting, ...]:
    schema = ScenarioSettings.model_json_schema()
    return tuple(_leaves(schema, schema.get("$defs", {})))


SETTINGS = _settings()
"""Every leaf setting of scenario.toml, in the model's order."""


def setting(*path: str) -> Setting:
    """The setting at `path`, e.g. ``setting("solver", "time_limit").bounds``."""
    for s in SETTINGS:
        if s.path == path:
            return s
    raise KeyError(f"no setting {'.'.join(path)}")


def flat_setting_paths() -> dict[str, tuple[str, ...]]:
    """Flat name -> path of every setting ``Scenario.with_`` may change; a name twice is an
    error of the model's declaration (give one a flat_name)."""
    paths: dict[str, tuple[str, ...]] = {}
    for s in SETTINGS:
        if s.flat_name is None:
            continue
        if s.flat_name in paths:
            raise ValueError(f"flat setting name {s.flat_name!r} is both "
                             f"{'.'.join(paths[s.flat_name])} and {'.'.join(s.path)}")
        paths[s.flat_name] = s.path
    return paths


def _limits_text() -> str:
    rows = [f"| {s.label()} | {s.allowed()} | {s.schema.get('description', '')} |"
            for s in SETTINGS]
    return "\n".join(["| setting | allowed | meaning |", "| --- | --- | --- |", *rows, "",
                      "Numbers must be finite (no `inf`, `nan`); `true`/`false` must be TOML "
                      "booleans, not text."])


LIMITS_TEXT = _limits_text()
"""The `scenario.toml` part of the column reference (docs/scenario_columns.md), from SETTINGS."""

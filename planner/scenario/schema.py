"""The scenario input schema, written as data.

Every table of a scenario (docs/design.md section 5) is described here once: its file, its key,
and for each column the type, unit, default and meaning. This one description drives reading
(types and defaults), validation (:mod:`planner.scenario.validate`) and the column reference in
``docs/scenario_columns.md`` (:func:`schema_markdown`), so the three cannot drift apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from planner.scenario.settings import LIMITS_TEXT, MAX_NESTING

Kind = Literal["text", "number", "integer"]


@dataclass(frozen=True)
class Field:
    """One column of a scenario table."""

    name: str
    kind: Kind
    required: bool
    unit: str
    meaning: str
    default: Any = None  # value used when the column or a cell is empty; None: stays missing
    minimum: float | None = None
    maximum: float | None = None
    strictly_positive: bool = False

    def range_text(self) -> str:
        if self.strictly_positive:
            return "> 0" if self.maximum is None else f"> 0 and <= {self.maximum:g}"
        if self.minimum is not None and self.maximum is not None:
            if self.maximum > 1000:  # a sanity limit rather than a natural range
                return f">= {self.minimum:g} and <= {self.maximum:g}"
            return f"between {self.minimum:g} and {self.maximum:g}"
        if self.minimum is not None:
            return f">= {self.minimum:g}"
        if self.maximum is not None:
            return f"<= {self.maximum:g}"
        return ""


@dataclass(frozen=True)
class Table:
    """One table of a scenario: a CSV file in a scenario folder or a sheet of a workbook."""

    name: str
    key: tuple[str, ...]
    fields: tuple[Field, ...]
    meaning: str
    required: bool = True

    @property
    def file(self) -> str:
        return f"{self.name}.csv"

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)

    @property
    def required_columns(self) -> list[str]:
        return [f.name for f in self.fields if f.required]


def _text(name: str, meaning: str, required: bool = True, default: Any = None) -> Field:
    return Field(name, "text", required, "", meaning, default)


def _lon(required: bool = True) -> Field:
    return Field("lon", "number", required, "degrees", "longitude", minimum=-180, maximum=180)


def _lat(required: bool = True) -> Field:
    return Field("lat", "number", required, "degrees", "latitude", minimum=-90, maximum=90)


# Upper limits of every number (docs/design.md section 5 leaves them open; these keep every model
# coefficient far inside HiGHS's infinity 1e20 and its numerically comfortable range).
MAX_MONEY = 1e12          # currency: any price, cost or budget contribution
MAX_POPULATION = 1e9      # residents of one zone
MAX_CAPACITY = 1e9        # exams or visits per unit / year, resources held
MAX_MINUTES = 1e5         # minutes (about 70 days)
MAX_RATE = 1e5            # cases per 1,000 residents per year
MAX_PER_CASE = 1e4        # exams or visits per case
MAX_COEFFICIENT = 1e13    # derived coefficients (demand, annual capex, budget) are checked too
MAX_SITE_DEMAND = 1e7     # site-bound exams a year at one site (the largest hospitals do ~1e6)

# Size limits, checked before anything large is allocated.
MAX_ZONES = 200_000
MAX_SITES = 5_000
MAX_ZONE_SITE_PAIRS = 20_000_000  # zones x sites: the travel-time matrix (160 MB of floats)
MAX_ROWS = 1_000_000              # rows of any other table
MAX_FILE_BYTES = 256 * 1024 ** 2  # one input file (256 MB)
# A site farther than this from the box of the zones' coordinates, and farther than the box's
# own diagonal, is a mistake in its coordinates (a sign, swapped lon/lat, another datum...).
SITE_REACH_KM = 200.0



def _money(name: str, meaning: str, required: bool = True, default: Any = None) -> Field:
    return Field(name, "number", required, "currency", meaning, default, minimum=0,
                 maximum=MAX_MONEY)


INFINITE = math.inf

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "members",
            key=("member",),
            meaning="The consortium's members (the players of the fair-division stage).",
            fields=(
                _text("member", "member id"),
                _text("name", "display name"),
                _money(
                    "budget_contribution",
                    "capital the member brings to the plan's budget (new units + relocations)",
                    required=False,
                    default=0.0,
                ),
                Field("quality_score", "number", False, "0-1", "service quality score, used by "
                      "weighted sharing rules", minimum=0, maximum=1),
            ),
        ),
        Table(
            "sites",
            key=("site_id",),
            meaning="Places that can hold equipment and host specialist days.",
            fields=(
                _text("site_id", "site id"),
                _text("name", "display name"),
                _text("member", "the member that owns the site (members.csv)"),
                _text("tier", "tier, e.g. county or township; drives allowed_tiers and policy"),
                _lon(),
                _lat(),
                _money("capital_limit", "optional cap on capital spent at this site (new units "
                       "+ relocations in)", required=False, default=INFINITE),
            ),
        ),
        Table(
            "zones",
            key=("zone_id",),
            meaning="Demand zones (villages, communities): where residents live.",
            fields=(
                _text("zone_id", "zone id"),
                _lon(),
                _lat(),
                Field("population", "number", True, "residents", "resident population", minimum=0,
                      maximum=MAX_POPULATION),
                _text("name", "display name", required=False),
                _text("home_member", "member that owns the zone's demand; default: the member of "
                      "the nearest grassroots site", required=False),
            ),
        ),
        Table(
            "conditions",
            key=("condition",),
            meaning="The disease spectrum.",
            fields=(
                _text("condition", "condition id"),
                Field("cases_per_1000", "number", True, "cases / 1,000 residents / year",
                      "annual cases per 1,000 residents", minimum=0, maximum=MAX_RATE),
                _text("urgent_service", "equipment that must be reachable within urgent_minutes",
                      required=False),
                Field("urgent_minutes", "number", False, "minutes", "travel-time limit of the "
                      "urgent service", strictly_positive=True, maximum=MAX_MINUTES),
            ),
        ),
        Table(
            "condition_services",
            key=("condition", "service"),
            meaning="Units of each service (exams, specialist visits) per case of a condition.",
            fields=(
                _text("condition", "condition (conditions.csv)"),
                _text("service", "an equipment (equipment.csv) or a specialty (specialties.csv)"),
                Field("units_per_case", "number", True, "units / case", "exams or visits per case",
                      minimum=0, maximum=MAX_PER_CASE),
            ),
        ),
        Table(
            "equipment",
            key=("equipment",),
            meaning="The imaging catalogue (CT, MRI, ...).",
            fields=(
                _text("equipment", "equipment id, e.g. CT"),
                _money("capex", "purchase price of one new unit"),
                Field("lifetime_years", "number", True, "years", "economic lifetime (annuity)",
                      minimum=0.5, maximum=100),
                _money("opex_per_year", "annual operating cost of one unit in service"),
                Field("capacity_per_year", "number", True, "exams / unit / year",
                      "exams one unit performs per year at full use", strictly_positive=True,
                      maximum=MAX_CAPACITY),
                _money("referral_cost", "cost of one exam referred out of the consortium"),
                Field("max_utilization", "number", False, "share", "usable share of capacity",
                      default=1.0, minimum=0, maximum=1),
                _money("cost_per_exam", "variable cost of one exam", required=False, default=0.0),
                _text("allowed_tiers", "`;`-separated tiers where new or relocated units may go; "
                      "`none`: nowhere; default: every tier", required=False),
                Field("max_per_site", "integer", False, "units", "most units in service at one "
                      "site", default=INFINITE, minimum=0, maximum=1e6),
                Field("max_minutes", "number", False, "minutes", "access limit: longer trips are "
                      "not eligible", default=INFINITE, strictly_positive=True,
                      maximum=MAX_MINUTES),
                _money("relocation_cost", "cost of moving one existing unit; empty: units of "
                       "this equipment do not move", required=False),
                _money("price_per_exam", "what one exam in the consortium is billed (fund + "
                       "patient; fund accounts only, never a cost); prices.csv overrides it "
                       "by tier", required=False, default=0.0),
                _money("outside_price", "what one exam referred out of the consortium is "
                       "billed (fund accounts only)", required=False, default=0.0),
            ),
        ),
        Table(
            "specialties",
            key=("specialty",),
            meaning="Specialties served by outreach days and in-house clinics.",
            fields=(
                _text("specialty", "specialty id, e.g. cardiology"),
                Field("visits_per_day", "number", True, "visits / day",
                      "visits one specialist day serves", strictly_positive=True,
                      maximum=MAX_CAPACITY),
                _money("cost_per_day", "cost of one outreach (specialist) day"),
                _money("referral_cost", "cost of one visit referred out of the consortium"),
                Field("max_minutes", "number", False, "minutes", "access limit", default=INFINITE,
                      strictly_positive=True, maximum=MAX_MINUTES),
                _money("price_per_visit", "what one visit in the consortium is billed (fund + "
                       "patient; fund accounts only, never a cost); prices.csv overrides it "
                       "by tier", required=False, default=0.0),
                _money("outside_price", "what one visit referred out of the consortium is "
                       "billed (fund accounts only)", required=False, default=0.0),
            ),
        ),
        Table(
            "resources",
            key=("site_id", "resource"),
            meaning="What sites hold today: `CT` (existing units), `<specialty>.outreach_days` "
            "(a pool of outreach days), `<specialty>.clinic_visits` (in-house clinic capacity), "
            "`radiologists` (FTE reading scans, whole or half: 0.5 steps; used with [reading]).",
            required=False,
            fields=(
                _text("site_id", "site (sites.csv)"),
                _text("resource", "`<equipment>`, `<specialty>.outreach_days`, "
                      "`<specialty>.clinic_visits` or `radiologists`"),
                Field("amount", "number", True, "units, days or visits / year", "amount held",
                      minimum=0, maximum=MAX_CAPACITY),
            ),
        ),
        Table(
            "travel",
            key=("zone_id", "site_id"),
            meaning="Travel minutes that override the computed ones, pair by pair.",
            required=False,
            fields=(
                _text("zone_id", "zone (zones.csv)"),
                _text("site_id", "site (sites.csv)"),
                Field("minutes", "number", True, "minutes", "one-way travel time", minimum=0,
                      maximum=MAX_MINUTES),
            ),
        ),
        Table(
            "zone_conditions",
            key=("zone_id", "condition"),
            meaning="Zone-level overrides of a condition's rate (extension of docs/design.md).",
            required=False,
            fields=(
                _text("zone_id", "zone (zones.csv)"),
                _text("condition", "condition (conditions.csv)"),
                Field("cases_per_1000", "number", True, "cases / 1,000 residents / year",
                      "the zone's own rate", minimum=0, maximum=MAX_RATE),
            ),
        ),
        Table(
            "site_demand",
            key=("site_id", "service"),
            meaning="Site-bound demand (docs/design.md section 9): exams that arise at a site "
            "(in-patients, emergencies) and are served there only. They count in the site's "
            "equipment capacity and cost `cost_per_exam`; they never travel and are never "
            "referred out, so the site must keep enough units of the equipment for them.",
            required=False,
            fields=(
                _text("site_id", "site (sites.csv)"),
                _text("service", "an equipment (equipment.csv); not a specialty"),
                Field("units_per_year", "number", True, "exams / year", "exams a year that "
                      "arise and are served at the site", minimum=0, maximum=MAX_SITE_DEMAND),
            ),
        ),
        Table(
            "prices",
            key=("service", "tier"),
            meaning="Prices by tier (docs/design.md section 8): what one exam or visit of "
            "`service` is billed at sites of `tier`, overriding price_per_exam "
            "(equipment.csv) or price_per_visit (specialties.csv) there. Fund accounts only "
            "(with `[fund]`); prices never change the plan.",
            required=False,
            fields=(
                _text("service", "an equipment (equipment.csv) or a specialty (specialties.csv)"),
                _text("tier", "a tier of sites.csv"),
                _money("price", "what one exam or visit is billed at sites of this tier"),
            ),
        ),
        Table(
            "implemented",
            key=("decision", "site_id", "resource", "from_site", "limit"),
            meaning="Decisions already made or committed (docs/design.md section 7), with the "
            "columns of a plan's `decisions.csv`: copy rows of a plan's decisions.csv here to "
            "keep them. Each row bounds one decision of the plan: at least `amount` "
            "(`limit` at_least, the default), or at most `amount` (`limit` at_most: 0 forbids "
            "the decision; a `relocated` at_most row with an empty site_id caps every move "
            "of `resource` out of from_site, e.g. never move the People's Hospital's CTs).",
            required=False,
            fields=(
                _text("decision", "`new_units`, `relocated`, `outreach_days` or "
                      "`hired_radiologists`"),
                _text("site_id", "the site of the decision (for `relocated`: where the units "
                      "go); may be empty only in a `relocated` at_most row", required=False),
                _text("resource", "an equipment (new_units, relocated), a specialty "
                      "(outreach_days) or `radiologists` (hired_radiologists)"),
                _text("from_site", "`relocated` only: the site the units come from",
                      required=False),
                Field("amount", "integer", True, "units or days", "the bound: units bought, "
                      "units moved or outreach days a year", minimum=0, maximum=1e6),
                _text("limit", "`at_least` (default: a commitment, amount is a lower bound) or "
                      "`at_most` (amount is an upper bound; 0 forbids the decision)",
                      required=False, default="at_least"),
            ),
        ),
    )
}

DECISION_COLUMNS = ["decision", "site_id", "resource", "from_site", "amount"]
# their order in decisions.csv; hired_radiologists: FTE hired at a [reading] centre (section 9)
DECISIONS = ("new_units", "relocated", "outreach_days", "hired_radiologists")


def schema_markdown() -> str:
    """The column reference of every table, as Markdown (written to docs/scenario.md)."""
    lines: list[str] = []
    for table in TABLES.values():
        need = "required" if table.required else "optional"
        lines += [f"### `{table.file}` ({need})", "", table.meaning, "",
                  "| column | required | type | unit | default | allowed | meaning |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for f in table.fields:
            default = "" if f.default is None else ("none (unlimited)" if f.default == INFINITE
                                                     else f"{f.default}")
            lines.append(f"| `{f.name}` | {'yes' if f.required else 'no'} | {f.kind} | {f.unit} "
                         f"| {default} | {f.range_text()} | {f.meaning} |")
        lines.append("")
    lines += boundary_markdown()
    lines += limits_markdown()
    return "\n".join(lines)


BOUNDARY_FILE = "boundary.geojson"   # the optional outline of a scenario (scenario/boundary.py)


def boundary_markdown() -> list[str]:
    """The file's section of the column reference (docs/scenario_columns.md)."""
    return [
        f"### `{BOUNDARY_FILE}` (optional)", "",
        ("The outline of the area (e.g. the county's boundary), drawn on the report's map and by "
         "`plan.explore()`; it never changes a plan. GeoJSON (RFC 7946): a `Polygon` or "
         "`MultiPolygon` geometry, a `Feature` holding one, or a `FeatureCollection` of such "
         "Features. Positions are `[longitude, latitude]` in WGS-84 whatever `coordinates` says "
         "in `scenario.toml` (that key applies to the tables; GeoJSON is WGS-84 by definition), "
         "so convert a GCJ-02 outline first, as `data/build_tianchang.py` does for the default "
         "scenario. Rings are closed (the last position repeats the first) and have at least 4 "
         "positions; longitudes lie within -180 to 180 and latitudes within -90 to 90. Only a "
         "scenario folder holds one (a workbook has no place for it). `Scenario.save` writes it "
         "back (compact JSON) and every plan folder carries a copy, which `planner report` "
         "draws. A file that is not such GeoJSON is refused (exit 2) with its name."), "",
    ]


def limits_markdown() -> list[str]:
    """The limits every scenario must respect (numbers, derived coefficients, sizes, files, text
    and ids, places)."""
    return [
        "### Limits", "",
        ("Every number must be a finite plain number (no `inf`, `nan`, or `1e308`) inside the "
         "range given in the tables above. The planner refuses a scenario outside these limits "
         "with a message naming the file, column and row, before anything is solved."), "",
        "#### `scenario.toml`", "", LIMITS_TEXT, "",
        "#### Derived coefficients", "",
        (f"Annual demand of a zone for a service (population / 1000 x cases_per_1000 x "
         f"units_per_case, summed over conditions) and the capital budget (the sum of "
         f"`budget_contribution`, or `budget`) must be at most {MAX_COEFFICIENT:g}, so that "
         "every coefficient of the model stays well inside the solver's numerical range. A "
         "scenario must have some demand: at least one zone with population > 0."), "",
        "#### Size", "",
        (f"* at most {MAX_ZONES:,} zones and {MAX_SITES:,} sites, and at most "
         f"{MAX_ZONE_SITE_PAIRS:,} zone-site pairs (zones x sites);"),
        f"* at most {MAX_ROWS:,} rows in any other table;",
        (f"* each input file at most {MAX_FILE_BYTES // 1024 ** 2} MB, a regular file (not a "
         "folder, pipe or device), readable, and UTF-8 text (a byte-order mark is accepted)."),
        "",
        "#### Files", "",
        "* a CSV header names each column once (names are compared without surrounding spaces);",
        ("* every row has as many fields as the header (a trailing empty cell still needs its "
         "comma);"),
        ("* an unknown column close to a known one (`max_utilisation` for `max_utilization`) is "
         "refused as a probable misspelling; other extra columns (notes, sources) are kept;"),
        ("* in a workbook, a formula cell needs a saved value (open and save the workbook in "
         "Excel); the `scenario` sheet has two columns, key and value, each key once;"),
        (f"* no setting is nested more than {MAX_NESTING} tables deep (the deepest real one has "
         "3: `[policy.min_outreach_days]` `neurology = 5`)."), "",
        "#### Text and ids", "",
        ("* no text (a cell of a text column or of an extra column, a header name, a "
         "`scenario.toml` string) holds a control character: escape sequences (ESC, and the "
         "one-character CSI U+009B), line breaks, bells, DEL and the other C0/C1 controls are "
         "refused, with the text shown escaped (`\\x1b[31m`); a tab is allowed;"),
        ("* the ids of `members`, `sites`, `zones`, `conditions`, `equipment` and `specialties` "
         "are unique ignoring upper/lower case (`CT` and `ct` would be one column of the plan's "
         "GeoPackage, whose column names ignore case), and so are the service names (an "
         "equipment and a specialty may not be `MRI` and `mri`)."), "",
        "#### Places", "",
        (f"* every site lies within {SITE_REACH_KM:g} km of the box of the zones' coordinates "
         "(their lowest to highest lon and lat), or within the box's diagonal when the zones "
         "span more: a referral hospital in the next city is fine, a site thousands of "
         "kilometres away is a mistake in its coordinates (a sign, lon and lat swapped: the "
         "message says when swapping them would place the site);"),
        ("* with `coordinates = \"gcj02\"` every site and zone lies inside China (lon 72.004 to "
         "137.8347, lat 0.8293 to 55.8271), where GCJ-02 is defined;"),
        ("* a condition with `urgent_minutes` names its `urgent_service` (and the other way "
         "round)."), "",
    ]


if __name__ == "__main__":  # python -m planner.scenario.schema > docs/scenario_columns.md
    print(schema_markdown())

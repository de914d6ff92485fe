"""Validation of scenario tables, before any model is built.

Two passes, both collecting every problem before raising one :class:`ScenarioError`:

1. per table (:func:`typed_table`): required columns, numbers that are not numbers or not finite,
   empty required cells, ranges and duplicate keys; types, ranges and uniqueness are checked by a
   pandera schema generated from :mod:`planner.scenario.schema`;
   text cells and header names hold no control characters (escape sequences, line breaks: they
   would reach terminals and output files); ids are unique ignoring case (outputs such as the
   GeoPackage's column names cannot tell `CT` from `ct`);
2. across tables (:func:`check_references`): every id that points elsewhere exists (a site's
   member, a zone's home member, a resource's site, a service named in `condition_services.csv`,
   an urgent service), resource names parse, tiers and policy specialties exist; and the places
   make sense (:func:`check_locations`): no site far outside the area of the zones, no GCJ-02
   point outside China.
"""

from __future__ import annotations

import difflib
import math
import warnings

import numpy as np
import pandas as pd
import pandera.pandas as pa

from planner.errors import ProblemList, ScenarioWarning
from planner.scenario.geo import box_diagonal_km, box_of, distance_to_box_km, gcj02_defined
from planner.scenario.schema import (
    DECISIONS,
    MAX_COEFFICIENT,
    MAX_ROWS,
    MAX_SITES,
    MAX_ZONE_SITE_PAIRS,
    MAX_ZONES,
    SITE_REACH_KM,
    Field,
    Table,
)
from planner.scenario.settings import CONTROL_CHARACTERS, ScenarioSettings

HEADER_ROWS = 2  # a DataFrame's row 0 is spreadsheet row 2 (the header is row 1)


def _rows(index) -> list[int]:
    return [int(i) + HEADER_ROWS for i in index]


def _coerce_numbers(raw: pd.DataFrame, table: Table, problems: ProblemList, where: str
                    ) -> tuple[dict, set]:
    """Turn the text cells of number columns into floats; report what is not a finite number.

    Returns the columns and the (column, index) cells already reported, so that the schema
    check does not report them a second time as empty.
    """
    columns, reported = {}, set()
    for f in table.fields:
        if f.name not in raw.columns:
            continue
        text = raw[f.name]
        if f.kind == "text":
            columns[f.name] = text.astype("object").where(text.notna(), None)
            continue
        numbers = pd.to_numeric(text, errors="coerce").astype(float)
        not_number = text.notna() & numbers.isna()
        if not_number.any():
            bad = text[not_number].iloc[0]
            problems.add(where, f"'{bad}' is not a number; write a plain number ({f.unit}).",
                         f.name, _rows(text.index[not_number]))
        infinite = numbers.notna() & ~np.isfinite(numbers)
        if infinite.any():
            problems.add(where, "numbers must be finite; leave the cell empty for the default.",
                         f.name, _rows(text.index[infinite]))
            numbers[infinite] = np.nan
        reported |= {(f.name, i) for i in text.index[not_number | infinite]}
        if f.kind == "integer":
            fractional = numbers.notna() & (numbers != np.round(numbers))
            if fractional.any():
                problems.add(where, "must be a whole number.", f.name,
                             _rows(text.index[fractional]))
        columns[f.name] = numbers
    return columns, reported


def _pandera_schema(table: Table) -> pa.DataFrameSchema:
    checks_by_field = {}
    for f in table.fields:
        checks = []
        if f.strictly_positive:
            checks.append(pa.Check.gt(0))
        elif f.minimum is not None:
            checks.append(pa.Check.ge(f.minimum))
        if f.maximum is not None:
            checks.append(pa.Check.le(f.maximum))
        checks_by_field[f.name] = pa.Column(
            object if f.kind == "text" else float,
            checks=checks or None,
            nullable=not f.required,
            required=False,
        )
    return pa.DataFrameSchema(checks_by_field, unique=list(table.key), report_duplicates="all")


def _describe_failure(f: Field, check: str) -> str:
    if check == "not_nullable":
        return "is empty; this column is required."
    if check == "multiple_fields_uniqueness" or check == "field_uniqueness":
        return "duplicate id."
    return f"out of range: must be {f.range_text()} ({f.unit})." if f.unit else \
        f"out of range: must be {f.range_text()}."


def _close_match(name: str, candidates: list[str]) -> str | None:
    """The known column a header name probably misspells (case and `_`/space/`-` ignored)."""
    def fold(text: str) -> str:
        return text.casefold().replace(" ", "_").replace("-", "_")
    by_fold = {fold(c): c for c in candidates}
    if fold(name) in by_fold:
        return by_fold[fold(name)]
    found = difflib.get_close_matches(fold(name), list(by_fold), n=1, cutoff=0.8)
    return by_fold[found[0]] if found else None


def _check_column_names(raw: pd.DataFrame, table: Table, problems: ProblemList, where: str
                        ) -> dict[str, str]:
    """Unknown header names close to a known column: an error when that column is absent (a
    misspelling would silently drop the column, e.g. `max_utilisation`), a ScenarioWarning when
    it is present too. Returns {missing column: the header name that probably means it}."""
    known = [f.name for f in table.fields]
    absent = [c for c in known if c not in raw.columns]
    guesses = {}
    for column in raw.columns:
        if column in known:
            continue
        match = _close_match(str(column), absent)
        if match is not None:
            guesses[match] = column
            if table.field(match).required:
                continue  # reported with the missing required column
            problems.add(where, f"unknown column '{column}': did you mean '{match}'? Rename "
                         f"it to '{match}' (as written it would be ignored and "
                         f"{match} would take its default).", str(column), [1])
            continue
        match = _close_match(str(column), known)
        if match is not None:
            warnings.warn(f"{where}, column '{column}': not a column of {table.file}; it is "
                          f"kept as a note, but it looks like '{match}', which is also present. "
                          "Rename it if it is not meant as a note.", ScenarioWarning,
                          stacklevel=4)
    return guesses


def _escaped(text: str) -> str:
    """Text with its control characters shown as escapes (ESC -> \\x1b, a line break ->
    \\x0a), so that a message quoting it is one clean line."""
    return CONTROL_CHARACTERS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _control_character(value) -> str | None:
    """The first control character of a text value, shown escaped (None if there is none)."""
    found = CONTROL_CHARACTERS.search(value) if isinstance(value, str) else None
    return _escaped(found.group()) if found else None


def _check_control_characters(raw: pd.DataFrame, table: Table, problems: ProblemList,
                              where: str) -> None:
    """Header names and text cells (text columns and extra columns, which outputs keep) hold no
    control characters: an escape sequence in a name would be obeyed by a terminal or a viewer
    of the output CSVs, a line break would forge lines of a message. A tab is allowed."""
    advice = ("text may not contain control characters (escape sequences, line breaks, "
              "bells...); delete it (a tab is allowed).")
    for column in raw.columns:
        found = _control_character(column)
        if found:
            problems.add(where, f"the header name '{_escaped(str(column))}' holds a control "
                         f"character ({found}); {advice}", _escaped(str(column)), [1])
            continue
        numeric = column in {f.name for f in table.fields if f.kind != "text"}
        if numeric:   # a number column reports such a cell as not a number
            continue
        hits = raw[column].map(_control_character)
        bad = hits.notna()
        if bad.any():
            first = raw[column][bad].iloc[0]
            problems.add(where, f"'{_escaped(str(first))}' holds a control character "
                         f"({hits[bad].iloc[0]}); {advice}", str(column),
                         _rows(raw.index[bad]))


def _check_case_twins(typed: pd.DataFrame, table: Table, problems: ProblemList,
                      where: str) -> None:
    """Ids of a one-column key are unique ignoring case: `CT` and `ct` would be one column name
    in the plan's GeoPackage (and one file on case-insensitive disks). (Exact duplicates are
    reported by the schema check.)"""
    if len(table.key) != 1 or table.key[0] not in typed.columns:
        return
    ids = typed[table.key[0]]
    text = ids[ids.map(lambda v: isinstance(v, str))]
    for _, group in text.groupby(text.str.casefold(), sort=False):
        spellings = list(dict.fromkeys(group))
        if len(spellings) > 1:
            shown = " and ".join(f"'{v}'" for v in spellings)
            problems.add(where, f"ids {shown} differ only in upper/lower case; outputs "
                         "cannot tell them apart (the plan's GeoPackage ignores case in column "
                         "names): rename one so that each id is unique ignoring case.",
                         table.key[0], _rows(group.index))


def typed_table(raw: pd.DataFrame, table: Table, problems: ProblemList, where: str) -> pd.DataFrame:
    """Check one raw (all-text) table and return it typed, with defaults filled in."""
    _check_control_characters(raw, table, problems, where)
    guesses = _check_column_names(raw, table, problems, where)
    missing = [c for c in table.required_columns if c not in raw.columns]
    if missing:
        hints = [f"'{guesses[c]}' should be '{c}'" for c in missing if c in guesses]
        problems.add(where, f"missing required column(s) {', '.join(map(repr, missing))}; "
                     f"the header must name {', '.join(table.required_columns)}"
                     f"{' (' + '; '.join(hints) + ')' if hints else ''}.",
                     ", ".join(missing))
        return pd.DataFrame(columns=[f.name for f in table.fields])
    columns, reported = _coerce_numbers(raw, table, problems, where)
    typed = pd.DataFrame(columns, index=raw.index)
    try:
        _pandera_schema(table).validate(typed, lazy=True)
    except pa.errors.SchemaErrors as err:
        cases = err.failure_cases
        duplicates_reported = False
        for (column, check), group in cases.groupby(["column", "check"], sort=False, dropna=False):
            if check == "multiple_fields_uniqueness":
                if duplicates_reported:  # pandera reports it once per key column
                    continue
                duplicates_reported = True
                key = [c for c in table.key if c in typed.columns]   # optional key columns
                dup = typed.duplicated(key, keep=False)
                shown = ", ".join("" if v is None or v != v else str(v)
                                  for v in typed.loc[dup, key].iloc[0])
                problems.add(where, f"duplicate {' + '.join(key)} '{shown}'; each must "
                             "appear once.", " + ".join(key), _rows(typed.index[dup]))
                continue
            f = table.field(str(column))
            index = pd.to_numeric(group["index"], errors="coerce").dropna().astype(int)
            index = sorted(i for i in index if (f.name, i) not in reported)
            if index:
                problems.add(where, _describe_failure(f, str(check)), f.name, _rows(index))
    _check_case_twins(typed, table, problems, where)
    for f in table.fields:
        if f.name not in typed.columns:
            typed[f.name] = f.default if f.default is not None else (
                None if f.kind == "text" else np.nan)
        elif f.default is not None:
            typed[f.name] = typed[f.name].fillna(f.default)
    extra = [c for c in raw.columns if c not in typed.columns]
    for c in extra:  # extra columns (sources, notes) are kept as they are
        typed[c] = raw[c]
    return typed.reset_index(drop=True)


def _unknown(problems: ProblemList, where: str, frame: pd.DataFrame, column: str,
             known, what: str, known_file: str) -> None:
    values = frame[column]
    bad = values.notna() & ~values.isin(list(known))
    if bad.any():
        names = ", ".join(sorted({f"'{v}'" for v in values[bad]})[:5])
        problems.add(where, f"unknown {what} {names}; it must be listed in {known_file}.",
                     column, _rows(frame.index[bad]))


RADIOLOGISTS = "radiologists"   # the resource of central reading: FTE at a site


def parse_resource(name: str, equipment: set[str], specialties: set[str]) -> tuple[str, str] | None:
    """`CT` -> ("units", "CT"); `cardiology.outreach_days` -> ("outreach_days", "cardiology");
    `radiologists` -> ("radiologists", "") (FTE at the site, docs/design.md section 9)."""
    if name in equipment:
        return ("units", name)
    if name == RADIOLOGISTS:
        return (RADIOLOGISTS, "")
    head, _, tail = name.rpartition(".")
    if head in specialties and tail in ("outreach_days", "clinic_visits"):
        return (tail, head)
    return None


def check_references(settings: ScenarioSettings, tables: dict[str, pd.DataFrame],
                     problems: ProblemList, file_of) -> None:
    """Cross-table checks: ids that point elsewhere exist; names parse; policy matches data."""
    members = set(tables["members"]["member"])
    sites, zones = tables["sites"], tables["zones"]
    equipment = set(tables["equipment"]["equipment"])
    specialties = set(tables["specialties"]["specialty"])
    conditions = tables["conditions"]
    tiers = set(sites["tier"].dropna())

    _unknown(problems, file_of("sites"), sites, "member", members, "member", "members.csv")
    _unknown(problems, file_of("zones"), zones, "home_member", members, "member", "members.csv")
    folded = {e.casefold(): e for e in equipment if isinstance(e, str)}
    both = sorted(s for s in specialties if isinstance(s, str) and s.casefold() in folded)
    if both:
        pairs = ", ".join(f"'{s}'" if folded[s.casefold()] == s else
                          f"'{s}' (equipment '{folded[s.casefold()]}')" for s in both)
        problems.add(file_of("specialties"), f"{pairs}: both an equipment and a specialty "
                     "(ignoring upper/lower case); service names must be unique ignoring "
                     "case: rename one.", "specialty",
                     _rows(tables["specialties"].index[tables["specialties"]["specialty"]
                                                       .isin(both)]))
    cs = tables["condition_services"]
    _unknown(problems, file_of("condition_services"), cs, "condition",
             set(conditions["condition"]), "condition", "conditions.csv")
    _unknown(problems, file_of("condition_services"), cs, "service", equipment | specialties,
             "service", "equipment.csv or specialties.csv")

    urgent = conditions["urgent_service"]
    _unknown(problems, file_of("conditions"), conditions, "urgent_service", equipment,
             "equipment", "equipment.csv (urgent coverage counts units in service)")
    no_limit = urgent.notna() & conditions["urgent_minutes"].isna()
    if no_limit.any():
        problems.add(file_of("conditions"), "an urgent_service needs urgent_minutes (the travel "
                     "limit in minutes).", "urgent_minutes", _rows(conditions.index[no_limit]))
    no_service = urgent.isna() & conditions["urgent_minutes"].notna()
    if no_service.any():
        problems.add(file_of("conditions"), "urgent_minutes without an urgent_service would be "
                     "ignored; name the equipment that must be reachable within these minutes "
                     "(e.g. CT), or clear urgent_minutes.", "urgent_service",
                     _rows(conditions.index[no_service]))

    for name in ("resources", "travel"):
        _unknown(problems, file_of(name), tables[name], "site_id", set(sites["site_id"]), "site",
                 "sites.csv")
    for name in ("travel", "zone_conditions"):
        _unknown(problems, file_of(name), tables[name], "zone_id", set(zones["zone_id"]), "zone",
                 "zones.csv")
    _unknown(problems, file_of("zone_conditions"), tables["zone_conditions"], "condition",
             set(conditions["condition"]), "condition", "conditions.csv")

    res = tables["resources"]
    parsed = res["resource"].map(lambda r: parse_resource(str(r), equipment, specialties))
    bad = parsed.isna()
    if bad.any():
        problems.add(file_of("resources"), f"unknown resource '{res['resource'][bad].iloc[0]}'; "
                     "write an equipment name (CT), '<specialty>.outreach_days', "
                     "'<specialty>.clinic_visits' or 'radiologists'.", "resource",
                     _rows(res.index[bad]))
    units = parsed.map(lambda p: p is not None and p[0] == "units")
    fractional = units & (res["amount"] != np.round(res["amount"]))
    if fractional.any():
        problems.add(file_of("resources"), "existing equipment units must be whole numbers.",
                     "amount", _rows(res.index[fractional]))

    if NO_TIER in tiers:
        problems.add(file_of("sites"), f"tier '{NO_TIER}' is reserved (equipment.csv allowed_tiers "
                     f"= {NO_TIER} means no tier); name the tier otherwise.", "tier",
                     _rows(tables["sites"].index[tables["sites"]["tier"] == NO_TIER]))
    eq = tables["equipment"]
    for row, text in eq["allowed_tiers"].items():
        if text is None or (isinstance(text, float) and math.isnan(text)):
            continue
        unknown = [t for t in split_tiers(text) if t not in tiers]
        if unknown:
            problems.add(file_of("equipment"), f"unknown tier(s) {unknown}; tiers in sites.csv "
                         f"are {sorted(tiers)}.", "allowed_tiers", [row + HEADER_ROWS])
    unknown_tiers = [t for t in settings.policy.grassroots_tiers if t not in tiers]
    if unknown_tiers:
        problems.add(file_of("scenario"), f"[policy] grassroots_tiers names unknown tier(s) "
                     f"{unknown_tiers}; tiers in sites.csv are {sorted(tiers)}.")
    unknown_specialties = [s for s in settings.policy.min_outreach_days if s not in specialties]
    if unknown_specialties:
        problems.add(file_of("scenario"), f"[policy.min_outreach_days] names unknown specialty "
                     f"{unknown_specialties}; specialties.csv lists {sorted(specialties)}.")
    _check_equity(settings, equipment, specialties, problems, file_of("scenario"))
    check_implemented(tables, problems, file_of("implemented"))
    check_site_demand(tables, problems, file_of("site_demand"))
    check_fund(settings, tables, problems, file_of)
    check_reading(settings, tables, parsed, problems, file_of)
    check_locations(settings, tables, problems, file_of)


def check_locations(settings: ScenarioSettings, tables: dict[str, pd.DataFrame],
                    problems: ProblemList, file_of) -> None:
    """Coordinates that cannot be meant: GCJ-02 points outside China (the datum is not defined
    there), and sites far outside the area of the zones (:func:`_check_site_reach`)."""
    if settings is not None and settings.coordinates == "gcj02":
        for name in ("sites", "zones"):
            frame = tables[name]
            outside = ~gcj02_defined(frame["lon"], frame["lat"])
            if outside.any():
                problems.add(file_of(name), "outside China, where GCJ-02 is not defined, but "
                             "the scenario sets coordinates = \"gcj02\"; give this point in "
                             "GCJ-02 as a Chinese web map shows it, or give every point in "
                             "WGS-84 and set coordinates = \"wgs84\".", "lon, lat",
                             _rows(frame.index[outside]))
    _check_site_reach(tables["sites"], tables["zones"], problems, file_of("sites"))


def _check_site_reach(sites: pd.DataFrame, zones: pd.DataFrame, problems: ProblemList,
                      where: str) -> None:
    """A site may lie outside the zones' area (a referral hospital in the next city), but not
    farther from the box of the zones' coordinates than the larger of SITE_REACH_KM and the
    box's diagonal: a site 11,000 km away is a typo (a sign, lon and lat swapped), and the plan
    would move units "from Spain". Where swapping the site's lon and lat would bring it within
    reach, the message says so."""
    if zones.empty or sites.empty:
        return
    box = box_of(zones["lon"], zones["lat"])
    reach = max(SITE_REACH_KM, box_diagonal_km(box))
    km = distance_to_box_km(sites["lon"], sites["lat"], box)
    for row in np.nonzero(km > reach)[0]:
        site = sites.iloc[row]
        swapped = (abs(site["lat"]) <= 180 and abs(site["lon"]) <= 90 and
                   distance_to_box_km([site["lat"]], [site["lon"]], box)[0] <= reach)
        hint = (" The lon and lat look swapped: lon is east-west (e.g. 119 for eastern China), "
                "lat north-south." if swapped else
                " Check the sign and the order of lon (east-west) and lat (north-south).")
        problems.add(where, f"site '{site['site_id']}' at lon {site['lon']:g}, lat "
                     f"{site['lat']:g} is {km[row]:,.0f} km from the area of the zones (lon "
                     f"{box[0]:g} to {box[1]:g}, lat {box[2]:g} to {box[3]:g}); a site must lie "
                     f"within {reach:,.0f} km of it (the larger of {SITE_REACH_KM:,.0f} km and "
                     f"the zones' own extent).{hint}", "lon, lat",
                     [sites.index[row] + HEADER_ROWS])


def _check_equity(settings: ScenarioSettings, equipment: set, specialties: set,
                  problems: ProblemList, where: str) -> None:
    """[equity] and [tiers] keys name services of equipment.csv or specialties.csv."""
    services = equipment | specialties
    for key in ("max_minutes", "min_served_share"):
        unknown = sorted(k for k in getattr(settings.equity, key) if k not in services)
        if unknown:
            problems.add(where, f"[equity.{key}] names unknown service(s) {unknown}; services "
                         f"are the equipment of equipment.csv and the specialties of "
                         f"specialties.csv: {sorted(services)}.")
    for key in ("min_in_county_share", "min_grassroots_share"):
        unknown = sorted(k for k in getattr(settings.tiers, key) if k not in services)
        if unknown:
            problems.add(where, f"[tiers.{key}] names unknown service(s) {unknown}; services "
                         f"are the equipment of equipment.csv and the specialties of "
                         f"specialties.csv: {sorted(services)}. Remove the key or correct "
                         "its name.")


OUTSIDE = "outside"   # the [fund.reimbursement] key of care referred out of the consortium


def check_fund(settings: ScenarioSettings, tables: dict[str, pd.DataFrame],
               problems: ProblemList, file_of) -> None:
    """prices.csv and [fund] (docs/design.md section 8) against the other tables: prices name
    services and tiers that exist; [fund.reimbursement] names only tiers of sites.csv, gives a
    share for every one of them (a site whose tier has none could not be paid for: bad input,
    rather than a silent 0) and for `outside`; lead_member is a member."""
    sites = tables["sites"]
    tiers = set(sites["tier"].dropna())
    services = set(tables["equipment"]["equipment"]) | set(tables["specialties"]["specialty"])
    prices = tables["prices"]
    _unknown(problems, file_of("prices"), prices, "service", services, "service",
             "equipment.csv or specialties.csv")
    bad = prices["tier"].notna() & ~prices["tier"].isin(list(tiers))
    if bad.any():
        names = ", ".join(sorted({f"'{v}'" for v in prices["tier"][bad]})[:5])
        problems.add(file_of("prices"), f"unknown tier {names}: no site of sites.csv has it; "
                     f"tiers in sites.csv are {sorted(tiers)}. Correct the tier or drop the "
                     "row.", "tier", _rows(prices.index[bad]))
    fund = settings.fund
    if fund is None:
        return
    where = file_of("scenario")
    shares = fund.reimbursement
    unknown = sorted(k for k in shares if k != OUTSIDE and k not in tiers)
    if unknown:
        problems.add(where, f"[fund.reimbursement] names tier(s) {unknown} that no site has; "
                     f"its keys are the tiers of sites.csv {sorted(tiers)} and `{OUTSIDE}`. "
                     "Remove the key or correct its name.")
    if OUTSIDE not in shares:
        problems.add(where, f"[fund.reimbursement] has no `{OUTSIDE}` key: the share of the "
                     "price of care referred out of the consortium that the fund pays; add it "
                     f"(e.g. {OUTSIDE} = 0.5).")
    missing = sorted(t for t in tiers if t not in shares)
    if missing:
        problems.add(where, f"[fund.reimbursement] has no share for tier(s) {missing} of "
                     "sites.csv: the fund's payments for care at those sites would be unknown; "
                     "add a share for each tier (e.g. "
                     f"{missing[0]} = 0.85).")
    members = set(tables["members"]["member"])
    if fund.lead_member is not None and fund.lead_member not in members:
        problems.add(where, f"[fund] lead_member '{fund.lead_member}' is not a member of "
                     f"members.csv ({', '.join(sorted(members))}); name one of them.")


def check_site_demand(tables: dict[str, pd.DataFrame], problems: ProblemList, where: str) -> None:
    """site_demand.csv (docs/design.md section 9): known sites, and a service that is an
    equipment: site-bound demand is exams at a site's own units; a specialty's visits are
    served by outreach days and clinics, which the file does not describe. (Amounts and
    duplicate (site, service) rows are checked with the table's types.)"""
    rows = tables["site_demand"]
    if rows.empty:
        return
    _unknown(problems, where, rows, "site_id", set(tables["sites"]["site_id"]), "site",
             "sites.csv")
    specialties = set(tables["specialties"]["specialty"])
    equipment = set(tables["equipment"]["equipment"])
    service = rows["service"]
    bad = service.isin(list(specialties))
    if bad.any():
        problems.add(where, f"'{service[bad].iloc[0]}' is a specialty; site-bound demand is for "
                     "equipment only (exams that arise and are served at the site): name an "
                     f"equipment of equipment.csv ({', '.join(sorted(equipment))}) or drop the "
                     "row.", "service", _rows(rows.index[bad]))
    _unknown(problems, where, rows[~bad], "service", equipment, "equipment", "equipment.csv")


def check_reading(settings: ScenarioSettings, tables: dict[str, pd.DataFrame], parsed: pd.Series,
                  problems: ProblemList, file_of) -> None:
    """Central reading (docs/design.md section 9): the `radiologists` resource counts whole or
    half FTE (0.5 steps), and [reading] centres name sites of sites.csv, each once."""
    res = tables["resources"]
    radiologists = parsed.map(lambda p: p is not None and p[0] == RADIOLOGISTS)
    amount = pd.to_numeric(res["amount"], errors="coerce")
    bad = radiologists & ((amount < 0) | (amount * 2 != np.round(amount * 2)))
    if bad.any():
        problems.add(file_of("resources"), f"radiologists {amount[bad].iloc[0]:g} is not a "
                     "whole or half FTE count; write the radiologists at the site in steps of "
                     "0.5 (e.g. 2 or 2.5), 0 or more.", "amount", _rows(res.index[bad]))
    reading = settings.reading
    if reading is None:
        return
    where = file_of("scenario")
    sites = set(tables["sites"]["site_id"])
    unknown = [c for c in reading.centres if c not in sites]
    if unknown:
        problems.add(where, f"[reading] centres names {unknown}, not sites of sites.csv; a "
                     "reading centre is a site: write its site_id (e.g. centres = "
                     f"[\"{sorted(sites)[0] if sites else 'H'}\"]).")
    twice = sorted({c for c in reading.centres if reading.centres.count(c) > 1})
    if twice:
        problems.add(where, f"[reading] centres lists {twice} more than once; list each "
                     "reading centre once.")


def check_implemented(tables: dict[str, pd.DataFrame], problems: ProblemList, where: str) -> None:
    """implemented.csv: known decisions, limits, sites and resources; from_site exactly where the
    decision is a relocation; an empty site_id only in a `relocated` at_most row."""
    rows = tables["implemented"]
    if rows.empty:
        return
    sites = set(tables["sites"]["site_id"])
    equipment = set(tables["equipment"]["equipment"])
    specialties = set(tables["specialties"]["specialty"])
    decision, limit = rows["decision"], rows["limit"]
    bad = ~decision.isin(DECISIONS)
    if bad.any():
        problems.add(where, f"unknown decision '{decision[bad].iloc[0]}'; write new_units, "
                     "relocated, outreach_days or hired_radiologists (as in a plan's "
                     "decisions.csv).", "decision",
                     _rows(rows.index[bad]))
    bad = ~limit.isin(["at_least", "at_most"])
    if bad.any():
        problems.add(where, f"unknown limit '{limit[bad].iloc[0]}'; write at_least (a "
                     "commitment: at least amount) or at_most (at most amount; 0 forbids).",
                     "limit", _rows(rows.index[bad]))
    _unknown(problems, where, rows, "site_id", sites, "site", "sites.csv")
    _unknown(problems, where, rows, "from_site", sites, "site", "sites.csv")
    for kinds, known, listed in ((("new_units", "relocated"), equipment, "equipment.csv"),
                                 (("outreach_days",), specialties, "specialties.csv"),
                                 (("hired_radiologists",), {RADIOLOGISTS},
                                  "[radiologists] (a hire's one resource: write radiologists)")):
        part = rows[decision.isin(kinds)]
        _unknown(problems, where, part, "resource", known,
                 f"resource for {' / '.join(kinds)}", listed)
    relocated = decision == "relocated"
    bad = relocated & rows["from_site"].isna()
    if bad.any():
        problems.add(where, "a relocated row needs from_site (the site the units leave).",
                     "from_site", _rows(rows.index[bad]))
    bad = ~relocated & decision.isin(DECISIONS) & rows["from_site"].notna()
    if bad.any():
        problems.add(where, "from_site is only for relocated rows; leave it empty here.",
                     "from_site", _rows(rows.index[bad]))
    bad = relocated & (rows["from_site"] == rows["site_id"])
    if bad.any():
        problems.add(where, "a unit cannot be relocated to the site it is at (site_id equals "
                     "from_site).", "site_id", _rows(rows.index[bad]))
    bad = rows["site_id"].isna() & ~(relocated & (limit == "at_most"))
    if bad.any():
        problems.add(where, "site_id is empty; only a relocated at_most row may leave it empty "
                     "(to cap every move out of from_site).", "site_id", _rows(rows.index[bad]))


def check_sizes(raw: dict[str, pd.DataFrame], problems: ProblemList, file_of) -> None:
    """Refuse scenarios beyond the documented size before anything large is built."""
    rows = {name: len(frame) for name, frame in raw.items()}
    zones, sites = rows.get("zones", 0), rows.get("sites", 0)
    if zones > MAX_ZONES:
        problems.add(file_of("zones"), f"has {zones:,} zones; the planner handles at most "
                     f"{MAX_ZONES:,}: aggregate zones (e.g. villages into townships).")
    if sites > MAX_SITES:
        problems.add(file_of("sites"), f"has {sites:,} sites; the planner handles at most "
                     f"{MAX_SITES:,}: keep only candidate sites.")
    if zones <= MAX_ZONES and sites <= MAX_SITES and zones * sites > MAX_ZONE_SITE_PAIRS:
        problems.add(file_of("zones"), f"{zones:,} zones x {sites:,} sites = "
                     f"{zones * sites:,} zone-site pairs; the planner handles at most "
                     f"{MAX_ZONE_SITE_PAIRS:,}: aggregate zones or drop candidate sites.")
    for name, count in rows.items():
        if name not in ("zones", "sites") and count > MAX_ROWS:
            problems.add(file_of(name), f"has {count:,} rows; at most {MAX_ROWS:,} are "
                         "allowed.")


def check_magnitudes(settings: ScenarioSettings, tables: dict[str, pd.DataFrame],
                     problems: ProblemList, file_of, require_demand: bool = True) -> None:
    """Some demand exists (for scenarios read from files: a variant or a coalition built in code
    may have none), and the derived coefficients (demand, budget) stay below MAX_COEFFICIENT,
    where the solver is numerically comfortable."""
    zones, conditions = tables["zones"], tables["conditions"]
    population = zones["population"].astype(float)
    if require_demand and not (population > 0).any():
        problems.add(file_of("zones"), "no zone has residents (no rows, or every population is "
                     "0): there is no demand to plan for; list the zones with their population.",
                     "population", _rows(zones.index) if len(zones) <= 8 else ())
    if require_demand and len(conditions) and not (conditions["cases_per_1000"] > 0).any() \
            and not (tables["zone_conditions"]["cases_per_1000"] > 0).any():
        problems.add(file_of("conditions"), "every cases_per_1000 is 0: there is no demand to "
                     "plan for.", "cases_per_1000", _rows(conditions.index))
    # largest annual demand of any zone for any service (upper bound: the largest rate of each
    # condition, over its default and zone overrides)
    rates = conditions.set_index("condition")["cases_per_1000"].astype(float)
    overrides = tables["zone_conditions"].groupby("condition")["cases_per_1000"].max()
    rates = pd.concat([rates, overrides.reindex(rates.index)], axis=1).max(axis=1)
    cs = tables["condition_services"]
    per_case = cs["units_per_case"].to_numpy(float) * rates.reindex(cs["condition"]).fillna(0)\
        .to_numpy()
    per_service = pd.Series(per_case).groupby(cs["service"].to_numpy()).sum()
    if len(per_service) and len(population):
        service = per_service.idxmax()
        worst = float(population.max()) / 1000.0 * float(per_service.max())
        if worst > MAX_COEFFICIENT:
            row = population.idxmax()
            problems.add(file_of("zones"), f"zone '{zones.at[row, 'zone_id']}' would need "
                         f"{worst:.3g} units of {service} a year (population / 1000 x "
                         "cases_per_1000 x units_per_case), more than the "
                         f"{MAX_COEFFICIENT:g} the solver handles accurately; check population "
                         "here and cases_per_1000 (conditions.csv), units_per_case "
                         "(condition_services.csv).", "population", [row + HEADER_ROWS])
    members = tables["members"]
    total = float(members["budget_contribution"].sum())
    if settings.budget is None and total > MAX_COEFFICIENT:
        problems.add(file_of("members"), f"the contributions add up to a budget of {total:.3g}, "
                     f"more than {MAX_COEFFICIENT:g}; check the amounts (currency units, not "
                     "thousandths).", "budget_contribution", _rows(members.index)[:8])


# allowed_tiers = "none": new and relocated units go nowhere (e.g. a slice of a consortium that
# keeps none of an equipment's tiers: an empty cell would read back as "every tier").
NO_TIER = "none"


def split_tiers(text) -> list[str]:
    """The tiers of an allowed_tiers cell (`;`-separated); [] for NO_TIER."""
    tiers = [t.strip() for t in str(text).split(";") if t.strip()]
    return [] if tiers == [NO_TIER] else tiers

"""Loading a scenario (a folder of CSV files + scenario.toml, or one .xlsx workbook) and varying it.

A :class:`Scenario` is immutable and always valid: :func:`load_scenario` and
:meth:`Scenario.with_` both run the full validation of :mod:`planner.scenario.validate`.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np
import pandas as pd
import pydantic
import tomli_w

from planner.errors import ProblemList, ScenarioError, UsageError
from planner.publish import csv_unquote, publish_folder
from planner.scenario import reading
from planner.scenario.boundary import FILE as BOUNDARY_FILE
from planner.scenario.boundary import read_boundary, write_boundary
from planner.scenario.embedded import embedded_names, embedded_path
from planner.scenario.geo import distance_km, gcj02_to_wgs84
from planner.scenario.schema import TABLES
from planner.scenario.settings import ScenarioSettings, flat_setting_paths
from planner.scenario.validate import (
    NO_TIER,
    check_magnitudes,
    check_references,
    check_sizes,
    split_tiers,
    typed_table,
)
from planner.scenario.workbook import save_workbook

DEFAULT_SCENARIO = "tianchang"

# Flat names accepted by Scenario.with_ and the CLI, mapped to their place in scenario.toml: derived
# from the settings model (planner/scenario/settings.py), so a new setting cannot be forgotten here.
SETTING_PATHS = flat_setting_paths()


def default_scenario_path() -> Path:
    """The embedded default scenario (Tianchang county medical community)."""
    return Path(str(resources.files("planner.data") / DEFAULT_SCENARIO))


@dataclass(frozen=True)
class Scenario:
    """Validated settings and tables of one planning scenario."""

    settings: ScenarioSettings
    tables: Mapping[str, pd.DataFrame]
    source: str = "scenario"
    _travel_cache: dict = field(default_factory=dict, repr=False, compare=False)
    # the area's outline (boundary.geojson, planner/scenario/boundary.py): drawn on maps, never
    # solved
    boundary: dict | None = field(default=None, repr=False)

    def __reduce__(self):
        """Picklable (for worker processes): the read-only table mapping is rebuilt on load."""
        return (_restore, (self.settings, dict(self.tables), self.source, self.boundary))

    # --- convenient views -------------------------------------------------------------------
    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLES:
            return self.tables[name]
        raise AttributeError(name)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def budget(self) -> float:
        """Capital budget: `budget` from scenario.toml, else the members' contributions."""
        if self.settings.budget is not None:
            return float(self.settings.budget)
        return float(self.tables["members"]["budget_contribution"].sum())

    def save(self, path: str | Path) -> None:
        """Write the scenario as a folder (scenario.toml + CSV files), or as one workbook when
        `path` ends in .xlsx; `load_scenario` reads either back. Coordinates are written in
        WGS-84, as held; a folder also gets the boundary (boundary.geojson), a workbook has no
        place for it. Only a folder or workbook the planner wrote is ever replaced."""
        if Path(path).suffix.lower() == ".xlsx":
            save_workbook(self, path)
            return
        settings = self.settings.model_dump(exclude_none=True)
        settings["coordinates"] = "wgs84"
        with publish_folder(path, "scenario") as work:
            (work / "scenario.toml").write_text(tomli_w.dumps(settings), encoding="utf-8")
            for name, frame in self.tables.items():
                if len(frame) or TABLES[name].required:
                    frame.replace([np.inf], np.nan).to_csv(work / TABLES[name].file, index=False,
                                                           lineterminator="\n")
            if self.boundary is not None:
                write_boundary(self.boundary, work)

    def content_hash(self) -> str:
        """SHA-256 of the normalised inputs (settings, then each table as CSV with its rows in
        key order): equal for equal scenarios, whatever file, workbook or row order they came
        from. Recorded with each run of the history."""
        digest = hashlib.sha256(json.dumps(self.settings.model_dump(mode="json"),
                                           sort_keys=True).encode())
        for name in sorted(self.tables):
            frame = self.tables[name]
            key = [c for c in TABLES[name].key if c in frame.columns]
            if len(frame) and key:
                frame = frame.sort_values(key, kind="stable", na_position="first")
            digest.update(f"\n[{name}]\n".encode())
            digest.update(frame.to_csv(index=False, float_format="%.17g",
                                       lineterminator="\n").encode())
        return digest.hexdigest()

    def restricted_to(self, members) -> Scenario:
        """The scenario of some members alone: their sites, zones, resources and contributions
        (tiers no longer present are dropped from the policy and from allowed_tiers; the fund keeps
        the shares of its tiers and other spending in proportion to its residents).

        A proper slice gets a name of its own, :func:`slice_name`: the run history keys
        baselines by name, so a slice saved and re-planned must never become the whole
        consortium's baseline (nor the other way round). Unknown member ids are a UsageError."""
        members = checked_members(self, members)
        t = {k: v.copy() for k, v in self.tables.items()}
        t["members"] = t["members"][t["members"]["member"].isin(members)]
        t["sites"] = t["sites"][t["sites"]["member"].isin(members)]
        t["zones"] = t["zones"][t["zones"]["home_member"].isin(members)]
        for name in ("resources", "travel", "site_demand"):
            t[name] = t[name][t[name]["site_id"].isin(t["sites"]["site_id"])]
        for name in ("travel", "zone_conditions"):
            t[name] = t[name][t[name]["zone_id"].isin(t["zones"]["zone_id"])]
        kept = t["sites"]["site_id"]
        t["implemented"] = t["implemented"][
            (t["implemented"]["site_id"].isna() | t["implemented"]["site_id"].isin(kept))
            & (t["implemented"]["from_site"].isna() | t["implemented"]["from_site"].isin(kept))]
        present = set(t["sites"]["tier"])
        tiers = [x for x in self.settings.policy.grassroots_tiers if x in present]
        t["equipment"]["allowed_tiers"] = t["equipment"]["allowed_tiers"].map(
            lambda text: ";".join(x for x in split_tiers(text) if x in present) or NO_TIER
            if isinstance(text, str) else text)   # no tier left: nowhere in the slice
        t["prices"] = t["prices"][t["prices"]["tier"].isin(present)]
        # [fund] of the slice: shares of its tiers only; a lead it lacks is none; the fund's
        # other spending (care the model does not plan, for the residents) scales with the
        # residents the slice keeps, as the capitation revenue does
        fund = {}
        if self.settings.fund is not None:
            shares = self.settings.fund.reimbursement
            residents = self.tables["zones"]["population"].sum()
            kept_share = t["zones"]["population"].sum() / residents if residents else 0.0
            fund = {"reimbursement": {k: v for k, v in shares.items()
                                      if k in present or k == "outside"},
                    "lead_member": (self.settings.fund.lead_member
                                    if self.settings.fund.lead_member in members else None),
                    "other_spending": self.settings.fund.other_spending * kept_share}
        return self.with_(tables=t, grassroots_tiers=tiers, name=slice_name(self, members),
                          **fund)

    # --- what-if variants -------------------------------------------------------------------
    def with_(self, tables: Mapping[str, pd.DataFrame] | None = None, **changes: Any) -> Scenario:
        """A validated copy with some settings or whole tables replaced.

        ``scenario.with_(budget=3e7, value_per_minute=2.0)``; settings use the flat names of
        :data:`SETTING_PATHS`; ``tables={"equipment": frame}`` replaces tables.
        """
        unknown = sorted(set(changes) - set(SETTING_PATHS))
        if unknown:
            raise TypeError(f"unknown scenario setting(s) {unknown}; "
                            f"known: {sorted(SETTING_PATHS)}")
        data = self.settings.model_dump()
        for key, value in changes.items():
            *parents, leaf = SETTING_PATHS[key]
            target = data
            for p in parents:
                if target.get(p) is None:   # an optional section not given so far ([fund])
                    target[p] = {}
                target = target[p]
            target[leaf] = value
        # typed tables go back through validation; filled-in infinite defaults become empty cells
        raw = {name: frame.replace([np.inf], np.nan) for name, frame in self.tables.items()}
        for name, frame in (tables or {}).items():
            if name not in TABLES:
                raise TypeError(f"unknown table {name!r}; known: {sorted(TABLES)}")
            raw[name] = frame.reset_index(drop=True).replace([np.inf], np.nan)
        # already-converted coordinates must not be converted twice
        source = self.source if self.source.endswith("(variant)") else f"{self.source} (variant)"
        return build_scenario(data, raw, source, convert=False, boundary=self.boundary)


def checked_members(scenario: Scenario, members) -> list[str]:
    """`members` as a list of member ids of `scenario` (a comma-separated string is split); a
    UsageError names those that are not members, and the members there are."""
    if isinstance(members, str):
        members = [m.strip() for m in members.split(",") if m.strip()]
    members = [str(m) for m in members]
    known = [str(m) for m in scenario.tables["members"]["member"]]
    unknown = [m for m in members if m not in known]
    if unknown or not members:
        verb = "is not a member" if len(unknown) == 1 else "are not members"
        problem = f"{', '.join(unknown)} {verb}" if unknown else "no member was given"
        raise UsageError(f"members {', '.join(members) or '(none)'}: {problem} of scenario "
                         f"'{scenario.name}'. Its members are: {', '.join(known)}. Give member "
                         "ids (members.csv column member), separated by commas.")
    return members


def slice_name(scenario: Scenario, members: list[str]) -> str:
    """The name of the scenario of `members` alone: the whole scenario's name when every member
    is kept, else that name followed by the members kept, in the scenario's order."""
    order = [str(m) for m in scenario.tables["members"]["member"]]
    kept = [m for m in order if m in set(members)]
    if kept == order:
        return scenario.name
    return f"{scenario.name} (members: {', '.join(kept)})"


def _restore(settings: ScenarioSettings, tables: dict, source: str,
             boundary: dict | None = None) -> Scenario:
    return Scenario(settings=settings, tables=MappingProxyType(tables), source=source,
                    boundary=boundary)


# --- reading -----------------------------------------------------------------------------------
# All file access goes through planner.scenario.reading: only regular files are opened, text must
# be UTF-8, CSV headers and row widths are checked on the raw file.
def _read_folder(folder: Path, problems: ProblemList) -> tuple[dict, dict[str, pd.DataFrame]]:
    settings: dict = {}
    toml_path = folder / "scenario.toml"
    if not (toml_path.exists() or toml_path.is_symlink()):
        problems.add("scenario.toml", f"missing in {folder}; it holds name, currency, "
                     "discount_rate and the [travel] settings.")
    else:
        text = reading.read_text(toml_path, "scenario.toml", problems)
        if text is not None:
            try:
                settings = tomllib.loads(text)
            except tomllib.TOMLDecodeError as err:
                problems.add("scenario.toml", f"is not valid TOML: {err}.")
            except RecursionError:
                problems.add("scenario.toml", "is not valid TOML: nested too deeply.")
    raw: dict[str, pd.DataFrame] = {}
    for name, table in TABLES.items():
        path = folder / table.file
        if path.exists() or path.is_symlink():
            frame = reading.read_csv(path, table.file, problems)
            if frame is not None:
                raw[name] = frame
        elif table.required:
            problems.add(table.file, f"missing in {folder}; required columns: "
                         f"{', '.join(table.required_columns)}.")
    return settings, raw


def _read_workbook(path: Path, problems: ProblemList) -> tuple[dict, dict[str, pd.DataFrame]]:
    book = reading.read_workbook(path, path.name, problems)
    if book is None:
        return {}, {}
    scenario_rows, sheets = book
    settings = {}
    if scenario_rows is not None:
        settings = reading.settings_from_rows(scenario_rows, "sheet 'scenario'", problems)
    else:
        problems.add(path.name, "has no 'scenario' sheet (two columns: key, value).")
    raw = {}
    for name, table in TABLES.items():
        if name in sheets:
            frame = reading.workbook_table(sheets[name], f"sheet '{name}'", problems)
            if frame is not None:
                raw[name] = frame
        elif table.required:
            problems.add(path.name, f"has no '{name}' sheet; required columns: "
                         f"{', '.join(table.required_columns)}.")
    return settings, raw


def load_scenario(path: str | Path | None = None) -> Scenario:
    """Read and validate a scenario folder or workbook, or the embedded scenario of that name
    when no such path exists (planner/scenario/embedded.py); no argument: the embedded default."""
    path = default_scenario_path() if path is None else Path(path)
    problems = ProblemList()
    try:
        exists = path.exists()
    except OSError as err:  # e.g. a name too long, or a folder on the way that cannot be read
        problems.add(str(path), f"cannot be opened ({err.strerror or err}).")
        problems.raise_if_any(str(path))
    embedded = None if exists else embedded_path(str(path))
    if embedded is not None:
        path, exists = embedded, True
    if not exists:
        problems.add(str(path), "does not exist; give a scenario folder, an .xlsx workbook or "
                     f"the name of an embedded scenario ({', '.join(embedded_names())}; "
                     "`planner scenarios` lists them).")
        problems.raise_if_any(str(path))
    boundary = None
    if path.is_dir():
        settings, raw = _read_folder(path, problems)
        if (path / BOUNDARY_FILE).exists() or (path / BOUNDARY_FILE).is_symlink():
            boundary = read_boundary(path / BOUNDARY_FILE, problems)   # optional
    elif path.suffix.lower() in (".xlsx", ".xlsm"):
        settings, raw = _read_workbook(path, problems)
    else:
        problems.add(str(path), "is neither a scenario folder nor an .xlsx workbook.")
        settings, raw = {}, {}
    problems.raise_if_any(str(path))
    return build_scenario(settings, raw, str(path),
                          workbook=path.suffix.lower() in (".xlsx", ".xlsm"), from_files=True,
                          boundary=boundary)


def from_tables(settings: dict, tables: Mapping[str, pd.DataFrame],
                source: str = "scenario") -> Scenario:
    """A validated Scenario from a settings dict (as in scenario.toml) and DataFrames."""
    raw = {name: frame.reset_index(drop=True) for name, frame in tables.items()}
    unknown = sorted(set(raw) - set(TABLES))
    if unknown:
        raise TypeError(f"unknown table(s) {unknown}; known: {sorted(TABLES)}")
    return build_scenario(settings, raw, source)


def _check_settings(data: dict, problems: ProblemList, where: str) -> ScenarioSettings | None:
    try:
        return ScenarioSettings.model_validate(data)
    except pydantic.ValidationError as err:
        for e in err.errors():
            key = ".".join(str(p) for p in e["loc"])
            got = repr(e.get("input"))
            got = got if len(got) <= 80 else got[:77] + "..."
            problems.add(where, f"{key}: {e['msg']} (got {got}).")
        return None


def build_scenario(settings_data: dict, raw: dict[str, pd.DataFrame], source: str,
                   workbook: bool = False, convert: bool = True,
                   from_files: bool = False, boundary: dict | None = None) -> Scenario:
    """Validate raw tables and settings into a Scenario (all problems reported at once);
    `boundary` (already checked, WGS-84) is carried along."""
    problems = ProblemList()

    def file_of(name: str) -> str:
        if name == "scenario":
            return "sheet 'scenario'" if workbook else "scenario.toml"
        return f"sheet '{name}'" if workbook else TABLES[name].file

    settings = _check_settings(settings_data, problems, file_of("scenario"))
    too_big = ProblemList()
    check_sizes(raw, too_big, file_of)
    if too_big.problems:  # refused before any large table is typed or matrix allocated
        problems.problems += too_big.problems
        problems.raise_if_any(source)

    if raw.get("implemented") is not None:   # a Plan's decisions write "" for no from_site
        raw = {**raw, "implemented": raw["implemented"].replace({"": None})}
    tables = {}
    for name, table in TABLES.items():
        frame = raw.get(name)
        if frame is None:
            frame = pd.DataFrame({f: pd.Series(dtype=object) for f in table.required_columns})
        tables[name] = typed_table(frame.astype(object), table, problems, file_of(name))
    problems.raise_if_any(source)
    assert settings is not None, "settings that fail their check are a problem raised above"
    tables["implemented"] = csv_unquote(tables["implemented"])  # rows copied from decisions.csv
    check_references(settings, tables, problems, file_of)
    check_magnitudes(settings, tables, problems, file_of, require_demand=from_files)
    problems.raise_if_any(source)
    if convert and settings.coordinates == "gcj02":
        tables = _to_wgs84(tables)
    tables["zones"] = _fill_home_members(tables, settings)
    frozen = MappingProxyType({k: v for k, v in tables.items()})
    return Scenario(settings=settings, tables=frozen, source=source, boundary=boundary)


def _to_wgs84(tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    out = dict(tables)
    for name in ("sites", "zones"):
        frame = tables[name].copy()
        frame["lon"], frame["lat"] = gcj02_to_wgs84(frame["lon"], frame["lat"])
        out[name] = frame
    return out


def _fill_home_members(tables: dict[str, pd.DataFrame], settings: ScenarioSettings) -> pd.DataFrame:
    """Default home member: the member of the nearest grassroots site (any site if none)."""
    zones, sites = tables["zones"].copy(), tables["sites"]
    missing = zones["home_member"].isna()
    if not missing.any() or sites.empty:
        return zones
    candidates = sites[sites["tier"].isin(settings.policy.grassroots_tiers)]
    if candidates.empty:
        candidates = sites
    km = distance_km(zones.loc[missing, "lon"], zones.loc[missing, "lat"],
                     candidates["lon"], candidates["lat"])
    zones.loc[missing, "home_member"] = candidates["member"].to_numpy()[np.argmin(km, axis=1)]
    return zones


__all__ = ["Scenario", "load_scenario", "from_tables", "default_scenario_path", "ScenarioError"]

"""The optional area boundary of a scenario: ``boundary.geojson``.

Why a module of its own: the boundary (a county's outline) is only drawn, on the report's map and
in ``plan.explore()``; it never changes a plan. It is read beside a scenario's tables, kept on the
Scenario, written with it and into every plan folder, and read back by the report, always through
the functions here, so the checks and the bytes are the same everywhere.

Format: GeoJSON (RFC 7946) holding a Polygon or MultiPolygon geometry, a Feature with one, or a
FeatureCollection of such Features. Positions are longitude, latitude in WGS-84, as RFC 7946
requires: a scenario's ``coordinates = "gcj02"`` applies to its tables, never to this file.
Rings are closed (first position = last) and have at least 4 positions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from planner.errors import ProblemList
from planner.scenario.reading import read_text
from planner.scenario.schema import BOUNDARY_FILE as FILE

POLYGONAL = ("Polygon", "MultiPolygon")
FIX = ("give a GeoJSON file (RFC 7946) of the area's outline: a Polygon or MultiPolygon, a "
       "Feature holding one or a FeatureCollection of such Features, in WGS-84 longitude and "
       "latitude; or delete the file (the boundary is optional).")


class _Invalid(ValueError):
    """What is wrong with a boundary, said for its file's message."""


def _reject_constant(name: str):
    raise _Invalid(f"holds {name}, which is not a number in JSON")


def parse_boundary(text: str, label: str, problems: ProblemList) -> dict | None:
    """The boundary held in GeoJSON `text`; None and a Problem (naming `label`) if it is not a
    polygonal GeoJSON object in WGS-84."""
    try:
        boundary = json.loads(text, parse_constant=_reject_constant)
    except (_Invalid, ValueError) as err:   # JSONDecodeError is a ValueError
        problems.add(label, f"is not JSON ({err}); {FIX}")
        return None
    except RecursionError:
        problems.add(label, f"is not usable JSON: nested too deeply; {FIX}")
        return None
    try:
        for _ in polygons(boundary):
            pass
    except _Invalid as err:
        problems.add(label, f"is not a usable boundary: {err}; {FIX}")
        return None
    return boundary


def read_boundary(path: Path, problems: ProblemList, label: str = FILE) -> dict | None:
    """The boundary file at `path` (read like every scenario file: a regular UTF-8 file of
    bounded size); None and a Problem if it cannot be used."""
    text = read_text(Path(path), label, problems)
    return None if text is None else parse_boundary(text, label, problems)


def check_boundary(boundary: Any, label: str, problems: ProblemList) -> dict | None:
    """A boundary given in Python (a GeoJSON mapping, or anything with ``__geo_interface__``:
    a shapely geometry, a GeoDataFrame) as a checked GeoJSON mapping of plain lists and dicts;
    None and a Problem (naming `label`) if it is not usable."""
    if hasattr(boundary, "to_crs"):          # a GeoDataFrame or GeoSeries: to longitude/latitude
        boundary = boundary.to_crs("EPSG:4326")
    if hasattr(boundary, "__geo_interface__"):
        boundary = boundary.__geo_interface__
    try:
        text = json.dumps(boundary, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as err:
        problems.add(label, f"is not a GeoJSON mapping ({type(err).__name__}: {err}); {FIX}")
        return None
    return parse_boundary(text, label, problems)


def boundary_text(boundary: Mapping) -> str:
    """The file's text: compact JSON, keys in the order held, non-ASCII kept, one final newline
    (the same boundary always gives the same bytes)."""
    return json.dumps(boundary, ensure_ascii=False, separators=(",", ":"), allow_nan=False) + "\n"


def write_boundary(boundary: Mapping, folder: Path) -> None:
    """Write ``boundary.geojson`` into `folder`."""
    (Path(folder) / FILE).write_text(boundary_text(boundary), encoding="utf-8")


def polygons(boundary: Any) -> Iterator[list]:
    """Each polygon of a boundary (a list of rings of [lon, lat] positions), checking the
    GeoJSON structure on the way (raises _Invalid saying what is wrong)."""
    if not isinstance(boundary, Mapping):
        raise _Invalid(f"the top level is a JSON {_json_kind(boundary)}, not a GeoJSON object")
    kind = boundary.get("type")
    if kind == "FeatureCollection":
        features = boundary.get("features")
        if not isinstance(features, list) or not features:
            raise _Invalid("the FeatureCollection has no 'features' list, or it is empty")
        for number, feature in enumerate(features, start=1):
            if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
                raise _Invalid(f"feature {number} of the FeatureCollection is not a Feature")
            yield from _geometry_polygons(feature.get("geometry"), f"feature {number}")
    elif kind == "Feature":
        yield from _geometry_polygons(boundary.get("geometry"), "the Feature")
    else:
        yield from _geometry_polygons(boundary, "the object")


def _geometry_polygons(geometry: Any, where: str) -> Iterator[list]:
    if not isinstance(geometry, Mapping):
        raise _Invalid(f"{where} has no geometry object")
    kind = geometry.get("type")
    if kind not in POLYGONAL:
        shown = f"is a {kind!r}" if isinstance(kind, str) else "has no GeoJSON 'type'"
        raise _Invalid(f"{where} {shown}; a boundary is a Polygon or MultiPolygon")
    coordinates = geometry.get("coordinates")
    parts = [coordinates] if kind == "Polygon" else coordinates
    if not isinstance(parts, list) or not parts:
        raise _Invalid(f"the {kind} of {where} has no coordinates")
    for part in parts:
        if not isinstance(part, list) or not part:
            raise _Invalid(f"a polygon of {where} has no rings")
        for ring in part:
            _check_ring(ring, where)
        yield part


def _check_ring(ring: Any, where: str) -> None:
    if not isinstance(ring, list) or len(ring) < 4:
        raise _Invalid(f"a ring of {where} has fewer than 4 positions (a closed ring needs 4)")
    for position in ring:
        if not (isinstance(position, list) and len(position) in (2, 3)
                and all(_is_number(v) for v in position)):
            raise _Invalid(f"a position of {where} is {_short(position)}, not [longitude, "
                           "latitude] numbers")
        lon, lat = position[0], position[1]
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise _Invalid(f"position {_short(position)} of {where} is out of range (longitude "
                           "-180 to 180, latitude -90 to 90; GeoJSON puts longitude first)")
    if ring[0][:2] != ring[-1][:2]:
        raise _Invalid(f"a ring of {where} is not closed (its last position must repeat the "
                       "first)")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def _json_kind(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), "number")


def _short(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except RecursionError:
        return "an array nested too deeply"
    return text if len(text) <= 60 else text[:57] + "..."

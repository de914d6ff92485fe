"""Coordinates and distances."""

from __future__ import annotations

import numpy as np
import prcoords
from pyproj import Geod

_WGS84 = Geod(ellps="WGS84")


def gcj02_defined(lon, lat) -> np.ndarray:
    """Where GCJ-02 is defined: prcoords' box around China (lon 72.004 to 137.8347, lat 0.8293
    to 55.8271). Outside it the converter returns a point unchanged with a warning of its own,
    so the planner checks first (validation refuses such points with the row)."""
    return np.array([prcoords.sanity_in_china_p(prcoords.Coords(float(y), float(x)))
                     for x, y in zip(lon, lat)], dtype=bool)


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 (the datum of Chinese web maps) to WGS-84, point by point.

    prcoords' iterative inverse is accurate to centimetres; GCJ-02 is not a pyproj CRS. A point
    outside China (:func:`gcj02_defined`) is a ValueError: prcoords would warn and return it
    unchanged, a silent error of hundreds of metres to the caller.
    """
    outside = ~gcj02_defined(lon, lat)
    if outside.any():
        k = int(np.argmax(outside))
        raise ValueError(f"point ({list(lon)[k]}, {list(lat)[k]}) is outside China, where "
                         "GCJ-02 is not defined; give WGS-84 coordinates there.")
    points = [prcoords.gcj_wgs_bored((float(y), float(x))) for x, y in zip(lon, lat)]
    return (np.array([p.lon for p in points], dtype=float),
            np.array([p.lat for p in points], dtype=float))


def distance_km(from_lon, from_lat, to_lon, to_lat) -> np.ndarray:
    """Geodesic (great-circle on the WGS-84 ellipsoid) distances, a len(from) x len(to) matrix."""
    a_lon, b_lon = np.meshgrid(np.asarray(from_lon, float), np.asarray(to_lon, float),
                               indexing="ij")
    a_lat, b_lat = np.meshgrid(np.asarray(from_lat, float), np.asarray(to_lat, float),
                               indexing="ij")
    if a_lon.size == 0:
        return np.zeros(a_lon.shape)
    _, _, metres = _WGS84.inv(a_lon.ravel(), a_lat.ravel(), b_lon.ravel(), b_lat.ravel())
    return np.asarray(metres).reshape(a_lon.shape) / 1000.0


def box_of(lon, lat) -> tuple[float, float, float, float]:
    """The lon/lat box of some points: (west, east, south, north)."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    return float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max())


def box_diagonal_km(box: tuple[float, float, float, float]) -> float:
    """The geodesic length of a box's diagonal (south-west to north-east corner), km."""
    west, east, south, north = box
    return float(distance_km([west], [south], [east], [north])[0, 0])


def distance_to_box_km(lon, lat, box: tuple[float, float, float, float]) -> np.ndarray:
    """Each point's geodesic distance to the point of the box with its lon and lat clamped into
    the box's ranges (0 inside the box): the distance to the box, to within a few percent at
    the scales where it matters (hundreds of km)."""
    west, east, south, north = box
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    if lon.size == 0:
        return np.zeros(0)
    _, _, metres = _WGS84.inv(lon, lat, np.clip(lon, west, east), np.clip(lat, south, north))
    return np.asarray(metres, dtype=float) / 1000.0

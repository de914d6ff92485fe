"""Coordinates and distances."""

from __future__ import annotations

import numpy as np
import prcoords
from pyproj import Geod

_WGS84 = Geod(ellps="WGS84")


def gcj02_to_wgs84(lon, lat) -> tuple[np.ndarray, np.ndarray]:
    """Convert GCJ-02 (the datum of Chinese web maps) to WGS-84, point by point.

    prcoords' iterative inverse is accurate to centimetres; GCJ-02 is not a pyproj CRS.
    """
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

"""Interactive Leaflet maps (folium) of a plan and of a comparison of two plans.

Why folium: it writes Leaflet maps from Python and a notebook displays the returned
``folium.Map``. Only Leaflet's own vector layers are used (circle markers, polylines, polygons,
GeoJSON, a layer control and a legend written as a Leaflet control), so a map needs no Leaflet
plugin and the HTML report can inline everything it needs (planner/pictures/report.py).

Every element the tests (and a user's CSS) look for carries a class name: ``planner-site`` (one
circle per site), ``planner-site-label`` (its name, always shown), ``planner-zone`` (one per
zone), ``planner-relocation`` and ``planner-arrow`` (one line and one arrowhead per relocation),
``planner-boundary`` (the area's outline: the scenario's boundary.geojson, or one given),
``planner-remote-reads`` (one line per sending site and reading centre, [reading] only).
"""

from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd

from planner.errors import ProblemList
from planner.pictures.data import PictureData, PictureError, check_equipment, site_label
from planner.results.reading import centre_shares
from planner.scenario.boundary import check_boundary, polygons, read_boundary

TILES = "OpenStreetMap"
NO_UNIT = "#9e9e9e"     # zones with no unit of the equipment anywhere
CHANGE_COLOURS = {"added": "#2e7d32", "removed": "#c62828", "changed": "#ef6c00",
                  "unchanged": "#757575"}
LABEL_STYLE = ("<style>.leaflet-tooltip.planner-site-label {font: 600 11px/1.2 sans-serif; "
               "padding: 1px 4px; background: rgba(255, 255, 255, 0.85);}</style>")


def _new_map(points: pd.DataFrame, tiles: str | None):
    import folium  # lazy: folium loads only to draw a map

    m = folium.Map(tiles=tiles, control_scale=True)
    if len(points):
        m.fit_bounds([[float(points["lat"].min()), float(points["lon"].min())],
                      [float(points["lat"].max()), float(points["lon"].max())]], padding=(20, 20))
    return m


def _site_radius(units: float) -> float:
    """Circle radius in pixels: area grows with the units in service (a site without: 4)."""
    return 4.0 + 5.0 * math.sqrt(max(units, 0.0))


def _arrow(m, start: tuple[float, float], end: tuple[float, float], colour: str, tooltip: str,
           dash: str | None = None) -> None:
    """A line start -> end (lat, lon) and a filled arrowhead at `end`, in the map's plane."""
    import folium  # lazy: folium loads only to draw a map

    line = folium.PolyLine([start, end], color=colour, weight=3, opacity=0.85, dash_array=dash,
                           className="planner-relocation")
    _add_tooltip(line, tooltip).add_to(m)
    # the arrowhead: a triangle in local (lon scaled by cos(lat), lat) coordinates
    scale = math.cos(math.radians(end[0]))
    dy, dx = end[0] - start[0], (end[1] - start[1]) * scale
    length = math.hypot(dx, dy) or 1.0
    ux, uy = dx / length, dy / length
    size = min(0.25 * length, 0.02)
    back = (end[0] - uy * size, end[1] - ux * size / scale)
    half = 0.5 * size
    left = (back[0] + ux * half, back[1] - uy * half / scale)
    right = (back[0] - ux * half, back[1] + uy * half / scale)
    _add_tooltip(folium.Polygon([end, left, right], color=colour, weight=1, fill=True,
                                fill_color=colour, fill_opacity=0.9, className="planner-arrow"),
                 tooltip).add_to(m)


def _leaflet_script(source: str, **values):
    """A folium element whose script is `source` (a Jinja macro body: ``this`` is the element,
    ``this._parent`` what it is added to, `values` its attributes). Folium's Popup needs
    jQuery; these need nothing but Leaflet."""
    # lazy: branca and jinja2 load only to draw a map
    from branca.element import MacroElement
    from jinja2 import Template

    element = MacroElement()
    element._name = "PlannerScript"
    element._template = Template("{% macro script(this, kwargs) %}" + source + "{% endmacro %}")
    for key, value in values.items():
        setattr(element, key, value)
    return element


def _add_popup(marker, lines: list[str]) -> None:
    """An HTML popup (`lines` already escaped) bound by Leaflet's own bindPopup."""
    marker.add_child(_leaflet_script(
        "{{ this._parent.get_name() }}.bindPopup({{ this.content|tojson }}, {maxWidth: 320});",
        content="<br>".join(lines)))


def _add_tooltip(layer, text: str, **options):
    """A plain-text tooltip (escaped here; folium's Tooltip puts its text into a JavaScript
    template literal unescaped) with Leaflet's tooltip `options`; returns `layer`."""
    layer.add_child(_leaflet_script(
        "{{ this._parent.get_name() }}.bindTooltip({{ this.content|tojson }}"
        "{% if this.options %}, {{ this.options|tojson }}{% endif %});",
        content=html.escape(text), options=options))
    return layer


def _add_site_label(marker, name: str, radius: float) -> None:
    """The site's name next to its circle, always shown (a permanent Leaflet tooltip; the
    popup holds the rest)."""
    _add_tooltip(marker, site_label(name), permanent=True, direction="right",
                 offset=[round(radius), 0], className="planner-site-label")


def _add_legend(m, title: str, rows: list[tuple[str, str]]) -> None:
    """A legend drawn as a Leaflet control (bottom right)."""
    body = "".join(f'<div><span style="display:inline-block;width:12px;height:12px;'
                   f'background:{colour};margin-right:6px;border-radius:6px"></span>'
                   f'{html.escape(label)}</div>' for colour, label in rows)
    m.add_child(_leaflet_script(
        "var {{ this.get_name() }} = L.control({position: 'bottomright'});"
        "{{ this.get_name() }}.onAdd = function () {"
        " var div = L.DomUtil.create('div', 'planner-legend');"
        " div.style.background = 'white'; div.style.padding = '6px 8px';"
        " div.style.font = '12px sans-serif'; div.style.borderRadius = '4px';"
        " div.innerHTML = {{ this.content|tojson }}; return div; };"
        "{{ this.get_name() }}.addTo({{ this._parent.get_name() }});",
        content=f"<b>{html.escape(title)}</b>{body}"))


def _minute_colours(minutes: pd.Series) -> tuple[pd.Series, list[tuple[str, str]]]:
    """A colour per zone (green near, red far; grey: no unit) and the legend's rows."""
    # lazy: matplotlib loads only to draw
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    finite = minutes[np.isfinite(minutes)]
    top = max(float(finite.max()) if len(finite) else 0.0, 1.0)
    cmap = colormaps["RdYlGn_r"]
    colours = minutes.map(lambda t: to_hex(cmap(min(t / top, 1.0))) if np.isfinite(t)
                          else NO_UNIT)
    steps = np.linspace(0.0, top, 5)
    rows = [(to_hex(cmap(t / top)), f"{t:.0f} min") for t in steps]
    if (~np.isfinite(minutes)).any():
        rows.append((NO_UNIT, "no unit"))
    return colours, rows


def plan_map(data: PictureData, equipment: str | None = None, *, tiles: str | None = TILES,
             boundary=None):
    """The plan on a Leaflet map (see :meth:`planner.results.plan.Plan.explore`)."""
    import folium  # lazy: folium loads only to draw a map

    equipment = check_equipment(data, equipment)
    boundary = _boundary_mapping(data.boundary if boundary is None else boundary)
    points = pd.concat([data.sites[["lon", "lat"]], data.zones[["lon", "lat"]],
                        _positions(boundary)])
    m = _new_map(points, tiles)
    m.get_root().header.add_child(folium.Element(LABEL_STYLE), name="planner_label_style")
    zones_layer = folium.FeatureGroup(name=f"Zones: minutes to {equipment}")
    sites_layer = folium.FeatureGroup(name="Sites: units in service")
    moves_layer = folium.FeatureGroup(name="Relocations")

    if boundary is not None:
        _draw_boundary(m, boundary)
    found = data.zone_minutes(equipment)
    minutes = found.minutes.reindex(data.zones["zone_id"]).astype(float)
    colours, legend = _minute_colours(minutes.fillna(math.inf))
    top_population = max(float(data.zones["population"].max()), 1.0) if len(data.zones) else 1.0
    for zone, colour, t in zip(data.zones.itertuples(index=False), colours, minutes):
        shown = "no unit" if not np.isfinite(t) else f"{t:.1f} min"
        _add_tooltip(folium.CircleMarker(
            [float(zone.lat), float(zone.lon)],
            radius=2.0 + 6.0 * math.sqrt(float(zone.population) / top_population),
            color=colour, weight=1, fill=True, fill_color=colour, fill_opacity=0.75,
            className="planner-zone"),
            f"{zone.zone_id}: {float(zone.population):,.0f} residents, {shown}").add_to(
            zones_layer)

    units = data.units_in_service()
    days = data.outreach.groupby("site_id")["outreach_days"].sum()
    days_by = data.outreach[data.outreach["outreach_days"] > 0]
    moved = data.equipment[["new", "relocated_in", "relocated_out"]].to_numpy().any(axis=1)
    shown_rows = data.equipment[(data.equipment["total"] > 0) | moved]
    for site in data.sites.itertuples(index=False):
        total = float(units.loc[site.site_id].sum()) if site.site_id in units.index else 0.0
        lines = [f"<b>{html.escape(str(site.name))}</b> ({html.escape(site.site_id)})",
                 f"tier: {html.escape(str(site.tier))}, member: {html.escape(str(site.member))}"]
        for row in shown_rows[shown_rows["site_id"] == site.site_id].itertuples():
            notes = [f"+{row.new:.0f} new"] if row.new else []
            notes += [f"+{row.relocated_in:.0f} relocated in"] if row.relocated_in else []
            notes += [f"-{row.relocated_out:.0f} relocated out"] if row.relocated_out else []
            lines.append(f"{html.escape(row.equipment)}: {row.total:.0f} in service"
                         + (f" ({', '.join(notes)})" if notes else ""))
        own = days_by[days_by["site_id"] == site.site_id]
        if len(own):
            lines.append(f"outreach days: {days.get(site.site_id, 0):.0f} ("
                         + ", ".join(f"{html.escape(r.specialty)} {r.outreach_days:.0f}"
                                     for r in own.itertuples()) + ")")
        changed = bool(moved[(data.equipment["site_id"] == site.site_id).to_numpy()].any())
        marker = folium.CircleMarker(
            [float(site.lat), float(site.lon)], radius=_site_radius(total),
            color="#1a237e", weight=3 if changed else 1.5, fill=True,
            fill_color="#3949ab" if total else "#ffffff", fill_opacity=0.8,
            className="planner-site")
        _add_site_label(marker, site.name, _site_radius(total))
        _add_popup(marker, lines)
        marker.add_to(sites_layer)

    at = data.sites.set_index("site_id")[["lat", "lon"]].astype(float)
    for move in data.relocations().itertuples(index=False):
        _arrow(moves_layer, tuple(at.loc[move.from_site]), tuple(at.loc[move.to_site]),
               "#6a1b9a", f"{move.units:.0f} {move.equipment}: {move.from_site} -> "
               f"{move.to_site}")
    layers = [zones_layer, sites_layer, moves_layer]
    if data.reading is not None:
        layers.append(_remote_reads_layer(data, at))
    for layer in layers:
        layer.add_to(m)
    _add_legend(m, f"{found.meaning} (after)", legend)
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def remote_read_lines(reading: pd.DataFrame) -> pd.DataFrame:
    """site_id, centre, reads: one row per sending site and centre. A site's remote reads are
    split among the centres in their shares of the pool's reads (reading.csv reads_done, i.e. in
    proportion to capacity; all to the one centre when there is one), as the reading fees of
    stage 2 count them (planner.results.reading.centre_shares)."""
    shares = centre_shares(reading)
    rows = [(r.site_id, c, float(r.reads_remote) * share)
            for r in reading[reading["reads_remote"] > 0].itertuples(index=False)
            for c, share in shares.items() if share > 0]
    return pd.DataFrame(rows, columns=["site_id", "centre", "reads"])


def _remote_reads_layer(data: PictureData, at: pd.DataFrame):
    """Lines from each sending site to its reading centre(s), weighted by the remote reads
    (2 to 8 pixels), each with a tooltip giving the reads."""
    import folium  # lazy: folium loads only to draw a map

    layer = folium.FeatureGroup(name="Remote reads")
    lines = remote_read_lines(data.reading)
    top = max(float(lines["reads"].max()), 1.0) if len(lines) else 1.0
    for line in lines.itertuples(index=False):
        weight = 2.0 + 6.0 * math.sqrt(line.reads / top)
        polyline = folium.PolyLine([tuple(at.loc[line.site_id]), tuple(at.loc[line.centre])],
                                   color="#00838f", weight=weight, opacity=0.7,
                                   dash_array="6 4", className="planner-remote-reads")
        _add_tooltip(polyline, f"{line.reads:,.0f} reads a year: {line.site_id} -> "
                               f"{line.centre} (remote reading)").add_to(layer)
    return layer


def add_boundary(m, boundary) -> None:
    """Draw a boundary on map `m`: a GeoJSON file path or mapping, a shapely geometry or a
    GeoDataFrame (WGS-84 longitude/latitude); a clear error if it is not a usable outline."""
    mapping = _boundary_mapping(boundary)
    if mapping is not None:   # None or False: no boundary, nothing to draw
        _draw_boundary(m, mapping)


def _boundary_mapping(boundary) -> dict | None:
    """The checked GeoJSON mapping of a boundary as given to a map (see :func:`add_boundary`);
    None for None or False (no boundary)."""
    if boundary is None or boundary is False:
        return None
    problems = ProblemList()
    if isinstance(boundary, (str, Path)):
        checked = read_boundary(Path(boundary), problems, label=f"boundary {boundary}")
    else:
        checked = check_boundary(boundary, "boundary", problems)
    if problems.problems:
        raise PictureError(str(problems.problems[0]))
    return checked


def _positions(boundary: dict | None) -> pd.DataFrame:
    """lon, lat of every position of a boundary (none: an empty table)."""
    found = [p[:2] for polygon in (polygons(boundary) if boundary else []) for ring in polygon
             for p in ring]
    return pd.DataFrame(found, columns=["lon", "lat"], dtype=float)


def _draw_boundary(m, boundary: dict) -> None:
    import folium  # lazy: folium loads only to draw a map

    folium.GeoJson(boundary, name="Boundary", style_function=lambda _: {
        "color": "#37474f", "weight": 2, "fill": False, "dashArray": "6 4",
        "className": "planner-boundary"}).add_to(m)


def change_kind(changes: pd.Series) -> str:
    """added / removed / changed (both) / unchanged, from a site's unit changes."""
    if (changes > 0).any() and (changes < 0).any():
        return "changed"
    if (changes > 0).any():
        return "added"
    if (changes < 0).any():
        return "removed"
    return "unchanged"


def comparison_map(comparison, *, tiles: str | None = TILES):
    """The map of :class:`planner.results.comparison.Comparison`: sites coloured by the change in
    their units in service, and the relocations of both plans (dashed: before, solid: after)."""
    import folium  # lazy: folium loads only to draw a map

    sites = comparison.sites
    if sites is None or not len(sites) or not {"lon", "lat"} <= set(sites.columns):
        raise PictureError("the comparison has no site coordinates (plans from the run history "
                           "record only their decisions); compare Plan objects or plan folders "
                           "to draw the map.")
    sites = sites.assign(lon=sites["lon"].astype(float), lat=sites["lat"].astype(float))
    m = _new_map(sites, tiles)
    units = comparison.units
    layer = folium.FeatureGroup(name="Sites: change in units")
    for site in sites.itertuples(index=False):
        rows = units[units["site_id"] == site.site_id]
        kind = change_kind(rows["change"])
        colour = CHANGE_COLOURS[kind]
        lines = [f"<b>{html.escape(str(site.name))}</b> ({html.escape(site.site_id)}): {kind}"]
        lines += [f"{html.escape(r.equipment)}: {r.before:.0f} -> {r.after:.0f}"
                  for r in rows.itertuples()]
        marker = folium.CircleMarker(
            [site.lat, site.lon], radius=_site_radius(float(rows["after"].sum())),
            color=colour, weight=2, fill=True, fill_color=colour, fill_opacity=0.7,
            className=f"planner-site planner-{kind}")
        _add_tooltip(marker, f"{site.name}: {kind}")
        _add_popup(marker, lines)
        marker.add_to(layer)
    layer.add_to(m)
    at = sites.set_index("site_id")[["lat", "lon"]]
    moves = folium.FeatureGroup(name="Relocations")
    for label, column, colour, dash in ((comparison.before, "before", "#8e24aa", "6 6"),
                                        (comparison.after, "after", "#1565c0", None)):
        for r in comparison.relocations[comparison.relocations[column] > 0].itertuples():
            _arrow(moves, tuple(at.loc[r.from_site]), tuple(at.loc[r.to_site]), colour,
                   f"{label}: {getattr(r, column):.0f} {r.equipment} {r.from_site} -> "
                   f"{r.to_site}", dash=dash)
    moves.add_to(m)
    _add_legend(m, f"{comparison.before} -> {comparison.after}",
                [(c, k) for k, c in CHANGE_COLOURS.items()]
                + [("#8e24aa", f"relocation in {comparison.before}"),
                   ("#1565c0", f"relocation in {comparison.after}")])
    folium.LayerControl(collapsed=True).add_to(m)
    return m


def stable_ids(m) -> None:
    """Replace folium's random element ids by a counter, so the same map renders to the same
    HTML (deterministic reports)."""
    count = 0

    def walk(element) -> None:
        nonlocal count
        if hasattr(element, "_id"):
            element._id = f"{count:08d}"
            count += 1
        for child in list(getattr(element, "_children", {}).values()):
            walk(child)

    walk(m.get_root())

"""`planner report PLAN_DIR`: one self-contained HTML page of a plan folder that opens offline.

Why self-contained: the page is handed to a director by mail or on a stick and opened where there
may be no network. Everything is inside the one file: the Leaflet script and stylesheet (vendored
in planner/pictures/static/leaflet/, its images as data: URIs), the folium map of sites (labelled by
name), units, zones, relocations and the scenario's boundary drawn without a tile layer (tiles
cannot load offline, and a failing tile request would be an error in the console), and the
matplotlib charts as inline SVG. Folium's own template would load Leaflet, jQuery and Bootstrap
from CDNs, so the map is rendered without its default links and the page refuses to be written
if any remote script or stylesheet is left.

The report reads the plan folder only (planner/pictures/data.py). It is written like every
planner output (planner/publish.py): atomically, and an existing file is replaced only if the
planner wrote it (a report carries a generator meta tag that says so).
"""

from __future__ import annotations

import base64
import html
import io
import re
from importlib import resources
from pathlib import Path

from planner.errors import PlannerError
from planner.pictures.data import PictureData, from_folder
from planner.pictures.map import plan_map, stable_ids
from planner.pictures.plot import plan_figure
from planner.publish import OutputError, publish_file
from planner.results.summary import with_site_names

GENERATOR = "consortium-planner report"
REPORT_NAME = "report.html"
_REMOTE = re.compile(r"<(?:script|link)\b[^>]*(?:src|href)\s*=\s*[\"']?(?:https?:)?//", re.I)


class ReportError(PlannerError):
    """A report that cannot be made self-contained (exit 1: a bug, not bad input)."""

    exit_code = 1


def leaflet_assets() -> tuple[str, str]:
    """(script, stylesheet) of the vendored Leaflet, ready to inline: the source-map comment
    dropped (it would make DevTools request a file) and the CSS images as data: URIs."""
    static = resources.files("planner.pictures") / "static" / "leaflet"
    script = (static / "leaflet.js").read_text(encoding="utf-8")
    script = re.sub(r"^//# sourceMappingURL=.*$", "", script, flags=re.M)
    css = (static / "leaflet.css").read_text(encoding="utf-8")

    def inline(match: re.Match) -> str:
        data = (static / "images" / match[1]).read_bytes()
        return f"url(data:image/png;base64,{base64.b64encode(data).decode('ascii')})"

    css = re.sub(r"url\(images/([A-Za-z0-9_.-]+\.png)\)", inline, css)
    return script.replace("</script", "<\\/script"), css


def map_parts(data: PictureData, equipment: str | None = None) -> tuple[str, str, str]:
    """(head, body, script) of the plan's map: folium's rendering without its CDN links."""
    m = plan_map(data, equipment, tiles=None)
    m.default_js, m.default_css = [], []
    stable_ids(m)
    figure = m.get_root()
    figure.render()
    return figure.header.render(), figure.html.render(), figure.script.render()


def charts_svg(data: PictureData) -> str:
    """The plan's figure (planner/pictures/plot.py) as inline SVG, byte-identical for the same
    plan."""
    import matplotlib  # lazy: matplotlib loads only to draw

    with matplotlib.rc_context({"svg.hashsalt": "consortium-planner", "svg.fonttype": "path"}):
        figure = plan_figure(data)
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]      # drop the XML prolog and DOCTYPE


def _share(value) -> str:
    return "" if value is None else f"{100 * float(value):.1f}%"


def _money(value, currency: str) -> str:
    return "n/a" if value is None else f"{float(value) / 1e6:,.2f} M {currency}"


def kpi_rows(data: PictureData) -> list[tuple[str, str]]:
    """(label, value) rows of the KPI table, from plan.json."""
    k = data.kpis
    rows = [("Scenario", data.scenario),
            *([("Consortium kind", data.kind)] if data.kind else []), ("Status", data.status),
            ("Annual cost", _money(data.objective, data.currency)),
            ("Capital used", f"{_money(k.get('capital_used'), data.currency)} of "
                             f"{_money(k.get('capital_budget'), data.currency)}"),
            ("In-county treatment rate", _share(k.get("in_county_rate")))]
    new = k.get("new_units") or {}
    rows.append(("New units", ", ".join(f"{n} {e}" for e, n in new.items()) or "none"))
    rows.append(("Relocated units", str(k.get("relocated_units", 0))))
    days = k.get("outreach_days") or {}
    rows.append(("Outreach days", ", ".join(f"{s} {n}" for s, n in days.items()) or "none"))
    before, after = k.get("access_before") or {}, k.get("access_after") or {}
    for key in after:
        equipment, minutes = key.rsplit("_within_", 1)
        rows.append((f"Residents within {minutes.removesuffix('min')} min of {equipment}",
                     f"{_share(before.get(key))} before, {_share(after[key])} after"))
    if k.get("urgent_uncovered_zones"):
        rows.append(("Zones without urgent cover", str(k["urgent_uncovered_zones"])))
    return rows


FUND_LABELS = {"revenue": "Revenue (capitation x insured residents)",
               "in_county_payments": "Paid for care in the consortium",
               "outside_payments": "Paid for care referred out",
               "other_spending": "Other spending (care not planned)",
               "surplus": "Surplus (negative: deficit)",
               "out_of_pocket": "Patients' out-of-pocket payments"}


def fund_rows(data: PictureData) -> list[tuple[str, str]]:
    """(label, value) rows of the fund panel, from plan.json's `fund` (docs/design.md section
    8); none when the plan has no fund."""
    fund = data.fund or {}
    return [(label, _money(fund[key], data.currency)) for key, label in FUND_LABELS.items()
            if key in fund]


def reading_rows(data: PictureData) -> tuple[list[tuple], list[tuple]]:
    """The reading panel (docs/design.md section 9), from reading.csv: per site (name, id,
    exams, reads local, remote and bought) and per centre (name, id, radiologists, hired,
    capacity, reads done, utilisation), numbers as text; both empty without [reading]."""
    table = data.reading
    if table is None or not len(table):
        return [], []
    names = data.sites.set_index("site_id")["name"]
    sites, centres = [], []
    for r in table.itertuples(index=False):
        name = str(names.get(r.site_id, r.site_id))
        sites.append((name, r.site_id, *(f"{float(v):,.0f}" for v in (
            r.exams, r.reads_local, r.reads_remote, r.reads_bought))))
        if r.centre:
            centres.append((name, r.site_id, f"{float(r.radiologists):g}", f"{int(r.hired)}",
                            f"{float(r.capacity):,.0f}", f"{float(r.reads_done):,.0f}",
                            _share(r.utilisation)))
    return sites, centres


def report_html(folder: str | Path, equipment: str | None = None) -> str:
    """The report page of a plan folder, as text."""
    from jinja2 import Environment, PackageLoader, select_autoescape  # lazy: only for a report

    data = from_folder(folder)
    head, body, script = map_parts(data, equipment)
    leaflet_js, leaflet_css = leaflet_assets()
    environment = Environment(loader=PackageLoader("planner.pictures", "static"),
                              autoescape=select_autoescape(["html"]))
    decisions = with_site_names(data.decisions, data.sites)   # a name beside each site id
    page = environment.get_template("report.html").render(
        generator=GENERATOR, data=data, kpis=kpi_rows(data), fund=fund_rows(data),
        reading=reading_rows(data),
        decisions=decisions,
        leaflet_js=leaflet_js, leaflet_css=leaflet_css, map_head=head, map_body=body,
        map_script=script, charts=charts_svg(data), sites=len(data.sites),
        relocations=len(data.relocations()))
    remote = _REMOTE.search(page)
    if remote:
        raise ReportError(f"the report would load {remote[0]!r} from the network; it must be "
                          "self-contained. Please report this bug.")
    return page


def _written_by_planner(path: Path) -> bool:
    """A file whose head carries the report's generator tag (only those are replaced)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            start = handle.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{html.escape(GENERATOR)}">' in start


def write_report(folder: str | Path, out: str | Path | None = None,
                 equipment: str | None = None) -> Path:
    """Write the report of a plan folder to `out` (default PLAN_DIR/report.html), atomically;
    an existing file is replaced only if it is a report the planner wrote."""
    target = Path(out) if out is not None else Path(folder) / REPORT_NAME
    if target.is_dir():
        raise OutputError(f"--out {target}: this is a folder; the report is one HTML file. "
                          f"Give a file path, for example {target / REPORT_NAME}.")
    page = report_html(folder, equipment)
    with publish_file(target, _written_by_planner, "report") as work:
        work.write_text(page, encoding="utf-8")
    return target

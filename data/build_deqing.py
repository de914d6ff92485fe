"""Build the embedded scenario ``data/deqing/`` (Deqing county medical community, Zhejiang) from the
raw inputs in ``data/sources/deqing/``.

Run from the repository root (any working directory works)::

    python data/build_deqing.py             # writes data/deqing/
    python data/build_deqing.py --out DIR   # writes DIR/deqing/ (the tests compare the two)

Deterministic, like ``build_tianchang.py``, whose geometry and placement helpers it imports (UTM
metres, Halton placement in Voronoi cells of the township seats, integer splits): the same method
on Deqing's division file. Disease rates, units per case and the equipment and specialty
catalogues are Tianchang's (national figures, or estimates not specific to a county). Every
figure is labelled in ``data/README.md`` (section "Deqing"): SOURCED, DERIVED or ESTIMATE.

Inputs (copied unchanged from the research notes; ``data/sources/SOURCE.md``):

* ``330521.csv``: Vonng/adcode division rows of 德清县 (county, 12 township-level rows, 180
  village-level rows), 2016 codes, GCJ-02 points where AMap had them (CC BY 4.0).
* ``fence_330521.json``: the county boundary polygon, GCJ-02 (Vonng/adcode, CC BY 4.0).
* ``deqing_townships.csv``: the township table of the research notes (seat points, approximate
  populations and areas with their sources; FACTS §1b).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import prcoords
import shapely
from build_tianchang import (
    ADCODE_COLUMNS,
    EQUIPMENT,
    MIN_OUTREACH_DAYS,
    STAFF_PER_UNIT,
    UR_WEIGHT,
    URBAN_CODES,
    URBAN_RADIUS_M,
    halton_points,
    haversine_km,
    minutes,
    scenario_toml,
    split_integer,
    to_ll,
    to_m,
    to_m_geom,
    write_catalogues,
    write_tables,
)
from shapely.geometry import MultiPoint, Point, shape

from planner.scenario.boundary import write_boundary
from planner.scenario.geo import gcj02_to_wgs84

HERE = Path(__file__).resolve().parent
SRC = HERE / "sources" / "deqing"
NAME = "deqing"

TOTAL_POPULATION = 430_000   # "43万" (year unstated), FACTS §0 / §1b
COUNTY_POINT = (119.9774, 30.54251)   # Vonng/adcode county point, GCJ-02 (武康, the county seat)
BOUNDARY_SOURCE = ("Vonng/adcode data/fences/330521.json (CC BY 4.0), GCJ-02 converted to "
                   "WGS-84 by data/build_deqing.py")

# (code9, name, member id suffix, pinyin, kind)
TOWNSHIPS = [
    ("330521001", "武康街道", "WUKANG", "Wukang", "subdistrict"),
    ("330521002", "舞阳街道", "WUYANG", "Wuyang", "subdistrict"),
    ("330521003", "阜溪街道", "FUXI", "Fuxi", "subdistrict"),
    ("330521004", "下渚湖街道", "XIAZHUHU", "Xiazhuhu", "subdistrict"),
    ("330521101", "乾元镇", "QIANYUAN", "Qianyuan", "town"),
    ("330521102", "新市镇", "XINSHI", "Xinshi", "town"),
    ("330521103", "洛舍镇", "LUOSHE", "Luoshe", "town"),
    ("330521104", "钟管镇", "ZHONGGUAN", "Zhongguan", "town"),
    ("330521110", "雷甸镇", "LEIDIAN", "Leidian", "town"),
    ("330521113", "禹越镇", "YUYUE", "Yuyue", "town"),
    ("330521114", "新安镇", "XINAN", "Xin'an", "town"),
    ("330521115", "莫干山镇", "MOGANSHAN", "Moganshan", "town"),
]
# 下渚湖街道 has no point in Vonng/adcode. SOURCED: 30.4796 N, 120.033 E (WGS-84), the
# zh-Wikipedia 下渚湖街道 infobox (stored mirror zh1.bitforum.be.eu.org); converted to GCJ-02 below.
XIAZHUHU_WGS84 = (120.033, 30.4796)
# 阜溪街道 has no point either. DERIVED: the point of its one unit with a point, 三桥社区
# (urban-rural code 121, a town centre).
FUXI_SEAT_UNIT = "330521003"

# County hospitals: names SOURCED as the brief's (the People's Hospital leads the medical
# community); places ESTIMATE (no sourced coordinate): the People's Hospital at the county point,
# the TCM hospital 1.5 km south of it, both in 武康.
PH_NAME = "德清县人民医院 (Deqing Xian Renmin Yiyuan, People's Hospital)"
TCM_NAME = "德清县中医院 (Deqing Xian Zhongyiyuan, Hospital of Traditional Chinese Medicine)"
TCM_OFFSET_M = (0.0, -1_500.0)

# Tianchang's scale, applied to Deqing's residents (ESTIMATE: no Deqing figure was found).
SCALE = TOTAL_POPULATION / 603_780
TOTAL_BUDGET = int(round(24_000_000 * SCALE, -6))    # 17 M CNY
BUDGET_SHARE = {"PH": 0.40, "TCM": 0.20}
QUALITY = {"PH": 0.85, "TCM": 0.80, "township": 0.65}
# Existing units (ESTIMATE): 3 CT and 2 MRI at the county hospitals, a CT at 新市, the largest
# and farthest town (30 km from the seat).
EXISTING_UNITS = {"PH": {"CT": 2, "MRI": 1}, "TCM": {"CT": 1, "MRI": 1}, "XINSHI": {"CT": 1}}
TIANCHANG_OUTREACH = {
    "PH": {"cardiology": 450, "neurology": 300, "oncology": 300, "respiratory": 400,
           "orthopaedics": 250},
    "TCM": {"cardiology": 150, "neurology": 100, "oncology": 60, "respiratory": 150,
            "orthopaedics": 150},
}
TIANCHANG_CLINICS = {
    "PH": {"cardiology": 12_000, "neurology": 6_000, "oncology": 11_000, "respiratory": 12_000,
           "orthopaedics": 10_000},
    "TCM": {"cardiology": 4_000, "neurology": 2_000, "oncology": 2_000, "respiratory": 5_000,
            "orthopaedics": 6_000},
}
OUTREACH_DAYS = {m: {s: int(round(d * SCALE)) for s, d in p.items()}
                 for m, p in TIANCHANG_OUTREACH.items()}
CLINIC_VISITS = {m: {s: int(round(v * SCALE, -2)) for s, v in p.items()}
                 for m, p in TIANCHANG_CLINICS.items()}

# Site-bound demand (site_demand.csv): the two county hospitals' in-patient and emergency CT/MRI
# exams, Tianchang's arithmetic (data/README.md, "Deqing"). Beds ESTIMATE within the county's
# 2,540 beds (jobmd.cn, 德清县卫生健康局 profile); occupancy, stay, exams per admission and CT
# share of ED visits as Tianchang's (ESTIMATE); ED visits Tianchang's x SCALE, rounded to 1,000.
HOSPITAL_LOAD = {  # site: beds, occupancy, length of stay (days), ED visits a year
    "S_PH": (800, 0.90, 8.0, int(round(60_000 * SCALE, -3))),
    "S_TCM": (450, 0.85, 9.0, int(round(25_000 * SCALE, -3))),
}
EXAMS_PER_ADMISSION = {"S_PH": {"CT": 0.5, "MRI": 0.1}, "S_TCM": {"CT": 0.4, "MRI": 0.08}}
ED_CT_SHARE = {"S_PH": 0.15, "S_TCM": 0.12}

# Central reading ([reading]): the People's Hospital, the lead member, reads for the county at
# Tianchang's reads per radiologist and cost. Radiologists DERIVED as Tianchang's: 2.6 radiology
# staff per device (FACTS §2) x CT/MRI units today x 0.6 reporting physicians (ESTIMATE), to half
# FTE; a township CT room has one radiology physician (FACTS §2).
READING_CENTRES = ["S_PH"]
REPORTING_SHARE = 0.6


def radiologists(units: dict[str, dict[str, int]], site_of: dict[str, str]) -> dict[str, float]:
    """site -> radiologist FTE: 2.6 staff per CT/MRI unit x 0.6 at the hospitals (to half FTE),
    one at a township centre with a CT."""
    fte = {}
    for owner, eq in units.items():
        n = sum(eq.values())
        fte[site_of[owner]] = (round(STAFF_PER_UNIT * n * REPORTING_SHARE * 2) / 2
                               if owner in ("PH", "TCM") else 1.0)
    return fte


def site_demand_rows(load: dict, per_admission: dict, ed_share: dict) -> list[list]:
    """site_demand.csv rows (site, equipment, exams a year, rounded to 100): admissions = beds x
    occupancy x 365 / stay; exams = admissions x exams per admission (+ ED visits x CT share for
    CT). The arithmetic of build_tianchang.site_demand, on the tables given."""
    rows = []
    for site, (beds, occupancy, stay, ed_visits) in load.items():
        admissions = beds * occupancy * 365 / stay
        for e, per in per_admission[site].items():
            exams = admissions * per + (ed_visits * ed_share[site] if e == "CT" else 0)
            rows.append([site, e, int(round(exams, -2))])
    return rows


def read_sources():
    with open(SRC / "330521.csv", encoding="utf-8", newline="") as f:
        adcode = [dict(zip(ADCODE_COLUMNS, row)) for row in csv.reader(f)]
    with open(SRC / "deqing_townships.csv", encoding="utf-8", newline="") as f:
        towns = {r["code9"]: r for r in csv.DictReader(f)}
    fence = shape(json.loads((SRC / "fence_330521.json").read_text(encoding="utf-8")))
    return adcode, towns, fence


def township_populations(towns: dict, units: list[dict]) -> dict[str, int]:
    """SOURCED (approximate, zhdiming.com) for 9 units; the 3 GAP units share the rest of the
    430,000 in proportion to their number of village-level units (ESTIMATE)."""
    pop = {code: int(towns[code]["population_approx"]) for code, *_ in TOWNSHIPS
           if towns[code]["population_approx"]}
    gaps = [code for code, *_ in TOWNSHIPS if code not in pop]
    counts = [sum(u["township"] == code for u in units) for code in gaps]
    pop.update(zip(gaps, split_integer(TOTAL_POPULATION - sum(pop.values()), counts)))
    return pop


def seats_of(towns: dict, units: list[dict]) -> dict[str, tuple[float, float]]:
    seats = {}
    for code, *_ in TOWNSHIPS:
        t = towns[code]
        if t["lon_gcj02"]:
            seats[code] = (float(t["lon_gcj02"]), float(t["lat_gcj02"]))
    fuxi = [u for u in units if u["township"] == FUXI_SEAT_UNIT and u["lon"] is not None]
    assert len(fuxi) == 1
    seats[FUXI_SEAT_UNIT] = (fuxi[0]["lon"], fuxi[0]["lat"])
    g = prcoords.wgs_gcj((XIAZHUHU_WGS84[1], XIAZHUHU_WGS84[0]))
    seats["330521004"] = (round(g.lon, 6), round(g.lat, 6))
    return seats


def build() -> dict:
    adcode, towns, fence_ll = read_sources()
    fence = to_m_geom(fence_ll)
    units = [{"code": r["code"], "name": r["name"], "ur": r["ur_code"], "township": r["code"][:9],
              "lon": float(r["longitude"]) if r["longitude"] else None,
              "lat": float(r["latitude"]) if r["latitude"] else None}
             for r in sorted((r for r in adcode if r["level"] == "village"),
                             key=lambda r: r["code"])]
    seats = seats_of(towns, units)
    codes = [t[0] for t in TOWNSHIPS]
    seat_pts = {c: Point(*to_m(*seats[c])) for c in codes}
    assert all(fence.contains(p) for p in seat_pts.values())
    vor = shapely.voronoi_polygons(MultiPoint([seat_pts[c] for c in codes]),
                                   extend_to=fence.envelope.buffer(50_000))
    cells = {}
    for c in codes:
        hits = [g for g in vor.geoms if g.contains(seat_pts[c])]
        assert len(hits) == 1, c
        cells[c] = hits[0].intersection(fence)

    generators: dict[tuple[str, str], object] = {}
    for u in units:
        given = u["lon"] is not None and fence.contains(Point(*to_m(u["lon"], u["lat"])))
        if given:
            u["coord_source"] = "given"
            continue
        c = u["township"]
        if u["ur"] in URBAN_CODES:
            kind, region = "urban", cells[c].intersection(seat_pts[c].buffer(URBAN_RADIUS_M, 64))
        else:
            kind, region = "cell", cells[c]
        p = next(generators.setdefault((c, kind), halton_points(region)))
        u["lon"], u["lat"] = to_ll(p.x, p.y)
        u["coord_source"] = "placed"

    pop_t = township_populations(towns, units)
    assert sum(pop_t.values()) == TOTAL_POPULATION
    for c in codes:
        us = [u for u in units if u["township"] == c]
        for u, p in zip(us, split_integer(pop_t[c], [UR_WEIGHT[u["ur"]] for u in us])):
            u["population"] = p

    # members, sites, budget
    x, y = to_m(*COUNTY_POINT)
    tcm_ll = to_ll(x + TCM_OFFSET_M[0], y + TCM_OFFSET_M[1])
    rest = int(round(TOTAL_BUDGET * (1 - sum(BUDGET_SHARE.values()))))
    town_budget = [int(round(b, -3)) for b in split_integer(rest, [pop_t[c] for c in codes])]
    big = max(range(len(codes)), key=lambda k: (pop_t[codes[k]], -k))
    town_budget[big] += rest - sum(town_budget)
    members = [["PH", PH_NAME, int(round(TOTAL_BUDGET * BUDGET_SHARE["PH"])), QUALITY["PH"], 0],
               ["TCM", TCM_NAME, int(round(TOTAL_BUDGET * BUDGET_SHARE["TCM"])), QUALITY["TCM"],
                0]]
    sites = [["S_PH", PH_NAME, "PH", "county", COUNTY_POINT[0], COUNTY_POINT[1]],
             ["S_TCM", TCM_NAME, "TCM", "county", tcm_ll[0], tcm_ll[1]]]
    member_of = {}
    for (code, zh, key, pinyin, kind), budget in zip(TOWNSHIPS, town_budget):
        centre, eng = (("社区卫生服务中心", "Subdistrict Community Health Centre")
                       if kind == "subdistrict" else ("卫生院", "Township Health Centre"))
        label = f"{zh}{centre} ({pinyin} {eng})"
        member_of[code] = f"THC_{key}"
        members.append([f"THC_{key}", label, budget, QUALITY["township"], pop_t[code]])
        sites.append([f"S_{key}", label, f"THC_{key}", "township", *seats[code]])
    name_of = {t[0]: t[1] for t in TOWNSHIPS}
    zones = [[f"Z{u['code']}", f"{name_of[u['township']]}·{u['name']}", u["lon"], u["lat"],
              u["population"], member_of[u["township"]], name_of[u["township"]], u["code"],
              u["ur"], u["coord_source"]] for u in units]

    site_of = {"PH": "S_PH", "TCM": "S_TCM"} | {t[2]: f"S_{t[2]}" for t in TOWNSHIPS}
    resources = [[site_of[o], e, k] for o, eq in EXISTING_UNITS.items() for e, k in eq.items()]
    resources += [[site_of[o], f"{s}.outreach_days", d] for o, p in OUTREACH_DAYS.items()
                  for s, d in p.items()]
    resources += [[site_of[o], f"{s}.clinic_visits", v] for o, p in CLINIC_VISITS.items()
                  for s, v in p.items()]
    resources += [[s, "radiologists", f] for s, f in radiologists(EXISTING_UNITS, site_of).items()]
    return {"members": members, "sites": sites, "zones": zones, "resources": resources,
            "boundary": boundary_feature(SRC / "fence_330521.json",
                                         "德清县 Deqing county (adcode 330521)", BOUNDARY_SOURCE)}


def boundary_feature(path: Path, name: str, source: str) -> dict:
    """The fence as a GeoJSON Feature in WGS-84, as build_tianchang.county_boundary does."""
    fence = json.loads(path.read_text(encoding="utf-8"))
    assert fence["type"] == "Polygon", fence["type"]
    rings = []
    for ring in fence["coordinates"]:
        lon, lat = gcj02_to_wgs84([p[0] for p in ring], [p[1] for p in ring])
        rings.append([[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)])
    return {"type": "Feature", "properties": {"name": name, "source": source},
            "geometry": {"type": "Polygon", "coordinates": rings}}


def write_all(b: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    head = """# Embedded scenario: the Deqing (德清县, Zhejiang) county medical community.
# Generated by data/build_deqing.py from data/sources/deqing/ -- do not edit by hand.
# Sources and estimates: data/README.md, section "Deqing". Coordinates are GCJ-02 as in the
# sources. No [fund]: Deqing's payment rules were not found (FACTS §0).
name = "Deqing county medical community (德清县县域医共体)"
kind = "county"
"""
    toml = scenario_toml(head, grassroots_tier="township", reading_centres=READING_CENTRES,
                         reader="the People's Hospital")
    (folder / "scenario.toml").write_text(toml, encoding="utf-8")
    write_tables(folder, b, "township",
                 site_demand_rows(HOSPITAL_LOAD, EXAMS_PER_ADMISSION, ED_CT_SHARE))
    write_catalogues(folder)
    write_boundary(b["boundary"], folder)


def check(b: dict) -> None:
    """Totals, references and the worst zone's minutes to its nearest site (all sites allow CT,
    so hard 30-minute stroke coverage is feasible when that is under 30)."""
    zones, sites, members = b["zones"], b["sites"], b["members"]
    assert len(members) == len(sites) == 14 and len(zones) == 180
    assert sum(z[4] for z in zones) == TOTAL_POPULATION and all(z[4] > 0 for z in zones)
    mids = {m[0] for m in members}
    assert all(s[2] in mids for s in sites) and all(z[5] in mids for z in zones)
    for s, d in MIN_OUTREACH_DAYS.items():
        assert d * 12 <= sum(p[s] for p in OUTREACH_DAYS.values()), s
    county = shape(b["boundary"]["geometry"])
    points = [(z[2], z[3]) for z in zones] + [(s[4], s[5]) for s in sites]
    lon, lat = gcj02_to_wgs84([p[0] for p in points], [p[1] for p in points])
    assert all(county.contains(Point(x, y)) for x, y in zip(lon, lat))
    worst = max((min(minutes(haversine_km(z[2], z[3], s[4], s[5])) for s in sites), z[1])
                for z in zones)
    assert worst[0] < 30, worst
    usable = {e["equipment"]: e["capacity_per_year"] * e["max_utilization"] for e in EQUIPMENT}
    held = {(s, e): k for s, e, k in b["resources"] if e in usable}
    for s, e, exams in site_demand_rows(HOSPITAL_LOAD, EXAMS_PER_ADMISSION, ED_CT_SHARE):
        assert exams <= held[s, e] * usable[e], (s, e)   # today's units hold the own exams
    print(f"deqing: zones {len(zones)} population {sum(z[4] for z in zones)} placed "
          f"{sum(z[9] == 'placed' for z in zones)}; budget {sum(m[2] for m in members):,}; "
          f"worst zone->nearest site {worst[0]:.1f} min ({worst[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write deqing/ into")
    b = build()
    check(b)
    write_all(b, parser.parse_args().out / NAME)


if __name__ == "__main__":
    main()

"""Build the embedded scenario ``data/luohu/`` (an urban medical group: the Shenzhen Luohu hospital
group, 罗湖医院集团) from the raw inputs in ``data/sources/luohu/``.

Run from the repository root (any working directory works)::

    python data/build_urban_group.py             # writes data/luohu/
    python data/build_urban_group.py --out DIR   # writes DIR/luohu/ (the tests compare the two)

Deterministic, like ``build_tianchang.py`` and ``build_deqing.py``, whose geometry, placement and
catalogue helpers it imports: the 115 communities (社区) of the district's 10 subdistricts are the
zones (points where Vonng/adcode has one, Halton points near the subdistrict seat otherwise).
The group is a tertiary hospital, four secondary hospitals, a regional imaging centre that reads
for the group (``[reading]``) and the community health centres (社康中心) of each subdistrict,
the grassroots tier. Every figure is labelled in ``data/README.md`` (section "Luohu"): SOURCED,
DERIVED or ESTIMATE.

Inputs (copied unchanged from Vonng/adcode, commit b755d6e; ``data/sources/SOURCE.md``):

* ``440303.csv``: division rows of 罗湖区 (district, 10 subdistricts, 115 communities), 2016
  codes, GCJ-02 points where AMap had them (CC BY 4.0).
* ``fence_440303.json``: the district boundary polygon, GCJ-02 (CC BY 4.0).
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import shapely
from build_deqing import boundary_feature, site_demand_rows
from build_tianchang import (
    ADCODE_COLUMNS,
    EQUIPMENT,
    MIN_OUTREACH_DAYS,
    STAFF_PER_UNIT,
    UR_WEIGHT,
    URBAN_RADIUS_M,
    halton_points,
    haversine_km,
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
SRC = HERE / "sources" / "luohu"
NAME = "luohu"

TOTAL_POPULATION = 1_143_801   # 7th census (2020) residents of 罗湖区 (zh-Wikipedia infobox)
DISTRICT_POINT = (114.131459, 22.548389)   # Vonng/adcode district point, GCJ-02
BOUNDARY_SOURCE = ("Vonng/adcode data/fences/440303.json (CC BY 4.0), GCJ-02 converted to "
                   "WGS-84 by data/build_urban_group.py")

# (code9, name, member id suffix, pinyin)
SUBDISTRICTS = [
    ("440303001", "桂园街道", "GUIYUAN", "Guiyuan"),
    ("440303002", "黄贝街道", "HUANGBEI", "Huangbei"),
    ("440303003", "东门街道", "DONGMEN", "Dongmen"),
    ("440303004", "翠竹街道", "CUIZHU", "Cuizhu"),
    ("440303005", "南湖街道", "NANHU", "Nanhu"),
    ("440303006", "笋岗街道", "SUNGANG", "Sungang"),
    ("440303007", "东湖街道", "DONGHU", "Donghu"),
    ("440303008", "莲塘街道", "LIANTANG", "Liantang"),
    ("440303009", "东晓街道", "DONGXIAO", "Dongxiao"),
    ("440303010", "清水河街道", "QINGSHUIHE", "Qingshuihe"),
]
# SOURCED: 翠竹街道 134,365 residents on 2020-11-01 (7th census, myygl.org 翠竹街道 page). The
# other subdistricts share the rest in proportion to their number of communities (ESTIMATE).
POP_SOURCED = {"440303004": 134_365}

# City travel (ESTIMATE): 25 km/h door to door on congested urban roads, circuity as Tianchang's.
SPEED_KMH = 25.0
CIRCUITY = 1.3

# The group's hospitals (SOURCED composition, szlhyy.com.cn: five district hospitals, 2015) and
# the regional imaging centre (ESTIMATE: the issue's urban group "with a regional imaging
# centre"; no Luohu source found). Places ESTIMATE (no sourced coordinates): the People's
# Hospital at the given point of 友谊社区 (南湖, the old centre), the others at subdistrict seats,
# the imaging centre at the district point. (member, name, tier, place)
HOSPITALS = [
    ("PH", "罗湖区人民医院 (Luohu District People's Hospital)", "tertiary", "440303005001"),
    ("TCM", "罗湖区中医院 (Luohu District Hospital of Traditional Chinese Medicine)", "secondary",
     "440303007"),
    ("MCH", "罗湖区妇幼保健院 (Luohu District Maternal and Child Health Hospital)", "secondary",
     "440303002"),
    ("REHAB", "罗湖区康复医院 (Luohu District Rehabilitation Hospital)", "secondary", "440303008"),
    ("GERI", "罗湖区医养融合老年病医院 (Luohu District Geriatric Hospital)", "secondary",
     "440303010"),
    ("IMG", "罗湖医院集团医学影像中心 (Luohu Hospital Group Regional Imaging Centre)", "imaging",
     "district"),
]
QUALITY = {"tertiary": 0.9, "secondary": 0.8, "imaging": 0.8, "community": 0.65}   # ESTIMATE

# Tianchang's scale applied to Luohu's residents (ESTIMATE: no Luohu figure was found).
SCALE = TOTAL_POPULATION / 603_780
TOTAL_BUDGET = int(round(24_000_000 * SCALE, -6))    # 45 M CNY
BUDGET_SHARE = {"PH": 0.35, "TCM": 0.10, "MCH": 0.05, "REHAB": 0.025, "GERI": 0.025,
                "IMG": 0.15}   # the community centres share the rest (30%) by residents
EXISTING_UNITS = {"PH": {"CT": 4, "MRI": 2}, "TCM": {"CT": 2, "MRI": 1}, "MCH": {"CT": 1},
                  "IMG": {"CT": 2, "MRI": 1}}   # ESTIMATE
# Equipment: Tianchang's rows; new or moved units only at hospitals and the imaging centre
# (ESTIMATE: a 社康中心 has DR and ultrasound, not CT), MRI not at the secondary hospitals.
ALLOWED_TIERS = {"CT": "tertiary;secondary;imaging", "MRI": "tertiary;imaging"}
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

# Site-bound demand (Tianchang's arithmetic, all ESTIMATE): beds, occupancy, stay, ED visits.
HOSPITAL_LOAD = {
    "S_PH": (1_200, 0.95, 7.0, 150_000),
    "S_TCM": (500, 0.85, 9.0, 40_000),
    "S_MCH": (300, 0.85, 5.0, 30_000),
}
EXAMS_PER_ADMISSION = {"S_PH": {"CT": 0.5, "MRI": 0.1}, "S_TCM": {"CT": 0.4, "MRI": 0.08},
                       "S_MCH": {"CT": 0.05}}   # MCH: no MRI room (ESTIMATE)
ED_CT_SHARE = {"S_PH": 0.15, "S_TCM": 0.12, "S_MCH": 0.03}

# Central reading: the imaging centre reads for the group. Radiologists DERIVED as Tianchang's
# (2.6 radiology staff per device, FACTS §2, x units today x 0.6 reporting physicians, ESTIMATE).
READING_CENTRES = ["S_IMG"]
REPORTING_SHARE = 0.6


def read_sources():
    with open(SRC / "440303.csv", encoding="utf-8", newline="") as f:
        adcode = [dict(zip(ADCODE_COLUMNS, row)) for row in csv.reader(f)]
    fence = shape(json.loads((SRC / "fence_440303.json").read_text(encoding="utf-8")))
    return adcode, fence


def point_of(r: dict) -> tuple[float, float] | None:
    return (float(r["longitude"]), float(r["latitude"])) if r["longitude"] else None


def seats_of(adcode: list[dict]) -> dict[str, tuple[float, float]]:
    """Subdistrict seats: 7 SOURCED (Vonng/adcode); 南湖 the mean of its two community points and
    东湖 its one community point (DERIVED); 东门 the midpoint of the 桂园 and 黄贝 seats, between
    which it lies (ESTIMATE)."""
    rows = {r["code"][:9]: r for r in adcode if r["level"] == "town"}
    seats = {c: p for c in rows if (p := point_of(rows[c])) is not None}
    for code in ("440303005", "440303007"):
        pts = [p for r in adcode if r["level"] == "village" and r["code"][:9] == code
               if (p := point_of(r)) is not None]
        seats[code] = (round(sum(p[0] for p in pts) / len(pts), 6),
                       round(sum(p[1] for p in pts) / len(pts), 6))
    a, b = seats["440303001"], seats["440303002"]
    seats["440303003"] = (round((a[0] + b[0]) / 2, 6), round((a[1] + b[1]) / 2, 6))
    return seats


def subdistrict_populations(units: list[dict]) -> dict[str, int]:
    pop = dict(POP_SOURCED)
    rest = [c for c, *_ in SUBDISTRICTS if c not in pop]
    counts = [sum(u["subdistrict"] == c for u in units) for c in rest]
    pop.update(zip(rest, split_integer(TOTAL_POPULATION - sum(pop.values()), counts)))
    return pop


def place_units(units: list[dict], seats: dict, fence) -> None:
    """Given points kept; the others at Halton points of the subdistrict's Voronoi cell within
    URBAN_RADIUS_M of its seat (every community is urban: ur_code 111 or 112)."""
    codes = [s[0] for s in SUBDISTRICTS]
    seat_pts = {c: Point(*to_m(*seats[c])) for c in codes}
    assert all(fence.contains(p) for p in seat_pts.values())
    vor = shapely.voronoi_polygons(MultiPoint([seat_pts[c] for c in codes]),
                                   extend_to=fence.envelope.buffer(20_000))
    generators: dict[str, object] = {}
    for u in units:
        if u["lon"] is not None and fence.contains(Point(*to_m(u["lon"], u["lat"]))):
            u["coord_source"] = "given"
            continue
        c = u["subdistrict"]
        if c not in generators:
            cell = next(g for g in vor.geoms if g.contains(seat_pts[c])).intersection(fence)
            generators[c] = halton_points(cell.intersection(seat_pts[c].buffer(URBAN_RADIUS_M,
                                                                               64)))
        p = next(generators[c])
        u["lon"], u["lat"] = to_ll(p.x, p.y)
        u["coord_source"] = "placed"


def radiologists() -> dict[str, float]:
    """site -> FTE: 2.6 staff per CT/MRI unit today x 0.6, to half FTE."""
    return {f"S_{m}": round(STAFF_PER_UNIT * sum(eq.values()) * REPORTING_SHARE * 2) / 2
            for m, eq in EXISTING_UNITS.items()}


def build() -> dict:
    adcode, fence_ll = read_sources()
    fence = to_m_geom(fence_ll)
    units = [{"code": r["code"], "name": r["name"], "ur": r["ur_code"],
              "subdistrict": r["code"][:9], "lon": p[0] if (p := point_of(r)) else None,
              "lat": p[1] if p else None}
             for r in sorted((r for r in adcode if r["level"] == "village"),
                             key=lambda r: r["code"])]
    seats = seats_of(adcode)
    place_units(units, seats, fence)
    pop_s = subdistrict_populations(units)
    codes = [s[0] for s in SUBDISTRICTS]
    for c in codes:
        us = [u for u in units if u["subdistrict"] == c]
        for u, p in zip(us, split_integer(pop_s[c], [UR_WEIGHT[u["ur"]] for u in us])):
            u["population"] = p

    given = {u["code"]: (u["lon"], u["lat"]) for u in units}
    place = seats | given | {"district": DISTRICT_POINT}
    rest = int(round(TOTAL_BUDGET * (1 - sum(BUDGET_SHARE.values()))))
    chc_budget = [int(round(b, -3)) for b in split_integer(rest, [pop_s[c] for c in codes])]
    chc_budget[codes.index(max(codes, key=lambda c: pop_s[c]))] += rest - sum(chc_budget)
    members, sites = [], []
    for m, name, tier, where in HOSPITALS:
        members.append([m, name, int(round(TOTAL_BUDGET * BUDGET_SHARE[m])), QUALITY[tier], 0])
        sites.append([f"S_{m}", name, m, tier, *place[where]])
    name_of = {}
    for (code, zh, key, pinyin), budget in zip(SUBDISTRICTS, chc_budget):
        label = f"{zh}社康中心 ({pinyin} community health centres)"
        us = [u for u in units if u["subdistrict"] == code]
        centre = (round(sum(u["lon"] * u["population"] for u in us) / pop_s[code], 6),
                  round(sum(u["lat"] * u["population"] for u in us) / pop_s[code], 6))
        members.append([f"CHC_{key}", label, budget, QUALITY["community"], pop_s[code]])
        sites.append([f"S_{key}", label, f"CHC_{key}", "community", *centre])
        name_of[code] = (zh, f"CHC_{key}")
    zones = [[f"Z{u['code']}", f"{name_of[u['subdistrict']][0]}·{u['name']}", u["lon"], u["lat"],
              u["population"], name_of[u["subdistrict"]][1], name_of[u["subdistrict"]][0],
              u["code"], u["ur"], u["coord_source"]] for u in units]

    resources = [[f"S_{o}", e, k] for o, eq in EXISTING_UNITS.items() for e, k in eq.items()]
    resources += [[f"S_{o}", f"{s}.outreach_days", d] for o, p in OUTREACH_DAYS.items()
                  for s, d in p.items()]
    resources += [[f"S_{o}", f"{s}.clinic_visits", v] for o, p in CLINIC_VISITS.items()
                  for s, v in p.items()]
    resources += [[s, "radiologists", f] for s, f in radiologists().items()]
    return {"members": members, "sites": sites, "zones": zones, "resources": resources,
            "boundary": boundary_feature(SRC / "fence_440303.json",
                                         "罗湖区 Luohu district, Shenzhen (adcode 440303)",
                                         BOUNDARY_SOURCE)}


def equipment_rows() -> list[dict]:
    """Tianchang's catalogue with the urban group's allowed tiers."""
    return [e | {"allowed_tiers": ALLOWED_TIERS[e["equipment"]]} for e in EQUIPMENT]


def write_all(b: dict, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    head = """# Embedded scenario: the Luohu hospital group (罗湖医院集团, Shenzhen).
# Generated by data/build_urban_group.py from data/sources/luohu/ -- do not edit by hand.
# Sources and estimates: data/README.md, section "Luohu". Coordinates are GCJ-02 as in the
# sources. No [fund]: the group's payment rules were not found.
name = "Luohu hospital group (罗湖医院集团, Shenzhen), urban medical group"
kind = "urban-group"
"""
    toml = scenario_toml(head, grassroots_tier="community", reading_centres=READING_CENTRES,
                         reader="the group's imaging centre", speed_kmh=SPEED_KMH,
                         circuity=CIRCUITY)
    (folder / "scenario.toml").write_text(toml, encoding="utf-8")
    write_tables(folder, b, "subdistrict",
                 site_demand_rows(HOSPITAL_LOAD, EXAMS_PER_ADMISSION, ED_CT_SHARE))
    write_catalogues(folder, equipment_rows())
    write_boundary(b["boundary"], folder)


def minutes(km: float) -> float:
    return km * CIRCUITY / SPEED_KMH * 60.0


def check(b: dict) -> None:
    """Totals, references, points inside the boundary, policy days within the pools, today's
    units holding each hospital's own exams, and the worst zone's minutes to its nearest site
    that may hold a CT (hard 30-minute stroke coverage is feasible when that is under 30)."""
    zones, sites, members = b["zones"], b["sites"], b["members"]
    assert len(members) == len(sites) == 16 and len(zones) == 115
    assert sum(z[4] for z in zones) == TOTAL_POPULATION and all(z[4] > 0 for z in zones)
    mids = {m[0] for m in members}
    assert all(s[2] in mids for s in sites) and all(z[5] in mids for z in zones)
    n_grass = sum(s[3] == "community" for s in sites)
    for s, d in MIN_OUTREACH_DAYS.items():
        assert d * n_grass <= sum(p[s] for p in OUTREACH_DAYS.values()), s
    usable = {e["equipment"]: e["capacity_per_year"] * e["max_utilization"] for e in EQUIPMENT}
    held = {(s, e): k for s, e, k in b["resources"] if e in usable}
    for s, e, exams in site_demand_rows(HOSPITAL_LOAD, EXAMS_PER_ADMISSION, ED_CT_SHARE):
        assert exams <= held[s, e] * usable[e], (s, e)
    district = shape(b["boundary"]["geometry"])
    points = [(z[2], z[3]) for z in zones] + [(s[4], s[5]) for s in sites]
    lon, lat = gcj02_to_wgs84([p[0] for p in points], [p[1] for p in points])
    assert all(district.contains(Point(x, y)) for x, y in zip(lon, lat))
    ct_sites = [s for s in sites if s[3] in ALLOWED_TIERS["CT"].split(";")]
    worst = max((min(minutes(haversine_km(z[2], z[3], s[4], s[5])) for s in ct_sites), z[1])
                for z in zones)
    assert worst[0] < 30, worst
    print(f"luohu: zones {len(zones)} population {sum(z[4] for z in zones)} placed "
          f"{sum(z[9] == 'placed' for z in zones)}; budget {sum(m[2] for m in members):,}; "
          f"worst zone->nearest CT site {worst[0]:.1f} min ({worst[1]})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write luohu/ into")
    b = build()
    check(b)
    write_all(b, parser.parse_args().out / NAME)


if __name__ == "__main__":
    main()

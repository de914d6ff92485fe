"""Build the embedded default scenario ``data/tianchang/`` from the raw inputs in ``data/sources/``.

Run from the repository root (any working directory works)::

    python data/build_tianchang.py

The script is deterministic: no random numbers are drawn. Village-level units without a source
coordinate are placed at points of a 2-D Halton sequence (bases 2 and 3), so a re-run writes
byte-identical files. Every number below is either read from ``data/sources/`` or is a constant
in this file; ``data/README.md`` gives the source or the reasoning (labelled ESTIMATE) for each.

Inputs (copied unchanged from the research notes, see ``data/sources/SOURCE.md``):

* ``341181.csv``: Vonng/adcode division rows of 天长市 (county, 16 township-level rows, 176
  village-level rows), 2016 codes, GCJ-02 coordinates where AMap had them (CC BY 4.0).
* ``fence_341181.json``: the county boundary polygon, GCJ-02 (Vonng/adcode, CC BY 4.0).
* ``tianchang_townships.csv``: the derived township table (seat points, the two 2020
  subdistricts, population figures with their sources).

Outputs: the scenario's tables and ``scenario.toml``, and ``boundary.geojson``, the county fence
converted from GCJ-02 to WGS-84 (RFC 7946 fixes GeoJSON's datum) with the planner's own converter
(:func:`planner.scenario.geo.gcj02_to_wgs84`, prcoords), rounded to 6 decimals (0.1 m).

Geometry is done in UTM zone 50N metres with the GCJ-02 longitudes and latitudes treated as if
they were WGS-84 (the datum offset is a few hundred metres and shifts all points alike), then
converted back, so every coordinate written is in the GCJ-02 frame of the sources.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import shapely
from pyproj import Transformer
from shapely.geometry import MultiPoint, Point, box, shape

from planner.scenario.boundary import write_boundary
from planner.scenario.geo import gcj02_to_wgs84

HERE = Path(__file__).resolve().parent
SRC = HERE / "sources"
OUT = HERE / "tianchang"

# --------------------------------------------------------------------------------------------
# Scenario-wide constants
# --------------------------------------------------------------------------------------------

TOTAL_POPULATION = 603_780  # 7th census (2020-11-01) resident population, FACTS §0
COUNTY_POINT = (119.004816, 32.667571)  # Vonng/adcode county point, GCJ-02 (urban core)
BBOX = (118.65, 32.45, 119.23, 32.97)  # sanity box for every coordinate written
BOUNDARY_SOURCE = ("Vonng/adcode data/fences/341181.json (CC BY 4.0), GCJ-02 converted to "
                   "WGS-84 by data/build_tianchang.py")

SPEED_KMH = 40.0  # ESTIMATE (between ORS tertiary 50 and unclassified 30 km/h)
CIRCUITY = 1.3  # ASSUMPTION (GAP in FACTS §4)
WAGE_HEALTH_SECTOR = 135_222  # CNY/yr, health & social work, urban non-private, 2022 (FACTS §5)
WORK_MINUTES_PER_YEAR = 250 * 8 * 60  # ASSUMPTION: 250 working days of 8 hours
# DERIVED: 1.127 CNY per minute of a patient's time; x 2 because value_per_minute prices one
# minute of the one-way trip and the patient also travels back (docs/design.md §3) -> 2.25.
# ESTIMATE.
VALUE_PER_MINUTE = round(2 * WAGE_HEALTH_SECTOR / WORK_MINUTES_PER_YEAR, 2)
# A stroke case without a CT within 30 min is transferred and treated out of the county: the
# excess of a tertiary stay (13,930.6) over a secondary (county) one (6,762.3), NHC Q1 2022
# (FACTS §5), plus ESTIMATE 1,000 CNY for the ambulance transfer; late treatment's health loss is
# not priced (a lower bound).
COST_PER_LATE_CASE = round(13930.6 - 6762.3 + 1000.0, 1)

# --------------------------------------------------------------------------------------------
# Township-level units: member ids, names, population estimates
# --------------------------------------------------------------------------------------------

# (name in the sources, member id suffix, pinyin, English kind)
TOWNSHIPS = [
    ("千秋街道", "QIANQIU", "Qianqiu", "subdistrict"),
    ("广陵街道", "GUANGLING", "Guangling", "subdistrict"),
    ("铜城镇", "TONGCHENG", "Tongcheng", "town"),
    ("汊涧镇", "CHAJIAN", "Chajian", "town"),
    ("秦栏镇", "QINLAN", "Qinlan", "town"),
    ("大通镇", "DATONG", "Datong", "town"),
    ("杨村镇", "YANGCUN", "Yangcun", "town"),
    ("石梁镇", "SHILIANG", "Shiliang", "town"),
    ("金集镇", "JINJI", "Jinji", "town"),
    ("永丰镇", "YONGFENG", "Yongfeng", "town"),
    ("仁和集镇", "RENHEJI", "Renheji", "town"),
    ("冶山镇", "YESHAN", "Yeshan", "town"),
    ("郑集镇", "ZHENGJI", "Zhengji", "town"),
    ("张铺镇", "ZHANGPU", "Zhangpu", "town"),
    ("新街镇", "XINJIE", "Xinjie", "town"),
    ("万寿镇", "WANSHOU", "Wanshou", "town"),
]

# 2020 resident (常住) counts found in the sources (tianchang_townships.csv); kept exactly.
POP_SOURCED = {"汊涧镇": 43_539, "大通镇": 23_723}

# Resident population ESTIMATES for the other 14 units before scaling (README, "zones.csv").
# Rural towns: a registered-population guide figure x 0.605 (大通's resident/registered ratio,
# 23,723 / 39,222); GAP units interpolated along the registered-population rank order.
POP_ESTIMATE = {
    "千秋街道": 130_000,  # urban core (hukou rank 2); remainder reasoning in README
    "广陵街道": 100_000,  # urban core (hukou rank 4)
    "铜城镇": 57_500,  # "近十万" (c.2009) ~95,000 x 0.605; rank 1
    "秦栏镇": 33_500,  # 55,317 (2018) x 0.605; rank 5
    "金集镇": 29_000,  # rank 6: between 秦栏 and 杨村
    "杨村镇": 26_500,  # ~44,000 x 0.605 (4.2万 c.2005, must exceed 大通's 39,222); rank 7
    "仁和集镇": 22_500,  # rank 9: between 大通 (23,723) and 张铺
    "冶山镇": 21_500,  # rank 10
    "石梁镇": 20_500,  # rank 11
    "张铺镇": 19_600,  # 32,447 (hukou 2019) x 0.605; rank 12
    "永丰镇": 25_000,  # rank 13, raised: holds two main-urban-area communities (ur_code 111)
    "新街镇": 16_000,  # rank 14
    "郑集镇": 14_000,  # rank 15
    "万寿镇": 14_500,  # rank 16, 11,500 + ~3,000 for the 3 大圹圩农场 communities placed here
}

# Former 天长街道 communities that now belong to 广陵街道 (cnsunnet.cn); the rest go to 千秋.
GUANGLING_UNITS = ("浔河", "沃公", "二凤", "天宝", "永福", "田庄")

# Within-township split of a township's residents: weight by NBS urban-rural code (ur_code).
# ESTIMATE: urban communities are larger than village committees.
UR_WEIGHT = {"111": 3.0, "112": 2.0, "121": 2.0, "122": 1.5, "123": 1.0, "220": 1.0}
# Placed (no coordinate) units with an urban or town-centre code lie within this many metres of
# their township seat; other placed units anywhere in the township's cell.
URBAN_CODES = ("111", "112", "121")
URBAN_RADIUS_M = 2_000.0
# 大圹圩农场 lies "on the west shore of 高邮湖, inside 天长市" (安徽农学通报 1995(1)). ESTIMATE:
# its communities are placed in the part of the county north of 32.80N and east of 119.12E,
# the polder on the Gaoyou Lake shore; the farm joins the township with the nearest seat.
FARM_CODE = "341181500"
FARM_BOX = (119.12, 32.80, 119.30, 33.00)

# --------------------------------------------------------------------------------------------
# Members, sites, budget
# --------------------------------------------------------------------------------------------

PH_NAME = "天长市人民医院 (Tianchang Shi Renmin Yiyuan, People's Hospital)"
TCM_NAME = "天长市中医院 (Tianchang Shi Zhongyiyuan, Hospital of Traditional Chinese Medicine)"
# TCM new campus, 天宁大道222号: no sourced coordinate. ESTIMATE: 1.5 km due south of the
# county point (direction arbitrary, inside the urban core).
TCM_OFFSET_M = (0.0, -1_500.0)

# Capital budget (CNY, capex of new units + relocation costs over the plan). ESTIMATE.
TOTAL_BUDGET = 24_000_000
BUDGET_SHARE = {"PH": 0.40, "TCM": 0.20}  # the townships share the rest pro rata to population
QUALITY = {"PH": 0.85, "TCM": 0.80, "township": 0.65}  # ESTIMATE (no source)

# Existing equipment (ESTIMATE, see README). Townships with a CT: the two largest towns.
EXISTING_UNITS = {
    "PH": {"CT": 3, "MRI": 1},
    "TCM": {"CT": 1, "MRI": 1},
    "TONGCHENG": {"CT": 1},
    "CHAJIAN": {"CT": 1},
}

# Specialist outreach pools (days/yr) and in-house clinic capacity (visits/yr). ESTIMATE.
OUTREACH_DAYS = {
    "PH": {"cardiology": 450, "neurology": 300, "oncology": 300, "respiratory": 400,
           "orthopaedics": 250},
    "TCM": {"cardiology": 150, "neurology": 100, "oncology": 60, "respiratory": 150,
            "orthopaedics": 150},
}
CLINIC_VISITS = {
    "PH": {"cardiology": 12_000, "neurology": 6_000, "oncology": 11_000, "respiratory": 12_000,
           "orthopaedics": 10_000},
    "TCM": {"cardiology": 4_000, "neurology": 2_000, "oncology": 2_000, "respiratory": 5_000,
            "orthopaedics": 6_000},
}
# Policy minimum outreach days per grassroots site and year (the "≥24 days" claim is unverified).
MIN_OUTREACH_DAYS = {"cardiology": 24, "neurology": 12, "oncology": 12, "respiratory": 24,
                     "orthopaedics": 12}

# --------------------------------------------------------------------------------------------
# Conditions, services, catalogues
# --------------------------------------------------------------------------------------------

SHARE_AGED_40_PLUS = 0.55  # ASSUMPTION (ageing rural county; China 2020 about 0.50)
COPD_PREVALENCE_40_PLUS = 0.137  # CPH study, Lancet 2018 (FACTS §3)

# condition: (cases_per_1000, urgent_service, urgent_minutes, source)
CONDITIONS = {
    "stroke": (
        3.451, "CT", 30,
        "First-ever stroke incidence 345.1/100k person-years, crude, adults >=20 "
        "(NESS-China 2013, Wang W et al. Circulation 2017; FACTS §3); applied to all residents",
    ),
    "cancer_other": (
        round(3.4175 - 0.751, 4), "", "",
        "All new cancers 341.75/100k crude (NCC 2022, JNCC 2024) minus lung cancer 75.1/100k "
        "(DERIVED, FACTS §3)",
    ),
    "lung_cancer": (
        0.751, "", "",
        "Lung cancer 1,060,600 new cases 2022 -> 75.1/100k crude (DERIVED, FACTS §3)",
    ),
    "ischaemic_heart_disease": (
        8.07, "", "",
        "Prevalent CHD 11.39 M -> 807/100k crude (DERIVED, FACTS §3); prevalent cases used as "
        "the yearly caseload needing cardiology follow-up (ESTIMATE)",
    ),
    "copd": (
        round(1000 * COPD_PREVALENCE_40_PLUS * SHARE_AGED_40_PLUS, 2), "", "",
        "COPD 13.7% of adults >=40 (CPH study, Lancet 2018; FACTS §3) x ASSUMED 55% of "
        "residents aged >=40",
    ),
    "injury": (
        15.0, "", "",
        "ESTIMATE (GAP in FACTS §3): 1.5% of residents a year with an injury needing hospital "
        "imaging and orthopaedic care",
    ),
    "other_imaging": (
        112.0, "", "",
        "Calibration (ESTIMATE): imaging episodes not attributed above, sized so that all CT "
        "exams total about 150/1,000 (between 128 Shanghai 2007 and 184 Heilongjiang 2016, "
        "FACTS §2)",
    ),
}

# (condition, service, units_per_case) -- all ESTIMATES except where README says otherwise
CONDITION_SERVICES = [
    ("stroke", "CT", 1.5),  # >=1 brain scan for 83-90% of cases (NESS-China) + repeat scans
    ("stroke", "MRI", 0.5),
    ("stroke", "neurology", 4.0),
    ("cancer_other", "CT", 4.0),  # staging + follow-up
    ("cancer_other", "MRI", 1.0),
    ("cancer_other", "oncology", 8.0),
    ("lung_cancer", "CT", 5.0),
    ("lung_cancer", "MRI", 0.5),
    ("lung_cancer", "oncology", 8.0),
    ("lung_cancer", "respiratory", 4.0),
    ("ischaemic_heart_disease", "CT", 0.2),  # coronary CT angiography
    ("ischaemic_heart_disease", "cardiology", 4.0),
    ("copd", "CT", 0.1),
    ("copd", "respiratory", 0.5),  # most COPD is undiagnosed or mild
    ("injury", "CT", 0.6),
    ("injury", "MRI", 0.1),
    ("injury", "orthopaedics", 2.0),
    ("other_imaging", "CT", 1.0),
    ("other_imaging", "MRI", 0.25),
]

CT_CAPEX = 4_000_000  # 64-slice US$500-700k (FACTS §2) at ~7.1 CNY/USD -> 3.6-5.0 M; mid-low
MRI_CAPEX = 5_900_000  # 2023 tender, 丰县中医医院 (county TCM hospital) (FACTS §2)
STAFF_PER_UNIT = 2.6  # DERIVED radiology staff per device (FACTS §2)


def _opex(capex: float, service_share: float, other: float) -> int:
    """Staff (2.6 x health-sector wage) + service contract (share of price) + power etc."""
    return int(round((STAFF_PER_UNIT * WAGE_HEALTH_SECTOR + service_share * capex + other), -4))


EQUIPMENT = [
    {
        "equipment": "CT", "capex": CT_CAPEX, "lifetime_years": 8,
        "opex_per_year": _opex(CT_CAPEX, 0.08, 50_000),
        "capacity_per_year": 76 * 300, "referral_cost": 600, "max_utilization": 0.85,
        "cost_per_exam": 40, "allowed_tiers": "county;township", "max_per_site": 4,
        "max_minutes": 60, "relocation_cost": 300_000,
    },
    {
        "equipment": "MRI", "capex": MRI_CAPEX, "lifetime_years": 10,
        "opex_per_year": _opex(MRI_CAPEX, 0.08, 150_000),
        "capacity_per_year": 32 * 300, "referral_cost": 900, "max_utilization": 0.85,
        "cost_per_exam": 60, "allowed_tiers": "county", "max_per_site": 2,
        "max_minutes": 90, "relocation_cost": "",
    },
]

SPECIALTIES = [
    # specialty, visits_per_day, cost_per_day, referral_cost, max_minutes
    ("cardiology", 25, 1_500, 350, 60),
    ("neurology", 20, 1_500, 350, 60),
    ("oncology", 20, 1_500, 400, 60),
    ("respiratory", 25, 1_500, 350, 60),
    ("orthopaedics", 25, 1_500, 350, 60),
]

# --------------------------------------------------------------------------------------------
# The fund and prices (docs/design.md section 8): accounts only, they never change the plan
# --------------------------------------------------------------------------------------------

# The brief's Tianchang figures (docs/design.md section 8): 600 CNY prepaid per insured resident a
# year, 60% of the surplus to the lead hospital, 85% of the price reimbursed at grassroots level
# and 65% at the (tertiary) county hospitals. FACTS §0 could not corroborate them (README).
CAPITATION = 600
SURPLUS_TO_LEAD = 0.6
LEAD_MEMBER = "PH"
# ESTIMATE: basic insurance covers ~95% of residents; the employees' scheme, a separate fund,
# covers part of them, so the resident fund insures about 90% of the county's residents.
INSURED_SHARE = 0.9
# tier -> share of the price the fund pays; `outside` (care referred out of the county to
# Nanjing or Yangzhou) is an ESTIMATE: out-of-county care is reimbursed at a lower rate.
REIMBURSEMENT = {"county": 0.65, "township": 0.85, "outside": 0.5}
# What one exam is billed. ESTIMATE (the published tariffs are a GAP in FACTS §2): a one-part CT
# and MRI at a county hospital; referred-out exams at the dearer tariffs of a city tertiary
# hospital.
PRICE_PER_EXAM = {"CT": 300, "MRI": 600}
OUTSIDE_PRICE_EXAM = {"CT": 400, "MRI": 800}
# What one specialist visit is billed: the average outpatient bill at a secondary public hospital
# (218.6, the county-hospital proxy) and at a tertiary one (354.4, for referred-out visits), NHC
# Q1 2022 (FACTS §5). The same for every specialty (no specialty tariff was found).
PRICE_PER_VISIT = 218.6
OUTSIDE_PRICE_VISIT = 354.4
# At township centres (prices.csv): DERIVED, the county price x the ratio of a 卫生院 to a
# secondary hospital outpatient bill in Shanghai 2009 (72.43 / 224.03, FACTS §5) -> 70.7.
PRICE_PER_VISIT_TOWNSHIP = round(PRICE_PER_VISIT * 72.43 / 224.03, 1)
# ESTIMATE: the fund spends 97% of its revenue in a year (NCMS funds spent over 95% of their
# revenue in 2012-13; data/README.md). other_spending is what the fund pays for care the model
# does not plan (stays, drugs...): 97% of revenue less the modelled exams and visits billed at
# county-hospital prices and rates, the care before the consortium moved any to the townships.
FUND_SPENT_SHARE = 0.97

# Site-bound demand (site_demand.csv, docs/design.md section 9): in-patient and emergency CT and MRI
# exams at the two county hospitals, served where the patients lie. Arithmetic in data/README.md:
# admissions = beds x occupancy x 365 / length of stay; exams = admissions x exams per admission
# + emergency visits x CT share. Beds of the People's Hospital: 950 (FACTS §1); everything else
# is an ESTIMATE (occupancy, stay, exams per admission, ED visits and CT share, TCM beds).
HOSPITAL_LOAD = {  # site: beds, occupancy, length of stay (days), ED visits a year
    "S_PH": (950, 0.90, 8.0, 60_000),
    "S_TCM": (600, 0.85, 9.0, 25_000),
}
EXAMS_PER_ADMISSION = {"S_PH": {"CT": 0.5, "MRI": 0.1}, "S_TCM": {"CT": 0.4, "MRI": 0.08}}
ED_CT_SHARE = {"S_PH": 0.15, "S_TCM": 0.12}

# Central reading ([reading] and the radiologists resource, docs/design.md section 9): the People's
# Hospital reads for the county (a regional imaging centre: scan near the patient, read
# centrally). Arithmetic and labels in data/README.md.
READING_CENTRES = ["S_PH"]
# ESTIMATE: reads one radiologist reports in a year, 40 CT/MRI reads a working day x 250 days
READS_PER_RADIOLOGIST = 10_000
# DERIVED: health-sector urban non-private wage 135,222 yuan (NBS 2022, FACTS §5) x 1.4 for the
# employer's social insurance and housing fund (ESTIMATE), rounded to 1,000
RADIOLOGIST_COST = round(135_222 * 1.4, -3)
# DERIVED (low): 2.6 radiology staff per device (FACTS §2) x CT/MRI units today x 0.6 reporting
# physicians among them (ESTIMATE), rounded to half FTE; a township CT room has one radiology
# physician (the provincial rule in FACTS §2: a CT room needs a radiology physician)
RADIOLOGISTS = {"S_PH": 6.0, "S_TCM": 3.0, "S_TONGCHENG": 1.0, "S_CHAJIAN": 1.0}

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

ADCODE_COLUMNS = [
    "code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code", "ur_code",
    "municipality", "virtual", "dummy", "longitude", "latitude", "center", "province", "city",
    "county", "town", "village",
]

_TO_M = Transformer.from_crs("EPSG:4326", "EPSG:32650", always_xy=True)
_TO_LL = Transformer.from_crs("EPSG:32650", "EPSG:4326", always_xy=True)


def to_m(lon: float, lat: float) -> tuple[float, float]:
    return _TO_M.transform(lon, lat)


def to_m_geom(geom):
    return shapely.transform(geom, lambda x, y: _TO_M.transform(x, y), interleaved=False)


def to_ll(x: float, y: float) -> tuple[float, float]:
    lon, lat = _TO_LL.transform(x, y)
    return round(lon, 6), round(lat, 6)


def haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    r = 6371.0088
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(h))


def minutes(km: float) -> float:
    return km * CIRCUITY / SPEED_KMH * 60.0


def radical_inverse(i: int, base: int) -> float:
    f, r = 1.0, 0.0
    while i > 0:
        f /= base
        r += f * (i % base)
        i //= base
    return r


def halton_points(region, start: int = 1):
    """Yield points of the 2-D Halton sequence (bases 2, 3) over region's bounds that fall
    inside."""
    minx, miny, maxx, maxy = region.bounds
    i = start
    while True:
        p = Point(minx + radical_inverse(i, 2) * (maxx - minx),
                  miny + radical_inverse(i, 3) * (maxy - miny))
        i += 1
        if region.contains(p):
            yield p


def fmt(v) -> str:
    """Stable text for a CSV cell."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        return repr(round(v, 6))
    return str(v)


def write_csv(folder: Path, name: str, header: list[str], rows: list[list]) -> None:
    """One table of a scenario folder, numbers through fmt and Unix line ends, so a rebuild
    writes the same bytes."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    for r in rows:
        w.writerow([fmt(v) for v in r])
    (folder / name).write_text(buf.getvalue(), encoding="utf-8")


def scenario_toml(head: str, *, grassroots_tier: str, reading_centres: list[str], reader: str,
                  speed_kmh: float = SPEED_KMH, circuity: float = CIRCUITY,
                  policy_note: str = "", urgent_note: str = "", fund: str = "") -> str:
    """The scenario.toml every builder writes: the builder's own head (comment lines, name,
    kind), then the sections the embedded scenarios share, with Tianchang's outreach days,
    stroke case price and reading figures. The notes are whole comment lines, each ending in a
    newline, put before shortfall_priced_as and penalty_per_zone; fund is the [fund] tables,
    ending in a blank line, of a scenario whose payment rules are known (only Tianchang's)."""
    mins = "\n".join(f"{s} = {d}" for s, d in MIN_OUTREACH_DAYS.items())
    return f"""{head}currency = "CNY"
discount_rate = 0.05
coordinates = "gcj02"

[travel]
speed_kmh = {speed_kmh}
circuity = {circuity}
value_per_minute = {VALUE_PER_MINUTE}

[policy]
grassroots_tiers = {json.dumps([grassroots_tier])}
{policy_note}shortfall_priced_as = "referrals"

[policy.min_outreach_days]
{mins}

[urgent]
soft = false
{urgent_note}penalty_per_zone = 0
cost_per_late_case = {COST_PER_LATE_CASE}

{fund}# central reading: {reader} reads what the other sites' radiologists cannot
[reading]
centres = {json.dumps(reading_centres)}
reads_per_radiologist = {READS_PER_RADIOLOGIST}
radiologist_cost = {RADIOLOGIST_COST:.0f}

[solver]
time_limit = 60
mip_gap = 0.0001
threads = 1
seed = 0
"""


def write_tables(folder: Path, b: dict, area: str, site_demand_rows: list[list]) -> None:
    """members, sites, zones, resources and site_demand from a builder's rows; area names the
    zones' township-level column (township in a county, subdistrict in a city district)."""
    write_csv(folder, "members.csv", ["member", "name", "budget_contribution", "quality_score",
                                      "population_served"], b["members"])
    write_csv(folder, "sites.csv", ["site_id", "name", "member", "tier", "lon", "lat"],
              b["sites"])
    write_csv(folder, "zones.csv", ["zone_id", "name", "lon", "lat", "population",
                                    "home_member", area, "adcode", "ur_code", "coord_source"],
              b["zones"])
    write_csv(folder, "resources.csv", ["site_id", "resource", "amount"], b["resources"])
    write_csv(folder, "site_demand.csv", ["site_id", "service", "units_per_year"],
              site_demand_rows)


EQUIPMENT_COLUMNS = ["equipment", "capex", "lifetime_years", "opex_per_year",
                     "capacity_per_year", "referral_cost", "max_utilization", "cost_per_exam",
                     "allowed_tiers", "max_per_site", "max_minutes", "relocation_cost"]


def write_catalogues(folder: Path, equipment: list[dict] = EQUIPMENT,
                     priced: bool = False) -> None:
    """conditions, condition_services, equipment and specialties: Tianchang's rows (equipment
    may carry another scenario's allowed tiers). priced adds Tianchang's prices (price columns
    and prices.csv), which only a scenario with a [fund] uses."""
    write_csv(folder, "conditions.csv",
              ["condition", "cases_per_1000", "urgent_service", "urgent_minutes", "source"],
              [[c, *v] for c, v in CONDITIONS.items()])
    write_csv(folder, "condition_services.csv", ["condition", "service", "units_per_case"],
              [list(r) for r in CONDITION_SERVICES])
    cols = EQUIPMENT_COLUMNS
    specialty_cols = ["specialty", "visits_per_day", "cost_per_day", "referral_cost",
                      "max_minutes"]
    if not priced:
        write_csv(folder, "equipment.csv", cols, [[e[c] for c in cols] for e in equipment])
        write_csv(folder, "specialties.csv", specialty_cols, [list(s) for s in SPECIALTIES])
        return
    write_csv(folder, "equipment.csv", cols + ["price_per_exam", "outside_price"],
              [[e[c] for c in cols] + [PRICE_PER_EXAM[e["equipment"]],
                                       OUTSIDE_PRICE_EXAM[e["equipment"]]] for e in equipment])
    write_csv(folder, "specialties.csv", specialty_cols + ["price_per_visit", "outside_price"],
              [[*s, PRICE_PER_VISIT, OUTSIDE_PRICE_VISIT] for s in SPECIALTIES])
    write_csv(folder, "prices.csv", ["service", "tier", "price"],
              [[s[0], "township", PRICE_PER_VISIT_TOWNSHIP] for s in SPECIALTIES])


def split_integer(total: int, weights: list[float]) -> list[int]:
    """Integers proportional to weights summing exactly to total; rounding fixed on the largest."""
    s = sum(weights)
    parts = [int(round(total * w / s)) for w in weights]
    big = max(range(len(weights)), key=lambda k: (weights[k], -k))
    parts[big] += total - sum(parts)
    return parts


# --------------------------------------------------------------------------------------------
# Build
# --------------------------------------------------------------------------------------------


def read_sources():
    with open(SRC / "341181.csv", encoding="utf-8", newline="") as f:
        adcode = [dict(zip(ADCODE_COLUMNS, row)) for row in csv.reader(f)]
    with open(SRC / "tianchang_townships.csv", encoding="utf-8", newline="") as f:
        towns = {r["name"]: r for r in csv.DictReader(f)}
    fence = shape(json.loads((SRC / "fence_341181.json").read_text(encoding="utf-8")))
    return adcode, towns, fence


def county_boundary() -> dict:
    """The county fence as a GeoJSON Feature in WGS-84: every GCJ-02 position of the source
    converted with the planner's converter and rounded to 6 decimals (a closed ring stays
    closed: equal positions convert alike)."""
    fence = json.loads((SRC / "fence_341181.json").read_text(encoding="utf-8"))
    assert fence["type"] == "Polygon", fence["type"]
    rings = []
    for ring in fence["coordinates"]:
        lon, lat = gcj02_to_wgs84([p[0] for p in ring], [p[1] for p in ring])
        rings.append([[round(float(x), 6), round(float(y), 6)] for x, y in zip(lon, lat)])
    return {"type": "Feature",
            "properties": {"name": "天长市 Tianchang county (adcode 341181)",
                           "source": BOUNDARY_SOURCE},
            "geometry": {"type": "Polygon", "coordinates": rings}}


def township_seats(adcode, towns):
    seats = {}
    town_rows = {r["name"]: r for r in adcode if r["level"] == "town"}
    for zh, key, pinyin, kind in TOWNSHIPS:
        t = towns[zh]
        lon, lat = float(t["lon_gcj02"]), float(t["lat_gcj02"])
        if zh in town_rows:  # cross-check against the raw division file
            r = town_rows[zh]
            assert (float(r["longitude"]), float(r["latitude"])) == (lon, lat), zh
        seats[zh] = {"key": key, "pinyin": pinyin, "kind": kind, "lon": lon, "lat": lat,
                     "code9": (t["code9"] or "")}
    return seats


def township_populations():
    est_total = TOTAL_POPULATION - sum(POP_SOURCED.values())
    names = list(POP_ESTIMATE)
    parts = split_integer(est_total, [POP_ESTIMATE[n] for n in names])
    pop = dict(zip(names, parts))
    pop.update(POP_SOURCED)
    assert sum(pop.values()) == TOTAL_POPULATION
    return pop


def annual_demand() -> dict[str, float]:
    """service -> units a year for the whole county (conditions x units per case)."""
    demand: dict[str, float] = {}
    for c, k, u in CONDITION_SERVICES:
        demand[k] = demand.get(k, 0.0) + CONDITIONS[c][0] * u * TOTAL_POPULATION / 1000
    return demand


def fund_revenue() -> float:
    """capitation x insured share x residents (docs/design.md section 8 `revenue`)."""
    return CAPITATION * INSURED_SHARE * TOTAL_POPULATION


def site_demand() -> list[list]:
    """site_demand.csv rows (site, equipment, exams a year), rounded to 100 (HOSPITAL_LOAD)."""
    rows = []
    for site, (beds, occupancy, stay, ed_visits) in HOSPITAL_LOAD.items():
        admissions = beds * occupancy * 365 / stay
        for e, per in EXAMS_PER_ADMISSION[site].items():
            exams = admissions * per + (ed_visits * ED_CT_SHARE[site] if e == "CT" else 0)
            rows.append([site, e, int(round(exams, -2))])
    return rows


def other_spending() -> int:
    """DERIVED/ESTIMATE: FUND_SPENT_SHARE of the revenue less the fund's payments for the
    modelled exams and visits, all billed at county-hospital prices and reimbursed at the county
    rate; rounded to 100,000 CNY."""
    price = PRICE_PER_EXAM | {s[0]: PRICE_PER_VISIT for s in SPECIALTIES}
    modelled = sum(units * price[k] for k, units in annual_demand().items())
    modelled += sum(exams * price[e] for _, e, exams in site_demand())   # site-bound exams
    modelled *= INSURED_SHARE * REIMBURSEMENT["county"]
    return int(round(FUND_SPENT_SHARE * fund_revenue() - modelled, -5))


def build():
    adcode, towns, fence_ll = read_sources()
    seats = township_seats(adcode, towns)
    fence = to_m_geom(fence_ll)

    # Voronoi cells of the 16 seats, clipped to the county boundary (metres).
    names = [t[0] for t in TOWNSHIPS]
    seat_pts = {n: Point(*to_m(seats[n]["lon"], seats[n]["lat"])) for n in names}
    vor = shapely.voronoi_polygons(MultiPoint([seat_pts[n] for n in names]),
                                   extend_to=fence.envelope.buffer(50_000))
    cells = {}
    for n in names:
        hits = [g for g in vor.geoms if g.contains(seat_pts[n])]
        assert len(hits) == 1, n
        cells[n] = hits[0].intersection(fence)

    # The farm: its communities join the township whose seat is nearest to the farm area.
    farm_area = to_m_geom(fence_ll.intersection(box(*FARM_BOX)))
    farm_township = min(names, key=lambda n: (seat_pts[n].distance(farm_area.centroid), n))

    # Village-level units -> township.
    code_to_town = {r["code"][:9]: r["name"] for r in adcode if r["level"] == "town"}
    villages = sorted((r for r in adcode if r["level"] == "village"), key=lambda r: r["code"])
    units = []
    for r in villages:
        parent = code_to_town[r["code"][:9]]
        if parent == "天长街道办事处":
            short = r["name"].replace("社区居委会", "").replace("村委会", "")
            township = "广陵街道" if short in GUANGLING_UNITS else "千秋街道"
        elif r["code"][:9] == FARM_CODE:
            township = farm_township
        else:
            township = parent
        units.append({"code": r["code"], "name": r["name"], "ur": r["ur_code"],
                      "township": township, "orig_town": parent,
                      "lon": float(r["longitude"]) if r["longitude"] else None,
                      "lat": float(r["latitude"]) if r["latitude"] else None})

    # Given coordinates: keep unless the same point is given for a unit of another township
    # (a geocoder name collision: 向阳社区 of 铜城镇 carries 郑集镇 向阳社区's point, 33 km away);
    # then only the unit whose own seat is nearest keeps it.
    by_point: dict[tuple[float, float], list[dict]] = {}
    for u in units:
        if u["lon"] is not None:
            by_point.setdefault((u["lon"], u["lat"]), []).append(u)
    for pt, us in by_point.items():
        if len({u["township"] for u in us}) > 1:
            p = Point(*to_m(*pt))
            keep = min(us, key=lambda u: (p.distance(seat_pts[u["township"]]), u["code"]))
            for u in us:
                if u is not keep:
                    u["rejected"] = f"given point {pt[0]},{pt[1]} duplicates {keep['orig_town']}"
                    u["lon"] = u["lat"] = None
    for u in units:
        if u["lon"] is not None:
            assert fence.contains(Point(*to_m(u["lon"], u["lat"]))), u["name"]

    # Place units without a (kept) coordinate at Halton points of their region.
    generators: dict[tuple[str, str], object] = {}
    for u in units:
        if u["lon"] is not None:
            u["coord_source"] = "given"
            continue
        n = u["township"]
        if u["code"][:9] == FARM_CODE:
            kind, region = "farm", farm_area
        elif u["ur"] in URBAN_CODES:
            kind, region = "urban", cells[n].intersection(seat_pts[n].buffer(URBAN_RADIUS_M, 64))
        else:
            kind, region = "cell", cells[n]
        gen = generators.setdefault((n, kind), halton_points(region))
        p = next(gen)
        u["lon"], u["lat"] = to_ll(p.x, p.y)
        u["coord_source"] = "placed"

    # Populations: township totals, then split by ur_code weight within each township.
    pop_t = township_populations()
    for n in names:
        us = [u for u in units if u["township"] == n]
        parts = split_integer(pop_t[n], [UR_WEIGHT[u["ur"]] for u in us])
        for u, p in zip(us, parts):
            u["population"] = p

    # ---------------- members & sites ----------------
    members, sites = [], []
    ph_ll = COUNTY_POINT
    x, y = to_m(*COUNTY_POINT)
    tcm_ll = to_ll(x + TCM_OFFSET_M[0], y + TCM_OFFSET_M[1])
    town_pop_share = {n: pop_t[n] / TOTAL_POPULATION for n in names}
    rest = 1.0 - sum(BUDGET_SHARE.values())
    budget = {"PH": int(round(TOTAL_BUDGET * BUDGET_SHARE["PH"])),
              "TCM": int(round(TOTAL_BUDGET * BUDGET_SHARE["TCM"]))}
    town_budget = split_integer(int(round(TOTAL_BUDGET * rest)),
                                [town_pop_share[n] for n in names])
    # round township contributions to whole thousands, keeping the exact total on the largest
    town_budget = [int(round(b, -3)) for b in town_budget]
    big = max(range(len(names)), key=lambda k: (pop_t[names[k]], -k))
    town_budget[big] += int(round(TOTAL_BUDGET * rest)) - sum(town_budget)
    for n, b in zip(names, town_budget):
        budget[seats[n]["key"]] = b

    members.append(["PH", PH_NAME, budget["PH"], QUALITY["PH"], 0])
    members.append(["TCM", TCM_NAME, budget["TCM"], QUALITY["TCM"], 0])
    sites.append(["S_PH", "天长市人民医院 建设东路194号 (People's Hospital, main campus)", "PH",
                  "county", ph_ll[0], ph_ll[1]])
    sites.append(["S_TCM", "天长市中医院 天宁大道222号 (TCM Hospital, new campus)", "TCM",
                  "county", tcm_ll[0], tcm_ll[1]])
    for n in names:
        s = seats[n]
        centre = "社区卫生服务中心" if s["kind"] == "subdistrict" else "卫生院"
        eng = ("Subdistrict Community Health Centre" if s["kind"] == "subdistrict"
               else "Township Health Centre")
        label = f"{n}{centre} ({s['pinyin']} {eng})"
        members.append([f"THC_{s['key']}", label, budget[s["key"]], QUALITY["township"],
                        pop_t[n]])
        sites.append([f"S_{s['key']}", label, f"THC_{s['key']}", "township", s["lon"], s["lat"]])

    member_of_town = {n: f"THC_{seats[n]['key']}" for n in names}
    zones = []
    for u in units:
        zones.append([
            f"Z{u['code']}", f"{u['township']}·{u['name']}", u["lon"], u["lat"], u["population"],
            member_of_town[u["township"]], u["township"], u["code"], u["ur"],
            u["coord_source"],
        ])

    # ---------------- resources ----------------
    site_of = {"PH": "S_PH", "TCM": "S_TCM"} | {s["key"]: f"S_{s['key']}" for s in seats.values()}
    resources = []
    for owner, eq in EXISTING_UNITS.items():
        for e, k in eq.items():
            resources.append([site_of[owner], e, k])
    for owner, pools in OUTREACH_DAYS.items():
        for s, d in pools.items():
            resources.append([site_of[owner], f"{s}.outreach_days", d])
    for owner, cap in CLINIC_VISITS.items():
        for s, v in cap.items():
            resources.append([site_of[owner], f"{s}.clinic_visits", v])
    for site, fte in RADIOLOGISTS.items():
        resources.append([site, "radiologists", fte])

    return {"members": members, "sites": sites, "zones": zones, "resources": resources,
            "units": units, "cells": cells, "farm_township": farm_township, "pop_t": pop_t,
            "boundary": county_boundary()}


def write_all(b) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    reimb = "\n".join(f"{t} = {r}" for t, r in REIMBURSEMENT.items())
    head = """# Default scenario: the Tianchang (天长市, Anhui) county medical community.
# Generated by data/build_tianchang.py from data/sources/ -- do not edit by hand.
# Sources and estimates: data/README.md. Coordinates are GCJ-02 as in the sources.
# No `budget` key: the capital budget is the sum of members.csv budget_contribution.
name = "Tianchang county medical community (天长市县域医共体), default scenario"
"""
    fund = f"""# the prepaid resident insurance fund: accounts only, never a cost (data/README.md)
[fund]
capitation = {CAPITATION}
insured_share = {INSURED_SHARE}
other_spending = {other_spending()}
lead_member = "{LEAD_MEMBER}"
surplus_to_lead = {SURPLUS_TO_LEAD}

[fund.reimbursement]
{reimb}

"""
    toml = scenario_toml(
        head, grassroots_tier="township", reading_centres=READING_CENTRES,
        reader="the People's Hospital", fund=fund,
        policy_note="# fair-division games: a policy day a coalition cannot staff sends its "
                    "visits to referral\n",
        urgent_note="# fair-division games: a zone a coalition leaves without a CT within 30 min "
                    "pays per stroke case\n# (excess of a tertiary over a county stay + "
                    "transfer; data/README.md), not a lump sum\n")
    (OUT / "scenario.toml").write_text(toml, encoding="utf-8")
    write_tables(OUT, b, "township", site_demand())
    write_catalogues(OUT, priced=True)
    write_boundary(b["boundary"], OUT)


def check(b) -> None:
    """Consistency checks; prints a short summary (totals, worst travel time)."""
    zones, sites, members = b["zones"], b["sites"], b["members"]
    assert len(zones) == len({z[0] for z in zones}) == 176
    assert sum(z[4] for z in zones) == TOTAL_POPULATION
    assert all(z[4] > 0 for z in zones)
    for lon, lat in [(z[2], z[3]) for z in zones] + [(s[4], s[5]) for s in sites]:
        assert BBOX[0] <= lon <= BBOX[2] and BBOX[1] <= lat <= BBOX[3], (lon, lat)
    mids = {m[0] for m in members}
    assert len(mids) == len(members) == 18
    assert all(s[2] in mids for s in sites) and all(z[5] in mids for z in zones)
    assert LEAD_MEMBER in mids
    assert set(REIMBURSEMENT) == {s[3] for s in sites} | {"outside"}
    assert 0 < other_spending() < fund_revenue()
    site_ids = {s[0] for s in sites}
    assert all(r[0] in site_ids for r in b["resources"])
    services = {e["equipment"] for e in EQUIPMENT} | {s[0] for s in SPECIALTIES}
    assert all(c in CONDITIONS and s in services for c, s, _ in CONDITION_SERVICES)
    for s, d in MIN_OUTREACH_DAYS.items():
        pool = sum(p.get(s, 0) for p in OUTREACH_DAYS.values())
        n_grass = sum(1 for x in sites if x[3] == "township")
        assert d * n_grass <= pool, s

    # every zone and site, in WGS-84 as the planner holds them, lies inside the WGS-84 boundary
    county = shape(b["boundary"]["geometry"])
    points = [(z[2], z[3]) for z in zones] + [(s[4], s[5]) for s in sites]
    lon, lat = gcj02_to_wgs84([p[0] for p in points], [p[1] for p in points])
    assert all(county.contains(Point(x, y)) for x, y in zip(lon, lat))

    # worst zone -> nearest site (all sites allow CT)
    worst = max(
        (min(minutes(haversine_km(z[2], z[3], s[4], s[5])) for s in sites), z[0], z[1])
        for z in zones
    )
    demand = annual_demand()
    print(f"zones {len(zones)} population {sum(z[4] for z in zones)} "
          f"placed {sum(z[9] == 'placed' for z in zones)}; farm -> {b['farm_township']}")
    print(f"budget total {sum(m[2] for m in members):,}")
    print("demand/yr: " + ", ".join(f"{k} {v:,.0f}" for k, v in demand.items()))
    print(f"worst zone->nearest site: {worst[0]:.1f} min ({worst[1]} {worst[2]})")
    print(f"fund: revenue {fund_revenue():,.0f}, other spending {other_spending():,}")


def main() -> None:
    b = build()
    check(b)
    write_all(b)


if __name__ == "__main__":
    main()

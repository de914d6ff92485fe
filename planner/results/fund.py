"""The fund's accounts of a plan (docs/design.md section 8, "Prices." and "The fund.").

The resident insurance fund is prepaid per insured resident (`[fund] capitation`), pays its
share of the price of every exam and visit (`[fund.reimbursement]` by the tier of the site, or
`outside` for care referred out of the consortium) and keeps what is left: the surplus (a
deficit when negative). These are accounts read off a solved plan's flows f[z,i,k] and unmet
demand u[z,k]; prices are not costs, and the objective of section 5 never sees them.

The price of one unit of service k at site i is prices.csv's (k, tier of i) when given, else
the service's `price_per_exam` (equipment.csv) or `price_per_visit` (specialties.csv); a price
not given is 0. Referred-out care is billed at the service's `outside_price` (0 when not given).

Site-bound demand (section 9, site_demand.csv: exams that arise at a site and are served there)
is paid like the exams of the flows at that site ("+ the same for site-bound demand" in section
8's formulas): its exams x price(k, tier i) x reimbursement[tier i], to the site's member.
"""

from __future__ import annotations

import pandas as pd

from planner.scenario.validate import OUTSIDE

FUND_KEYS = ("revenue", "in_county_payments", "outside_payments", "other_spending", "surplus",
             "out_of_pocket")
MEMBER_COLUMNS = ["member", "fund_payments_received", "patient_payments_received",
                  "outside_payments_for_residents"]


def _service_prices(scenario, column_of: dict[str, str]) -> pd.Series:
    """service -> price, from equipment.csv and specialties.csv (`column_of`: table -> the
    price column read there); a missing price is 0."""
    parts = []
    for table, column in column_of.items():
        frame = scenario.tables[table]
        key = "equipment" if table == "equipment" else "specialty"
        parts.append(pd.Series(frame[column].to_numpy(float), index=frame[key].to_numpy()))
    return pd.concat(parts).fillna(0.0)


def unit_prices(scenario, service: pd.Series, tier: pd.Series) -> pd.Series:
    """The price of one unit of each (service, tier): prices.csv's when it has the pair, else
    price_per_exam / price_per_visit of the service (0 if not given)."""
    base = _service_prices(scenario, {"equipment": "price_per_exam",
                                      "specialties": "price_per_visit"})
    prices = scenario.tables["prices"]
    override = pd.Series(prices["price"].to_numpy(float),
                         index=pd.MultiIndex.from_arrays([prices["service"], prices["tier"]]))
    pairs = pd.MultiIndex.from_arrays([service.to_numpy(), tier.to_numpy()])
    given = override.reindex(pairs).to_numpy()
    fallback = base.reindex(service.to_numpy()).fillna(0.0).to_numpy()
    return pd.Series(given, index=service.index).fillna(pd.Series(fallback, index=service.index))


def fund_accounts(scenario, flows: pd.DataFrame, zones: pd.DataFrame,
                  site_bound: pd.DataFrame | None = None
                  ) -> tuple[dict | None, pd.DataFrame | None]:
    """(plan.json `fund`, fund.csv) of a plan: `flows` has zone_id, site_id, service, units (the
    plan's flows f); `zones` has zone_id, home_member, service, unmet (u); `site_bound` has
    site_id, service, units (the site-bound exams served), billed like flows at their site.
    (None, None) for a scenario without [fund]."""
    fund = scenario.settings.fund
    if fund is None:
        return None, None
    if site_bound is not None and len(site_bound):
        flows = pd.concat([flows[["site_id", "service", "units"]],
                           site_bound[["site_id", "service", "units"]]], ignore_index=True)
    insured, shares = fund.insured_share, fund.reimbursement
    sites = scenario.tables["sites"].set_index("site_id")
    tier = flows["site_id"].map(sites["tier"])
    billed = flows["units"].to_numpy(float) * unit_prices(scenario, flows["service"], tier)
    fund_paid = insured * billed * tier.map(shares).astype(float)
    patient_paid = billed - fund_paid

    outside_price = _service_prices(scenario, {"equipment": "outside_price",
                                               "specialties": "outside_price"})
    billed_out = zones["unmet"].to_numpy(float) * \
        zones["service"].map(outside_price).fillna(0.0).to_numpy(float)
    fund_out = insured * shares[OUTSIDE] * billed_out

    revenue = fund.capitation * insured * float(scenario.tables["zones"]["population"].sum())
    in_county, outside = float(fund_paid.sum()), float(fund_out.sum())
    accounts = {
        "revenue": revenue,
        "in_county_payments": in_county,
        "outside_payments": outside,
        "other_spending": float(fund.other_spending),
        "surplus": revenue - fund.other_spending - in_county - outside,
        "out_of_pocket": float(patient_paid.sum()) + float(billed_out.sum()) - outside,
    }
    members = scenario.tables["members"]["member"]
    owner = flows["site_id"].map(sites["member"])
    by_member = pd.DataFrame({
        "member": members.to_numpy(),
        "fund_payments_received": fund_paid.groupby(owner.to_numpy()).sum()
        .reindex(members).fillna(0.0).to_numpy(),
        "patient_payments_received": patient_paid.groupby(owner.to_numpy()).sum()
        .reindex(members).fillna(0.0).to_numpy(),
        "outside_payments_for_residents": pd.Series(fund_out).groupby(
            zones["home_member"].to_numpy()).sum().reindex(members).fillna(0.0).to_numpy(),
    })
    return accounts, by_member[MEMBER_COLUMNS]

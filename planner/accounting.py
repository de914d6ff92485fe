"""Who bears which cost of the grand plan (DESIGN.md section 4), and the transfer payments.

Attribution rule (models/fair_division.md, "Accounting"):
* new-unit capital and operating cost of units in service: the owner of the site;
* relocation cost: the owner of the receiving site;
* outreach days: the owner of the host site; a priced policy shortfall: the owner of the site;
* per-exam service cost: the serving site's owner;
* patient travel, referral-out and a priced uncovered zone: the zone's home member;
* internal service fees: for every unit of service k a zone of member a receives at a site of
  member b != a, a pays b the tariff of k, the grand plan's average cost of one unit of k
  (equipment: its capital + operating + per-exam cost / exams; specialty: outreach cost /
  visits). Fees cancel out, so the borne costs sum to C(N).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.inputs import ModelInputs

TRANSFER_COLUMNS = ["member", "standalone_cost", "borne_cost", "allocation", "transfer",
                    "final_cost", "gain"]


def tariffs(plan, inp: ModelInputs) -> pd.Series:
    """Average cost of one unit of each service in the grand plan."""
    eq, sp = inp.equipment, inp.specialties
    e = plan.equipment
    f = plan.flows
    per_exam = eq["cost_per_exam"]
    out = {}
    for k in eq.index:
        rows = e[e["equipment"] == k]
        exams = rows["exams"].sum()
        cost = (rows["new"] * eq.at[k, "annual_capex"]).sum() + (rows["total"] * eq.at[k, "opex"]).sum() \
            + exams * per_exam[k]
        out[k] = cost / exams if exams > 0 else 0.0
    d = plan.specialist_days
    for s in sp.index:
        rows = d[d["specialty"] == s]
        visits = f.loc[f["service"] == s, "units"].sum()
        cost = (rows["outreach_days"] * sp.at[s, "cost_per_day"]).sum()
        out[s] = cost / visits if visits > 0 else 0.0
    return pd.Series(out, name="tariff")


def borne_costs(plan, inp: ModelInputs) -> pd.DataFrame:
    """Member x cost term of the grand plan, fees included; the `total` column sums to C(N)."""
    eq, sp = inp.equipment, inp.specialties
    owner = inp.sites["member"]
    home = inp.zones["home_member"]
    members = list(inp.budget_share.index)
    table = pd.DataFrame(0.0, index=pd.Index(members, name="member"),
                         columns=["annual_capital", "operating", "relocation", "outreach",
                                  "travel", "service", "referral", "penalties", "fees_paid",
                                  "fees_received"])

    def add(column, members_, values):
        sums = pd.Series(np.asarray(values, float), index=list(members_)).groupby(level=0).sum()
        table.loc[sums.index, column] += sums

    e = plan.equipment
    add("annual_capital", e["member"], e["new"] * e["equipment"].map(eq["annual_capex"]))
    add("operating", e["member"], e["total"] * e["equipment"].map(eq["opex"]))
    add("relocation", e["member"], e["relocated_in"] * e["equipment"].map(
        eq["relocation_cost"].fillna(0.0)))
    d = plan.specialist_days
    add("outreach", d["member"], d["outreach_days"] * d["specialty"].map(sp["cost_per_day"]))

    f = plan.flows
    zone_member, site_member = f["zone_id"].map(home), f["site_id"].map(owner)
    add("travel", zone_member, f["units"] * f["minutes"] * inp.value_per_minute)
    per_unit = pd.concat([eq["cost_per_exam"], pd.Series(0.0, index=sp.index)])
    add("service", site_member, f["units"] * f["service"].map(per_unit))
    z = plan.zones
    referral = pd.concat([eq["referral_cost"], sp["referral_cost"]])
    add("referral", z["home_member"], z["unmet"] * z["service"].map(referral))
    u = plan.urgent
    if "uncovered_penalty" in plan.costs and len(u):
        add("penalties", u["zone_id"].map(home), (~u["covered"]) * inp.penalty_per_zone)
    if "policy_shortfall" in plan.costs and len(plan.shortfall):
        s_ = plan.shortfall
        add("penalties", s_["site_id"].map(owner), s_["days"] * s_["specialty"].map(
            inp.shortfall_price))

    tariff = tariffs(plan, inp)
    crossing = zone_member != site_member
    fee = (f["units"] * f["service"].map(tariff))[crossing]
    add("fees_paid", zone_member[crossing], fee)
    add("fees_received", site_member[crossing], fee)
    table["total"] = table.drop(columns=["fees_paid", "fees_received"]).sum(axis=1) \
        + table["fees_paid"] - table["fees_received"]
    return table


def cents_keeping_sum(values: pd.Series, total_cents: int) -> np.ndarray:
    """Integer cents of `values` adding up to `total_cents` exactly (largest-remainder method)."""
    cents = values.to_numpy(float) * 100.0
    floor = np.floor(cents).astype(np.int64)
    whole, extra = divmod(int(total_cents - floor.sum()), len(floor))  # extra in [0, n)
    floor += whole
    order = np.argsort(-(cents - np.floor(cents)), kind="stable")
    floor[order[:extra]] += 1
    return floor


def transfers(standalone: pd.Series, borne: pd.Series, allocation: pd.Series) -> pd.DataFrame:
    """transfers.csv: final_cost = C({m}) - x[m]; transfer = final_cost - borne_cost (paid if
    positive, received if negative); gain = C({m}) - final_cost = x[m].

    All amounts are computed in integer cents so that the invariants hold exactly: standalone
    costs are rounded; borne costs are rounded to add up to C(N) (rounded); the allocation to add
    up to v(N) = sum of rounded standalone costs - rounded C(N). Transfers then sum to zero to the
    cent and every gain equals the allocation.
    """
    members = list(standalone.index)
    borne, allocation = borne.reindex(members), allocation.reindex(members)
    stand = np.round(standalone.to_numpy(float) * 100.0).astype(np.int64)
    grand = int(round(float(borne.sum()) * 100.0))
    borne_c = cents_keeping_sum(borne, grand)
    alloc_c = cents_keeping_sum(allocation, int(stand.sum()) - grand)
    final = stand - alloc_c
    table = pd.DataFrame({"member": members, "standalone_cost": stand / 100.0,
                          "borne_cost": borne_c / 100.0, "allocation": alloc_c / 100.0,
                          "transfer": (final - borne_c) / 100.0, "final_cost": final / 100.0,
                          "gain": alloc_c / 100.0})
    return table[TRANSFER_COLUMNS]

"""Who bears which cost of the grand plan (docs/design.md section 4), and the transfer payments.

Attribution rule (models/fair_division.md, "Accounting"; the `member` of the cost ledger,
planner/model/ledger.py, whose grouping by member and term the borne costs are):
* new-unit capital and operating cost of units in service: the owner of the site;
* relocation cost: the owner of the receiving site;
* outreach days: the owner of the host site; a priced policy shortfall: the owner of the site;
* per-exam service cost: the serving site's owner;
* patient travel, referral-out and a priced uncovered zone: the zone's home member;
* internal service fees: for every unit of service k a zone of member a receives at a site of
  member b != a, a pays b the tariff of k, the grand plan's average cost of one unit of k
  (equipment: its capital + operating + per-exam cost / exams; specialty: outreach cost /
  visits). Fees cancel out, so the borne costs sum to C(N).
* reading fees ([reading], docs/design.md section 9): the centres' radiologists hired are borne
  by the centre's owner (ledger term `reading`); for every read a site of member a sends to a
  centre of member b != a, a pays b the reading fee, the grand plan's hiring cost over the reads
  done at the centres (`reading_fee`). A site's remote reads count at the centres in their
  shares of the pool (planner.results.reading.centre_shares). Reads a game's coalition buys
  (priced term `reads_bought`) stay with the owner of the site that buys them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from planner.model.inputs import ModelInputs
from planner.model.ledger import PENALTY_TERMS, SERVICE_TERMS, TERMS, term_words
from planner.results.reading import centre_shares
from planner.results.summary import name_of, named

# the contract's columns (DESIGN.md section 5), then the words a person reads: the member's name
# and who pays whom (`direction`, see `payment_words`)
TRANSFER_COLUMNS = ["member", "standalone_cost", "borne_cost", "allocation", "transfer",
                    "final_cost", "gain"]
TRANSFER_TABLE_COLUMNS = [*TRANSFER_COLUMNS, "name", "direction"]


BORNE_TERMS = [t for t in TERMS if t not in PENALTY_TERMS]   # then one `penalties` column


def tariffs(plan, inp: ModelInputs) -> pd.Series:
    """Average cost of one unit of each service in the grand plan: the ledger's capital,
    operating, per-exam and outreach cost of the service over the units of it served."""
    ledger = plan.ledger
    cost = ledger[ledger["term"].isin(SERVICE_TERMS)].groupby("service")["amount"].sum()
    served = plan.flows.groupby("service")["units"].sum()
    services = list(inp.equipment.index) + list(inp.specialties.index)
    cost, served = cost.reindex(services, fill_value=0.0), served.reindex(services, fill_value=0.0)
    out = np.divide(cost.to_numpy(float), served.to_numpy(float),
                    out=np.zeros(len(services)), where=served.to_numpy(float) > 0)
    return pd.Series(out, index=services, name="tariff")


def reading_fee(plan) -> float:
    """The price of one read at the centres: the grand plan's reading cost (radiologists hired,
    ledger term `reading`; the centres' own radiologists are existing staff, outside the
    ledger like every existing resource) over the reads done at the centres (their own exams
    and every remote read); 0 without [reading] or when the centres read nothing."""
    table = getattr(plan, "reading", None)
    if table is None:
        return 0.0
    done = float(table.loc[table["centre"], "reads_done"].sum())
    ledger = plan.ledger
    cost = float(ledger.loc[ledger["term"] == "reading", "amount"].sum())
    return cost / done if done > 0 else 0.0


def reading_fees(plan) -> pd.DataFrame:
    """The reading fees between members (`payer`, `payee`, `amount`): each site's remote reads
    (reading.csv `reads_remote`) split among the centres in their shares of the pool, times
    `reading_fee`, where the sending site's member is not the centre's. Empty without
    [reading]."""
    table = getattr(plan, "reading", None)
    shares, fee = centre_shares(table), reading_fee(plan)
    rows = []
    if table is not None and fee > 0:
        owner = table.set_index("site_id")["member"]
        for r in table[table["reads_remote"] > 0].itertuples():
            rows += [(r.member, owner[c], r.reads_remote * share * fee)
                     for c, share in shares.items() if owner[c] != r.member]
    return pd.DataFrame(rows, columns=["payer", "payee", "amount"])


def borne_costs(plan, inp: ModelInputs) -> pd.DataFrame:
    """Member x cost term of the grand plan, fees included; the `total` column sums to C(N).

    The terms are the plan's ledger grouped by member (its `member` is the bearer of the
    attribution rule above); the priced penalties are one column, `penalties`.
    """
    members = pd.Index(list(inp.budget_share.index), name="member")
    by_term = plan.costs_by("member", "term")
    by_term = by_term.unstack("term", fill_value=0.0) if len(by_term) else pd.DataFrame()
    table = by_term.reindex(index=members, columns=BORNE_TERMS, fill_value=0.0).astype(float)
    penalties = by_term.reindex(index=members, columns=list(PENALTY_TERMS), fill_value=0.0)
    table["penalties"] = penalties.sum(axis=1).astype(float)

    owner, home = inp.sites["member"], inp.zones["home_member"]
    f = plan.flows
    zone_member, site_member = f["zone_id"].map(home), f["site_id"].map(owner)
    crossing = (zone_member != site_member).to_numpy()
    fee = (f["units"] * f["service"].map(tariffs(plan, inp)))[crossing]
    table["fees_paid"] = fee.groupby(zone_member[crossing].to_numpy()).sum() \
        .reindex(members, fill_value=0.0).to_numpy(float)
    table["fees_received"] = fee.groupby(site_member[crossing].to_numpy()).sum() \
        .reindex(members, fill_value=0.0).to_numpy(float)
    reads = reading_fees(plan)   # [reading]: remote reads paid to the centre's member
    table["fees_paid"] += reads.groupby("payer")["amount"].sum() \
        .reindex(members, fill_value=0.0).to_numpy(float)
    table["fees_received"] += reads.groupby("payee")["amount"].sum() \
        .reindex(members, fill_value=0.0).to_numpy(float)
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


def payment_words(transfer: float, money: str) -> str:
    """Who pays whom, in words: a positive transfer is paid into the consortium pool, a negative
    one received from it; `money` is the amount as it should read (e.g. "1,234.56 CNY")."""
    if transfer > 0:
        return f"pays {money} into the consortium pool"
    if transfer < 0:
        return f"receives {money} from the consortium pool"
    return "neither pays nor receives"


def transfers(standalone: pd.Series, borne: pd.Series, allocation: pd.Series,
              names: pd.Series | None = None, currency: str = "") -> pd.DataFrame:
    """transfers.csv: final_cost = C({m}) - x[m]; transfer = final_cost - borne_cost (paid if
    positive, received if negative); gain = C({m}) - final_cost = x[m]. Then `name` (from
    `names`, member -> name; empty where none is given) and `direction`, the transfer in
    words to the cent ("pays 1,234.56 CNY into the consortium pool").

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
    given = pd.Series(dtype=object) if names is None else names
    table["name"] = [name_of(given.get(m)) for m in members]
    unit = f" {currency}" if currency else ""
    table["direction"] = [payment_words(t, f"{abs(t):,.2f}{unit}") for t in table["transfer"]]
    return table[TRANSFER_TABLE_COLUMNS]


def savings_by_term(standalone_terms: dict[str, dict[str, float]],
                    grand_terms: dict[str, float]) -> pd.DataFrame:
    """Where the savings come from: per cost term, the members' standalone costs summed, the
    grand plan's cost and their difference. The `savings` column sums to v(N) = sum_m C({m}) -
    C(N), because every cost is the sum of its ledger terms (one price book,
    planner/model/ledger.py). `label` is the term in words and `priced` says it is a priced
    penalty (a price on a rule not kept, not cash: the savings of a township that no longer
    refers its stroke cases late).

    `standalone_terms`: member -> term -> amount of its plan alone; `grand_terms`: term -> amount.
    """
    terms = [t for t in TERMS if t in grand_terms
             or any(t in by_term for by_term in standalone_terms.values())]
    alone = [float(np.sum([standalone_terms[m].get(t, 0.0) for m in sorted(standalone_terms)]))
             for t in terms]
    grand = [float(grand_terms.get(t, 0.0)) for t in terms]
    table = pd.DataFrame({"term": terms, "standalone": alone, "grand": grand})
    table["savings"] = table["standalone"] - table["grand"]
    table["label"] = [term_words(t) for t in terms]
    table["priced"] = [t in PENALTY_TERMS for t in terms]
    return table


def transfer_flags(table: pd.DataFrame, budgets: pd.Series) -> list[dict]:
    """Transfers a manager should look at twice: one whose size exceeds the member's standalone
    cost (it pays or receives more than planning alone would cost it in a year) or its capital
    budget contribution. `table` is transfers.csv (TRANSFER_COLUMNS, and `name` when it has
    one: the text names the member); `budgets`: member -> budget_contribution."""
    flags = []
    for row in table.to_dict("records"):
        size = abs(row["transfer"])
        limits = (("standalone_cost", row["standalone_cost"]),
                  ("budget_contribution", float(budgets.get(row["member"], np.nan))))
        for name, limit in limits:
            if np.isfinite(limit) and size > limit + 0.005:
                verb = "pays" if row["transfer"] > 0 else "receives"
                who = named(row["member"], row.get("name"))
                flags.append({"member": row["member"], "transfer": float(row["transfer"]),
                              "exceeds": name, "limit": float(limit),
                              "text": f"{who} {verb} {size:,.2f}, more than its "
                                      f"{name.replace('_', ' ')} ({limit:,.2f})"})
    return flags


# --- stage 2 with a fund (docs/design.md section 8, "Stage 2 with a fund") ----------------------
# transfers.csv after TRANSFER_TABLE_COLUMNS when the scenario has [fund]: the surplus share, then
# the member's year as cash (CASH_PARTS, their sum `cash_year`), the same year planning alone and
# what would make the member whole
CASH_PARTS = ["fund_payments_received", "patient_payments_received", "borne_cost", "transfer",
              "surplus_share"]
FUND_TABLE_COLUMNS = ["surplus_share", "fund_payments_received", "patient_payments_received",
                      "cash_year", "cash_year_alone", "make_whole"]


def surplus_shares(surplus: float, base: pd.Series, lead: str | None,
                   to_lead: float) -> pd.Series:
    """Split the fund's surplus (a deficit, negative, is split the same way, as a charge):
    `to_lead` x surplus to `lead`, the rest among the other members (all members when there is
    no lead, or when the lead is the only one) in proportion to `base` (member -> fund payments
    received, or allocation x[m]). A negative base counts as 0; when no member has a positive
    base the rest is split equally: a rule that gives nobody anything would lose money."""
    members = list(base.index)
    lead = lead if lead in members else None
    out = pd.Series(0.0, index=base.index, dtype=float)
    rest = surplus
    if lead is not None:
        out[lead] = to_lead * surplus
        rest = surplus - out[lead]
    others = [m for m in members if m != lead] or members
    weights = base.reindex(others).astype(float).clip(lower=0.0)
    if weights.sum() <= 0:
        weights = pd.Series(1.0, index=others)
    out[others] += rest * weights / weights.sum()
    return out


def cash_years(table: pd.DataFrame, by_member: pd.DataFrame, shares: pd.Series,
               alone: pd.Series, surplus: float) -> pd.DataFrame:
    """transfers.csv with the fund's columns (FUND_TABLE_COLUMNS), all in integer cents.

    A member's year as cash: fund payments received + patient payments received (fund.csv of the
    grand plan) - borne_cost - transfer + surplus_share = `cash_year` (costs as the game counts
    them: its priced penalties included). `alone`: member -> the same year planning alone, its
    standalone plan's payments received - its standalone cost (no surplus share: the prepaid fund
    and its surplus are the consortium's). `make_whole` = max(0, cash_year_alone - cash_year).
    The surplus shares are rounded to add up to the rounded surplus exactly."""
    members = list(table["member"])
    received = by_member.set_index("member").reindex(members).fillna(0.0)
    out = table.copy()
    cents = {c: np.round(received[c].to_numpy(float) * 100.0).astype(np.int64)
             for c in ("fund_payments_received", "patient_payments_received")}
    share_c = cents_keeping_sum(shares.reindex(members), int(round(surplus * 100.0)))
    borne_c = np.round(out["borne_cost"].to_numpy(float) * 100.0).astype(np.int64)
    transfer_c = np.round(out["transfer"].to_numpy(float) * 100.0).astype(np.int64)
    net = cents["fund_payments_received"] + cents["patient_payments_received"] - borne_c \
        - transfer_c + share_c
    alone_c = np.round(alone.reindex(members).to_numpy(float) * 100.0).astype(np.int64)
    out["surplus_share"] = share_c / 100.0
    for column, values in cents.items():
        out[column] = values / 100.0
    out["cash_year"] = net / 100.0
    out["cash_year_alone"] = alone_c / 100.0
    out["make_whole"] = np.maximum(alone_c - net, 0) / 100.0
    return out[[*TRANSFER_TABLE_COLUMNS, *FUND_TABLE_COLUMNS]]


def cash_flags(table: pd.DataFrame) -> list[dict]:
    """A member whose cash year in the consortium is worse than alone, with the amount that
    would make it whole (`table`: transfers.csv with FUND_TABLE_COLUMNS)."""
    flags = []
    for row in table.to_dict("records"):
        if row["make_whole"] > 0:
            who = named(row["member"], row.get("name"))
            flags.append({"member": row["member"], "worse_than_alone": True,
                          "cash_year": float(row["cash_year"]),
                          "cash_year_alone": float(row["cash_year_alone"]),
                          "make_whole": float(row["make_whole"]),
                          "text": f"{who} ends the year with {row['cash_year']:,.2f} in cash, "
                                  f"worse than alone ({row['cash_year_alone']:,.2f}): making it "
                                  f"whole takes {row['make_whole']:,.2f}"})
    return flags

"""One cost ledger: every term of the annual cost, priced once, attributed to site, zone and member.

The exact objective of docs/design.md section 5 is written here and nowhere else. :func:`prices`
gives the unit cost of each term on the model variable it prices, column by column (aligned with
the variable's index set, :func:`planner.model.inputs.index_sets`), together with where the cost
falls: the site, the zone, the service and the member who bears it. Two uses read it:

* the MILP objective (:func:`planner.model.families.objective_coefficients`): the coefficient of
  a column is the sum of the unit costs of the terms on it (a flow carries travel and service);
* a solution's ledger (:func:`ledger`): unit cost x solution value, one row per non-zero
  contribution, columns ``term, site_id, zone_id, member, service, amount``.

Every cost table then groups the ledger, as PyPSA's statistics accessor groups its cost
expressions: the plan's cost breakdown (costs.csv) by term, the borne costs of stage 2
(planner/sharing/accounting.py) by member and term, comparisons by term and member.

The bearer (``member``) follows the attribution rule of models/fair_division.md: new-unit capital
and operating cost of units in service to the owner of the site; relocation to the owner of the
receiving site; outreach days and a priced policy shortfall to the owner of the host site; the
per-exam service cost to the serving site's owner; patient travel, referral-out and a priced
uncovered zone to the zone's home member. Empty keys are "" (as `from_site` in decisions.csv).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from planner.model.inputs import ModelInputs, index_sets, memoised


@dataclass(frozen=True)
class Term:
    """One term of the annual cost, declared once: its key (the name in costs.csv and plan.json
    costs), its words (what a person reads: summaries, the report, the sharing statements,
    `planner diff`), whether it is a priced penalty (soft urgent coverage, the games' bought-in
    policy days and equity targets: in the ledger and the MILP objective, but outside the
    contract objective of docs/design.md section 5; a price put on a rule not kept, never money
    anyone pays, and its words say so) and whether it is a cost of providing a service (what a
    service's internal tariff recovers, planner/sharing/accounting.py)."""

    key: str
    words: str
    priced: bool = False
    provides_service: bool = False


# The fixed vocabulary of terms, in reporting order.
TERM_RECORDS = (
    Term("annual_capital", "capital (annualised)", provides_service=True),
    Term("operating", "operating", provides_service=True),
    Term("relocation", "relocation"),
    Term("outreach", "outreach days", provides_service=True),
    Term("travel", "patient travel (time valued)"),
    Term("service", "per-exam service", provides_service=True),
    Term("referral", "referrals out of the consortium"),
    Term("reading", "reading (radiologists hired)", provides_service=True),
    Term("uncovered_penalty", "late urgent cases (priced, not cash)", priced=True),
    Term("policy_shortfall", "policy outreach days not staffed (priced, not cash)", priced=True),
    Term("equity_shortfall", "equity targets missed (priced, not cash)", priced=True),
    Term("reads_bought", "reads bought outside the coalition (priced, not cash)", priced=True),
)
TERMS = tuple(t.key for t in TERM_RECORDS)
PENALTY_TERMS = tuple(t.key for t in TERM_RECORDS if t.priced)
SERVICE_TERMS = tuple(t.key for t in TERM_RECORDS if t.provides_service)
TERM_WORDS = {t.key: t.words for t in TERM_RECORDS}
KEYS = ("site_id", "zone_id", "member", "service")
COLUMNS = ["term", *KEYS, "amount"]


@dataclass(frozen=True)
class Price:
    """The unit cost of one term on one model variable, column by column.

    `unit_cost` and the key arrays are aligned with the variable's index set; a key that does
    not apply to the term is "" throughout.
    """

    term: str
    variable: str
    unit_cost: np.ndarray
    site_id: np.ndarray
    zone_id: np.ndarray
    member: np.ndarray
    service: np.ndarray


@dataclass(frozen=True)
class PriceBook:
    """All the prices of one set of inputs: the objective's coefficients and the ledger of a
    solution both come from it (compute it once, read it twice)."""

    prices: tuple[Price, ...]

    @property
    def terms(self) -> list[str]:
        """The terms of the annual cost, in reporting order (penalties only when priced)."""
        present = {p.term for p in self.prices}
        return [t for t in TERMS if t in present]

    def coefficients(self) -> dict[str, np.ndarray]:
        """The objective coefficient of each variable's columns: the sum of its terms' prices."""
        coefs: dict[str, np.ndarray] = {}
        for p in self.prices:
            coefs[p.variable] = coefs[p.variable] + p.unit_cost if p.variable in coefs \
                else p.unit_cost.copy()
        return coefs

    def ledger(self, values: dict[str, np.ndarray]) -> pd.DataFrame:
        """The ledger of a solution: one row per non-zero contribution (unit cost x value).

        `values` maps each model variable to its solution values, aligned with its index set (a
        variable absent from `values` contributes nothing). Rows come in the order of the
        prices, then of the index set, so the same solution gives the same ledger.
        """
        pieces = []
        for p in self.prices:
            x = values.get(p.variable)
            if x is None or not len(p.unit_cost):
                continue
            amount = p.unit_cost * np.asarray(x, float)
            keep = np.nonzero(amount)[0]
            pieces.append(pd.DataFrame({"term": p.term, "site_id": p.site_id[keep],
                                        "zone_id": p.zone_id[keep], "member": p.member[keep],
                                        "service": p.service[keep], "amount": amount[keep]}))
        if not pieces:
            return empty_ledger()
        return pd.concat(pieces, ignore_index=True)[COLUMNS]


def prices(inp: ModelInputs) -> PriceBook:
    """Every term of the annual cost (docs/design.md section 5) as unit cost x model variable:

    new_units[i,e] x capex_e A(r, L_e)        annual_capital   (site i, owner of i)
    units[i,e] x opex_e                        operating        (site i, owner of i)
    relocated[i,j,e] x relocation_cost_e       relocation       (receiving site j, owner of j)
    outreach_days[i,s] x cost_per_day_s        outreach         (host site i, owner of i)
    flow[z,i,k] x t[z,i] value_per_minute      travel           (zone z and site i, home of z)
    flow[z,i,k] x cost_per_exam_k              service          (zone z and site i, owner of i)
    member_in[m(i)] x site_demand[i,e] x cost_per_exam_e
                                               service          (site i, owner of i; site-bound)
    unmet[z,k] x referral_cost_k               referral         (zone z, home of z)
    uncovered[z,c] x (penalty_per_zone + cases[z,c] x cost_per_late_case)
                                               uncovered_penalty  (soft urgent coverage only)
    policy_shortfall[i,s] x shortfall price    policy_shortfall   (games only)
    access_shortfall[z,k] x [equity] penalty_per_zone,
    share_shortfall[z,k] x [equity] penalty_per_unit   equity_shortfall (games with [equity])
    hired_radiologists[c] x radiologist_cost   reading          (centre c, owner of c; [reading])
    reads_bought[i] x radiologist_cost / reads_per_radiologist
                                               reads_bought     (site i, owner of i; games)

    A(r, L) is `annual_capex` of the inputs (planner.model.inputs.annuity_factor); specialties
    have no per-visit cost. Every term is listed even when its variable has no column, so that a
    cost breakdown always names the same terms.
    """

    eq, sp = inp.equipment, inp.specialties
    owner, home = inp.sites["member"], inp.zones["home_member"]
    sets = index_sets(inp)
    referral = pd.concat([eq["referral_cost"], sp["referral_cost"]])
    per_exam = pd.concat([eq["cost_per_exam"], pd.Series(0.0, index=sp.index)])
    out: list[Price] = []

    def add(term, variable, unit_cost, n, site=None, zone=None, member=None, service=None):
        def column(values):
            return np.full(n, "", dtype=object) if values is None else \
                np.asarray(values, dtype=object).reshape(n)
        out.append(Price(term, variable, np.asarray(unit_cost, float).reshape(n), column(site),
                         column(zone), column(member), column(service)))

    def keyed(name: str, width: int) -> list[np.ndarray]:
        keys = sets[name]
        return [np.array([k[p] for k in keys], dtype=object) for p in range(width)]

    def at(series: pd.Series, keys: np.ndarray) -> np.ndarray:
        return series.reindex(keys).to_numpy() if len(keys) else np.empty(0)

    site, e = keyed("NEW_PAIRS", 2)
    add("annual_capital", "new_units", at(eq["annual_capex"], e), len(e), site, None,
        at(owner, site), e)
    site, e = keyed("UNIT_PAIRS", 2)
    add("operating", "units", at(eq["opex"], e), len(e), site, None, at(owner, site), e)
    _, to_site, e = keyed("MOVES", 3)
    add("relocation", "relocated", at(eq["relocation_cost"], e), len(e), to_site, None,
        at(owner, to_site), e)
    site, s = keyed("DAY_PAIRS", 2)
    add("outreach", "outreach_days", at(sp["cost_per_day"], s), len(s), site, None,
        at(owner, site), s)
    arcs = inp.arcs
    zone, site, k = (arcs[c].to_numpy(object) for c in ("zone_id", "site_id", "service"))
    add("travel", "flow", arcs["minutes"].to_numpy(float) * inp.value_per_minute, len(arcs),
        site, zone, at(home, zone), k)
    add("service", "flow", at(per_exam, k), len(arcs), site, zone, at(owner, site), k)
    # site-bound exams (site_demand.csv) cost cost_per_exam like any exam; a term on their site's
    # member_in (1 in a plan: a constant; a coalition pays its own sites' exams in the games)
    members = np.array(sets["MEMBERS"], dtype=object)
    for (i, e), exams in inp.site_demand.items():
        n = len(members)
        add("service", "member_in", np.where(members == owner[i], eq.at[e, "cost_per_exam"]
                                             * float(exams), 0.0), n,
            np.full(n, i, dtype=object), None, np.full(n, owner[i], dtype=object),
            np.full(n, e, dtype=object))
    zone, k = keyed("DEMAND", 2)
    add("referral", "unmet", at(referral, k), len(k), None, zone, at(home, zone), k)
    if inp.urgent_soft:
        rows = inp.cover_rows
        zone = rows["zone_id"].to_numpy(object)
        # a row of an aggregated model stands for `zones` rows of one covering set
        # (planner/model/aggregate.py merged_cover_rows); else for its own zone
        zones = rows["zones"].to_numpy(float) if "zones" in rows else 1.0
        price = float(inp.penalty_per_zone) * zones + rows["cases"].to_numpy(float) * \
            float(inp.cost_per_late_case)
        add("uncovered_penalty", "uncovered", price, len(rows), None, zone, at(home, zone),
            rows["equipment"].to_numpy(object))
    if inp.policy_soft:
        site, s = keyed("POLICY_PAIRS", 2)
        add("policy_shortfall", "policy_shortfall", at(inp.shortfall_price, s), len(s), site,
            None, at(owner, site), s)
    if inp.equity_soft and (len(inp.access_rows) or len(inp.share_rows)):
        for variable, name, penalty in (("access_shortfall", "ACCESS_ROWS", inp.access_penalty),
                                        ("share_shortfall", "SHARE_ROWS", inp.share_penalty)):
            zone, k = keyed(name, 2)
            add("equity_shortfall", variable, np.full(len(zone), float(penalty)), len(zone),
                None, zone, at(home, zone), k)
    if inp.reading_centres:
        centre = np.array(sets["READING_CENTRES"], dtype=object)
        add("reading", "hired_radiologists", np.full(len(centre), inp.radiologist_cost),
            len(centre), centre, None, at(owner, centre), None)
        if inp.reading_soft:
            site = np.array(sets["REMOTE_SITES"], dtype=object)
            add("reads_bought", "reads_bought",
                np.full(len(site), inp.radiologist_cost / inp.reads_per_radiologist), len(site),
                site, None, at(owner, site), None)
    return PriceBook(tuple(out))


@memoised
def price_book(inp: ModelInputs) -> PriceBook:
    """:func:`prices`, computed once per inputs: the objective's coefficients
    (planner.model.families.objective_coefficients) and the plan's ledger both read it."""
    return prices(inp)


# --- capital spent (the capital budget's measure, docs/design.md section 5) --------------------
# What one decision of each kind spends, by the column of equipment.csv that prices it; it is
# charged to the site that receives the unit (the new unit's site, a relocation's to-site). The
# model's budget rows, the plan's budget.csv and the diagnosis of commitments all read capital
# through capital_items, so the three cannot drift.
CAPITAL_PRICE_COLUMN = {"new_units": "capex", "relocated": "relocation_cost"}


def capital_price(equipment: pd.DataFrame):
    """price(kind, e): capital spent by one unit of decision `kind` on equipment e."""
    return lambda kind, e: float(equipment.at[e, CAPITAL_PRICE_COLUMN[kind]])


def capital_items(price, new_units, relocated) -> list[tuple[str, object, object]]:
    """Capital spent, item by item: (kind, site charged, amount spent) for each new unit purchase
    (site i of (i, e)) and each relocation (receiving site j of (i, j, e)). `price(kind, e)` gives
    one unit's price (:func:`capital_price`, or the model's parameters); `new_units` and
    `relocated` map their keys to amounts (numbers or the model's variables)."""
    items = [("new_units", i, price("new_units", e) * n) for (i, e), n in new_units.items()]
    items += [("relocated", j, price("relocated", e) * r) for (_, j, e), r in relocated.items()]
    return items


def term_words(term: str) -> str:
    """A cost term as a person reads it (TERM_WORDS); a key outside the vocabulary as it is."""
    return TERM_WORDS.get(term, term)


def ledger(inp: ModelInputs, values: dict[str, np.ndarray]) -> pd.DataFrame:
    """The ledger of a solution of the model built from `inp` (:meth:`PriceBook.ledger`)."""
    return price_book(inp).ledger(values)


def empty_ledger() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c == "amount" else object)
                         for c in COLUMNS})


def costs_by(table: pd.DataFrame, *keys: str) -> pd.Series | float:
    """The ledger summed by `keys` (any of term, site_id, zone_id, member, service); the total
    when no key is given. Only keys that occur are listed (a term with no row is absent)."""
    unknown = [k for k in keys if k not in COLUMNS[:-1]]
    if unknown:
        raise ValueError(f"cannot group the ledger by {', '.join(unknown)}; the keys are "
                         f"{', '.join(COLUMNS[:-1])}")
    if not keys:
        return float(table["amount"].sum())
    return table.groupby(list(keys), sort=True)["amount"].sum()


def cost_breakdown(table: pd.DataFrame, terms: list[str]) -> pd.Series:
    """Annual cost by term, every term of `terms` listed (zero when it has no row): costs.csv."""
    by_term = table.groupby("term", sort=False)["amount"].sum()
    return by_term.reindex(terms, fill_value=0.0).astype(float).rename("annual_cost") \
        .rename_axis("term")


def contract_objective(breakdown: pd.Series) -> float:
    """The exact objective of docs/design.md section 5: the breakdown without the priced
    penalties."""
    return float(breakdown.drop(list(PENALTY_TERMS), errors="ignore").sum())


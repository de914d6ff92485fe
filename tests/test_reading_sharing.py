"""Central reading in stage 2 (docs/design.md section 9, models/fair_division.md "Accounting"):
the reading capacity belongs to the centre's member, a coalition without it buys its reads at
radiologist_cost / reads_per_radiologist, and remote reads are priced between members.

A three-member case (county hospital H, the reading centre, of member MH; townships A of MA and
B of MB) is valued coalition by coalition by a brute force written here (units and hires
enumerated, the rest an LP by scipy's linprog); the toy consortium of tests/toy.py with a
reading centre shares without trouble."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

import planner
from helpers import ct_only_catalogue
from planner.scenario.loading import from_tables
from planner.sharing.coalitions import CoalitionModel
from toy import consortium, settings

SITES = {"H": "MH", "A": "MA", "B": "MB"}
ZONES = {"Z1": "MH", "Z2": "MA", "Z3": "MB", "Z4": "MB"}
MINUTES = {"Z1": {"H": 5.0, "A": 30.0, "B": 40.0}, "Z2": {"H": 30.0, "A": 5.0, "B": 35.0},
           "Z3": {"H": 40.0, "A": 35.0, "B": 5.0}, "Z4": {"H": 25.0, "A": 20.0, "B": 15.0}}
POPULATION = {"Z1": 4000.0, "Z2": 3000.0, "Z3": 3000.0, "Z4": 2000.0}   # 100 exams per 1,000
CT = {"capex": 1000.0, "opex": 100.0, "capacity": 10_000.0, "referral": 50.0, "per_exam": 5.0}
READING = {"reads_per_radiologist": 500.0, "radiologist_cost": 12_000.0, "centres": ["H"]}
FTE = {"A": 1.0}       # A reads 500 exams itself; B has no radiologist
PER_READ = READING["radiologist_cost"] / READING["reads_per_radiologist"]


def three_members(reading=True):
    tables = {
        "members": pd.DataFrame({"member": list(dict.fromkeys(SITES.values())),
                                 "name": ["hospital", "a", "b"],
                                 "budget_contribution": [1e6, 1e6, 1e6]}),
        "sites": pd.DataFrame({"site_id": list(SITES), "name": list(SITES),
                               "member": list(SITES.values()),
                               "tier": ["county", "township", "township"],
                               "lon": [119.0, 119.1, 119.2], "lat": 32.7}),
        "zones": pd.DataFrame({"zone_id": list(ZONES), "lon": 119.1, "lat": 32.7,
                               "population": list(POPULATION.values()),
                               "home_member": list(ZONES.values())}),
        **ct_only_catalogue(CT),
        "resources": pd.DataFrame([(i, "radiologists", f) for i, f in FTE.items()],
                                  columns=["site_id", "resource", "amount"]),
        "travel": pd.DataFrame([(z, i, t) for z in ZONES for i, t in MINUTES[z].items()],
                               columns=["zone_id", "site_id", "minutes"]),
    }
    return from_tables(settings(**({"reading": READING} if reading else {})), tables, "3 members")


def coalition_lp(coalition, open_sites, hires, reading=True):
    """The cheapest flows of a coalition for fixed units and hires (None if infeasible) and the
    reads it buys. Variables: flow[z,i] (zones of the coalition, sites with a unit), unmet[z],
    remote[i] and bought[i] (townships with a unit)."""
    zones = [z for z in ZONES if ZONES[z] in coalition]
    flows = [(z, i) for z in zones for i in open_sites]
    towns = [i for i in open_sites if i != "H"] if reading else []
    nf, nz, nt = len(flows), len(zones), len(towns)
    n = nf + nz + 2 * nt
    cost = np.zeros(n)
    cost[:nf] = [MINUTES[z][i] + CT["per_exam"] for z, i in flows]
    cost[nf:nf + nz] = CT["referral"]
    cost[nf + nz + nt:] = PER_READ                       # a read bought
    a_eq = np.zeros((nz, n))
    for k, (z, _) in enumerate(flows):
        a_eq[zones.index(z), k] = 1.0
    a_eq[np.arange(nz), nf + np.arange(nz)] = 1.0
    demand = [POPULATION[z] / 10.0 for z in zones]
    a_ub, b_ub = [], []
    for i in open_sites:
        a_ub.append([1.0 if k < nf and flows[k][1] == i else 0.0 for k in range(n)])
        b_ub.append(CT["capacity"])
    if reading:
        rpr = READING["reads_per_radiologist"]
        for t, i in enumerate(towns):       # exams - remote - bought <= own reads
            row = [1.0 if k < nf and flows[k][1] == i else 0.0 for k in range(n)]
            row[nf + nz + t] = row[nf + nz + nt + t] = -1.0
            a_ub.append(row)
            b_ub.append(FTE.get(i, 0.0) * rpr)
        row = [1.0 if k < nf and flows[k][1] == "H" else 0.0 for k in range(n)]
        for t in range(nt):                 # the centre's exams + remote reads <= its pool
            row[nf + nz + t] = 1.0
        a_ub.append(row)
        b_ub.append(rpr * hires)            # the pool is MH's: no hires without it
    if nz == 0:
        return 0.0, 0.0
    res = linprog(cost, A_ub=np.array(a_ub) if a_ub else None, b_ub=b_ub or None, A_eq=a_eq,
                  b_eq=demand, bounds=(0, None), method="highs")
    if res.status != 0:
        return None, 0.0
    return res.fun, float(res.x[nf + nz + nt:].sum())


def brute_force(coalition, reading=True):
    """C(S): min over units at the coalition's sites and hires at H (only with MH) of the fixed
    costs + the LP part; with the reads S buys at that optimum."""
    sites = [i for i in SITES if SITES[i] in coalition]
    most = math.ceil(sum(POPULATION.values()) / 10.0 / READING["reads_per_radiologist"]) \
        if reading and "MH" in coalition else 0
    best = (math.inf, 0.0)
    for units in itertools.product((0, 1), repeat=len(sites)):
        open_sites = [i for i, u in zip(sites, units) if u]
        for hires in range(most + 1):
            part, bought = coalition_lp(coalition, open_sites, hires, reading)
            if part is None:
                continue
            total = part + len(open_sites) * (CT["capex"] + CT["opex"]) + \
                hires * READING["radiologist_cost"]
            if total < best[0] - 1e-9:
                best = (total, bought)
    return best


@pytest.fixture(scope="module")
def shared():
    return planner.share(three_members(), "shapley", workers=1)


def test_every_coalition_value_equals_brute_force(shared):
    members = list(dict.fromkeys(SITES.values()))
    alone = {m: brute_force({m})[0] for m in members}
    for m in members:
        assert shared.standalone[m] == pytest.approx(alone[m], rel=1e-7)
    assert len(shared.values) == 2 ** len(members) - 1       # every coalition has a plan
    for coalition, value in shared.values.items():
        assert np.isfinite(value)
        expected = sum(alone[m] for m in coalition) - brute_force(set(coalition))[0]
        assert value == pytest.approx(expected, rel=1e-7, abs=1e-6), sorted(coalition)


def test_a_coalition_without_the_centre_buys_its_reads(shared):
    # B alone: 500 exams, no radiologist, no centre: every read bought at 24 CNY
    cost_b, bought_b = brute_force({"MB"})
    assert bought_b == pytest.approx(500.0)
    assert cost_b - brute_force({"MB"}, reading=False)[0] == pytest.approx(500.0 * PER_READ)
    # A alone reads its 300 exams with its own radiologist; H alone hires for its own 400
    assert brute_force({"MA"})[1] == pytest.approx(0.0)
    terms = shared.savings_by_term.set_index("term")
    assert terms.loc["reads_bought", "standalone"] == pytest.approx(500.0 * PER_READ)
    assert terms.loc["reads_bought", "priced"]


def test_remote_reads_are_priced_between_members(shared):
    table = shared.transfers
    assert table["transfer"].sum() == pytest.approx(0.0, abs=0.005)   # to the cent
    assert table["gain"].sum() == pytest.approx(shared.savings, abs=0.005)
    borne = shared.borne
    assert borne["total"].sum() == pytest.approx(shared.grand_cost, rel=1e-9)
    # the fee recomputed from the grand plan's reading table and ledger
    plan = CoalitionModel(three_members()).plan(list(dict.fromkeys(SITES.values())))
    reading = plan.reading.set_index("site_id")
    hired_cost = READING["radiologist_cost"] * reading.loc["H", "hired"]
    fee = hired_cost / reading.loc["H", "reads_done"]
    assert reading.loc["H", "hired"] >= 1 and reading.loc["B", "reads_remote"] > 0
    exams = plan.flows["units"].sum()        # the CT tariff: its capital, operating, per exam
    tariff = (plan.equipment["total"].sum() * (CT["capex"] + CT["opex"])
              + CT["per_exam"] * exams) / exams
    flows = plan.flows.assign(home=plan.flows["zone_id"].map(ZONES),
                              owner=plan.flows["site_id"].map(SITES))
    crossing = flows[flows["home"] != flows["owner"]]
    service_paid = crossing.groupby("home")["units"].sum() * tariff
    for member in ("MA", "MB"):
        site = {"MA": "A", "MB": "B"}[member]
        remote = reading.loc[site, "reads_remote"] if site in reading.index else 0.0
        expected = remote * fee + service_paid.get(member, 0.0)
        assert borne.loc[member, "fees_paid"] == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert borne["fees_paid"].sum() == pytest.approx(borne["fees_received"].sum())


def test_the_toy_consortium_with_a_reading_centre_shares():
    base = consortium(townships=3)
    resources = pd.concat([base.resources, pd.DataFrame(
        {"site_id": ["S_H", "S_T1"], "resource": ["radiologists", "radiologists"],
         "amount": [2.0, 0.5]})], ignore_index=True)
    reading = {"reads_per_radiologist": 6000.0, "radiologist_cost": 300_000.0,
               "centres": ["S_H"]}
    members = base.members.assign(budget_contribution=3e6)   # a township alone affords a CT
    scenario = base.with_(tables={"resources": resources, "members": members}, **reading)
    sharing = planner.share(scenario, workers=1)
    assert len(sharing.values) == 2 ** 4 - 1 and all(np.isfinite(list(sharing.values.values())))
    assert sharing.transfers["transfer"].sum() == pytest.approx(0.0, abs=0.005)
    assert sharing.borne["total"].sum() == pytest.approx(sharing.grand_cost, rel=1e-9)
    # a township alone has no centre: it buys every read beyond its own radiologists
    terms = sharing.savings_by_term.set_index("term")
    assert terms.loc["reads_bought", "standalone"] > 0

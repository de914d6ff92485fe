"""Stage 2 with a fund (docs/design.md section 8, "Stage 2 with a fund"): the surplus shares,
the members' years as cash and the worse-than-alone flag, recomputed here from the grand plan's
fund accounts (planner.solve: Plan.fund, Plan.fund_by_member) and from the standalone plans' flows
by short functions that share nothing with planner/sharing; without [fund] the sharing outputs
are those of before."""

from __future__ import annotations

import json

import pandas as pd
import pytest

import planner
from planner.sharing.division import share, sharing_summary
from toy import consortium

REIMBURSEMENT = {"county": 0.65, "township": 0.85, "outside": 0.5}
PRICE = {"CT": 200.0, "cardiology": 50.0}
OLD_COLUMNS = ["member", "standalone_cost", "borne_cost", "allocation", "transfer",
               "final_cost", "gain", "name", "direction"]


def base():
    """The toy consortium with prices, whose game rules are stage-1 rules (no policy minimum,
    soft urgent coverage), so that a member's standalone plan is planner.solve of its slice."""
    scenario = consortium(3).with_(min_outreach_days={}, urgent_soft=True)
    equipment = scenario.tables["equipment"].assign(price_per_exam=PRICE["CT"],
                                                    outside_price=400.0)
    specialties = scenario.tables["specialties"].assign(price_per_visit=PRICE["cardiology"],
                                                        outside_price=80.0)
    return scenario.with_(tables={"equipment": equipment, "specialties": specialties})


def with_fund(scenario, **fund):
    return scenario.with_(capitation=600.0, reimbursement=REIMBURSEMENT, lead_member="H",
                          surplus_to_lead=0.6, **fund)


def run(scenario, folder):
    sharing = share(scenario, rule="shapley", workers=1)
    sharing.save(folder)
    return (sharing, json.loads((folder / "sharing.json").read_text()),
            pd.read_csv(folder / "transfers.csv"))


def expected_shares(surplus, base: dict, lead="H", to_lead=0.6) -> dict:
    """to_lead x surplus to the lead; the rest to the others in proportion to base (negative
    counted as 0; all zero: equal)."""
    others = {m: max(b, 0.0) for m, b in base.items() if m != lead}
    total = sum(others.values())
    rest = (1 - to_lead) * surplus
    out = {m: rest * (b / total if total > 0 else 1 / len(others)) for m, b in others.items()}
    return {lead: to_lead * surplus, **out}


def payments_received(scenario, flows: pd.DataFrame) -> dict:
    """member -> fund + patient payments for the flows at its sites (the whole price)."""
    owner = scenario.sites.set_index("site_id")["member"]
    out = {m: 0.0 for m in scenario.members["member"]}
    for r in flows.itertuples():
        out[owner[r.site_id]] += r.units * PRICE[r.service]
    return out


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return tmp_path_factory.mktemp("fund")


@pytest.fixture(scope="module")
def policy(folders):
    scenario = with_fund(base())
    return scenario, planner.solve(scenario), *run(scenario, folders / "policy")


def test_policy_shares_sum_to_the_surplus_lead_first_rest_by_fund_payments(policy):
    _, plan, _, written, table = policy
    surplus = plan.fund["surplus"]
    assert written["fund"]["surplus"] == pytest.approx(surplus, abs=0.01)
    received = plan.fund_by_member.set_index("member")["fund_payments_received"].to_dict()
    assert sum(received.values()) > 0
    expected = expected_shares(surplus, received)
    shares = table.set_index("member")["surplus_share"]
    assert round(shares.sum(), 2) == round(surplus, 2)
    assert shares["H"] == pytest.approx(0.6 * surplus, abs=0.01)
    for m, value in expected.items():
        assert shares[m] == pytest.approx(value, abs=0.01), m
        assert written["fund"]["surplus_shares"][m] == pytest.approx(value, abs=0.01)


def test_allocation_rule_splits_the_rest_by_allocation(folders):
    scenario = with_fund(base(), surplus_rule="allocation")
    plan = planner.solve(scenario)
    _, written, table = run(scenario, folders / "allocation")
    allocation = table.set_index("member")["allocation"].to_dict()
    expected = expected_shares(plan.fund["surplus"], allocation)
    shares = table.set_index("member")["surplus_share"]
    assert round(shares.sum(), 2) == round(plan.fund["surplus"], 2)
    for m, value in expected.items():
        assert shares[m] == pytest.approx(value, abs=0.01), m
    assert written["fund"]["surplus_rule"] == "allocation"


def test_statements_balance_and_columns_follow_the_old_ones(policy):
    _, _, sharing, written, table = policy
    assert list(table.columns[:len(OLD_COLUMNS)]) == OLD_COLUMNS
    assert list(table.columns[len(OLD_COLUMNS):])[0] == "surplus_share"
    net = (table.fund_payments_received + table.patient_payments_received - table.borne_cost
           - table.transfer + table.surplus_share)
    assert (net - table.cash_year).abs().max() < 0.005
    lines = sharing.statements()
    assert len(lines) == len(table)
    for line, r in zip(lines, table.itertuples()):
        assert "Its year in cash" in line and f"= {r.cash_year / 1e6:,.2f} M" in line
    cash = written["fund"]["cash_years"]
    for r in table.itertuples():
        assert cash[r.member]["cash_year"] == pytest.approx(r.cash_year, abs=0.005)


def _alone(scenario, table) -> dict:
    """A member's cash year alone: its standalone plan's payments received (planner.solve of its
    slice) less its standalone cost (transfers.csv)."""
    out = {}
    for r in table.itertuples():
        plan = planner.solve(scenario.restricted_to([r.member]), mip_gap=1e-9)
        out[r.member] = payments_received(scenario, plan.flows)[r.member] - r.standalone_cost
    return out


def test_a_member_worse_off_than_alone_is_flagged_with_its_make_whole_amount(folders):
    # the fund's other spending leaves a deficit of about 20 M: charged 60% to the lead,
    # which then ends its year far below its year alone
    population = float(base().zones["population"].sum())
    scenario = with_fund(base(), other_spending=600.0 * population + 2e7)
    sharing, written, table = run(scenario, folders / "deficit")
    assert written["fund"]["surplus"] < 0
    alone = _alone(scenario, table)
    flagged = {f["member"]: f for f in sharing.flags if f.get("worse_than_alone")}
    assert "H" in flagged
    summary = sharing_summary(sharing)
    for r in table.itertuples():
        assert r.cash_year_alone == pytest.approx(alone[r.member], abs=0.02), r.member
        owed = max(alone[r.member] - r.cash_year, 0.0)
        assert r.make_whole == pytest.approx(owed, abs=0.02), r.member
        if owed > 0.02:
            assert flagged[r.member]["make_whole"] == pytest.approx(owed, abs=0.02)
            assert written["fund"]["make_whole"][r.member] == pytest.approx(owed, abs=0.02)
            assert f"Check: {flagged[r.member]['text']} CNY." in summary
            assert f"{r.make_whole:,.2f}" in flagged[r.member]["text"]
        else:
            assert r.member not in flagged


def test_the_surplus_case_flags_nobody_and_alone_is_recomputed(policy):
    scenario, _, sharing, _, table = policy
    alone = _alone(scenario, table)
    for r in table.itertuples():
        assert r.cash_year_alone == pytest.approx(alone[r.member], abs=0.02)
    assert not [f for f in sharing.flags if f.get("worse_than_alone")]


def test_without_fund_the_outputs_are_those_of_before(policy, folders):
    _, _, _, with_json, with_table = policy
    sharing, written, _ = run(base(), folders / "plain")
    header = (folders / "plain" / "transfers.csv").read_text().splitlines()[0]
    assert header == ",".join(OLD_COLUMNS)
    assert "fund" not in written and sharing.fund is None
    # the fund is accounts only: the rest of the outputs is the same with and without it
    assert {k: v for k, v in with_json.items() if k not in ("fund", "flags")} == \
        {k: v for k, v in written.items() if k != "flags"}
    plain = pd.read_csv(folders / "plain" / "transfers.csv")
    pd.testing.assert_frame_equal(with_table[OLD_COLUMNS], plain)
    assert "Its year in cash" not in "\n".join(sharing.statements())

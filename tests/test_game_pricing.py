"""Stage 2 in real money (issue 10): what a coalition cannot do is priced per case and per day,
from the scenario's own figures, and the savings split by cost term add up to v(N).

The prices are recomputed here from the CSV tables by hand (population x cases_per_1000 / 1000 x
cost_per_late_case; visits_per_day x referral_cost), not read back from the price book; the
coalition costs by term are checked against the objective HiGHS reports; the decomposition
against v(N) of an independent sum of coalition costs; the flags against their definition.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from planner.model.inputs import model_inputs
from planner.model.ledger import prices
from planner.sharing.accounting import savings_by_term, transfer_flags
from planner.sharing.coalitions import CoalitionModel
from planner.sharing.division import share
from toy import consortium

LATE = 8000.0


@pytest.fixture(scope="module")
def priced():
    return consortium(3).with_(penalty_per_zone=0.0, cost_per_late_case=LATE,
                               shortfall_priced_as="referrals")


def test_an_uncovered_zone_costs_its_late_cases(priced):
    inp = model_inputs(priced, game=True)
    book = {p.term: p for p in prices(inp).prices}
    uncovered = book["uncovered_penalty"]
    zones = priced.zones.set_index("zone_id")["population"]
    stroke = float(priced.conditions.set_index("condition").at["stroke", "cases_per_1000"])
    expected = zones.reindex(uncovered.zone_id).to_numpy() * stroke / 1000.0 * LATE
    np.testing.assert_allclose(uncovered.unit_cost, expected, rtol=1e-12)
    with_lump = model_inputs(priced.with_(penalty_per_zone=1e5), game=True)
    lump = {p.term: p for p in prices(with_lump).prices}["uncovered_penalty"]
    np.testing.assert_allclose(lump.unit_cost, expected + 1e5, rtol=1e-12)


def test_a_missing_policy_day_costs_the_visits_it_refers_out(priced):
    sp = priced.specialties.set_index("specialty")
    inp = model_inputs(priced, game=True)
    expected = sp["visits_per_day"] * sp["referral_cost"]
    pd.testing.assert_series_equal(inp.shortfall_price.sort_index(), expected.sort_index(),
                                   check_names=False)
    buy_in = model_inputs(priced.with_(shortfall_priced_as="buy-in"), game=True)
    factor = priced.settings.policy.shortfall_cost_factor
    pd.testing.assert_series_equal(buy_in.shortfall_price.sort_index(),
                                   (sp["cost_per_day"] * factor).sort_index(),
                                   check_names=False)


def test_a_coalition_cost_splits_by_term_exactly(priced):
    model = CoalitionModel(priced)
    members = model.members
    for coalition in ([members[0]], members[1:], members):
        cost = model.cost(coalition)
        assert math.fsum(a for _, a in cost.terms) == pytest.approx(cost.cost, rel=1e-9)
    alone = dict(model.cost([members[1]]).terms)          # a township alone has no CT pool:
    assert alone["uncovered_penalty"] > 0                  # its stroke cases are priced
    assert alone["policy_shortfall"] > 0                   # and its policy days


def test_savings_by_term_sum_to_the_savings(priced):
    sharing = share(priced, "shapley", workers=1)
    table = sharing.savings_by_term
    assert table["savings"].sum() == pytest.approx(sharing.savings, rel=1e-9)
    assert (table["standalone"] - table["grand"]).to_numpy() == \
        pytest.approx(table["savings"].to_numpy())
    standalone = sharing.standalone.sum()
    assert table["standalone"].sum() == pytest.approx(standalone, rel=1e-9)
    assert table["grand"].sum() == pytest.approx(sharing.grand_cost, rel=1e-9)
    assert "savings_by_term" in sharing.to_json()


def test_savings_by_term_of_hand_made_costs():
    table = savings_by_term({"A": {"referral": 10.0, "operating": 1.0},
                             "B": {"referral": 5.0, "uncovered_penalty": 2.0}},
                            {"referral": 3.0, "operating": 4.0})
    got = table.set_index("term")["savings"].to_dict()
    assert got == {"operating": -3.0, "referral": 12.0, "uncovered_penalty": 2.0}
    assert sum(got.values()) == (10 + 1 + 5 + 2) - (3 + 4)


def test_transfer_flags_follow_their_definition():
    table = pd.DataFrame({"member": ["A", "B", "C"], "standalone_cost": [100.0, 50.0, 10.0],
                          "transfer": [-120.0, 30.0, 5.0]})
    flags = transfer_flags(table, pd.Series({"A": 1000.0, "B": 20.0, "C": 100.0}))
    assert {(f["member"], f["exceeds"]) for f in flags} == {("A", "standalone_cost"),
                                                            ("B", "budget_contribution")}
    assert "receives 120.00" in flags[0]["text"]

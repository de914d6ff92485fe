"""Owen's LP-duality cost shares and the separation MILP, checked by enumeration.

* The LP-duality shares are in the core of the LP game: for every coalition S, the shares of S
  never exceed C_LP(S), computed by an independent LP solve of S's own relaxation.
* The separation MILP's bound is never below the largest excess found by enumerating every
  coalition's exact value, and its candidates' excesses never exceed their exact excesses.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from planner.sharing.coalitions import CoalitionModel, CoalitionValues
from toy import consortium


@pytest.fixture(scope="module", params=[(4, 0), (5, 3)], ids=["5 members", "6 members"])
def game(request):
    townships, seed = request.param
    scenario = consortium(townships, seed=seed)
    return scenario, CoalitionModel(scenario)


def _coalitions(members):
    return [frozenset(c) for r in range(1, len(members) + 1)
            for c in itertools.combinations(members, r)]


def test_lp_duality_shares_are_in_the_core_of_the_lp_game(game):
    _, model = game
    shares, rest = model.lp_cost_shares()
    members = model.members
    lp = {s: model.lp_cost(s) for s in _coalitions(members)}
    grand = lp[frozenset(members)]
    assert math.fsum(shares.values()) + rest == pytest.approx(grand, rel=1e-7)
    # every right-hand side scales with membership: the dual's constant part is not negative
    tol = 1e-6 * grand
    assert rest >= -tol
    # split the constant part in proportion to the members' LP standalone costs (any split
    # with non-negative parts would do): an allocation of C_LP(N) in the LP game's core
    alone = {m: lp[frozenset([m])] for m in members}
    cost_share = {m: shares[m] + rest * alone[m] / math.fsum(alone.values()) for m in members}
    for s, value in lp.items():
        assert math.fsum(cost_share[m] for m in s) <= value + tol, sorted(s)
    # and the relaxation is a relaxation: C_LP(S) <= C(S)
    for s in _coalitions(members)[: len(members) + 3]:
        assert lp[s] <= model.cost(s).cost + tol


def test_separation_bound_and_candidates_against_enumeration(game):
    scenario, model = game
    members = model.members
    values = CoalitionValues(scenario, workers=1)
    everything = _coalitions(members)
    values.compute(everything)
    standalone = {m: values.cost([m]) for m in members}
    savings = {s: values.savings(s) for s in everything}
    grand = savings[frozenset(members)]
    proper = [s for s in everything if len(s) < len(members)]
    rng = np.random.default_rng(7)
    for _ in range(4):
        weights = rng.dirichlet(np.ones(len(members)))
        x = {m: grand * w for m, w in zip(members, weights)}
        exact = {s: savings[s] - math.fsum(x[m] for m in s) for s in proper}
        best = max(exact.values())
        found = model.separate(standalone, x)
        tol = 1e-5 * max(grand, 1.0)
        assert found.bound >= best - tol
        assert found.candidates[0][1] == pytest.approx(best, abs=tol)
        for coalition, excess in found.candidates:
            assert excess <= exact[coalition] + tol
        # excluding the best coalition: the next best (no-good cut)
        top = found.candidates[0][0]
        second = model.separate(standalone, x, exclude=[top])
        assert second.candidates[0][1] == pytest.approx(
            max(v for s, v in exact.items() if s != top), abs=tol)
        # back to coalition solves: the membership costs are gone again
        assert model.cost(members[:2]).cost == pytest.approx(values.cost(members[:2]), rel=1e-9)

"""Coalition values with the coalition-solve options (COALITION_HIGHS_OPTIONS: HiGHS's feasibility
jump off) equal the values of the unchanged path and of independent solves.

Independent route: each coalition as a scenario of its own (`restricted_to`) solved by
`planner.solve`, where the game's rules are stage-1 rules (no policy minimum, soft urgent
coverage), as tests/test_sharing.py does. Unchanged path: a HiGHS model of the game built and
solved here with HiGHS's own options, the coalition switched by the membership bounds."""

from __future__ import annotations

import itertools

import pytest

import planner
from planner.model.families import build_model
from planner.model.highs import HighsModel
from planner.model.inputs import model_inputs
from planner.sharing.coalitions import COALITION_HIGHS_OPTIONS, CoalitionValues
from toy import consortium


def _coalitions(members):
    return [c for r in range(1, len(members) + 1) for c in itertools.combinations(members, r)]


def _independent_cost(base, coalition) -> float:
    sub = base.restricted_to(coalition)
    if sub.zones.empty:   # no demand: the CT units it owns, kept in service
        ct = sub.resources.loc[sub.resources.resource == "CT", "amount"].sum()
        return float(ct * sub.equipment.opex_per_year.iloc[0])
    plan = planner.solve(sub, mip_gap=1e-9)
    return plan.objective + plan.costs.get("uncovered_penalty", 0.0)


def test_the_speedup_is_switched_on():
    assert COALITION_HIGHS_OPTIONS == {"mip_heuristic_run_feasibility_jump": False}


@pytest.mark.parametrize("townships", [4, 5])
def test_every_coalition_equals_an_independent_solve(townships):
    base = consortium(townships, seed=townships).with_(min_outreach_days={}, urgent_soft=True)
    values = CoalitionValues(base, workers=1)
    coalitions = _coalitions(list(base.members.member))
    values.compute(coalitions)
    for c in coalitions:
        assert values.cost(c) == pytest.approx(_independent_cost(base, c), rel=1e-6, abs=1e-3), c


@pytest.mark.parametrize("townships", [4, 5, 6])
def test_every_coalition_equals_the_unchanged_path(townships):
    scenario = consortium(townships, seed=townships)   # game rules: policy and coverage priced
    values = CoalitionValues(scenario, workers=1)
    model = values.local_model()
    # the unchanged path, built here: HiGHS's default options, membership fixed by bounds
    inputs = model_inputs(scenario, game=True)
    pyomo_model = build_model(inputs)
    highs = HighsModel(pyomo_model)
    members = list(inputs.budget_share.index)
    coalitions = _coalitions(members)
    values.compute(coalitions)
    for c in coalitions:
        for m in members:
            pyomo_model.member_in[m].fix(1 if m in c else 0)
        highs.push_bounds([pyomo_model.member_in[m] for m in members])
        result = highs.solve(model.options)
        assert result.objective is not None
        assert values.cost(c) == pytest.approx(result.objective, rel=1e-6, abs=1e-3), c
    # HiGHS's own option is back after the coalition solves (the separation MILP keeps it)
    assert model.highs.highs.getOptionValue("mip_heuristic_run_feasibility_jump")[1] is True

"""Coalition solves with their own `equipment_rounding` rows (models/fair_division.md, "Speed of
coalition values"): in a coalition's solve membership is fixed, so b_e(S) = (S's zones' demand +
S's sites' site-bound exams) / unit capacity is a constant and the stage-1 rounding row is valid
with it; where membership is free (separation MILPs, the LP game) the rows are off.

Checked on toy games of 5 and 6 members where the rounding matters (CT's capacity set so that the
whole demand fills 3.6 or 4.3 units, so coalitions have b_e(S) from about 0.3 to 4.3):

* every coalition's value with the rows equals an independent solve: the coalition as a scenario
  of its own (`restricted_to`, game rules as stage-1 rules) by `planner.solve`, or, with
  site-bound exams and [reading] (where a coalition without a centre buys reads, which a stage-1
  plan cannot), the game model built here without the rows' values (off, as built) with the
  membership fixed by bounds; all at a gap of 1e-9;
* the row's right-hand side is ceil(b) with b recomputed from the scenario's demand of the
  coalition's zones and the site-bound exams of its sites, and for some coalitions it lifts the
  LP relaxation (the rows are not idle in these games);
* the LP game (lp_cost) is solved without the rows.
* during a separation MILP the rows are off in HiGHS (right-hand side 0), the separation agrees
  with the enumeration of every coalition, and the next coalition solve sets its rows again.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

import planner
from planner.model.families import build_model, linear_sum
from planner.model.highs import HighsModel, SolverOptions, run
from planner.model.inputs import model_inputs
from planner.sharing.coalitions import CoalitionModel, CoalitionValues
from test_equipment_rounding import MAX_UTILIZATION, READING, ct_demand, with_units_needed
from toy import consortium

TIGHT = SolverOptions(mip_gap=1e-9, mip_abs_gap=1e-9)


def _coalitions(members):
    return [frozenset(c) for r in range(1, len(members) + 1)
            for c in itertools.combinations(members, r)]


def _stage1_rules(scenario):
    """The game's rules as stage-1 rules: no policy minimum, urgent coverage priced."""
    return scenario.with_(min_outreach_days={}, urgent_soft=True)


def _restricted_cost(base, coalition) -> float:
    """C(S) of the coalition as a scenario of its own."""
    sub = base.restricted_to(sorted(coalition))
    if sub.zones.empty:   # no demand: the CT units it owns, kept in service
        ct = sub.resources.loc[sub.resources.resource == "CT", "amount"].sum()
        return float(ct * sub.equipment.opex_per_year.iloc[0])
    plan = planner.solve(sub, mip_gap=1e-9)
    return plan.objective + plan.costs.get("uncovered_penalty", 0.0)


def _expected_rhs(base, coalition) -> float:
    """ceil(b) (or b when its fraction is below 1e-3) of CT, from the scenario's stage-1 demand
    of the coalition's zones and the site-bound exams of its sites."""
    inp = model_inputs(base)
    demand = inp.demand.xs("CT", level="service")
    home = inp.zones["home_member"]
    exams = float(demand[[home[z] in coalition for z in demand.index]].sum())
    if inp.site_demand is not None and len(inp.site_demand):
        bound = inp.site_demand.xs("CT", level="service")
        owner = inp.sites["member"]
        exams += float(bound[[owner[i] in coalition for i in bound.index]].sum())
    b = exams / float(inp.equipment.at["CT", "capacity"])
    return b if b - math.floor(b) < 1e-3 else float(math.ceil(b))


def _rounding_rows(model: CoalitionModel) -> list[int]:
    return [k for k, c in enumerate(model.highs.constraints)
            if c.parent_component() is model.model.equipment_rounding]


def _rhs_in_highs(model: CoalitionModel) -> list[float]:
    lower = model.highs.highs.getLp().row_lower_
    return [lower[k] for k in _rounding_rows(model)]


def _lp_bound(model: CoalitionModel, coalition, rounding: bool) -> float:
    model._fix_members(coalition, rounding=rounding)
    h = model.highs.relaxation()
    run(h, 1)
    return h.getInfo().objective_function_value


def _filling(townships: int, b: float):
    """The toy consortium of `townships` townships (seed = townships), game rules as stage-1
    rules, CT's capacity set so that the whole demand fills b units."""
    sc = _stage1_rules(consortium(townships, seed=townships))
    demand = float(model_inputs(sc).demand.xs("CT", level="service").sum())
    return sc.with_(tables={"equipment": sc.equipment.assign(
        capacity_per_year=demand / b / MAX_UTILIZATION)})


# b where the rows lift the LP relaxation of some coalitions (in most toy games urgent coverage
# already buys the units the rounding asks for)
@pytest.mark.parametrize("townships, b", [(4, 3.6), (5, 4.3)], ids=["5 members", "6 members"])
def test_every_coalition_equals_an_independent_restricted_solve(townships, b):
    base = _filling(townships, b)
    values = CoalitionValues(base, workers=1, options=TIGHT)
    model = values.local_model()
    coalitions = _coalitions(model.members)
    values.compute(coalitions)
    lifted = 0
    for c in coalitions:
        assert values.cost(c) == pytest.approx(_restricted_cost(base, c), rel=1e-7, abs=1e-3), \
            sorted(c)
        model._fix_members(c)
        assert _rhs_in_highs(model) == [pytest.approx(_expected_rhs(base, c), rel=1e-12)]
        lifted += _lp_bound(model, c, True) > _lp_bound(model, c, False) * (1 + 1e-9)
    assert lifted >= 1, "the rows should lift the LP relaxation of some coalitions"


def _without_rows(scenario, coalitions) -> dict[frozenset[str], float]:
    """C(S) on the game model built here, its rounding rows off as built (right-hand side 0),
    the coalition switched by the membership bounds only."""
    inp = model_inputs(scenario, game=True)
    model = build_model(inp)
    assert all(model.rounding_units[e].value == 0 for e in model.equipment_rounding)
    highs = HighsModel(model)
    members = list(inp.budget_share.index)
    costs = {}
    for c in coalitions:
        for m in members:
            model.member_in[m].fix(1 if m in c else 0)
        highs.push_bounds([model.member_in[m] for m in members])
        result = highs.solve(TIGHT)
        assert result.objective is not None
        costs[c] = result.objective
    return costs


def _hospital_bound(b: float):
    """tests/test_equipment_rounding.py's toy with site-bound CT exams (0.35 units' worth) and
    [reading], the exams at the hospital only: a township alone cannot buy a CT for exams that
    may not be referred (its coalition would have no plan, with or without the rows)."""
    base = with_units_needed(b)
    capacity = ct_demand() / b
    rows = pd.DataFrame({"site_id": ["S_H"], "service": "CT",
                         "units_per_year": [0.35 * capacity]})
    resources = pd.concat([base.resources, pd.DataFrame(
        {"site_id": ["S_H", "S_T1"], "resource": "radiologists", "amount": [1.0, 0.5]})],
        ignore_index=True)
    return base.with_(tables={"site_demand": rows, "resources": resources}, **READING)


def test_with_site_bound_exams_and_reading_every_coalition_equals_the_model_without_rows():
    scenario = _hospital_bound(3.6)
    values = CoalitionValues(scenario, workers=1, options=TIGHT)
    model = values.local_model()
    coalitions = _coalitions(model.members)
    values.compute(coalitions)
    plain = _without_rows(scenario, coalitions)
    for c in coalitions:
        assert values.cost(c) == pytest.approx(plain[c], rel=1e-7, abs=1e-3), sorted(c)
        model._fix_members(c)      # b(S) counts S's sites' site-bound exams
        assert _rhs_in_highs(model) == [pytest.approx(_expected_rhs(scenario, c),
                                                          rel=1e-12)]


def test_the_rows_are_off_while_membership_is_free():
    base = _filling(4, 3.6)
    values = CoalitionValues(base, workers=1, options=TIGHT)
    model = values.local_model()
    members = model.members
    everything = _coalitions(members)
    values.compute(everything)
    standalone = {m: values.cost([m]) for m in members}
    savings = {s: values.savings(s) for s in everything}
    grand = savings[frozenset(members)]
    proper = [s for s in everything if len(s) < len(members)]
    rng = np.random.default_rng(3)
    for _ in range(3):
        model.cost(frozenset(members))                       # a coalition's rows set ...
        assert _rhs_in_highs(model) == [4.0]             # ceil(3.6)
        x = dict(zip(members, grand * rng.dirichlet(np.ones(len(members)))))
        found = model.separate(standalone, x)
        assert _rhs_in_highs(model) == [0.0]                 # ... and off in the separation
        exact = {s: savings[s] - math.fsum(x[m] for m in s) for s in proper}
        tol = 1e-6 * grand
        assert found.bound >= max(exact.values()) - tol
        assert found.candidates[0][1] == pytest.approx(max(exact.values()), abs=tol)
        for coalition, excess in found.candidates:
            assert excess <= exact[coalition] + tol
    # back to a coalition: its rows again, and its value as before
    c = frozenset(members[:3])
    model.highs._reusable = None
    assert model.cost(c).cost == pytest.approx(_restricted_cost(base, c), rel=1e-7)
    assert _rhs_in_highs(model) == [pytest.approx(_expected_rhs(base, c), rel=1e-12)]


def test_the_lp_game_has_no_rows():
    """Owen's LP-duality shares need every right-hand side a multiple of membership: the LP
    relaxation of a coalition is solved with the rows off, whatever was solved before."""
    model = CoalitionModel(_filling(4, 3.6))
    c = frozenset(model.members[:3])
    model.cost(c)
    assert model.lp_cost(c) == pytest.approx(_lp_bound(model, c, False), rel=1e-12)
    assert _rhs_in_highs(model) == [0.0]


# --- block by block (planner/model/blocks.py) ----------------------------------------------------
def test_a_fixed_coalition_falls_apart_into_equipment_and_each_specialty():
    model = CoalitionModel(_filling(4, 3.6))
    specialties = len(model.inputs.specialties)
    assert model._blocks.count() == 1 + specialties        # CT; cardiology
    c = frozenset(model.members[:3])
    by_blocks = model.cost(c)
    model.by_blocks = False
    whole = model.cost(c)
    assert by_blocks.cost == pytest.approx(whole.cost, rel=1e-6)
    # the blocks' columns are put back in place: the ledger terms add up to the cost
    assert math.fsum(amount for _, amount in by_blocks.terms) == pytest.approx(by_blocks.cost,
                                                                               rel=1e-9)


def _separable():
    """Two knapsacks over whole numbers that share only a column z fixed at 1:
    min 10z - (5a + 4b + 3c + 0.5d)  s.t.  2a + 3b - 2z <= 7, a <= 3;  4c + d - 9z <= 0;
    z <= 1 (a row of the fixed column alone)."""
    import pyomo.environ as pyo
    m = pyo.ConcreteModel()
    m.a = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 3))
    m.b = pyo.Var(domain=pyo.NonNegativeIntegers)
    m.c = pyo.Var(domain=pyo.NonNegativeIntegers)
    m.d = pyo.Var(domain=pyo.NonNegativeReals)
    m.z = pyo.Var(bounds=(0, 1))
    m.z.fix(1)
    m.one = pyo.Constraint(expr=linear_sum([2 * m.a, 3 * m.b, -2 * m.z]) <= 7)
    m.two = pyo.Constraint(expr=linear_sum([4 * m.c, m.d, -9 * m.z]) <= 0)
    m.only_fixed = pyo.Constraint(expr=m.z <= 1)
    m.cost = pyo.Objective(expr=linear_sum([10 * m.z, -5 * m.a, -4 * m.b, -3 * m.c,
                                            -0.5 * m.d]))
    return m


def test_blocks_solve_a_separable_milp_as_one_model_would():
    from planner.model.blocks import Blocks
    m = _separable()
    highs = HighsModel(m)
    z = np.array([highs.column[id(m.z)]])
    blocks = Blocks(highs, z)
    assert blocks.count() == 2
    # by hand: a, b in {2a + 3b <= 9, a <= 3}: a=3, b=1 -> 19; c, d in {4c + d <= 9}: c=2, d=1
    # -> 6.5; the fixed z costs 10
    result = blocks.solve(TIGHT)
    assert result.objective == pytest.approx(10 - 19 - 6.5)
    assert result.bound == pytest.approx(result.objective)
    x = dict(zip([v.name for v in highs.variables], result.values))
    assert (x["a"], x["b"], x["c"], x["d"], x["z"]) == pytest.approx((3, 1, 2, 1, 1))
    assert result.objective == pytest.approx(highs.solve(TIGHT).objective)
    # a row of fixed columns only that fails: no plan, as for the whole model
    m.z.fix(0.5)
    m.only_fixed.set_value(m.z >= 0.75)
    highs = HighsModel(m)
    assert Blocks(highs, z).solve(TIGHT).status == "infeasible"
    assert highs.solve(TIGHT).status == "infeasible"

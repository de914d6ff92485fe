"""One source for the model: the registry of constraint families (planner.model.families.FAMILIES)
is what the model builds, what its shape key hashes and what a diagnosis names; the benchmark's
independent twin (benchmarks/highs_direct.py) builds the same model and finds the same optimum;
solver statuses are an enum that reads and writes as its plain string."""

from __future__ import annotations

import functools
import importlib.util
import json
import sys
from dataclasses import replace
from pathlib import Path

import pyomo.environ as pyo
import pytest

import planner
from planner.errors import InfeasibleError
from planner.model import families
from planner.model.families import FAMILIES, Family, build_model, model_shape, structure_key
from planner.model.highs import HighsModel, Status
from planner.model.inputs import model_inputs
from planner.planning.session import PlanningSession, solver_options
from toy import capital_conflict, consortium

TWIN = Path(__file__).resolve().parent.parent / "benchmarks" / "highs_direct.py"
REGISTERED_ROWS = [row for family in FAMILIES for row in family.rows]


@functools.cache
def load_twin():
    """benchmarks/highs_direct.py as a module (benchmarks/ is not a package; its dataclass
    needs the module registered while it runs)."""
    spec = importlib.util.spec_from_file_location("highs_direct", TWIN)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def with_equity(base=None):
    """The toy consortium with every family present: access guarantees (CT and cardiology),
    a minimum served share and per-site capital limits."""
    base = base or consortium()
    sites = base.sites.assign(capital_limit=[5e6] + [3e6] * (len(base.sites) - 1))
    return base.with_(equity_max_minutes={"CT": 60.0, "cardiology": 40.0},
                      min_served_share={"CT": 0.5},
                      tables={"sites": sites})


@pytest.fixture(scope="module")
def equity_case():
    return with_equity()


def test_every_family_in_the_registry_is_built_and_nothing_else(equity_case):
    model = build_model(model_inputs(equity_case))
    built = [c.name for c in model.component_objects(pyo.Constraint, descend_into=True)]
    assert built == REGISTERED_ROWS                       # the build follows the registry's order
    assert len(set(REGISTERED_ROWS)) == len(REGISTERED_ROWS)
    assert len({f.name for f in FAMILIES}) == len(FAMILIES)


def test_every_family_has_its_part_of_the_shape_key(equity_case):
    shape = model_shape(model_inputs(equity_case))
    assert {f.name for f in FAMILIES} <= set(shape)


def test_a_family_added_to_the_registry_changes_the_key_and_the_build(equity_case, monkeypatch):
    before = structure_key(model_inputs(equity_case))
    extra = Family("extra_rows", lambda m, inp: setattr(m, "extra_rows", pyo.ConstraintList()),
                   ("extra_rows",), lambda inp: {"zones": list(inp.zones.index)})
    monkeypatch.setattr(families, "FAMILIES", FAMILIES + (extra,))
    inp = model_inputs(equity_case)      # fresh inputs: the key is memoised per inputs object
    assert structure_key(inp) != before
    assert hasattr(build_model(inp), "extra_rows")


def test_a_family_whose_shape_part_changes_changes_the_key(equity_case):
    inp = model_inputs(equity_case)
    fewer = replace(inp, access=inp.access.iloc[1:])     # one site fewer in a covering set
    assert structure_key(fewer) != structure_key(inp)
    assert structure_key(replace(inp)) == structure_key(inp)


def test_a_component_the_registry_does_not_list_is_refused(equity_case, monkeypatch):
    rogue = Family("rogue", lambda m, inp: setattr(m, "unlisted", pyo.ConstraintList()), ())
    monkeypatch.setattr(families, "FAMILIES", FAMILIES + (rogue,))
    with pytest.raises(RuntimeError, match="unlisted"):
        build_model(model_inputs(equity_case))


def test_the_diagnosis_names_registered_families():
    with pytest.raises(InfeasibleError) as caught:
        planner.solve(capital_conflict())
    assert caught.value.families
    assert set(caught.value.families) <= set(REGISTERED_ROWS)


# --- the independent twin ---------------------------------------------------------------------
def _game_case(case):
    """Game-mode inputs: soft urgent coverage (late cases priced), priced policy and equity
    shortfalls: every column block of the twin has columns and a cost."""
    return case.with_(cost_per_late_case=5e4)


@pytest.mark.parametrize("game", [False, True], ids=["plan", "game"])
def test_the_twin_builds_the_same_model_with_the_same_optimum(equity_case, game):
    twin = load_twin()
    case = _game_case(equity_case) if game else equity_case
    inp = model_inputs(case, game=game)
    h, shape = twin.build(inp)
    assert list(shape["rows"]) == REGISTERED_ROWS
    assert shape["columns"]["access_shortfall"] > 0 and shape["columns"]["share_shortfall"] > 0
    planner_model = HighsModel(build_model(inp))
    differences = twin.compare_lp(planner_model.highs, h)
    assert differences == dict.fromkeys(differences, 0) and "shape" not in differences, differences
    options = solver_options(case)
    ours = planner_model.solve(options)
    theirs = twin.solve(h, options)
    assert ours.status is Status.OPTIMAL and theirs.status is Status.OPTIMAL
    assert twin.same_objective(ours.objective, theirs.objective)
    assert not twin.compare_options(planner_model.highs, h)


def test_the_twin_agrees_with_a_session_plan(equity_case):
    twin = load_twin()
    plan = PlanningSession(equity_case).solve()
    h, _ = twin.build(model_inputs(equity_case))
    assert twin.same_objective(plan.objective, twin.solve(h, solver_options(equity_case)).objective)


# --- statuses ---------------------------------------------------------------------------------
def test_statuses_are_an_enum_read_and_written_as_their_strings(equity_case):
    plan = planner.solve(equity_case)
    assert plan.status is Status.OPTIMAL
    assert plan.status == "optimal" and f"{plan.status}" == "optimal"
    assert json.dumps({"status": plan.status}) == '{"status": "optimal"}'
    assert {s.value for s in Status} >= {"optimal", "time_limit", "infeasible", "unbounded",
                                         "error"}

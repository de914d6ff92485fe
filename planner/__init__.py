"""Consortium planner: where CT and MRI scanners go, how many specialist outreach days each site
gets and how the capital budget is spread, for a medical consortium (docs/design.md)."""

from __future__ import annotations

from planner.errors import InfeasibleError, PlannerError, ScenarioError
from planner.model.highs import SolverOptions
from planner.planning.replanning import replan
from planner.planning.session import PlanningSession, solve
from planner.results.comparison import compare
from planner.results.plan import Plan
from planner.scenario.loading import Scenario, default_scenario_path, load_scenario
from planner.sharing.division import Sharing, share
from planner.studies.pareto import ParetoFront, pareto
from planner.studies.sweep import sweep

__all__ = [
    "InfeasibleError", "ParetoFront", "Plan", "PlannerError", "PlanningSession", "Scenario",
    "ScenarioError", "Sharing", "SolverOptions", "compare", "default_scenario_path",
    "load_scenario", "pareto", "replan", "share", "solve", "sweep",
]

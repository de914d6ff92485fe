"""Consortium planner: where CT and MRI scanners go, how many specialist outreach days each site
gets and how the capital budget is spread, for a medical consortium (docs/design.md)."""

from __future__ import annotations

from planner.comparison import compare
from planner.errors import InfeasibleError, PlannerError, ScenarioError
from planner.highs import SolverOptions
from planner.pareto import ParetoFront, pareto
from planner.plan import Plan
from planner.replanning import replan
from planner.scenario import Scenario, default_scenario_path, load_scenario
from planner.session import PlanningSession, solve
from planner.sharing import Sharing, share
from planner.sweep import sweep

__all__ = [
    "InfeasibleError", "ParetoFront", "Plan", "PlannerError", "PlanningSession", "Scenario",
    "ScenarioError", "Sharing", "SolverOptions", "compare", "default_scenario_path",
    "load_scenario", "pareto", "replan", "share", "solve", "sweep",
]

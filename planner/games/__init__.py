"""Stage 2: cooperative games - how the gains of planning together are shared.

`game` holds games and the explicit-game JSON reader, `rules` the sharing rules, `core` the core,
least core and nucleolus (by enumeration or by constraint generation with an oracle), `sampling`
the Shapley value by permutation sampling, `cli` the `planner game` command. Definitions:
models/fair_division.md.
"""

from __future__ import annotations

from planner.games.core import (
    Blocking,
    CoreReport,
    GenerationResult,
    LeastCore,
    Nucleolus,
    core_is_empty,
    core_report,
    enumeration_oracle,
    excesses,
    least_core_by_generation,
    least_core_epsilon,
    nearest_allocation,
    nearest_core_allocation,
    nearest_least_core_allocation,
    nucleolus_by_generation,
    nucleolus_solution,
)
from planner.games.game import Game, GameError, GameFile, load_game, load_game_file, parse_game
from planner.games.rules import (
    RULES,
    banzhaf,
    banzhaf_raw,
    equal_split,
    least_core,
    nucleolus,
    policy_share,
    prenucleolus,
    proportional,
    shapley,
    weighted,
)
from planner.games.sampling import ShapleyEstimate, sample_shapley

__all__ = [
    "RULES", "Blocking", "CoreReport", "Game", "GameError", "GameFile", "GenerationResult",
    "LeastCore", "Nucleolus", "ShapleyEstimate", "banzhaf", "banzhaf_raw", "core_is_empty",
    "core_report", "enumeration_oracle", "equal_split", "excesses", "least_core",
    "least_core_by_generation", "least_core_epsilon", "load_game", "load_game_file",
    "nearest_allocation", "nearest_core_allocation", "nearest_least_core_allocation",
    "nucleolus", "nucleolus_by_generation", "nucleolus_solution", "parse_game", "policy_share",
    "prenucleolus", "proportional", "sample_shapley", "shapley", "weighted",
]

"""The `planner` command line (typer).

Exit codes: 0 a plan was found (optimal, or best found at a limit: the summary says which);
2 bad input; 3 infeasible scenario; 4 no plan found within the limits; 1 anything else.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import PlannerError
from planner.games.cli import game as game_command

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Plan CT/MRI scanners, specialist outreach and the capital budget of a "
                       "medical consortium.")

NO_PLAN = 4


def _fail(err: PlannerError) -> None:
    typer.echo(str(err), err=True)
    raise typer.Exit(err.exit_code)


ScenarioArg = typer.Argument(None, help="Scenario folder or .xlsx workbook (default: the "
                             "embedded Tianchang county scenario).")


@app.command()
def plan(
    scenario: Optional[Path] = ScenarioArg,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the plan folder here."),
    budget: Optional[float] = typer.Option(None, help="Capital budget (overrides scenario)."),
    time_limit: Optional[float] = typer.Option(None, help="Solver time limit, seconds."),
    mip_gap: Optional[float] = typer.Option(None, help="Relative MIP gap to stop at."),
    threads: Optional[int] = typer.Option(None, help="Solver threads."),
    seed: Optional[int] = typer.Option(None, help="Solver random seed."),
    log: bool = typer.Option(False, help="Show the HiGHS log."),
) -> None:
    """Solve the planning model and print a short summary."""
    from planner.scenario import load_scenario
    from planner.session import solve

    try:
        loaded = load_scenario(scenario)
        if budget is not None:
            loaded = loaded.with_(budget=budget)
        result = solve(loaded, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                       seed=seed, log=log or None)
        typer.echo(result.summary())
        if out is not None:
            result.save(out)
            typer.echo(f"Plan written to {out}")
    except PlannerError as err:
        _fail(err)
    if result.objective is None:
        typer.echo(f"No plan found (status: {result.status}).", err=True)
        raise typer.Exit(NO_PLAN)


@app.command()
def validate(scenario: Optional[Path] = ScenarioArg) -> None:
    """Check a scenario's files and print what is wrong (nothing is solved)."""
    from planner.scenario import load_scenario

    try:
        loaded = load_scenario(scenario)
    except PlannerError as err:
        _fail(err)
    t = loaded.tables
    typer.echo(f"{loaded.source}: valid ({len(t['members'])} members, {len(t['sites'])} sites, "
               f"{len(t['zones'])} zones, {len(t['conditions'])} conditions, "
               f"{len(t['equipment'])} equipment, {len(t['specialties'])} specialties).")


app.command("game")(game_command)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

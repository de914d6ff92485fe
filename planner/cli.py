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


@app.command()
def share(
    scenario: Optional[Path] = ScenarioArg,
    rule: Optional[str] = typer.Option(None, help="Default: nucleolus up to --exact-limit "
                             "members, else the sampled shapley. One of: shapley, banzhaf, "
                             "nucleolus, prenucleolus, "
                             "least-core, equal-split, proportional-cost, "
                             "proportional-population, proportional-volume, weighted, policy"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write sharing.json and "
                                       "transfers.csv here."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address "
                                            "(tcp://host:port) for the coalition solves."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes (default: cores)."),
    exact_limit: int = typer.Option(12, help="Enumerate every coalition up to this many members."),
    rel_tol: float = typer.Option(0.01, help="Sampled Shapley: stop when every 95% half-width "
                                  "is below this share of the savings."),
    policy_member: Optional[str] = typer.Option(None, help="Policy rule: the member with a "
                                                "fixed share of the savings."),
    policy_share: float = typer.Option(0.6, help="Policy rule: that member's share."),
    seed: int = typer.Option(0, help="Sampling seed."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Share the savings of planning together; print each member's transfer and gain."""
    from planner.scenario import load_scenario
    from planner.sharing import RULES, sharing_summary
    from planner.sharing import share as share_savings

    if rule is not None and rule not in RULES:
        typer.echo(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}", err=True)
        raise typer.Exit(2)
    try:
        loaded = load_scenario(scenario)
        result = share_savings(loaded, rule, scheduler=scheduler, workers=workers,
                               exact_limit=exact_limit, rel_tol=rel_tol, seed=seed,
                               policy_member=policy_member, policy_share=policy_share,
                               progress=progress)
        typer.echo(sharing_summary(result))
        if out is not None:
            result.save(out)
            typer.echo(f"Sharing written to {out}")
    except PlannerError as err:
        _fail(err)
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2)


app.command("game")(game_command)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())

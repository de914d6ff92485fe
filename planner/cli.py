"""The `planner` command line (typer).

Exit codes: 0 a plan was found (optimal, or best found at a limit: the summary says which);
2 bad input (files, flags or the output path); 3 infeasible scenario; 4 no plan found within
the limits, or a plan whose gap is above `--max-gap`; 1 anything else (the last-resort handler of
:func:`main` prints one paragraph and writes the trace to a file).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Optional

import typer

from planner.errors import PlannerError
from planner.settings import MAX_MONEY, MAX_SEED, MAX_THREADS, MAX_TIME_LIMIT
from planner.games.cli import game as game_command
from planner.terminal import run_safely

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Plan CT/MRI scanners, specialist outreach and the capital budget of a "
                       "medical consortium.")

NO_PLAN = 4
# Flags are checked here, so a bad value is blamed on the flag (not on scenario.toml) and costs
# no solve; the ranges are those of scenario.toml (planner/settings.py).


def _fail(err: PlannerError) -> None:
    typer.echo(str(err), err=True)
    raise typer.Exit(err.exit_code)


def _number(low: float, high: float, low_open: bool = False):
    """A typer callback: the flag's value is a finite number in [low, high] (or (low, high])."""
    def check(ctx: typer.Context, param: typer.CallbackParam, value):
        if value is None:
            return value
        below = value <= low if low_open else value < low
        if not math.isfinite(value) or below or value > high:
            bound = f"> {low:g}" if low_open else f">= {low:g}"
            raise typer.BadParameter(f"{value!r} is not a finite number {bound} and <= {high:g}.")
        return value
    return check


def _check_out(out: Optional[Path]) -> None:
    """Refuse an output path the planner may not replace, before any work (exit 2)."""
    if out is not None:
        from planner.publish import check_target
        check_target(out)


ScenarioArg = typer.Argument(None, help="Scenario folder or .xlsx workbook (default: the "
                             "embedded Tianchang county scenario).")


@app.command()
def plan(
    scenario: Optional[Path] = ScenarioArg,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the plan folder here."),
    budget: Optional[float] = typer.Option(None, help="Capital budget (overrides scenario).",
                                           callback=_number(0, MAX_MONEY)),
    time_limit: Optional[float] = typer.Option(None, help="Solver time limit, seconds.",
                                               callback=_number(0, MAX_TIME_LIMIT, low_open=True)),
    mip_gap: Optional[float] = typer.Option(None, help="Relative MIP gap to stop at.",
                                            callback=_number(0, 1)),
    threads: Optional[int] = typer.Option(None, min=1, max=MAX_THREADS, help="Solver threads."),
    seed: Optional[int] = typer.Option(None, min=0, max=MAX_SEED, help="Solver random seed."),
    max_gap: Optional[float] = typer.Option(None, help="Exit 4 (and write nothing) when the "
                                            "plan's MIP gap is above this, e.g. 0.01.",
                                            callback=_number(0, math.inf)),
    log: bool = typer.Option(False, help="Show the HiGHS log."),
) -> None:
    """Solve the planning model and print a short summary."""
    from planner.scenario import load_scenario
    from planner.session import solve

    try:
        _check_out(out)
        loaded = load_scenario(scenario)
        if budget is not None:
            loaded = loaded.with_(budget=budget)
        result = solve(loaded, time_limit=time_limit, mip_gap=mip_gap, threads=threads,
                       seed=seed, log=log or None)
        typer.echo(result.summary())
        kept = f"; nothing was written to {out}" if out is not None else ""
        if result.objective is None:
            typer.echo(f"No plan found (status: {result.status}){kept}.", err=True)
            raise typer.Exit(NO_PLAN)
        if max_gap is not None and result.mip_gap is not None and result.mip_gap > max_gap:
            typer.echo(f"The plan's MIP gap {result.mip_gap:.4%} is above --max-gap "
                       f"{max_gap:.4%}{kept}. Allow more --time-limit or a larger --max-gap.",
                       err=True)
            raise typer.Exit(NO_PLAN)
        if out is not None:
            result.save(out)
            typer.echo(f"Plan written to {out}")
    except PlannerError as err:
        _fail(err)


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
    from planner.sharing import sharing_summary
    from planner.sharing import share as share_savings

    try:
        _check_out(out)
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


def main() -> None:
    """The console entry: the app behind the last-resort handler and terminal-safe output."""
    sys.exit(run_safely(app))


if __name__ == "__main__":
    main()

"""The `planner` command line (typer).

Exit codes: 0 a plan was found (optimal, or best found at a limit: the summary says which);
2 bad input (files, flags or the output path); 3 infeasible scenario; 4 no plan found within
the limits, or a plan whose gap is above `--max-gap`; 1 anything else (the last-resort handler of
:func:`main` prints one paragraph and writes the trace to a file).
"""

from __future__ import annotations

import json
import math
import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Optional

import typer

# The project's modules the commands use are imported here: `import planner` loads them anyway.
# Only what `planner --help` need not pay for is imported inside the command that needs it: the
# run history (SQLAlchemy), the HTML report (jinja2, matplotlib, folium) and a Dask client.
from planner.errors import PlannerError, UsageError
from planner.games.cli import game as game_command
from planner.job import DEFAULT_WAIT, replan_job
from planner.joblog import JobLog
from planner.model.decisions import changes_in_words
from planner.planning.session import solve
from planner.publish import check_target
from planner.results.comparison import compare
from planner.results.files import json_safe
from planner.results.folders import from_folder, from_run
from planner.scenario.embedded import embedded_names
from planner.scenario.loading import load_scenario
from planner.scenario.settings import setting
from planner.sharing.division import RULES as SHARING_RULES
from planner.sharing.division import share as share_savings
from planner.sharing.division import sharing_summary
from planner.studies.pareto import pareto as trace
from planner.terminal import run_safely

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Plan CT/MRI scanners, specialist outreach and the capital budget of a "
                       "medical consortium.")

NO_PLAN = 4
# Flags are checked here, so a bad value is blamed on the flag (not on scenario.toml) and costs
# no solve; the ranges are those of scenario.toml, read off its settings model
# (planner/scenario/settings.py: `setting(...).bounds`).
BUDGET = setting("budget")
TIME_LIMIT = setting("solver", "time_limit")


def _fail(err: PlannerError) -> None:
    typer.echo(str(err), err=True)
    raise typer.Exit(err.exit_code)


def _number(low: float, high: float, low_open: bool = False):
    """A typer callback: the flag's value is a finite number in [low, high] (or (low, high]);
    ``_number(*setting(...).bounds)`` checks a flag against its setting's range."""
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
        check_target(out)


# Flags shared by `plan` and `replan` (one definition each).
BudgetOption = typer.Option(None, help="Capital budget (overrides scenario).",
                            callback=_number(*BUDGET.bounds))
TimeLimitOption = typer.Option(None, help="Solver time limit (per solve), seconds.",
                               callback=_number(*TIME_LIMIT.bounds))
MipGapOption = typer.Option(None, help="Relative MIP gap to stop at.",
                            callback=_number(*setting("solver", "mip_gap").bounds))


def _whole_number_option(*path: str, help: str):
    """A whole-number flag whose range (typer's min and max) is that of its setting."""
    low, high, _ = setting(*path).bounds
    return typer.Option(None, min=int(low), max=int(high), help=help)


ThreadsOption = _whole_number_option("solver", "threads", help="Solver threads.")
SeedOption = _whole_number_option("solver", "seed", help="Solver random seed.")
MaxGapOption = typer.Option(None, help="Exit 4 (and write nothing) when the plan's MIP gap "
                            "(for replan: its cost gap) is above this, e.g. 0.01.",
                            callback=_number(0, math.inf))

ScenarioArg = typer.Argument(None, help="Scenario folder or .xlsx workbook, or the name of an "
                             "embedded scenario (`planner scenarios`; default: the embedded "
                             "Tianchang county scenario).")


RelaxUrgentOption = typer.Option(
    False, "--relax-urgent", help="Goals only (coverage, worst-minutes, pareto): drop the "
    "urgent-coverage rule of --service (e.g. stroke: a CT within 30 minutes) for a pure "
    "location study (p-centre, MCLP). Without it every rule of the cost model holds.")


@app.command()
def plan(
    scenario: Optional[Path] = ScenarioArg,
    out: Optional[Path] = typer.Option(None, "--out", help="Write the plan folder here."),
    budget: Optional[float] = BudgetOption,
    time_limit: Optional[float] = TimeLimitOption,
    mip_gap: Optional[float] = MipGapOption,
    threads: Optional[int] = ThreadsOption,
    seed: Optional[int] = SeedOption,
    max_gap: Optional[float] = MaxGapOption,
    log: bool = typer.Option(False, help="Show the HiGHS log."),
    goal: Optional[str] = typer.Option(
        None, help="cost (default: least annual cost), coverage (most residents within "
        "--minutes of --service) or worst-minutes (shortest worst trip to --service); then the "
        "least annual cost among the plans that attain it."),
    service: Optional[str] = typer.Option(None, help="The equipment of --goal coverage or "
                                          "worst-minutes (e.g. CT)."),
    minutes: Optional[float] = typer.Option(None, help="The travel minutes of --goal coverage."),
    relax_urgent: bool = RelaxUrgentOption,
    aggregate_zones: Optional[int] = _whole_number_option(
        "solver", "aggregate_zones", help="Plan on at most this many representative zones "
        "(zones of one member with close travel times merged; at least one per member), with "
        "the error bound in the summary and plan.json kpis.aggregation: for scenarios too "
        "large to build (overrides [solver] aggregate_zones)."),
) -> None:
    """Solve the planning model and print a short summary."""
    try:
        _check_out(out)
        loaded = load_scenario(scenario)
        if budget is not None:
            loaded = loaded.with_(budget=budget)
        result = solve(loaded, goal=goal, service=service, minutes=minutes,
                       relax_urgent=relax_urgent, time_limit=time_limit, mip_gap=mip_gap,
                       threads=threads, seed=seed, log=log or None,
                       aggregate_zones=aggregate_zones)
        typer.echo(result.summary())
        refused = result.refusal(max_gap, f"; nothing was written to {out}" if out else "")
        if refused is not None:
            typer.echo(refused[1], err=True)
            raise typer.Exit(NO_PLAN)
        if out is not None:
            result.save(out)
            typer.echo(f"Plan written to {out}")
    except PlannerError as err:
        _fail(err)


@app.command()
def validate(scenario: Optional[Path] = ScenarioArg) -> None:
    """Check a scenario's files and print what is wrong (nothing is solved)."""
    try:
        loaded = load_scenario(scenario)
    except PlannerError as err:
        _fail(err)
    t = loaded.tables
    typer.echo(f"{loaded.source}: valid ({len(t['members'])} members, {len(t['sites'])} sites, "
               f"{len(t['zones'])} zones, {len(t['conditions'])} conditions, "
               f"{len(t['equipment'])} equipment, {len(t['specialties'])} specialties).")


@app.command()
def scenarios(
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list."),
) -> None:
    """List the embedded scenarios (`planner plan NAME` plans one) with their kind and size."""
    try:
        listed = [scenario_size(name, load_scenario(name)) for name in embedded_names()]
    except PlannerError as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps(listed, indent=2, ensure_ascii=False))
        return
    typer.echo(scenarios_table(listed))


def scenario_size(name: str, loaded) -> dict:
    """An embedded scenario's kind and size, as `planner scenarios` lists it."""
    t = loaded.tables
    return {"name": name, "kind": loaded.settings.kind, "members": len(t["members"]),
            "sites": len(t["sites"]), "zones": len(t["zones"]),
            "population": int(t["zones"]["population"].sum()), "title": loaded.name}


def scenarios_table(listed: list[dict]) -> str:
    """The embedded scenarios as a text table with a header (the title last, unpadded)."""
    header = ("name", "kind", "members", "sites", "zones", "population", "scenario")
    rows = [header] + [(s["name"], s["kind"], str(s["members"]), str(s["sites"]),
                        str(s["zones"]), f"{s['population']:,}", s["title"]) for s in listed]
    widths = [max(len(row[k]) for row in rows) for k in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
                     for row in rows).rstrip()


@app.command()
def share(
    scenario: Optional[Path] = ScenarioArg,
    rule: Optional[str] = typer.Option(None, help="Default: nucleolus up to --exact-limit "
                             "members, else the LP-duality shares moved into the core. One of: "
                             f"{', '.join(SHARING_RULES)}"),
    out: Optional[Path] = typer.Option(None, "--out", help="Write sharing.json and "
                                       "transfers.csv here."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address "
                                            "(tcp://host:port) for the coalition solves."),
    workers: Optional[int] = typer.Option(None, help="Local worker processes (default: cores)."),
    exact_limit: int = typer.Option(12, help="Enumerate every coalition up to this many members."),
    rel_tol: float = typer.Option(0.01, help="Sampled Shapley: stop when every member's 95% "
                                  "half-width is below this share of its own value..."),
    abs_tol: Optional[float] = typer.Option(None, help="...or below this amount (default: "
                                            "rel-tol x the savings / members), for members "
                                            "whose value is near zero."),
    max_coalitions: int = typer.Option(2_000, help="Sampled Shapley: solve at most this many "
                                       "coalitions."),
    max_separations: int = typer.Option(60, help="Beyond --exact-limit: at most this many "
                                        "separation MILPs for the core check and repair."),
    time_limit: Optional[float] = typer.Option(None, "--time-limit", help="Seconds. Past it no "
                                               "new coalition is started; the best certified "
                                               "result so far is written, flagged incomplete "
                                               "(exit 4)."),
    cache: Optional[Path] = typer.Option(None, help="SQLite file keeping every coalition value "
                                         "as it is solved, so a stopped run resumes (default "
                                         "with --out: .OUT.coalitions.sqlite beside OUT)."),
    policy_member: Optional[str] = typer.Option(None, help="Policy rule: the member with a "
                                                "fixed share of the savings."),
    policy_share: float = typer.Option(0.6, help="Policy rule: that member's share."),
    seed: int = typer.Option(0, help="Sampling seed."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    members: Optional[str] = typer.Option(None, "--members", metavar="A,B,C",
                                          help="Share among these members only (member ids, "
                                          "comma-separated): the sub-consortium of their "
                                          "sites and zones, named after them."),
) -> None:
    """Share the savings of planning together; print each member's transfer and gain.

    Exit codes: 0 written; 2 bad input or flag; 4 the time limit cut the run short (what could
    be certified is written, flagged; run again with the same cache to resume)."""
    try:
        _check_out(out)
        loaded = load_scenario(scenario)
        if members is not None:
            loaded = loaded.restricted_to(members)
        if cache is None and out is not None:
            cache = out.parent / f".{out.name}.coalitions.sqlite"
        result = share_savings(loaded, rule, scheduler=scheduler, workers=workers,
                               exact_limit=exact_limit, rel_tol=rel_tol, abs_tol=abs_tol,
                               max_coalitions=max_coalitions, seed=seed,
                               policy_member=policy_member, policy_share=policy_share,
                               progress=progress, time_limit=time_limit, cache=cache,
                               max_separations=max_separations)
        typer.echo(sharing_summary(result))
        if out is not None:
            result.save(out)
            typer.echo(f"Sharing written to {out}")
        if not result.complete:
            raise typer.Exit(4)
    except PlannerError as err:
        _fail(err)
    except ValueError as err:
        typer.echo(str(err), err=True)
        raise typer.Exit(2) from None


@app.command()
def replan(
    scenario: Optional[Path] = ScenarioArg,
    history: str = typer.Option(..., "--history", help="Run history: a SQLite file (created "
                                "when missing) or a database URL (postgresql+psycopg://...)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Publish the plan folder here "
                                       "(with changes.csv; sharing.json and transfers.csv "
                                       "with --share)."),
    tolerance: Optional[float] = typer.Option(None, help="Accept plans up to (1 + R) x the "
                                              "optimal annual cost to change fewer decisions "
                                              "(default: the scenario's mip_gap).",
                                              callback=_number(0, 1)),
    wait: float = typer.Option(DEFAULT_WAIT, help="Seconds to wait for another run of the "
                               "same scenario on this history (an overlapping cron run "
                               "queues behind it); then exit 5. 0: exit 5 at once.",
                               callback=_number(0, TIME_LIMIT.bounds[1])),
    baseline: Optional[int] = typer.Option(None, "--baseline", min=1, metavar="RUN",
                                           help="Re-plan from this run of the history "
                                           "(default: the latest successful run of the "
                                           "scenario's name, refused when it planned other "
                                           "members or sites)."),
    share_rule: Optional[str] = typer.Option(None, "--share", help="Also share the savings "
                                             "with this rule and record the transfers."),
    budget: Optional[float] = BudgetOption,
    time_limit: Optional[float] = TimeLimitOption,
    mip_gap: Optional[float] = MipGapOption,
    threads: Optional[int] = ThreadsOption,
    seed: Optional[int] = SeedOption,
    max_gap: Optional[float] = MaxGapOption,
    workers: Optional[int] = typer.Option(None, min=1, max=256, help="--share: local worker "
                                          "processes."),
    log_json: bool = typer.Option(False, "--log-json", help="One JSON line per stage on "
                                  "stderr, for log collectors."),
    quiet: bool = typer.Option(False, help="Print nothing but errors."),
) -> None:
    """Re-plan with the fewest changes from the last successful run, and record the run.

    Exit codes: 0 plan published; 2 bad input; 3 infeasible; 4 no plan or gap above --max-gap;
    5 another run of the same scenario holds the history longer than --wait."""
    result = replan_job(scenario, history, out, tolerance=tolerance, wait=wait, max_gap=max_gap,
                        baseline_run=baseline,
                        share_rule=share_rule, share_options={"workers": workers,
                                                             "progress": False},
                        log=JobLog(log_json, command="replan"), budget=budget,
                        time_limit=time_limit, mip_gap=mip_gap, threads=threads, seed=seed)
    if not quiet:
        for line in result.lines:
            typer.echo(line)
    if result.message:
        typer.echo(result.message, err=True)
    raise typer.Exit(result.exit_code)


runs_app = typer.Typer(add_completion=False, help="The run history of `planner replan`.")
HistoryOption = typer.Option(None, "--history", help="Run history: a SQLite file or a "
                             "database URL.")


def _open_history(history: Optional[str]):
    from planner.history import open_history
    if history is None:
        raise typer.BadParameter("give the run history with --history FILE_OR_URL.",
                                 param_hint="--history")
    if "://" not in history and not Path(history).exists():
        raise UsageError(f"--history {history}: no such history file; runs are recorded there "
                         "by `planner replan --history`.")
    return open_history(history)


@runs_app.callback(invoke_without_command=True)
def runs(
    ctx: typer.Context,
    history: Optional[str] = HistoryOption,
    scenario: Optional[str] = typer.Option(None, help="Only runs of this scenario name."),
    as_json: bool = typer.Option(False, "--json", help="Print a JSON list (oldest first)."),
) -> None:
    """List the runs of a history, oldest first."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        h = _open_history(history)
        try:
            listed = h.runs(scenario=scenario)
        finally:
            h.close()
    except PlannerError as err:
        _fail(err)
    if as_json:
        typer.echo(json.dumps(json_safe(listed), indent=2, ensure_ascii=False))
        return
    if not listed:
        typer.echo("No runs recorded.")
        return
    typer.echo(runs_table(listed))


def runs_table(listed: list[dict]) -> str:
    """The runs as a text table with a header; changes by decision kind, in their own units."""
    header = ("run", "started (UTC)", "scenario", "status", "annual cost", "baseline",
              "changes")
    rows = [header]
    for r in listed:
        if r.get("changes_by_kind") is not None:
            changes = changes_in_words(r["changes_by_kind"])
        else:   # recorded without the split (older runs): the sum, named as such
            changes = "" if r.get("changes") is None else f"{r['changes']} (sum of |change|)"
        rows.append((str(r["run_id"]), str(r["started"])[:19].replace("T", " "),
                     str(r["scenario"]), str(r["status"]),
                     "" if r.get("objective") is None else f"{r['objective']:,.0f}",
                     "" if r.get("baseline_run") is None else f"run {r['baseline_run']}",
                     changes))
    widths = [max(len(row[k]) for row in rows) for k in range(len(header) - 1)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[-1]
                     for row in rows).rstrip()


@runs_app.command("show")
def runs_show(
    run: int = typer.Argument(..., help="Run id (planner runs --history ...)."),
    history: Optional[str] = HistoryOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """One run: its summary and its decisions."""
    try:
        h = _open_history(history)
        try:
            record = h.run(run)
        finally:
            h.close()
    except PlannerError as err:
        _fail(err)
    decisions = record.pop("decisions")
    transfers = record.pop("transfers", None)
    if as_json:
        record["decisions"] = decisions.to_dict("records")
        record["transfers"] = None if transfers is None else transfers.to_dict("records")
        typer.echo(json.dumps(json_safe(record), indent=2, ensure_ascii=False))
        return
    for key in ("run_id", "scenario", "status", "started", "ended", "objective", "mip_gap",
                "changes", "baseline_run", "input_hash", "message"):
        if record.get(key) is not None:
            typer.echo(f"{key}: {record[key]}")
    typer.echo(f"decisions ({len(decisions)}):")
    typer.echo(decisions.to_string(index=False) if len(decisions) else "  none")
    if transfers is not None and len(transfers):
        typer.echo("transfers:")
        typer.echo(transfers.to_string(index=False))


app.add_typer(runs_app, name="runs")


@app.command()
def diff(
    before: str = typer.Argument(..., help="A plan folder, or a run id with --history."),
    after: str = typer.Argument(..., help="A plan folder, or a run id with --history."),
    history: Optional[str] = HistoryOption,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """What changed between two plans: decisions, KPIs and annual cost by term."""
    try:
        h = None
        records = []
        for given in (before, after):
            if Path(given).is_dir():
                records.append(from_folder(Path(given)))
            elif given.isdigit():
                h = h or _open_history(history)
                records.append(from_run(h, int(given)))
            else:
                raise UsageError(f"{given}: neither a plan folder nor a run id; give two "
                                 "plan folders or two run ids with --history.")
        if h is not None:
            h.close()
        result = compare(*records)
    except PlannerError as err:
        _fail(err)
    typer.echo(json.dumps(result.to_json(), indent=2, ensure_ascii=False) if as_json
               else result.summary())


def _number_list(text: str, flag: str) -> list[float]:
    """`B1,B2,...` as numbers, or a UsageError (exit 2) naming the flag and the bad item."""
    items = [item.strip() for item in text.split(",")]
    numbers = []
    for item in items:
        try:
            value = float(item.replace("_", ""))
        except ValueError:
            value = math.nan
        low, high, _ = BUDGET.bounds
        if not (math.isfinite(value) and low <= value <= high):
            raise UsageError(f"{flag} {text!r}: {item!r} is not a number from {low:g} to "
                             f"{high:g}; give comma-separated numbers without spaces "
                             f"or units, e.g. {flag} 6000000,12000000,24000000.")
        numbers.append(value)
    return numbers


@app.command()
def pareto(
    scenario: Optional[Path] = ScenarioArg,
    service: str = typer.Option(..., help="The equipment whose coverage is traced (e.g. CT)."),
    minutes: float = typer.Option(..., help="Residents count as covered within this many "
                                  "travel minutes of --service.",
                                  callback=_number(0, math.inf, low_open=True)),
    budgets: Optional[str] = typer.Option(None, help="B1,B2,...: the coverage goal at each "
                                          "capital budget (one row each, in this order)."),
    coverage_levels: Optional[str] = typer.Option(
        None, help="P1,P2,...: the least annual cost covering at least P residents, at each "
        "level; or one whole number N: N levels evenly spaced from the least-cost plan's "
        "coverage to the most the budget allows."),
    out: Optional[Path] = typer.Option(None, "--out", help="Write pareto.csv and one plan "
                                       "folder per point here."),
    time_limit: Optional[float] = TimeLimitOption,
    mip_gap: Optional[float] = MipGapOption,
    threads: Optional[int] = ThreadsOption,
    seed: Optional[int] = SeedOption,
    workers: Optional[int] = typer.Option(None, min=1, max=256, help="Local worker processes "
                                          "(default: solve here)."),
    scheduler: Optional[str] = typer.Option(None, help="Dask scheduler address "
                                            "(tcp://host:port) for the points' solves."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
    relax_urgent: bool = RelaxUrgentOption,
) -> None:
    """Trace annual cost against covered residents: pareto.csv (budget, covered_population,
    annual_cost, ..., urgent_uncovered_zones) and each point's plan folder. A budget that
    cannot keep the urgent-coverage rule is a row marked infeasible."""
    try:
        if (budgets is None) == (coverage_levels is None):
            raise UsageError("planner pareto needs either --budgets B1,B2,... (the coverage "
                             "goal at each budget) or --coverage-levels P1,P2,... (the least "
                             "cost at each coverage), not both or neither.")
        _check_out(out)
        levels = None
        if coverage_levels is not None:
            text = coverage_levels.strip()
            levels = int(text) if text.isdigit() else _number_list(text, "--coverage-levels")
        given = None if budgets is None else _number_list(budgets, "--budgets")
        loaded = load_scenario(scenario)
        with ExitStack() as stack:
            executor = None
            if scheduler is not None:
                from distributed import Client
                executor = stack.enter_context(Client(scheduler))
            front = trace(loaded, service, minutes, budgets=given, coverage_levels=levels,
                          relax_urgent=relax_urgent, executor=executor, workers=workers,
                          progress=progress, time_limit=time_limit, mip_gap=mip_gap,
                          threads=threads, seed=seed)
        table = front.table
        whole = {c: "{:,.0f}".format for c in ("budget", "covered_population", "annual_cost",
                                                "coverage_level", "capital_used",
                                                "urgent_uncovered_zones")}
        shown = table.drop(columns=["message"]).astype({"urgent_uncovered_zones": float})
        typer.echo(shown.to_string(
            index=False, na_rep="", formatters={**whole, "mip_gap": "{:.1e}".format,
                                                "solve_seconds": "{:.2f}".format}))
        for row in table[table["annual_cost"].isna()].itertuples():
            typer.echo(f"No plan at point {row.Index}: {row.message or row.status}", err=True)
        if table["annual_cost"].isna().all():
            raise typer.Exit(3 if (table["status"] == "infeasible").all() else NO_PLAN)
        if out is not None:
            front.save(out)
            typer.echo(f"Pareto front written to {out}")
    except PlannerError as err:
        _fail(err)


@app.command()
def report(
    plan_dir: Path = typer.Argument(..., help="A plan folder (written by planner plan --out)."),
    out: Optional[Path] = typer.Option(None, "--out", help="The HTML file to write (default: "
                                       "PLAN_DIR/report.html); an existing file is replaced "
                                       "only if it is a report the planner wrote."),
    equipment: Optional[str] = typer.Option(None, help="Colour the map's zones by minutes to "
                                            "this equipment (default: the plan's first)."),
) -> None:
    """Write one self-contained HTML page of a plan (KPIs, decisions, map, charts) that opens
    offline."""
    from planner.pictures.report import write_report

    try:
        written = write_report(plan_dir, out, equipment)
    except PlannerError as err:
        _fail(err)
    typer.echo(f"Report written to {written}")


app.command("game")(game_command)


def main() -> None:
    """The console entry: the app behind the last-resort handler and terminal-safe output."""
    sys.exit(run_safely(app))


if __name__ == "__main__":
    main()

"""The scheduled re-planning job behind `planner replan` (docs/design.md section 7).

One run, in stages, each logged (planner.joblog) and the whole recorded in the run history:

    load the scenario -> open the history -> lock (history, scenario name) -> start the run
    record -> baseline = the run named by --baseline, else the latest successful run of that
    name, refused when it planned other members or sites -> re-plan (fewest changes within the
    tolerance; each solve logged) -> [share the savings] -> publish the plan folder -> finish
    the run record (one transaction).

Exit codes, for orchestrators: 0 plan published; 2 bad input (scenario, flags, output path,
history target); 3 infeasible; 4 no plan within the limits, or a gap above --max-gap (nothing
published); 5 the history is locked by another run of the same scenario for longer than --wait.
Every run is recorded, failed ones too, with their message, except one whose scenario cannot be
read while the history file does not exist yet: a mistyped path does not create a history. The
plan folder is published before the run is recorded as successful, so a run killed in between
leaves the folder complete and the history consistent (the run shows as interrupted and is never
a baseline).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

import pyomo

from planner.errors import PlannerError, UsageError
from planner.joblog import JobLog
from planner.model.decisions import changes_in_words
from planner.model.highs import new_highs
from planner.planning.replanning import replan
from planner.publish import check_target, planner_version
from planner.results.files import save_plan
from planner.scenario.loading import load_scenario
from planner.sharing.division import share, sharing_summary

NO_PLAN = 4
# How long a run waits for another run of the same scenario on the same history (--wait): long
# enough for an overlapping cron run to follow the one before it (a county re-plan takes about a
# minute, with --share about ten), short enough that a hung run shows in the next hour's log.
DEFAULT_WAIT = 1800.0


class BaselineMismatch(UsageError):
    """The baseline run planned other members or sites than the scenario has (exit 2)."""


@dataclass
class JobResult:
    """What the job did: its exit code, the message for the terminal, and the records."""

    exit_code: int
    message: str
    run_id: int | None = None
    plan: object = None
    sharing: object = None
    lines: list[str] = field(default_factory=list)


def versions() -> dict:
    return {"planner": planner_version(), "highs": _highs_version(),
            "pyomo": pyomo.version.version, "python": platform.python_version()}


def _highs_version() -> str:
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def history_kpis(plan) -> dict:
    """The KPIs recorded for a run: the plan's KPIs, its cost by objective term and, for a
    re-plan, its changes by decision kind."""
    kpis = {**plan.kpis, "costs": plan.costs.to_dict()}
    if plan.changes is not None:
        kpis["changes_by_kind"] = plan.changes_by_kind
    return kpis


def footprint(scenario) -> dict:
    """What a run plans: the sorted member and site ids (recorded with the run; a baseline of
    another footprint is refused)."""
    return {"members": sorted(map(str, scenario.tables["members"]["member"])),
            "sites": sorted(map(str, scenario.tables["sites"]["site_id"]))}


def replan_job(scenario_path, history_target: str, out: Path | None, *,
               tolerance: float | None = None, wait: float = DEFAULT_WAIT,
               max_gap: float | None = None, share_rule: str | None = None,
               share_options: dict | None = None, log: JobLog | None = None,
               budget: float | None = None, baseline_run: int | None = None,
               **solver_options) -> JobResult:
    """Run one re-planning job; never raises a PlannerError (it becomes the exit code).
    `baseline_run`: re-plan from this run of the history (any scenario name, any footprint)
    instead of the latest successful run of the scenario's name."""
    # lazy: the history's SQLAlchemy loads only when a job runs, not with the CLI
    from planner.history import open_history
    from planner.history.target import parse_target

    log = log or JobLog(False)
    options = {k: v for k, v in solver_options.items() if v is not None}
    job = Job(out, tolerance, wait, max_gap, share_rule, share_options or {}, log, budget,
              baseline_run, options, scenario_path)
    try:
        with log.stage("check"):
            if out is not None:
                check_target(out)
            if tolerance is not None and not (0 <= tolerance <= 1):
                raise UsageError(f"--tolerance {tolerance!r}: must be between 0 and 1 (a share "
                                 "of the optimal annual cost, e.g. 0.01).")
            target = parse_target(history_target)
    except PlannerError as err:
        return JobResult(err.exit_code, str(err))
    scenario = load_error = None
    try:
        with log.stage("load"):
            scenario = load_scenario(scenario_path)
            if budget is not None:
                scenario = scenario.with_(budget=budget)
    except PlannerError as err:
        load_error = err
        if target.sqlite_file is not None and not target.sqlite_file.exists():
            return JobResult(err.exit_code, f"{err}\n(No history was created at {target.shown}: "
                             "it is created by the first run that reads its scenario.)")
    try:
        with log.stage("open_history"):
            history = open_history(history_target)
    except PlannerError as err:
        return JobResult(err.exit_code, str(err))
    try:
        if load_error is not None:   # recorded under the path: the scenario has no name yet
            name = str(scenario_path) if scenario_path is not None else "default scenario"
            run_id = history.record_failed_run(name, status="bad_input",
                                               message=str(load_error), **job.record)
            return JobResult(load_error.exit_code, str(load_error), run_id)
        return _run(history, scenario, job)
    finally:
        history.close()


@dataclass
class Job:
    """The settings of one re-planning job, as given."""

    out: Path | None
    tolerance: float | None
    wait: float
    max_gap: float | None
    share_rule: str | None
    share_options: dict
    log: JobLog
    budget: float | None
    baseline_run: int | None
    options: dict
    scenario_path: object = None

    @property
    def record(self) -> dict:
        """What the history records of the job (command, options, versions)."""
        return {"command": "replan", "versions": versions(), "options": {
            **self.options, "tolerance": self.tolerance, "max_gap": self.max_gap,
            "budget": self.budget, "share": self.share_rule, "baseline": self.baseline_run,
            "out": None if self.out is None else str(self.out),
            "scenario_path": None if self.scenario_path is None else str(self.scenario_path)}}


def _run(history, scenario, job: Job) -> JobResult:
    log, wait, record = job.log, job.wait, job.record
    log.update(scenario=scenario.name)
    try:
        with log.stage("lock", wait=wait):
            lock = history.lock(scenario.name, wait=wait)
            lock.__enter__()
    except PlannerError as err:
        run_id = history.record_failed_run(scenario.name, status="locked", message=str(err),
                                           input_hash=scenario.content_hash(), **record)
        return JobResult(err.exit_code, str(err), run_id)
    try:
        return _locked_run(history, scenario, job)
    finally:
        lock.__exit__(None, None, None)


def _locked_run(history, scenario, job: Job) -> JobResult:
    out, log, max_gap, share_rule = job.out, job.log, job.max_gap, job.share_rule
    run_id = history.start_run(scenario=scenario.name, input_hash=scenario.content_hash(),
                               footprint=footprint(scenario), **job.record)
    log.update(run_id=run_id)
    finished = False

    def finish(status: str, succeeded: bool, message: str | None, plan=None, sharing=None):
        nonlocal finished
        with log.stage("record", status_recorded=status):
            history.finish_run(
                run_id, status=status, succeeded=succeeded, message=message,
                objective=None if plan is None else plan.objective,
                bound=None if plan is None else plan.bound,
                mip_gap=None if plan is None else plan.mip_gap,
                kpis=None if plan is None else history_kpis(plan),
                decisions=None if plan is None else plan.decisions,
                changes=None if plan is None else plan.change_count,
                baseline_run=None if plan is None else plan.baseline_run,
                sharing=None if sharing is None else sharing.to_json(),
                transfers=None if sharing is None else sharing.transfers)
        finished = True

    try:
        with log.stage("baseline", named=job.baseline_run) as found:
            baseline = choose_baseline(history, scenario, job.baseline_run)
            found["baseline_run"] = None if baseline is None else baseline["run_id"]
        with log.stage("solve", baseline_run=None if baseline is None else baseline["run_id"]):
            plan = replan(scenario, None if baseline is None else baseline["decisions"],
                          tolerance=job.tolerance,
                          baseline_run=None if baseline is None else baseline["run_id"],
                          step=log.stage, **job.options)
        log.event("plan", plan_status=plan.status, objective=plan.objective,
                  mip_gap=plan.mip_gap, changes=plan.change_count)
        lines = [plan.summary()]
        refused = plan.refusal(max_gap, "; nothing was published")
        if refused is not None:
            status, message = refused
            finish(status, False, message, plan if plan.objective is not None else None)
            return JobResult(NO_PLAN, message, run_id, plan, lines=lines)
        sharing = None
        if share_rule is not None:
            with log.stage("share", rule=share_rule):
                # coalition values are kept in the history: the next run of the same game
                # (a re-plan with unchanged inputs, or a rerun after a kill) reuses them
                sharing = share(scenario, share_rule,
                                **{"cache": history.url, **job.share_options})
            lines.append(sharing_summary(sharing))
        if out is not None:
            with log.stage("publish", out=str(out)):
                save_plan(plan, out, *([sharing] if sharing is not None else []))
        finish(plan.status, True, None, plan, sharing)
        lines.append(_changes_line(plan, run_id, out))
        return JobResult(0, "", run_id, plan, sharing, lines)
    except PlannerError as err:
        status = {2: "bad_input", 3: "infeasible", 4: "no_plan"}.get(err.exit_code, "failed")
        if not finished:
            finish(status, False, str(err))
        return JobResult(err.exit_code, str(err), run_id)
    except BaseException as err:   # recorded, then the last-resort handler reports it
        if not finished:
            finish("error", False, f"{type(err).__name__}: {err}")
        raise


def choose_baseline(history, scenario, named: int | None) -> dict | None:
    """The run to re-plan from: run `named` when given (the user vouches for it), else the
    latest successful run of the scenario's name, refused (BaselineMismatch, exit 2) when it
    planned other members or sites; None for a first run."""
    if named is not None:
        return history.successful_run(named)
    baseline = history.latest_success(scenario.name)
    if baseline is not None:
        difference = footprint_difference(baseline, footprint(scenario))
        if difference:
            raise BaselineMismatch(
                f"The last successful run of '{scenario.name}' in history {history.target} "
                f"(run {baseline['run_id']}, {baseline['started']}) planned {difference}. "
                "Re-planning from it would count every decision at a site it does not share "
                "with this scenario as a change; nothing was solved. If this is the same "
                "consortium after a real change of members or sites, name that run as the "
                f"baseline: --baseline {baseline['run_id']}. If it is another consortium (a "
                "slice, a study), give it a name of its own (scenario.toml key name).")
    return baseline


def footprint_difference(baseline: dict, current: dict) -> str:
    """'' when the baseline run planned the members and sites of `current`, else what differs
    in words. A run recorded before footprints (history revision 0004) is checked by the sites
    its decisions name."""
    recorded = baseline.get("footprint")
    if recorded is None:
        named = baseline["decisions"][["site_id", "from_site"]].stack()
        unknown = sorted(set(map(str, named[named != ""])) - set(current["sites"]))
        return (f"decisions at site(s) this scenario does not have: {_listed(unknown)}"
                if unknown else "")
    parts = []
    for what in ("members", "sites"):
        gone = sorted(set(recorded[what]) - set(current[what]))
        new = sorted(set(current[what]) - set(recorded[what]))
        if gone or new:
            detail = "; ".join(part for part in (
                f"not in this scenario: {_listed(gone)}" if gone else "",
                f"new in this scenario: {_listed(new)}" if new else "") if part)
            parts.append(f"{len(recorded[what])} {what} against this scenario's "
                         f"{len(current[what])} ({detail})")
    return " and ".join(parts)


def _listed(ids: list[str], most: int = 8) -> str:
    shown = ", ".join(ids[:most])
    return shown + (f" and {len(ids) - most} more" if len(ids) > most else "")


def _changes_line(plan, run_id: int, out) -> str:
    words = changes_in_words(plan.changes_by_kind)
    base = (f"first run of this scenario (no baseline; {words} from nothing)"
            if plan.baseline_run is None else f"{words} from run {plan.baseline_run}")
    where = f"; plan written to {out}" if out is not None else ""
    return f"Run {run_id}: {base}{where}."

"""The scheduled re-planning job behind `planner replan` (docs/design.md section 7).

One run, in stages, each logged (planner.joblog) and the whole recorded in the run history:

    load the scenario -> lock (history, scenario name) -> start the run record -> baseline =
    the latest successful run of that name -> re-plan (fewest changes within the tolerance)
    -> [share the savings] -> publish the plan folder -> finish the run record (one transaction).

Exit codes, for orchestrators: 0 plan published; 2 bad input (scenario, flags, output path,
history target); 3 infeasible; 4 no plan within the limits, or a gap above --max-gap (nothing
published); 5 the history is locked by another run of the same scenario for longer than --wait.
Every run is recorded, failed ones too, with their message; the plan folder is published before
the run is recorded as successful, so a run killed in between leaves the folder complete and
the history consistent (the run shows as interrupted and is never a baseline).
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from pathlib import Path

from planner.errors import PlannerError, UsageError
from planner.joblog import JobLog

NO_PLAN = 4


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
    from importlib.metadata import PackageNotFoundError, version

    import pyomo

    try:
        planner_version = version("consortium-planner")
    except PackageNotFoundError:   # run from a source tree
        planner_version = "unknown"
    return {"planner": planner_version, "highs": _highs_version(),
            "pyomo": pyomo.version.version, "python": platform.python_version()}


def _highs_version() -> str:
    from planner.highs import new_highs
    h = new_highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def history_kpis(plan) -> dict:
    """The KPIs recorded for a run: the plan's KPIs and its cost by objective term."""
    return {**plan.kpis, "costs": plan.costs.to_dict()}


def replan_job(scenario_path, history_target: str, out: Path | None, *,
               tolerance: float | None = None, wait: float = 0.0, max_gap: float | None = None,
               share_rule: str | None = None, share_options: dict | None = None,
               log: JobLog | None = None, budget: float | None = None,
               **solver_options) -> JobResult:
    """Run one re-planning job; never raises a PlannerError (it becomes the exit code)."""
    from planner.history import open_history
    from planner.publish import check_target

    log = log or JobLog(False)
    options = {k: v for k, v in solver_options.items() if v is not None}
    try:
        with log.stage("check"):
            if out is not None:
                check_target(out)
            if tolerance is not None and not (0 <= tolerance <= 1):
                raise UsageError(f"--tolerance {tolerance!r}: must be between 0 and 1 (a share "
                                 "of the optimal annual cost, e.g. 0.01).")
        with log.stage("open_history"):
            history = open_history(history_target)
    except PlannerError as err:
        return JobResult(err.exit_code, str(err))
    try:
        return _run(history, scenario_path, out, tolerance, wait, max_gap, share_rule,
                    share_options or {}, log, budget, options)
    finally:
        history.close()


def _run(history, scenario_path, out, tolerance, wait, max_gap, share_rule, share_options, log,
         budget, options) -> JobResult:
    from planner.scenario import load_scenario

    record = {"command": "replan", "options": {
        **options, "tolerance": tolerance, "max_gap": max_gap, "budget": budget,
        "share": share_rule, "out": None if out is None else str(out),
        "scenario_path": None if scenario_path is None else str(scenario_path)},
        "versions": versions()}
    try:
        with log.stage("load"):
            scenario = load_scenario(scenario_path)
            if budget is not None:
                scenario = scenario.with_(budget=budget)
    except PlannerError as err:   # recorded under the path: the scenario has no name yet
        name = str(scenario_path) if scenario_path is not None else "default scenario"
        run_id = history.record_failed_run(name, status="bad_input", message=str(err),
                                           **record)
        return JobResult(err.exit_code, str(err), run_id)
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
        return _locked_run(history, scenario, out, tolerance, max_gap, share_rule,
                           share_options, log, options, record)
    finally:
        lock.__exit__(None, None, None)


def _locked_run(history, scenario, out, tolerance, max_gap, share_rule, share_options, log,
                options, record) -> JobResult:
    from planner.output import save_plan
    from planner.replanning import replan

    run_id = history.start_run(scenario=scenario.name, input_hash=scenario.content_hash(),
                               **record)
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
        baseline = history.latest_success(scenario.name)
        with log.stage("solve", baseline_run=None if baseline is None else baseline["run_id"]):
            plan = replan(scenario, None if baseline is None else baseline["decisions"],
                          tolerance=tolerance,
                          baseline_run=None if baseline is None else baseline["run_id"],
                          **options)
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
            from planner.sharing import share, sharing_summary
            with log.stage("share", rule=share_rule):
                # coalition values are kept in the history: the next run of the same game
                # (a re-plan with unchanged inputs, or a rerun after a kill) reuses them
                sharing = share(scenario, share_rule, **{"cache": history.url, **share_options})
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


def _changes_line(plan, run_id: int, out) -> str:
    base = ("first run of this scenario (no baseline)" if plan.baseline_run is None
            else f"{plan.change_count} change(s) from run {plan.baseline_run}")
    where = f"; plan written to {out}" if out is not None else ""
    return f"Run {run_id}: {base}{where}."

"""Outputs never destroy a user's files: ownership, atomic swaps, kills, concurrency, permissions.

Everything here runs on the real file system with real processes (SIGKILL included); nothing is
mocked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers import TINY, planner_command, run_planner, snapshot, write_scenario
from planner.publish import MARKER, OutputError, check_target, csv_safe, publish_folder
from planner.terminal import printable

# A publisher process: writes FILES files that all carry the same token, into TARGET, LOOPS
# times (token = writer name + loop number), so a reader can tell a complete, consistent folder.
PUBLISHER = textwrap.dedent("""
    import sys
    from planner.publish import publish_folder
    target, name, loops = sys.argv[1], sys.argv[2], int(sys.argv[3])
    for k in range(loops):
        with publish_folder(target, "plan") as work:
            for f in range(8):
                (work / f"part{f}.txt").write_text(f"{name}-{k}\\n" * 2000)
    """)
FILES = {f"part{f}.txt" for f in range(8)} | {MARKER}


def _consistent(folder: Path) -> bool:
    """The folder is one writer's complete output (every part, all with the same token)."""
    names = {p.name for p in folder.iterdir()}
    if names != FILES:
        return False
    tokens = {(folder / f"part{f}.txt").read_text().split("\n", 1)[0] for f in range(8)}
    return len(tokens) == 1


def _snapshot_is_consistent(target: Path) -> bool | None:
    """Read the folder at `target` through one directory handle; None when it was swapped out
    during the read (the sample then shows an old version being removed, not the target)."""
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return False
    try:
        names = set(os.listdir(fd))
        tokens = set()
        for f in range(8):
            with open(os.open(f"part{f}.txt", os.O_RDONLY, dir_fd=fd)) as part:
                tokens.add(part.read().split("\n", 1)[0])
        complete = names == FILES and len(tokens) == 1
    except FileNotFoundError:
        complete = False
    still_there = os.stat(target).st_ino == os.fstat(fd).st_ino
    os.close(fd)
    return complete if still_there else None


def _publisher(target: Path, name: str, loops: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", PUBLISHER, str(target), name, str(loops)])


def _leftovers(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".planner-" in p.name)


# --- ownership --------------------------------------------------------------------------------
def test_a_users_folder_is_refused_and_kept(tiny_folder, tmp_path):
    mine = tmp_path / "mydocs"
    mine.mkdir()
    (mine / "thesis.docx").write_bytes(b"years of work")
    result = run_planner("plan", tiny_folder, "--out", mine, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "did not write" in result.stderr and "Traceback" not in result.stderr
    assert snapshot(mine) == {"thesis.docx": b"years of work"}
    # refused before solving: the summary of a plan is never printed
    assert "Annual cost" not in result.stdout


def test_out_dot_is_refused(tiny_folder, tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    result = run_planner("plan", tiny_folder, "--out", ".", cwd=tmp_path)
    assert result.returncode == 2
    assert "current folder" in result.stderr
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tiny_folder / "scenario.toml").exists()


def test_a_file_is_never_turned_into_a_folder(tiny_folder, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    result = run_planner("plan", tiny_folder, "--out", notes, cwd=tmp_path)
    assert result.returncode == 2 and "existing file" in result.stderr
    assert notes.is_file() and notes.read_text() == "keep me"


def test_a_path_below_a_file_is_refused_before_solving(tiny_folder, tmp_path):
    (tmp_path / "afile").write_text("x")
    result = run_planner("plan", tiny_folder, "--out", tmp_path / "afile" / "plan", cwd=tmp_path)
    assert result.returncode == 2 and "is a file" in result.stderr
    assert "Annual cost" not in result.stdout


def test_share_checks_its_out_path_first(tiny_folder, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "a.txt").write_text("a")
    result = run_planner("share", tiny_folder, "--out", mine, "--no-progress", cwd=tmp_path)
    assert result.returncode == 2 and "did not write" in result.stderr
    assert snapshot(mine) == {"a.txt": b"a"}


def test_the_planners_own_folder_and_empty_folders_are_replaced(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    out.mkdir()          # empty: nothing to lose
    assert run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path).returncode == 0
    assert (out / MARKER).is_file() and (out / "plan.json").is_file()
    assert json.loads((out / MARKER).read_text().splitlines()[1])["kind"] == "plan"
    assert run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path).returncode == 0
    (out / "stray.txt").write_text("mine")   # a user's file inside a planner folder (issue 18)
    assert run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path).returncode == 2
    assert (out / "stray.txt").read_text() == "mine"   # kept: the folder is no longer only ours
    assert _leftovers(tmp_path) == []


def test_a_run_without_a_plan_keeps_the_earlier_plan(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    assert run_planner("plan", tiny_folder, "--out", out, cwd=tmp_path).returncode == 0
    before = snapshot(out)
    # the default county cannot be solved in a microsecond: no plan (exit 4)
    result = run_planner("plan", "--time-limit", "0.000001", "--out", out, cwd=tmp_path)
    assert result.returncode == 4, result.stderr
    assert "nothing was written" in result.stderr
    assert snapshot(out) == before
    assert _leftovers(tmp_path) == []


def test_max_gap_above_the_plans_gap_writes_nothing(tiny_folder, tmp_path):
    out = tmp_path / "plan"
    result = run_planner("plan", "--time-limit", "0.5", "--max-gap", "0", "--mip-gap", "0",
                         "--out", out, cwd=tmp_path)
    if result.returncode == 0:   # solved to a zero gap within half a second: nothing to check
        pytest.skip("the default county solved to optimality within the time limit")
    assert result.returncode == 4 and "--max-gap" in result.stderr
    assert not out.exists()


def test_plan_save_of_no_plan_raises(tiny_folder, tmp_path):
    import planner

    plan = planner.solve(planner.load_scenario(), time_limit=1e-6)
    assert plan.objective is None
    with pytest.raises(planner.PlannerError) as info:
        plan.save(tmp_path / "p")
    assert info.value.exit_code == 4 and not (tmp_path / "p").exists()


# --- atomic swaps, kills and concurrency -------------------------------------------------------
def test_kill_at_any_moment_leaves_a_complete_folder(tmp_path):
    target = tmp_path / "out"
    with publish_folder(target, "plan") as work:
        for f in range(8):
            (work / f"part{f}.txt").write_text("first\n")
    for delay in (0.05, 0.11, 0.17, 0.23, 0.31, 0.37, 0.43, 0.5):
        proc = _publisher(target, "killed", 10_000)
        time.sleep(delay + 0.3)  # interpreter start-up, then somewhere inside a publish
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert target.is_dir() and _consistent(target)
    # the next publish removes what the killed runs left
    with publish_folder(target, "plan") as work:
        for f in range(8):
            (work / f"part{f}.txt").write_text("last\n")
    assert _leftovers(tmp_path) == [] and _consistent(target)


def test_concurrent_publishers_never_race(tmp_path):
    target = tmp_path / "out"
    writers = [_publisher(target, name, 60) for name in ("a", "b")]
    seen = 0
    while any(w.poll() is None for w in writers):
        if target.exists():
            state = _snapshot_is_consistent(target)
            assert state is not False   # never a missing, mixed or half-written folder
            seen += state is True
    assert all(w.returncode == 0 for w in writers)
    assert seen > 0 and _consistent(target) and _leftovers(tmp_path) == []


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_folders_and_files_respect_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        with publish_folder(tmp_path / "out", "plan") as work:
            (work / "a.csv").write_text("x\n")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o777 & ~umask
    assert (tmp_path / "out" / "a.csv").stat().st_mode & 0o777 == 0o666 & ~umask


def test_a_failed_write_leaves_the_earlier_folder(tmp_path):
    target = tmp_path / "out"
    with publish_folder(target, "plan") as work:
        (work / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with publish_folder(target, "plan") as work:
            (work / "a.txt").write_text("new")
            raise RuntimeError("solver crashed while writing")
    assert (target / "a.txt").read_text() == "old" and _leftovers(tmp_path) == []


def test_check_target_rules(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for bad in (".", "..", tmp_path):
        with pytest.raises(OutputError):
            check_target(bad)
    assert check_target("new/deeper/plan") == tmp_path / "new" / "deeper" / "plan"
    assert not (tmp_path / "new").exists()   # checking creates nothing


# --- what the files and the terminal receive ----------------------------------------------------
def test_formula_cells_are_neutralised_in_every_csv(tmp_path):
    evil = '=HYPERLINK("http://x")'
    tables = dict(TINY)
    for name in ("members", "sites"):
        tables[name] = TINY[name].replace("M_TOWN", "@M_TOWN").replace("County hospital", evil)
    folder = write_scenario(tmp_path / "evil", **tables)
    out = tmp_path / "plan"
    result = run_planner("plan", folder, "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for csv in out.glob("*.csv"):
        for line in csv.read_text(encoding="utf-8").splitlines():
            for cell in line.split(","):
                assert not cell.startswith(("=", "@", "+")), (csv.name, line)
    equipment = pd.read_csv(out / "equipment.csv")
    assert "'@M_TOWN" in set(equipment["member"])
    frame = pd.DataFrame({"name": ["-1+2", "ok", None], "amount": [-1.0, 2.0, 3.0]})
    assert csv_safe(frame)["name"].tolist()[:2] == ["'-1+2", "ok"]
    assert csv_safe(frame)["amount"].tolist() == [-1.0, 2.0, 3.0]   # numbers stay numbers


def test_control_characters_never_reach_the_terminal(tiny_folder, tmp_path):
    assert printable("a\x1b[2Jb\x07\tc\n") == "a\\x1b[2Jb\\x07\tc\n"
    write_scenario(tiny_folder, resources=TINY["resources"] + "S_X\x1b]0;pwned\x07,CT,1\n")
    result = run_planner("validate", tiny_folder, cwd=tmp_path)
    assert result.returncode == 2
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "S_X\\x1b]0;pwned\\x07" in result.stderr   # shown, escaped


def test_plan_files_are_byte_identical_across_hash_seeds(tiny_folder, tmp_path):
    folders = []
    for seed in ("1", "2"):
        out = tmp_path / f"plan{seed}"
        env = dict(os.environ, PYTHONHASHSEED=seed)
        result = subprocess.run(planner_command() + ["plan", str(tiny_folder), "--out", str(out)],
                                cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        folders.append(out)
    a, b = (snapshot(f) for f in folders)
    assert a.keys() == b.keys()
    for name in a:
        if name == "plan.json":   # solve_seconds is a measured time (docs/design.md section 5)
            ja, jb = (json.loads(x[name]) for x in (a, b))
            ja.pop("solve_seconds"), jb.pop("solve_seconds")
            assert ja == jb
        else:
            assert a[name] == b[name], name


def test_the_last_resort_handler_writes_the_trace_to_a_file(tmp_path):
    script = textwrap.dedent("""
        import typer
        from planner.terminal import run_safely
        app = typer.Typer()
        @app.command()
        def boom():
            {}["missing"]
        raise SystemExit(run_safely(app))
        """)
    env = dict(os.environ, PLANNER_CRASH_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr and "unexpected internal error" in result.stderr
    traces = list(tmp_path.glob("planner-crash-*.txt"))
    assert len(traces) == 1 and "KeyError" in traces[0].read_text()


@pytest.mark.parametrize("flag,value", [("--threads", "-3"), ("--time-limit", "-1"),
                                        ("--mip-gap", "nan"), ("--budget", "inf"),
                                        ("--seed", "99999999999"), ("--threads", "1000")])
def test_bad_flags_are_blamed_on_the_flag(tiny_folder, tmp_path, flag, value):
    result = run_planner("plan", tiny_folder, flag, value, cwd=tmp_path)
    assert result.returncode == 2
    assert flag in result.stderr and "scenario.toml" not in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option,value", [("threads", -3), ("threads", 1000),
                                          ("time_limit", -1.0), ("mip_gap", float("nan")),
                                          ("seed", 99999999999), ("seed", True)])
def test_bad_solver_keywords_are_blamed_on_the_keyword(tiny_folder, option, value):
    import planner

    scenario = planner.load_scenario(tiny_folder)
    with pytest.raises(planner.PlannerError) as info:
        planner.solve(scenario, **{option: value})
    assert info.value.exit_code == 2 and option in str(info.value)
    assert "keyword argument" in str(info.value)
    session = planner.PlanningSession(scenario)
    with pytest.raises(planner.PlannerError):
        session.solve(**{option: value})

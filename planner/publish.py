"""Publishing an output folder safely: the planner only ever replaces a folder it wrote itself.

Why this module: users point `--out` at paths they care about (`.`, their documents, a file), a
scheduled job may be killed at any instant, and two jobs may publish to the same place at once.
The rules, in one place:

* **Ownership.** Every folder the planner writes holds a marker file, :data:`MARKER`: a fixed
  signature line (:data:`SIGNATURE`), then one JSON line saying which planner version wrote it,
  the kind of folder and every file it wrote there (a report later written into the folder is
  added). An existing target is replaced only if it is an empty folder, or if its marker is the
  planner's and the folder holds nothing but the files the marker lists (:func:`ownership`): a
  hand-made marker file, or a file of the user's added to a plan folder, makes it the user's.
  Anything else (a file, a folder of the user's, the current folder or one of its parents) is
  refused with :class:`OutputError` (exit 2) before any work is done (:func:`check_target`) and
  again at the moment of publishing. Folders of earlier planners (marker
  ``{"written_by": "consortium-planner", "kind": ...}`` exactly, no file list) are accepted
  while they hold only the kinds of files the planner writes (:data:`LEGACY_SUFFIXES`, point
  folders).
* **Atomicity.** The new content is written into a fresh temporary sibling folder, then swapped
  with the target in one step by Linux ``renameat2(RENAME_EXCHANGE)``: at every instant the target
  is either the complete old folder or the complete new one. Where the exchange is unsupported
  (another OS, some file systems), two renames are used and the gap between them is one system
  call long.
* **Concurrency.** The swap and the clean-up run under an exclusive ``flock`` on the parent
  folder, so two runs publishing to the same target cannot interleave: the later one wins and
  each sees a complete folder.
* **Leftovers.** Temporary folders are named ``.<target>.planner-<pid>-<random>``; a run killed
  before it finished leaves one behind, and the next publish into the same parent removes those
  whose process is gone (only if they are empty or hold the planner's marker, which is always
  written in one step and removed last).
* **Permissions.** Folders get ``0o777 & ~umask`` (``mkdtemp`` alone would give 0700, unreadable
  by a service account that reads the plans); files are created normally, so they respect the
  umask too.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import json
import os
import re
import shutil
import tempfile
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pandas as pd

from planner.errors import PlannerError

MARKER = ".consortium-planner"
SIGNATURE = ("consortium-planner output folder: the planner replaces this folder as a whole, "
             "and only while it holds nothing but the files listed below.")
# What a folder of an earlier planner (a marker without a file list) may hold to be replaced.
LEGACY_SUFFIXES = (".csv", ".json", ".gpkg", ".html", ".toml")
_LEGACY_FOLDER = re.compile(r"^point_\d+$")
_KIND = re.compile(r"^[a-z][a-z_-]*$")
_MARKER_TEMPORARY = re.compile(rf"^{re.escape(MARKER)}\.\d+\.tmp$")   # a marker being updated
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.planner-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_RENAME_EXCHANGE = 2
_MAX_MARKER_BYTES = 4 * 1024 ** 2


class OutputError(PlannerError):
    """An output path the planner must not or cannot write (exit 2, checked before solving)."""

    exit_code = 2


def check_target(path: str | Path, what: str = "--out") -> Path:
    """Refuse an output path the planner may not replace; return it resolved.

    Checked before any solve, so a bad `--out` costs nothing: the target must be a folder the
    planner wrote, an empty folder or a new path whose nearest existing ancestor is a writable
    folder.
    """
    target = Path(path).expanduser().resolve()
    here = Path.cwd().resolve()
    if target == here or target in here.parents:
        raise OutputError(f"{what} {path}: this is the current folder or one of its parents; the "
                          "planner replaces its output folder as a whole, so give a new "
                          f"subfolder instead (for example {Path(path) / 'plan'}).")
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise OutputError(f"{what} {path}: this is an existing file, not a folder; the "
                              "planner writes a folder of files. Give a new folder path.")
        why = ownership(target)
        if why is not None:
            raise OutputError(f"{what} {path}: {why}; the planner never replaces a folder "
                              "holding anything it did not write. Give a new or empty folder, "
                              "or one the planner wrote (move your own files out of it).")
    ancestor = target.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"{what} {path}: {ancestor} is a file, so no folder can be made "
                          "below it. Give another path.")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: the folder {ancestor} is not writable by this user; "
                          "give a path in a folder you can write to.")
    return target


@functools.cache
def planner_version() -> str:
    """The installed planner's version ("unknown" when run from a source tree)."""
    try:
        return version("consortium-planner")
    except PackageNotFoundError:
        return "unknown"


def _marker_text(kind: str, files) -> str:
    record = {"written_by": f"consortium-planner {planner_version()}", "kind": kind,
              "files": sorted(files)}
    return f"{SIGNATURE}\n{json.dumps(record, ensure_ascii=False)}\n"


def _legacy_text(kind: str) -> str:
    """The marker the planner wrote before it listed its files (accepted as it was)."""
    return json.dumps({"written_by": "consortium-planner", "kind": kind}) + "\n"


def read_marker(folder: Path) -> dict | None:
    """The folder's marker as {"kind", "files"} (files None for an earlier planner's marker);
    None when there is no marker or it is not one the planner wrote."""
    path = folder / MARKER
    try:
        if not path.is_file() or path.is_symlink() or path.stat().st_size > _MAX_MARKER_BYTES:
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    lines = text.split("\n")
    if len(lines) == 3 and lines[0] == SIGNATURE and lines[2] == "":
        try:
            record = json.loads(lines[1])
        except ValueError:
            return None
        if not isinstance(record, dict) or \
                not str(record.get("written_by", "")).startswith("consortium-planner "):
            return None
        kind, files = record.get("kind"), record.get("files")
        if isinstance(kind, str) and isinstance(files, list) and \
                all(isinstance(f, str) for f in files):
            return {"kind": kind, "files": set(files)}
        return None
    try:
        record = json.loads(text)
    except ValueError:
        return None
    kind = record.get("kind") if isinstance(record, dict) else None
    if isinstance(kind, str) and _KIND.match(kind) and text == _legacy_text(kind):
        return {"kind": kind, "files": None}
    return None


def _entries(folder: Path) -> list[tuple[str, bool]]:
    """(relative path, is a real folder) of everything below `folder` but the marker (and a
    marker being rewritten by a run that was killed); symbolic links count as files (they are
    never followed)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        base = Path(root).relative_to(folder)
        for name in dirs:
            real = not (Path(root) / name).is_symlink()
            found.append(((base / name).as_posix(), real))
        found += [((base / name).as_posix(), False) for name in files]
    return [(path, real) for path, real in found
            if path != MARKER and not _MARKER_TEMPORARY.match(path)]


def _not_written(entries: list[tuple[str, bool]], files: set[str] | None) -> list[str]:
    """The entries the planner did not write: not listed in the marker (a folder counts when a
    listed file is in it); for an earlier planner's marker, files of other kinds than it wrote
    and folders other than point folders."""
    if files is None:
        return [path for path, real in entries
                if not (_LEGACY_FOLDER.match(Path(path).name) if real
                        else path.endswith(LEGACY_SUFFIXES))]
    folders = {str(parent.as_posix()) for f in files for parent in Path(f).parents}
    return [path for path, real in entries
            if not (path in folders if real else path in files)]


def ownership(folder: Path) -> str | None:
    """None when the planner may replace `folder` (it is empty, or it holds the planner's marker
    and nothing but the files the marker lists); otherwise why not, for the message."""
    try:
        if not any(folder.iterdir()):
            return None
        record = read_marker(folder)
        entries = _entries(folder)
        if record is None:
            foreign = [path for path, _ in entries if "/" not in path]
            forged = (folder / MARKER).exists() or (folder / MARKER).is_symlink()
        else:
            foreign, forged = _not_written(entries, record["files"]), False
    except OSError as err:
        return f"it cannot be read ({err.strerror or err})"
    shown = ", ".join(sorted(foreign)[:5]) + (f" and {len(foreign) - 5} more"
                                              if len(foreign) > 5 else "")
    why = f"this folder holds files the planner did not write ({shown})" if foreign else ""
    if forged:
        why += (", and " if why else "") + (f"its '{MARKER}' file is not the planner's marker "
                                            f"(which starts with the line '{SIGNATURE}')")
    return why or None


def _write_marker(folder: Path, kind: str, files) -> None:
    """Write the marker in one step (a temporary file renamed over it), so that it is always
    complete: a killed run's folder is still recognised as the planner's and removed."""
    temporary = folder / f"{MARKER}.{os.getpid()}.tmp"
    try:
        temporary.write_text(_marker_text(kind, files), encoding="utf-8")
        os.replace(temporary, folder / MARKER)
    finally:
        temporary.unlink(missing_ok=True)


def _listing(folder: Path) -> list[str]:
    """Every file below `folder` (relative paths), but the marker."""
    return [path for path, real in _entries(folder) if not real]


def _record_file(target: Path) -> None:
    """Add a file the planner is about to write to the marker's list of the planner folder it
    lands in (its own folder, or the folder above: a report in a sweep's point folder), when
    that marker has a list. Done before the file appears: a run killed in between leaves a
    name listed but absent, which is harmless."""
    folder = next((f for f in (target.parent, target.parent.parent)
                   if (f / MARKER).exists()), None)
    if folder is None:
        return
    record = read_marker(folder)
    if record is None or record["files"] is None:
        return
    name = target.relative_to(folder).as_posix()
    if name not in record["files"]:
        _write_marker(folder, record["kind"], record["files"] | {name})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


@contextlib.contextmanager
def _locked(folder: Path):
    """An exclusive lock on a folder (flock on the folder itself: no lock file is left)."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(parent: Path, name: str) -> None:
    """Remove the temporary folders (and files) of killed runs publishing `name` in `parent`."""
    for entry in parent.iterdir():
        match = _LEFTOVER.match(entry.name)
        if not match or match["name"] != name or entry.is_symlink() or _alive(int(match["pid"])):
            continue
        if entry.is_dir() and (read_marker(entry) is not None or not _entries(entry)):
            _remove_folder(entry)   # a killed run's
        elif entry.is_file():
            entry.unlink(missing_ok=True)


def _remove_folder(folder: Path) -> None:
    """Remove a folder of the planner's, its marker last: a run killed meanwhile leaves a folder
    that is still recognised as the planner's, which the next run removes."""
    try:
        entries = [e for e in folder.iterdir() if e.name != MARKER]
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):   # as rmtree(ignore_errors=True)
                entry.unlink()
    shutil.rmtree(folder, ignore_errors=True)


def _temporary_name(target: Path) -> str:
    """The prefix of a run's temporary sibling: `clean_leftovers` recognises it by the pid."""
    return f".{target.name}.planner-{os.getpid()}-"


def _new_folder(target: Path, kind: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix=_temporary_name(target), dir=target.parent))
    os.chmod(work, 0o777 & ~_umask())
    _write_marker(work, kind, [])   # so that a killed run's folder is recognised as ours
    return work


def _new_file(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=_temporary_name(target), dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


@contextlib.contextmanager
def _publishing(shown, target: Path, make, swap, remove):
    """The steps shared by folders and files: make the temporary sibling, let the caller fill
    it, swap it in under the parent's lock, always remove what is left; OS errors in one
    paragraph."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        work = make(target)
    except OSError as err:
        raise OutputError(f"{shown}: cannot be written ({err.strerror or err}); give a path in "
                          "a folder you can write to.") from None
    try:
        yield work
        with _locked(target.parent):
            clean_leftovers(target.parent, target.name)
            swap(work, target)
    except OSError as err:
        raise OutputError(f"{shown}: writing failed ({err.strerror or err}); the earlier "
                          "content, if any, is unchanged.") from None
    finally:
        remove(work)


@contextlib.contextmanager
def publish_file(path: str | Path, owned, what: str):
    """Yield a temporary file path; when the block ends without error it replaces `path`.

    `owned(path)` says whether an existing file is one the planner wrote (only those are
    replaced). The file gets ``0o666 & ~umask``, and the replacement is one rename.
    """
    target = Path(path).expanduser().resolve()

    def refuse_foreign() -> None:
        if target.exists() and (not target.is_file() or not owned(target)):
            raise OutputError(f"{path}: an existing {'file' if target.is_file() else 'folder'} "
                              f"the planner did not write; it is never replaced. Give a new "
                              f"{what} path.")

    def swap(work: Path, target: Path) -> None:
        refuse_foreign()     # again: it may have changed while the content was computed
        _record_file(target)   # a report in a plan folder is the planner's
        os.replace(work, target)

    refuse_foreign()
    with _publishing(path, target, _new_file, swap,
                     lambda work: work.unlink(missing_ok=True)) as work:
        yield work


@contextlib.contextmanager
def publish_folder(path: str | Path, kind: str):
    """Yield a new empty folder; when the block ends without error it replaces `path` atomically.

    On error the temporary folder is removed and `path` is left exactly as it was. `kind` (plan,
    sharing, scenario) and the files written are recorded in the marker file.
    """
    target = check_target(path, what="output folder")
    with _publishing(f"output folder {path}", target, lambda t: _new_folder(t, kind),
                     lambda work, target: _swap_in(work, target, path),
                     _remove_folder) as work:
        yield work
        _write_marker(work, kind, _listing(work))


def _swap_in(work: Path, target: Path, shown) -> None:
    """Put `work` at `target` (under the parent's lock); the old content ends up in `work`."""
    if target.exists() or target.is_symlink():
        if not target.is_dir() or ownership(target) is not None:   # changed meanwhile
            raise OutputError(f"output folder {shown}: it was replaced by files the planner "
                              "did not write while the plan was computed; nothing was written.")
        if _exchange(work, target):
            return
        old = work.with_name(work.name + "_old")
        os.rename(target, old)
        os.rename(work, target)
        os.rename(old, work)
        return
    os.rename(work, target)


# --- cells a spreadsheet opens as text -------------------------------------------------------
# Characters that make a spreadsheet read a cell as a formula (OWASP "CSV Injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

def csv_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells that start like a formula get a leading apostrophe (OWASP CSV guidance), so a
    name such as `=HYPERLINK(...)` opens in Excel as text; numbers are left as they are."""
    def neutral(value):
        if isinstance(value, str) and value.startswith(FORMULA_START):
            return "'" + value
        return value

    text = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if not text:
        return frame
    safe = frame.copy()
    for c in text:
        safe[c] = safe[c].astype(object).map(neutral)
    return safe


def csv_unquote(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`csv_safe` for tables read back from the planner's own CSVs (rows of
    a decisions.csv copied into implemented.csv): `'=X` is the id `=X` again."""
    def original(value):
        if isinstance(value, str) and value.startswith("'") and value[1:].startswith(FORMULA_START):
            return value[1:]
        return value

    text = [c for c in frame.columns if frame[c].dtype == object]
    if not text or frame.empty:
        return frame
    plain = frame.copy()
    for c in text:
        plain[c] = plain[c].map(original)
    return plain

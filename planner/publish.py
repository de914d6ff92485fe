"""Publishing an output folder safely: the planner only ever replaces a folder it wrote itself.

Why this module: users point `--out` at paths they care about (`.`, their documents, a file), a
scheduled job may be killed at any instant, and two jobs may publish to the same place at once.
The rules, in one place:

* **Ownership.** Every folder the planner writes holds a marker file, :data:`MARKER`. An existing
  target is replaced only if it holds the marker, or is an empty folder; anything else (a file,
  a folder of the user's, the current folder or one of its parents) is refused with
  :class:`OutputError` (exit 2) before any work is done (:func:`check_target`) and again at the
  moment of publishing.
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
  whose process is gone (only if they are empty or hold the marker).
* **Permissions.** Folders get ``0o777 & ~umask`` (``mkdtemp`` alone would give 0700, unreadable
  by a service account that reads the plans); files are created normally, so they respect the
  umask too.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from planner.errors import PlannerError

MARKER = ".consortium-planner"
_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.planner-(?P<pid>\d+)-[A-Za-z0-9_]+$")
_RENAME_EXCHANGE = 2


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
        if not _owned(target):
            raise OutputError(f"{what} {path}: this folder holds files the planner did not "
                              "write, and the planner never replaces those. Give a new or "
                              "empty folder, or one the planner wrote before "
                              f"(such a folder holds a '{MARKER}' file).")
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


def _owned(folder: Path) -> bool:
    """A folder the planner may replace: it holds the marker, or it is empty."""
    try:
        return (folder / MARKER).is_file() or not any(folder.iterdir())
    except OSError:
        return False


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


@contextmanager
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
        if entry.is_dir() and _owned(entry):
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_file():
            entry.unlink(missing_ok=True)


def _temporary_name(target: Path) -> str:
    """The prefix of a run's temporary sibling: `clean_leftovers` recognises it by the pid."""
    return f".{target.name}.planner-{os.getpid()}-"


def _new_folder(target: Path, kind: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix=_temporary_name(target), dir=target.parent))
    os.chmod(work, 0o777 & ~_umask())
    (work / MARKER).write_text(json.dumps({"written_by": "consortium-planner", "kind": kind})
                               + "\n", encoding="utf-8")
    return work


def _new_file(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=_temporary_name(target), dir=target.parent)
    os.close(fd)
    os.chmod(name, 0o666 & ~_umask())
    return Path(name)


@contextmanager
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


@contextmanager
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
        os.replace(work, target)

    refuse_foreign()
    with _publishing(path, target, _new_file, swap,
                     lambda work: work.unlink(missing_ok=True)) as work:
        yield work


@contextmanager
def publish_folder(path: str | Path, kind: str):
    """Yield a new empty folder; when the block ends without error it replaces `path` atomically.

    On error the temporary folder is removed and `path` is left exactly as it was. `kind` (plan,
    sharing, scenario) is written into the marker file.
    """
    target = check_target(path, what="output folder")
    with _publishing(f"output folder {path}", target, lambda t: _new_folder(t, kind),
                     lambda work, target: _swap_in(work, target, path),
                     lambda work: shutil.rmtree(work, ignore_errors=True)) as work:
        yield work


def _swap_in(work: Path, target: Path, shown) -> None:
    """Put `work` at `target` (under the parent's lock); the old content ends up in `work`."""
    if target.exists() or target.is_symlink():
        if not target.is_dir() or not _owned(target):   # changed while we were solving
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

"""What reaches the terminal: no raw control characters from inputs, never a bare traceback.

Why: ids and names come from users' files; an escape sequence in a site name must not repaint or
retitle an operator's terminal, so every line the CLI prints passes through
:class:`ControlFilter`, which shows it escaped (``\\x1b[31m``): neither obeyed nor silently
dropped, so the user sees what the file holds. (Validation refuses control characters in
scenario text anyway; the filter is the last line for whatever else is printed.) Click would
strip CSI sequences (``ESC [ ... m``) before the filter sees them when the output is not a
terminal, so :func:`run_safely` runs the app with ``color=True`` (click then leaves text as it
is); and the filter says it is not a terminal, so libraries (rich, in typer's help and usage
errors) make no colour codes of their own, which it would show escaped. And a planner bug must
not greet a county analyst with a Python traceback:
:func:`run_safely` turns any unexpected exception into one paragraph that says where the full trace
was written (exit 1). Known problems never get that far: they are PlannerErrors with their own
message and exit code.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
import time
import traceback

from planner.errors import PlannerError

# C0 controls except tab, newline and carriage return (progress bars redraw with \r), DEL and
# the C1 controls (U+0080-U+009F, which some terminals treat as escape sequences).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Control characters shown as visible escapes (ESC -> \\x1b)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


class ControlFilter(io.TextIOBase):
    """A text stream wrapper that escapes control characters on their way out."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        """False: libraries then write no colour codes, which the filter would show escaped."""
        return False

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self):
        return getattr(self._stream, "encoding", "utf-8")


def _crash_report(err: BaseException) -> str:
    """Write the full trace to a file; return its path."""
    folder = os.environ.get("PLANNER_CRASH_DIR") or tempfile.gettempdir()
    name = f"planner-crash-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.txt"
    path = os.path.join(folder, name)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"planner {' '.join(sys.argv[1:])}\n\n")
            traceback.print_exception(type(err), err, err.__traceback__, file=f)
    except OSError:
        return "(the trace could not be written: " + folder + " is not writable)"
    return path


def run_safely(app) -> int:
    """Run a typer app as the console entry point; return the exit code."""
    sys.stdout = ControlFilter(sys.stdout)
    sys.stderr = ControlFilter(sys.stderr)
    try:
        # typer's standalone mode: usage errors (exit 2) and typer.Exit end in SystemExit;
        # color=True: click leaves escape sequences in, for the filter to show them escaped
        app(color=True)
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except KeyboardInterrupt:
        print("Interrupted; nothing was written.", file=sys.stderr)
        return 130
    except PlannerError as err:
        print(err, file=sys.stderr)
        return err.exit_code
    except Exception as err:  # the last resort: one paragraph, the trace in a file
        where = _crash_report(err)
        print(f"planner: an unexpected internal error stopped the run ({type(err).__name__}: "
              f"{err}). This is a bug in the planner, not in your data as far as the checks "
              f"can tell; nothing was written. The full trace is in {where}; please send it "
              "with the command you ran.", file=sys.stderr)
        return 1
    return 0

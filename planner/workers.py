"""Local worker processes that never outlive the planner (stage-2 coalition solves, sweeps).

A killed `planner share` must not leave solver processes behind: workers die with the parent
(PR_SET_PDEATHSIG on Linux, which covers SIGKILL), a SIGTERM cancels the queued work and
terminates the workers, and any exception (Ctrl-C too) terminates them instead of waiting for
their running solves.
"""

from __future__ import annotations

import ctypes
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager


def die_with_parent(parent: int) -> None:
    """Worker initializer: on Linux the kernel kills the worker when the planner (pid `parent`)
    dies, even by SIGKILL, so a killed `planner share` leaves no solver processes behind."""
    try:
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL))   # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return                                            # not Linux: the pool shuts down as usual
    if os.getppid() != parent:                            # the parent died before prctl
        os._exit(1)


def kill_pool(pool: ProcessPoolExecutor) -> None:
    """Cancel the queued work and terminate the worker processes now (no waiting on solves)."""
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        try:
            process.terminate()
        except (OSError, ValueError, AttributeError):
            pass
    for process in processes:
        try:
            process.join(timeout=2)
            if process.is_alive():
                process.kill()
        except (OSError, ValueError, AttributeError, AssertionError):
            pass


@contextmanager
def process_pool(workers: int):
    """A local process pool whose workers never outlive the planner.

    Workers die with the parent (die_with_parent: PR_SET_PDEATHSIG, covers SIGKILL). While the
    pool is open, a SIGTERM to the planner (handled in the main thread only) cancels the queued
    coalitions, terminates the workers and exits with status 143; any exception (Ctrl-C too)
    terminates the workers instead of waiting for their running solves."""
    pool = ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent,
                               initargs=(os.getpid(),))
    previous = None

    def on_sigterm(signum, frame):
        kill_pool(pool)
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        try:
            previous = signal.signal(signal.SIGTERM, on_sigterm)
        except (ValueError, OSError):
            previous = None
    finished = False
    try:
        yield pool
        finished = True
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if finished:
            pool.shutdown(wait=True)
        else:
            kill_pool(pool)

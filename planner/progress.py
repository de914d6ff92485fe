"""Progress of a long stage-2 run: one tqdm bar per phase, with its total and an ETA, and a clock.

A county sharing run goes through phases of very different cost (the grand coalition and the
members alone; every coalition or a sample of them; separation MILPs for the core report). A user
watching one bar with no total cannot tell whether it will end; so each phase gets its own bar,
named, with the number of coalitions it will solve when that is known (tqdm then shows the ETA)
or the most it may solve (an adaptive phase: its ETA is a worst case).

`Deadline` is the run's time budget (`--time-limit`): phases ask it how much time is left and
stop early, and the result says it was cut short.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tqdm import tqdm


class TimeBudgetSpent(Exception):
    """Raised inside a phase when the time budget ran out before a value it needs; the phase
    catches it and returns what it has, flagged."""


class Deadline:
    """Seconds left of a time budget (no budget: always math.inf)."""

    def __init__(self, seconds: float | None):
        self.seconds = seconds
        self.start = time.monotonic()
        self.reached = False        # set when a phase stopped because of the deadline

    def left(self) -> float:
        if self.seconds is None:
            return math.inf
        return max(0.0, self.seconds - (time.monotonic() - self.start))

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def over(self) -> bool:
        if self.left() <= 0.0:
            self.reached = True
            return True
        return False


class Progress:
    """Phase bars on stderr (tqdm), or nothing when disabled (library use, tests)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bar: tqdm | None = None   # the bar of the phase running, if any

    @contextmanager
    def phase(self, name: str, total: int | None = None, unit: str = "coalition"):
        if not self.enabled:
            yield self
            return
        # lazy: tqdm loads only when a bar is shown (a CLI run), not with `import planner`
        from tqdm import tqdm
        bar = self.bar = tqdm(total=total, desc=name, unit=unit, dynamic_ncols=True)
        try:
            yield self
        finally:
            bar.close()
            self.bar = None

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def note(self, text: str) -> None:
        """A short status after the bar (e.g. the widest interval so far)."""
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)

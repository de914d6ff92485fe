"""A model's size, and a refusal up front when building it would overrun the time limit or the
machine's memory (issue 22, "limits that hold").

`[solver] time_limit` bounds each HiGHS solve; the Pyomo build and the hand-over to HiGHS come
before it and grow with the eligible arcs (zone, site, service: one flow variable each). Measured
on the synthetic prefecture (benchmarks/prefecture.py, 50 sites, 2 shared cores; benchmarks/
README.md "Limits that hold" and "The build from arrays"): 30,000 villages, 1.31 M arcs after
pruning, build and hand-over 11 s and a whole run's peak of 2.7 GB (before the array build:
26 s and 2.1 GB for the build alone at 1.64 M arcs). A run whose build alone would take longer
than its time limit (and longer than BUILD_FLOOR_SECONDS) is refused before the build with its
size, the estimate and what to do, as is one whose estimated memory exceeds MEMORY_SHARE of the
machine's; both exit 4 ("no plan within the limits").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from planner.errors import PlannerError
from planner.model.inputs import ModelInputs

# build + hand-over, measured after the array build (benchmarks/bench_build.py, load 6-9 on 2
# cores): 8.9 (pmed40), 8.5 (30k villages), 14.5 (10k villages, load 9.7) us/arc; 15 before it
SECONDS_PER_ARC = 10e-6
# the whole run's peak: 2.71 GB at 1.31 M arcs (30k villages, --time-limit 30), the build's
# alone 1.1-1.3 KB/arc; before the array build 12.9 GB at 5.49 M arcs (2,400 an arc)
BYTES_PER_ARC = 2_100
# Builds estimated below BUILD_FLOOR_SECONDS always proceed: like reading the files, they are the
# fixed cost of a run (the county builds in 0.3 s and still plans with a 0.05 s limit).
BUILD_FLOOR_SECONDS = 10.0
MEMORY_SHARE = 0.75          # of the machine's physical memory: the rest for the system and others


class TooLargeError(PlannerError):
    """The model would take longer to build than the time limit, or more memory than the machine
    has: refused before the build (exit 4, no plan within the limits)."""

    exit_code = 4


@dataclass(frozen=True)
class ModelSize:
    """The size that sets a model's build time and memory, with the estimates."""

    zones: int
    sites: int
    arcs: int

    @property
    def seconds(self) -> float:
        """Estimated seconds of the Pyomo build and the hand-over to HiGHS."""
        return self.arcs * SECONDS_PER_ARC

    @property
    def bytes(self) -> float:
        """Estimated peak memory of the build and the solve."""
        return self.arcs * BYTES_PER_ARC


def model_size(inp: ModelInputs) -> ModelSize:
    """The zones with demand (an aggregated model's representatives), sites and arcs."""
    zones = inp.demand.index.get_level_values("zone_id").nunique()
    return ModelSize(zones, len(inp.sites), len(inp.arcs))


def machine_memory() -> float:
    """Bytes of physical memory (inf where the system does not say)."""
    try:
        return float(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def check_size(inp: ModelInputs, time_limit: float, memory: float | None = None) -> ModelSize:
    """Refuse (TooLargeError) a model whose estimated build exceeds `time_limit` (and
    BUILD_FLOOR_SECONDS), or whose estimated memory exceeds MEMORY_SHARE of `memory` (default:
    the machine's); return its size otherwise."""
    size = model_size(inp)
    memory = machine_memory() if memory is None else memory
    what = (f"The model has {size.zones:,} zones, {size.sites:,} sites and {size.arcs:,} "
            "eligible arcs (zone, site, service within reach)")
    if size.bytes > MEMORY_SHARE * memory:
        raise TooLargeError(
            f"{what}: building and solving it needs about {size.bytes / 1e9:.1f} GB, more than "
            f"{MEMORY_SHARE:.0%} of this machine's {memory / 1e9:.1f} GB, so it was not built and "
            f"nothing was written. "
            f"{_capitalised(_aggregate(size, MEMORY_SHARE * memory / BYTES_PER_ARC))}, "
            "drop candidate sites, or shorten max_minutes (equipment.csv, specialties.csv) to "
            "cut the arcs.")
    if size.seconds > max(time_limit, BUILD_FLOOR_SECONDS):
        raise TooLargeError(
            f"{what}: building it takes about {size.seconds:,.0f} s before the solve starts "
            f"(about {SECONDS_PER_ARC * 1e6:.0f} microseconds an arc), longer than the time "
            f"limit of {time_limit:g} s, so it was not built and nothing was written. Give a "
            f"time limit of at least {_advice(size.seconds):,} s (--time-limit, or [solver] "
            "time_limit; the solve then gets it in full), or "
            f"{_aggregate(size, max(time_limit, BUILD_FLOOR_SECONDS) / SECONDS_PER_ARC)} "
            "or drop candidate sites to cut the arcs.")
    return size


def _aggregate(size: ModelSize, arcs: float) -> str:
    """Advice to plan on representative zones: an N whose arcs fit with a fifth to spare (at
    this model's arcs a zone; a representative has the arcs of its whole cluster), rounded down
    to hundreds."""
    n = int(0.8 * arcs / max(size.arcs / max(size.zones, 1), 1e-9) // 100 * 100)
    return (f"plan on at most {max(n, 100):,} representative zones ([solver] aggregate_zones, "
            "or --aggregate-zones: nearby zones of one member merged, the error bound "
            "reported), aggregate zones in the data (e.g. villages into townships)")


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _advice(build_seconds: float) -> int:
    """A time limit that covers the build and leaves the solve as long again."""
    return int(-(-2 * build_seconds // 60) * 60)


__all__ = ["ModelSize", "TooLargeError", "check_size", "machine_memory", "model_size"]

"""Structured job logs: one JSON line per stage on stderr, for log collectors (`--log-json`).

A scheduled run (cron, systemd, an orchestrator) is read by machines: each stage of
`planner replan` (load, lock, solve, publish, record, share) writes one line such as
``{"time": "2026-12-03T06:40:17.123Z", "stage": "solve", "status": "ok", "seconds": 2.31,
"run_id": 7, "scenario": "Tianchang county"}``, built with the standard library's `logging`
(a handler and a JSON formatter), so that a deployment can route it like any other log.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone


class JsonLines(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, message fields."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, tz=timezone.utc)
        data = {"time": stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z",
                "level": record.levelname.lower(), **getattr(record, "fields", {})}
        return json.dumps(data, ensure_ascii=False, default=str)


class JobLog:
    """Stage records of one job; silent unless enabled."""

    def __init__(self, enabled: bool, stream=None, **context):
        self.context = dict(context)
        self.logger = logging.getLogger(f"planner.job.{id(self)}")
        self.logger.propagate = False
        self.logger.setLevel(logging.INFO)
        self.logger.handlers.clear()
        if enabled:
            handler = logging.StreamHandler(stream or sys.stderr)
            handler.setFormatter(JsonLines())
            self.logger.addHandler(handler)
        else:
            self.logger.addHandler(logging.NullHandler())

    def update(self, **context) -> None:
        """Fields added to every later line (run_id, scenario...)."""
        self.context.update(context)

    def event(self, stage: str, status: str = "ok", **fields) -> None:
        level = logging.INFO if status == "ok" else logging.ERROR
        self.logger.log(level, stage, extra={"fields": {"stage": stage, "status": status,
                                                         **self.context, **fields}})

    @contextmanager
    def stage(self, name: str, **fields):
        """Time a stage; its line says ok, or error with the exception's first line."""
        start = time.perf_counter()
        extra: dict = {}
        try:
            yield extra
        except BaseException as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.event(name, "error", seconds=round(time.perf_counter() - start, 3),
                       error=message, exit_code=getattr(err, "exit_code", None), **fields)
            raise
        self.event(name, "ok", seconds=round(time.perf_counter() - start, 3), **fields, **extra)

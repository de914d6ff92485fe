"""Errors users see: each names the file, column and rows involved and says what to fix."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a scenario, located as precisely as the check allows."""

    file: str
    message: str
    column: str | None = None
    rows: tuple[int, ...] = ()  # spreadsheet row numbers: the header is row 1

    def __str__(self) -> str:
        where = self.file
        if self.column:
            where += f", column '{self.column}'"
        if self.rows:
            shown = ", ".join(str(r) for r in self.rows[:8])
            more = f" and {len(self.rows) - 8} more" if len(self.rows) > 8 else ""
            where += f", row{'s' if len(self.rows) > 1 else ''} {shown}{more}"
        return f"{where}: {self.message}"


class PlannerError(Exception):
    """Base class of the errors the CLI turns into a one-paragraph message and exit code."""

    exit_code = 1


class UsageError(PlannerError):
    """A command-line argument or flag that cannot be used (exit 2)."""

    exit_code = 2


class ScenarioError(PlannerError):
    """The scenario's files are missing, malformed or inconsistent."""

    exit_code = 2

    def __init__(self, problems: list[Problem], source: str = "scenario"):
        self.problems = list(problems)
        self.source = source
        lines = [f"{source}: {len(self.problems)} problem(s) found:"]
        lines += [f"  - {p}" for p in self.problems]
        super().__init__("\n".join(lines))


class ScenarioWarning(UserWarning):
    """Something in a scenario that is allowed but probably not meant (e.g. a column name close
    to a known one)."""


class InfeasibleError(PlannerError):
    """The scenario has no feasible plan; the message names the causes found."""

    exit_code = 3

    def __init__(self, causes: list[str], families: list[str] | None = None):
        self.causes = list(causes)
        self.families = list(families or [])
        lines = ["The scenario has no feasible plan."]
        lines += [f"  - {c}" for c in self.causes]
        if self.families:
            lines.append("  Constraint families in conflict: " + ", ".join(self.families) + ".")
        super().__init__("\n".join(lines))


@dataclass
class ProblemList:
    """Collects problems across checks so that one run reports all of them."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, file: str, message: str, column: str | None = None, rows=()) -> None:
        self.problems.append(Problem(file, message, column, tuple(int(r) for r in rows)))

    def raise_if_any(self, source: str) -> None:
        if self.problems:
            raise ScenarioError(self.problems, source)

"""Errors of the experiment subsystem: what was wrong, where, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class ExperimentIssue:
    """One problem in an experiment file, located for an editor."""

    file: Path
    line: int
    """1-based; 0 when the problem concerns the file as a whole."""
    column: int
    field: str
    """Dotted path of the field (``challengers.0.share``), or "" for the whole file."""
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        field = f" [{self.field}]" if self.field else ""
        return f"{where}{field}: {self.message} — fix: {self.fix}"


class ExperimentError(Exception):
    """Base class of experiment errors."""


class ExperimentFileError(ExperimentError):
    """The experiment file does not parse, validate, or names policies that do not load."""

    def __init__(self, issues: list[ExperimentIssue]) -> None:
        assert issues, "ExperimentFileError needs at least one issue"
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{len(self.issues)} problem(s) in the experiment file:\n{lines}")

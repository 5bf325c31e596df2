"""Errors of the compliance subsystem.

Every error says what was wrong and how to fix it. The service maps them to gRPC status
codes in one place (``UnknownCountryError`` → FAILED_PRECONDITION, the others →
UNAVAILABLE or INTERNAL); whatever the mapping, the outcome is "no contact" (fail closed).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class ComplianceError(Exception):
    """Base class: compliance could not produce a verdict, so nothing may be sent."""


@dataclass(frozen=True, slots=True)
class RuleIssue:
    """One problem found in a rule file, located precisely enough to fix it in an editor."""

    file: Path
    line: int
    """1-based; 0 when the problem concerns the file as a whole."""
    column: int
    """1-based; 0 when unknown."""
    rule_id: str
    """Id of the rule concerned, or "" for file-level problems."""
    message: str
    """What is wrong."""
    fix: str
    """What to do about it."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        rule = f" [rule {self.rule_id}]" if self.rule_id else ""
        return f"{where}{rule}: {self.message} — fix: {self.fix}"


class RulesError(ComplianceError):
    """The rule files are invalid: they do not parse, validate, compile or pass their tests.

    ``issues`` lists every problem found (not just the first), each with file, line,
    column, rule id and how to fix it.
    """

    def __init__(self, issues: list[RuleIssue]) -> None:
        assert issues, "RulesError needs at least one issue"
        self.issues = list(issues)
        lines = "\n".join(f"  {issue}" for issue in self.issues)
        super().__init__(f"{len(self.issues)} problem(s) in the rule files:\n{lines}")


class UnknownCountryError(ComplianceError):
    """No rule file covers the case's country: the case must not be contacted."""

    def __init__(self, country: str, known: frozenset[str]) -> None:
        self.country = country
        self.known = known
        super().__init__(
            f"no compliance rules for country {country!r}; rule files exist for "
            f"{', '.join(sorted(known)) or 'no country'}. Add rules/{country or 'XX'}.yaml "
            "(see docs/rules.md) or correct the case's ISO 3166-1 alpha-2 country code."
        )


class RulesUnavailableError(ComplianceError):
    """No valid ruleset has been loaded yet (first load failed): nothing may be sent."""


class InvalidCaseError(ComplianceError):
    """The case facts are unusable for a compliance decision (e.g. a naive timestamp)."""


class EvaluationError(ComplianceError):
    """The rule engine failed while evaluating a case; the case must not be contacted."""

"""Compliance: per-country rule files → verdicts and action masks (see docs/rules.md).

The public interface the rest of tact codes against.
"""

from engine.compliance.engine import DEFAULT_RULES_DIR, ComplianceEngine
from engine.compliance.errors import (
    ComplianceError,
    EvaluationError,
    InvalidCaseError,
    RuleIssue,
    RulesError,
    RulesUnavailableError,
    UnknownCountryError,
)
from engine.compliance.verdict import ComplianceVerdict, RuleHit

__all__ = [
    "DEFAULT_RULES_DIR",
    "ComplianceEngine",
    "ComplianceError",
    "ComplianceVerdict",
    "EvaluationError",
    "InvalidCaseError",
    "RuleHit",
    "RuleIssue",
    "RulesError",
    "RulesUnavailableError",
    "UnknownCountryError",
]

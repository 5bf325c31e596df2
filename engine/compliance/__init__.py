"""Compliance: per-country rule files → verdicts and action masks (see docs/rules.md).

The public interface the rest of tact codes against.
"""

from engine.compliance.calendar import COUNTRY_TIMEZONES, country_zones
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
from engine.compliance.reload import ReloadResult, RulesHealth, RulesHolder
from engine.compliance.verdict import ComplianceVerdict, RuleHit

__all__ = [
    "COUNTRY_TIMEZONES",
    "DEFAULT_RULES_DIR",
    "ComplianceEngine",
    "ComplianceError",
    "ComplianceVerdict",
    "EvaluationError",
    "InvalidCaseError",
    "ReloadResult",
    "RuleHit",
    "RuleIssue",
    "RulesError",
    "RulesHealth",
    "RulesHolder",
    "RulesUnavailableError",
    "UnknownCountryError",
    "country_zones",
]

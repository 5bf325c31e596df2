"""Errors raised by the debtor-behaviour simulator; each message says what was wrong and how
to fix it (file, line, field, allowed values where they are known)."""

from __future__ import annotations


class SimulatorError(Exception):
    """Base class of the simulator's errors."""


class ScenarioError(SimulatorError, ValueError):
    """A scenario file cannot be found, parsed or validated."""


class ScenarioNotFoundError(ScenarioError, FileNotFoundError):
    """No scenario of that name or path exists."""


class MaskProviderError(SimulatorError, RuntimeError):
    """The action-mask provider is missing or returned masks of the wrong shape or type."""


class AuditLogError(SimulatorError, ValueError):
    """A step log is malformed or cannot be re-checked."""

"""Domain errors of the decision service. The gRPC interceptor maps each to one status code.

Messages say what was wrong and how to fix it; field-level problems carry the offending
field paths so callers get a ``google.rpc.BadRequest`` they can act on.
"""

from __future__ import annotations

from dataclasses import dataclass


class TactError(Exception):
    """Base class of every error tact reports to a caller."""


@dataclass(frozen=True, slots=True)
class FieldViolation:
    field: str
    """Dotted path into the request, e.g. ``case.outstanding.currency``."""
    description: str


class InvalidRequestError(TactError):
    """The request is malformed; maps to INVALID_ARGUMENT with ``BadRequest`` details."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        if not violations:
            raise ValueError("InvalidRequestError needs at least one violation")
        self.violations = violations
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        super().__init__(f"{first.field}: {first.description}{more}")


class FailedPreconditionError(TactError):
    """The request is valid but tact cannot decide it safely (e.g. no rule file for the country)."""


class ServiceUnavailableError(TactError):
    """A dependency (database, rules mid-reload) is not available; retry later. No contact."""


class StreamDrainedError(ServiceUnavailableError):
    """The server began its graceful shutdown: a ``DecideStream`` delivered every decision
    it stored and took no more cases. UNAVAILABLE with ``google.rpc.ErrorInfo`` reason
    :attr:`REASON`: resend the cases after the last decision received, on a new stream."""

    REASON = "STREAM_DRAINED"


class PolicyLoadError(TactError):
    """A policy artifact cannot be served (missing, or trained on another schema/catalogue)."""

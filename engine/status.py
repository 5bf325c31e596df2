"""The one place where errors become gRPC statuses (used by the interceptor and the stream).

Domain errors carry precise, caller-facing messages. Anything unexpected becomes
INTERNAL with a reference id that is also logged with its traceback: the caller never sees
a traceback, and no contact is recommended.
"""

from __future__ import annotations

import logging
import uuid

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

from engine.errors import (
    FailedPreconditionError,
    InvalidRequestError,
    PolicyLoadError,
    ServiceUnavailableError,
    StreamDrainedError,
    TactError,
)

log = logging.getLogger(__name__)


class DeadlineExceededError(TactError):
    """The caller's deadline passed before the decision could be stored; nothing was written."""


def _unavailable_types() -> tuple[type[BaseException], ...]:
    from engine.compliance.errors import EvaluationError, RulesUnavailableError
    from engine.ledger.errors import LedgerUnavailable

    return (ServiceUnavailableError, LedgerUnavailable, RulesUnavailableError, EvaluationError)


def _precondition_types() -> tuple[type[BaseException], ...]:
    from engine.compliance.errors import InvalidCaseError, UnknownCountryError

    return (FailedPreconditionError, PolicyLoadError, UnknownCountryError, InvalidCaseError)


ERROR_DOMAIN = "tact.v1"
"""``google.rpc.ErrorInfo.domain`` of tact's error reasons."""

VIOLATIONS_BUDGET = 2048
"""Bytes of field violations one status lists at most (the rest are counted in its
message): gRPC refuses trailers over 8–16 KiB, and the details travel base64-encoded."""


def _bad_request(exc: InvalidRequestError) -> tuple[str, any_pb2.Any]:
    """(message, packed ``BadRequest``) listing the violations that fit the budget."""
    listed: list[error_details_pb2.BadRequest.FieldViolation] = []
    size = 0
    for v in exc.violations:
        size += len(v.field.encode()) + len(v.description.encode())
        if listed and size > VIOLATIONS_BUDGET:
            break
        listed.append(
            error_details_pb2.BadRequest.FieldViolation(field=v.field, description=v.description)
        )
    message = str(exc)
    if len(listed) < len(exc.violations):
        message += f"; {len(listed)} of {len(exc.violations)} problems listed, fix those and retry"
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=listed))
    return message, detail


def to_status(exc: BaseException) -> status_pb2.Status:
    """A ``google.rpc.Status`` (code, message, details) for ``exc``."""
    if isinstance(exc, InvalidRequestError):
        message, detail = _bad_request(exc)
        return status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
    if isinstance(exc, _precondition_types()):
        return status_pb2.Status(code=code_pb2.FAILED_PRECONDITION, message=str(exc))
    if isinstance(exc, StreamDrainedError):
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.ErrorInfo(reason=exc.REASON, domain=ERROR_DOMAIN))
        return status_pb2.Status(code=code_pb2.UNAVAILABLE, message=str(exc), details=[detail])
    if isinstance(exc, _unavailable_types()):
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE, message=f"{exc}; no contact recommended, retry later"
        )
    if isinstance(exc, DeadlineExceededError):
        return status_pb2.Status(code=code_pb2.DEADLINE_EXCEEDED, message=str(exc))
    reference = uuid.uuid4().hex[:12]
    log.error("internal error %s", reference, exc_info=exc)
    return status_pb2.Status(
        code=code_pb2.INTERNAL,
        message=f"internal error (reference {reference}); no contact recommended",
    )


def grpc_code(status: status_pb2.Status) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == status.code:
            return code
    return grpc.StatusCode.UNKNOWN

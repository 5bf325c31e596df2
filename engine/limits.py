"""The limits tact puts on request values, and the field checks that enforce them.

Every request is checked against these before anything is computed or stored, so that a
value the pipeline cannot handle (a date at the end of the calendar, a sum that overflows
64 bits, a text the database cannot hold) is the caller's INVALID_ARGUMENT, never an
INTERNAL error. README.md ("Limits") documents them for callers; change both together.

Error messages quote a bad value only through :func:`quote` (a bounded prefix), and
``engine.status`` lists violations only up to a byte budget: a 10,000-character value
or 1,000 bad events still give a status small enough for gRPC's metadata limits.
"""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from engine.errors import FieldViolation

MAX_ID_LENGTH = 128
"""Ids (case, debtor, event, decision, an event's attempt): 1–128 printable characters."""
MAX_TIMEZONE_LENGTH = 64
"""IANA zone names are at most 30-odd characters; longer is not a zone."""
MAX_LANGUAGE_LENGTH = 35
"""BCP 47 tags in practice (RFC 5646 §4.4.1: 35 characters suffice)."""
MAX_EVENTS = 1000
"""Events per request: ``Case.recent_events`` and ``RecordEventsRequest.events``."""
MAX_AMOUNT_MINOR = 10**15
"""Money amounts in minor units: sums of a case's history stay exact in 64 bits (and in a
double, which durable_rules uses for numbers)."""
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
"""Timestamps must lie in [EARLIEST, LATEST): a decision's horizon (60 days ahead, ten
years of history back) then never leaves the calendar."""
QUOTE_CHARS = 64
"""At most this many characters of a bad value appear in an error (then "…")."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_EARLIEST_SECONDS = int((EARLIEST - _EPOCH).total_seconds())
_LATEST_SECONDS = int((LATEST - _EPOCH).total_seconds())
_TIMESTAMP_RANGE = f"[{EARLIEST:%Y-%m-%d}, {LATEST:%Y-%m-%d}) UTC"


def quote(value: str) -> str:
    """``repr(value)`` for an error message, cut to :data:`QUOTE_CHARS` characters + "…"."""
    text = repr(value[: QUOTE_CHARS + 1])
    if len(value) <= QUOTE_CHARS and len(text) <= QUOTE_CHARS:
        return text
    return text[:QUOTE_CHARS] + "…"


def check_id(out: list[FieldViolation], value: str, field: str, *, required: bool = True) -> None:
    """A pseudonymous id: printable, at most :data:`MAX_ID_LENGTH` characters."""
    if not value:
        if required:
            out.append(FieldViolation(field, "is required (a non-empty pseudonymous id)"))
    elif len(value) > MAX_ID_LENGTH:
        out.append(FieldViolation(field, f"is longer than {MAX_ID_LENGTH} characters"))
    elif not value.isprintable():
        out.append(
            FieldViolation(field, f"must not contain control characters, got {quote(value)}")
        )


def check_language(out: list[FieldViolation], value: str, field: str) -> None:
    """A BCP 47 tag such as ``sv-SE`` (letters, digits, hyphens), or empty."""
    if value and not (
        len(value) <= MAX_LANGUAGE_LENGTH and value.isascii() and value.replace("-", "").isalnum()
    ):
        out.append(
            FieldViolation(
                field,
                f"must be a BCP 47 language tag like 'sv-SE' (letters, digits and '-', at "
                f"most {MAX_LANGUAGE_LENGTH} characters), got {quote(value)}",
            )
        )


def check_amount(out: list[FieldViolation], amount: int, field: str) -> None:
    """An amount in minor units: 0 to :data:`MAX_AMOUNT_MINOR`."""
    if amount < 0:
        out.append(FieldViolation(field, "must be ≥ 0 (minor units)"))
    elif amount > MAX_AMOUNT_MINOR:
        out.append(FieldViolation(field, f"must be at most {MAX_AMOUNT_MINOR} (minor units)"))


def timestamp_in_range(ts: Timestamp) -> bool:
    """Whether ``ts`` is a valid Timestamp in [EARLIEST, LATEST)."""
    return _EARLIEST_SECONDS <= ts.seconds < _LATEST_SECONDS and 0 <= ts.nanos < 1_000_000_000


def check_timestamp(out: list[FieldViolation], ts: Timestamp, field: str) -> bool:
    """Whether ``ts`` is a valid Timestamp in [EARLIEST, LATEST); else a violation."""
    if timestamp_in_range(ts):
        return True
    seconds, nanos = ts.seconds, ts.nanos
    if not 0 <= nanos < 1_000_000_000:
        out.append(FieldViolation(field, f"nanos must be in [0, 999999999], got {nanos}"))
    else:
        out.append(FieldViolation(field, f"must be in {_TIMESTAMP_RANGE}, got {seconds} seconds"))
    return False


def check_count(out: list[FieldViolation], count: int, field: str, limit: int) -> bool:
    """Whether a repeated field has at most ``limit`` entries; else a violation."""
    if count <= limit:
        return True
    out.append(FieldViolation(field, f"has {count} entries; at most {limit} are accepted"))
    return False


__all__ = [
    "EARLIEST",
    "LATEST",
    "MAX_AMOUNT_MINOR",
    "MAX_EVENTS",
    "MAX_ID_LENGTH",
    "MAX_LANGUAGE_LENGTH",
    "MAX_TIMEZONE_LENGTH",
    "QUOTE_CHARS",
    "check_amount",
    "check_count",
    "check_id",
    "check_language",
    "check_timestamp",
    "quote",
    "timestamp_in_range",
]

"""Errors of the ledger package.

The service maps them to gRPC status codes in one place: :class:`LedgerUnavailable` to
``UNAVAILABLE`` (the caller may retry later), :class:`LedgerIntegrityError` to
``ALREADY_EXISTS`` / ``FAILED_PRECONDITION`` (retrying the same request will not help).
Messages say what went wrong and what to do about it.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error raised by :mod:`engine.ledger`."""


class LedgerUnavailable(LedgerError):
    """The database cannot be reached, is read-only, or stayed locked for too long.

    Nothing was written. The request may succeed when retried once the database is back.
    """


class LedgerIntegrityError(LedgerError):
    """A write contradicts what is already stored (e.g. an id reused for other content).

    Nothing was written. Retrying the same request fails again: fix the ids or the content.
    """

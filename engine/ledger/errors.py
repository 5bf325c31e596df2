"""Errors of the ledger package.

The service maps them to gRPC status codes in one place: :class:`LedgerUnavailable` to
``UNAVAILABLE`` (the caller may retry later), :class:`LedgerIntegrityError` to
``ALREADY_EXISTS`` / ``FAILED_PRECONDITION`` (retrying the same request will not help).
Messages say what went wrong and what to do about it.
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy import Engine, exc


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


UNAVAILABLE_SQLSTATES = frozenset({"25006", "57014"})  # read-only transaction, timeout


# -- translation ------------------------------------------------------------------------------


def sqlstate(error: exc.DBAPIError) -> str:
    """PostgreSQL's SQLSTATE of the error ("" on SQLite)."""
    return getattr(error.orig, "sqlstate", None) or ""


def raise_translated(error: exc.SQLAlchemyError, what: str, engine: Engine) -> NoReturn:
    """Raise the :mod:`engine.ledger.errors` equivalent of a SQLAlchemy error."""
    where = engine.url.render_as_string(hide_password=True)
    cause = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    if isinstance(error, exc.IntegrityError):
        raise LedgerIntegrityError(
            f"{what}: an id is already stored with other content ({cause}); nothing was "
            "written — use a new decision_id / event_id, or resend exactly the stored content"
        ) from error
    unavailable = isinstance(
        error, exc.OperationalError | exc.InterfaceError | exc.TimeoutError
    ) or (
        isinstance(error, exc.DBAPIError)
        and (error.connection_invalidated or sqlstate(error) in UNAVAILABLE_SQLSTATES)
    )
    if unavailable:
        raise LedgerUnavailable(
            f"ledger database {where} unavailable while {what} ({cause}); nothing was "
            "written — retry later, and check that the database is running, reachable and "
            "writable (TACT_DATABASE_URL)"
        ) from error
    raise LedgerError(f"ledger failed while {what} on {where}: {cause}") from error

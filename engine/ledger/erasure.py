"""Debtor erasure with its audit record, in one transaction: ``AdminService.EraseDebtor``
and ``tact erase-debtor`` both call :func:`erase_debtor_audited`.

The rows go as :meth:`Ledger.erase_debtor` deletes them (:func:`queries.delete_debtor_rows`:
the debtor's events, decisions and outcomes, rows of the debtor's cases stored without a
debtor id, and the experiment tags and case arms of those); the
``erasure_audit`` row is written in the same transaction, so there is never an erasure
without its audit, nor an audit of an erasure that was rolled back.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from engine.ledger import queries
from engine.ledger.models import ErasureAuditRow
from engine.ledger.store import Ledger

ERASURE_DOORS = ("grpc", "http", "cli")


@dataclass(frozen=True, slots=True)
class ErasureReceipt:
    audit_id: str
    erased_at: datetime
    rows_deleted: int
    cases: int


def debtor_digest(debtor_id: str) -> str:
    """What the audit stores of a debtor id: its sha256 hex."""
    return hashlib.sha256(debtor_id.encode()).hexdigest()


def erase_debtor_audited(
    ledger: Ledger, *, debtor_id: str, requested_by: str, via: str, reference: str
) -> ErasureReceipt:
    """Delete every row of ``debtor_id`` and record the erasure; returns its receipt."""
    if not debtor_id:
        raise ValueError("erase_debtor_audited needs a non-empty debtor_id")
    if via not in ERASURE_DOORS:
        raise ValueError(f"via must be one of {ERASURE_DOORS}, not {via!r}")
    audit_id, erased_at = uuid.uuid4().hex, datetime.now(UTC)

    def work(connection: Connection) -> ErasureReceipt:
        with Session(connection) as session:
            cases = queries.cases_of_debtor(session=session, debtor_id=debtor_id)
            deleted = queries.delete_debtor_rows(
                session=session, debtor_id=debtor_id, case_ids=cases
            )
            session.execute(
                sa.insert(ErasureAuditRow).values(
                    audit_id=audit_id,
                    erased_at=erased_at,
                    debtor_id_sha256=debtor_digest(debtor_id),
                    rows_deleted=deleted,
                    cases=len(cases),
                    requested_by=requested_by,
                    via=via,
                    reference=reference,
                )
            )
            return ErasureReceipt(audit_id, erased_at, deleted, len(cases))

    # The ledger's own transaction runner: retries, error translation, SQLite write turn.
    return ledger._run("erasing a debtor", work, write=True)


def erasures_of(ledger: Ledger, debtor_id: str) -> list[ErasureAuditRow]:
    """The audit rows of ``debtor_id``'s erasures, oldest first."""

    def work(connection: Connection) -> list[ErasureAuditRow]:
        with Session(connection) as session:
            statement = (
                select(ErasureAuditRow)
                .where(ErasureAuditRow.debtor_id_sha256 == debtor_digest(debtor_id))
                .order_by(col(ErasureAuditRow.erased_at))
            )
            return list(session.exec(statement))

    return ledger._run("reading the erasure audit", work, write=False)

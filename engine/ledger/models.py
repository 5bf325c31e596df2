"""The ledger's tables, as SQLModel classes: the single source of truth for the schema.

Three tables, one class each (the domain records of :mod:`engine.state` and
:mod:`engine.ledger.records` play the role of the template's Create/Public models):

* ``ledger_event`` — every contact, response and status change of a case, caller-reported
  or reserved by a decision; the input of rolling contact limits and of learning;
* ``decision`` — the audit record of each persisted decision;
* ``outcome`` — per-case roll-up of payments and closure, for learning.

Only pseudonymous ids are stored: no names, addresses, phone numbers or e-mail addresses.
The tables live on their own ``MetaData`` (:data:`LEDGER_METADATA`) so that Alembic
compares exactly the ledger's schema with the database, whatever else registers tables
on ``SQLModel.metadata``. Schema changes go through a new migration in
``engine/ledger/migrations/versions``; a test proves migrations and these classes agree.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so migrations can name (and later drop) each one."""

LEDGER_METADATA = sa.MetaData(naming_convention=NAMING_CONVENTION)

SOURCE_CALLER = "caller"
"""``ledger_event.source`` of events reported by the core system (RecordEvents)."""
SOURCE_DECISION = "decision"
"""``ledger_event.source`` of contact reservations written with a decision."""


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (UTC).

    SQLite has no time zone type and SQLAlchemy's SQLite ``DATETIME`` silently drops
    ``tzinfo``, so values are converted to UTC before they are written (which also keeps
    SQLite's string comparison equal to time order) and tagged UTC when read back.
    PostgreSQL stores ``timestamptz``; values are normalised to UTC on the way out.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()} cannot be stored: the ledger keeps UTC "
                "instants; pass a timezone-aware value (tzinfo=UTC)"
            )
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# SQLite only auto-assigns INTEGER PRIMARY KEY (the rowid alias), not BIGINT.
_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class LedgerTable(SQLModel, registry=registry(metadata=LEDGER_METADATA)):
    """Base of the ledger's table classes; binds them to :data:`LEDGER_METADATA`."""


class LedgerEventRow(LedgerTable, table=True):
    """One event of a case (``engine.state.LedgerEvent`` plus storage bookkeeping)."""

    __tablename__: ClassVar[Any] = "ledger_event"
    __table_args__: ClassVar[Any] = (
        # The idempotency key: an event id is unique within its case (tact.v1.Event).
        sa.UniqueConstraint("case_id", "event_id"),
        # events_for_case: WHERE case_id = ? AND occurred_at >= ? ORDER BY occurred_at
        sa.Index(None, "case_id", "occurred_at"),
        sa.Index(None, "debtor_id"),
        sa.CheckConstraint(f"source IN ('{SOURCE_CALLER}', '{SOURCE_DECISION}')", name="source"),
    )

    id: int | None = Field(
        default=None, sa_column=sa.Column(_BIG_ID, primary_key=True, autoincrement=True)
    )
    """Surrogate key: compact index entries, and a tie-break for equal ``occurred_at``."""
    event_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """Caller-chosen id, unique within its case: ``(case_id, event_id)`` is the idempotency key."""
    case_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    debtor_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """Pseudonymous debtor id; "" when the caller did not say (erasure then goes by case)."""
    kind: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    """``engine.state.EventKind`` value."""
    channel: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    """``engine.catalogue.Channel`` value (0 = none)."""
    action: int | None = Field(default=None, sa_column=sa.Column(sa.SmallInteger()))
    """``engine.catalogue.Action`` value for contact events."""
    occurred_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    amount_minor: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    currency: str = Field(sa_column=sa.Column(sa.String(3), nullable=False))
    """ISO 4217 code of ``amount_minor``; "" when the event carries no amount."""
    until: date | None = Field(default=None, sa_column=sa.Column(sa.Date()))
    """Last day of a breathing space (BREATHING_SPACE_STARTED)."""
    decision_id: str | None = Field(default=None, sa_column=sa.Column(sa.String()))
    attempt_event_id: str | None = Field(default=None, sa_column=sa.Column(sa.String()))
    """For an outcome event: the event_id of the attempt (or first report) of its contact."""
    source: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    """``caller`` (RecordEvents) or ``decision`` (a contact reserved by Decide)."""
    recorded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    """When the ledger stored the event (server clock)."""


class DecisionRow(LedgerTable, table=True):
    """The audit record of one decision (``engine.ledger.records.DecisionRecord``)."""

    __tablename__: ClassVar[Any] = "decision"
    __table_args__: ClassVar[Any] = (
        # The idempotency key of Decide: a repeat of a stored request returns its decision
        # (NULL request digests never clash). Also the index of reads by case.
        sa.Index(None, "case_id", "request_digest", unique=True),
        sa.Index(None, "debtor_id"),
    )

    decision_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    case_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    debtor_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    decided_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    treatment_index: int = Field(sa_column=sa.Column(sa.SmallInteger(), nullable=False))
    treatment_label: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    send_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    next_review_at: datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime()))
    policy_name: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    policy_version: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    policy_arm: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    propensity: float = Field(sa_column=sa.Column(sa.Double(), nullable=False))
    ruleset_version: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    rule_ids: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    """JSON array of rule ids."""
    inputs_digest: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    """sha256 hex of the serialized DecideRequest."""
    explanation: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    request_digest: str | None = Field(default=None, sa_column=sa.Column(sa.String(64)))
    """``inputs_digest`` when a repeat of the request replays this decision, else NULL (a
    decision stored without a request, or before migration 0005, which may share its
    digest with a re-decided retry)."""


class OutcomeRow(LedgerTable, table=True):
    """Per-case roll-up of outcome events, kept current by ``Ledger.record_events``."""

    __tablename__: ClassVar[Any] = "outcome"
    __table_args__: ClassVar[Any] = (sa.Index(None, "debtor_id"),)

    case_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    debtor_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    last_event_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    """Latest ``occurred_at`` of the case's PAYMENT / CASE_CLOSED events."""
    paid_minor_total: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    """Sum of PAYMENT amounts (minor units of the case currency)."""
    resolved: bool = Field(sa_column=sa.Column(sa.Boolean(), nullable=False))
    """Closed after at least one payment (paid off or settled), as far as the ledger knows."""
    closed: bool = Field(sa_column=sa.Column(sa.Boolean(), nullable=False))
    """A CASE_CLOSED event was recorded (for any reason)."""


class ErasureAuditRow(LedgerTable, table=True):
    """One debtor erasure (GDPR Art. 17): who asked, when, through which door, how much
    was deleted. The debtor id is kept only as its sha256, so the audit itself holds no
    personal data yet answers "was debtor X erased, and when?"."""

    __tablename__: ClassVar[Any] = "erasure_audit"
    __table_args__: ClassVar[Any] = (sa.Index(None, "debtor_id_sha256"),)

    audit_id: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    erased_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))
    debtor_id_sha256: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    rows_deleted: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    cases: int = Field(sa_column=sa.Column(sa.Integer(), nullable=False))
    requested_by: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """The bearer token's name, ``anonymous`` without auth, ``cli:<user>`` from the CLI."""
    via: str = Field(sa_column=sa.Column(sa.String(8), nullable=False))
    """``grpc``, ``http`` or ``cli``."""
    reference: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """The request's ticket or reference (no personal data)."""


# The experiment tables register on LEDGER_METADATA when imported (kept apart: their own
# migration, 0004_experiments).
import engine.ledger.experiment_models  # noqa: E402, F401

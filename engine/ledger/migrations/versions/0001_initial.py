"""Initial ledger schema: ledger_event, decision, outcome.

Revision ID: 0001
Revises:
Create Date: 2026-11-26

Hand-written; every constraint and index is named as engine.ledger.models.NAMING_CONVENTION
would name it, so later migrations can alter them on every dialect.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ledger_event",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("debtor_id", sa.String(), nullable=False),
        sa.Column("kind", sa.SmallInteger(), nullable=False),
        sa.Column("channel", sa.SmallInteger(), nullable=False),
        sa.Column("action", sa.SmallInteger(), nullable=True),
        sa.Column("occurred_at", _UTC_TIMESTAMP, nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("decision_id", sa.String(), nullable=True),
        sa.Column("source", sa.String(8), nullable=False),
        sa.Column("recorded_at", _UTC_TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_event"),
        sa.UniqueConstraint("event_id", name="uq_ledger_event_event_id"),
        sa.CheckConstraint("source IN ('caller', 'decision')", name="ck_ledger_event_source"),
    )
    op.create_index(
        "ix_ledger_event_case_id_occurred_at", "ledger_event", ["case_id", "occurred_at"]
    )
    op.create_index("ix_ledger_event_debtor_id", "ledger_event", ["debtor_id"])

    op.create_table(
        "decision",
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("debtor_id", sa.String(), nullable=False),
        sa.Column("decided_at", _UTC_TIMESTAMP, nullable=False),
        sa.Column("treatment_index", sa.SmallInteger(), nullable=False),
        sa.Column("treatment_label", sa.String(), nullable=False),
        sa.Column("send_at", _UTC_TIMESTAMP, nullable=True),
        sa.Column("next_review_at", _UTC_TIMESTAMP, nullable=True),
        sa.Column("policy_name", sa.String(), nullable=False),
        sa.Column("policy_version", sa.String(), nullable=False),
        sa.Column("policy_arm", sa.String(), nullable=False),
        sa.Column("propensity", sa.Double(), nullable=False),
        sa.Column("ruleset_version", sa.String(), nullable=False),
        sa.Column("rule_ids", sa.Text(), nullable=False),
        sa.Column("inputs_digest", sa.String(64), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decision"),
    )
    op.create_index("ix_decision_case_id", "decision", ["case_id"])
    op.create_index("ix_decision_debtor_id", "decision", ["debtor_id"])

    op.create_table(
        "outcome",
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("debtor_id", sa.String(), nullable=False),
        sa.Column("last_event_at", _UTC_TIMESTAMP, nullable=False),
        sa.Column("paid_minor_total", sa.BigInteger(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("case_id", name="pk_outcome"),
    )
    op.create_index("ix_outcome_debtor_id", "outcome", ["debtor_id"])


def downgrade() -> None:
    op.drop_index("ix_outcome_debtor_id", table_name="outcome")
    op.drop_table("outcome")
    op.drop_index("ix_decision_debtor_id", table_name="decision")
    op.drop_index("ix_decision_case_id", table_name="decision")
    op.drop_table("decision")
    op.drop_index("ix_ledger_event_debtor_id", table_name="ledger_event")
    op.drop_index("ix_ledger_event_case_id_occurred_at", table_name="ledger_event")
    op.drop_table("ledger_event")

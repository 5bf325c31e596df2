"""Experiments: versions, per-decision experiment tags, case arms and guardrail rollbacks.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.ledger.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "experiment_version",
        sa.Column("experiment_id", sa.String(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("loaded_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "version", name="pk_experiment_version"),
    )
    op.create_table(
        "experiment_decision",
        sa.Column("decision_id", sa.String(), nullable=False),
        sa.Column("experiment_id", sa.String(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("arm", sa.String(), nullable=False),
        sa.Column("exploration", sa.String(), nullable=False),
        sa.Column("shadows", sa.Text(), nullable=False),
        sa.Column("observation", sa.Text(), nullable=False),
        sa.Column("allowed", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_experiment_decision"),
    )
    op.create_index(
        "ix_experiment_decision_experiment_id_version",
        "experiment_decision",
        ["experiment_id", "version"],
    )
    op.create_table(
        "experiment_case",
        sa.Column("experiment_id", sa.String(), nullable=False),
        sa.Column("case_id", sa.String(), nullable=False),
        sa.Column("debtor_key", sa.String(), nullable=False),
        sa.Column("arm", sa.String(), nullable=False),
        sa.Column("first_decided_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "case_id", name="pk_experiment_case"),
    )
    op.create_index(
        "ix_experiment_case_experiment_id_arm", "experiment_case", ["experiment_id", "arm"]
    )
    op.create_table(
        "experiment_rollback",
        sa.Column("experiment_id", sa.String(), nullable=False),
        sa.Column("arm", sa.String(), nullable=False),
        sa.Column("guardrail", sa.String(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("debtors", sa.BigInteger(), nullable=False),
        sa.Column("rolled_back_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "arm", name="pk_experiment_rollback"),
    )


def downgrade() -> None:
    op.drop_table("experiment_rollback")
    op.drop_index("ix_experiment_case_experiment_id_arm", table_name="experiment_case")
    op.drop_table("experiment_case")
    op.drop_index("ix_experiment_decision_experiment_id_version", table_name="experiment_decision")
    op.drop_table("experiment_decision")
    op.drop_table("experiment_version")

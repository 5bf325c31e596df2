"""Audit of debtor erasures.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06

``erasure_audit``: one row per erasure (``AdminService.EraseDebtor`` or ``tact
erase-debtor``): when, who asked (token name), through which door, the request's
reference, rows and cases deleted, and the debtor id only as its sha256.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "erasure_audit",
        sa.Column("audit_id", sa.String(32), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("debtor_id_sha256", sa.String(64), nullable=False),
        sa.Column("rows_deleted", sa.BigInteger(), nullable=False),
        sa.Column("cases", sa.Integer(), nullable=False),
        sa.Column("requested_by", sa.String(), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("reference", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("audit_id", name="pk_erasure_audit"),
    )
    op.create_index(
        "ix_erasure_audit_debtor_id_sha256", "erasure_audit", ["debtor_id_sha256"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_erasure_audit_debtor_id_sha256", table_name="erasure_audit")
    op.drop_table("erasure_audit")

"""Decisions replayable by their request: ``decision.request_digest``, unique per case.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-13

``Decide`` returns the stored decision for a repeat of a stored request (a retry after a
lost reply) instead of deciding it again. The key is the request digest within its case:
a new nullable column rather than a unique index on ``inputs_digest`` itself, because
decisions stored before this revision may share a digest (every retry was a second
decision of the same request) and must stay as they were (audit); they keep NULL, which
never clashes, and are not replayed. The unique index on ``(case_id, request_digest)``
also serves reads by case, so it replaces ``ix_decision_case_id``. On PostgreSQL, building
it holds writes to ``decision`` for the time it takes (seconds per million rows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("decision", sa.Column("request_digest", sa.String(64), nullable=True))
    op.create_index(
        "ix_decision_case_id_request_digest",
        "decision",
        ["case_id", "request_digest"],
        unique=True,
    )
    op.drop_index("ix_decision_case_id", table_name="decision")


def downgrade() -> None:
    op.create_index("ix_decision_case_id", "decision", ["case_id"])
    op.drop_index("ix_decision_case_id_request_digest", table_name="decision")
    # SQLite rebuilds the table (batch mode) to drop a column.
    with op.batch_alter_table("decision") as batch:
        batch.drop_column("request_digest")

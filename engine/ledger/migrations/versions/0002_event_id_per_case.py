"""Event ids unique per case, and outcome events tied to their attempt.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06

* ``ledger_event``: the idempotency key of ``RecordEvents`` becomes ``(case_id, event_id)``
  instead of ``event_id`` alone, so that an id reused by another case is another event
  (an OPT_OUT of one case is no longer dropped as a "duplicate" of another case's PAYMENT).
* ``ledger_event.attempt_event_id``: the event_id of the attempt (or first report) of the
  contact an outcome event reports on (``tact.v1.Event.attempt_event_id``).

SQLite cannot drop a constraint in place: batch mode rebuilds the table (copying its rows).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("ledger_event") as batch:
        batch.add_column(sa.Column("attempt_event_id", sa.String(), nullable=True))
        batch.drop_constraint("uq_ledger_event_event_id", type_="unique")
        batch.create_unique_constraint("uq_ledger_event_case_id_event_id", ["case_id", "event_id"])


def downgrade() -> None:
    # Fails (IntegrityError) if two cases already share an event id: those rows would have
    # to be renamed or erased first; nothing is changed then.
    with op.batch_alter_table("ledger_event") as batch:
        batch.drop_constraint("uq_ledger_event_case_id_event_id", type_="unique")
        batch.create_unique_constraint("uq_ledger_event_event_id", ["event_id"])
        batch.drop_column("attempt_event_id")

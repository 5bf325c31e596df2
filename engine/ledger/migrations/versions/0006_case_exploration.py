"""Case exploration: each experiment decision's case runner, case propensity and mixture.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

Three nullable columns on ``experiment_decision`` (NULL: the experiment had no
``case_exploration``). Batch mode so that SQLite can drop them again on downgrade.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiment_decision") as batch:
        batch.add_column(sa.Column("case_runner", sa.String(), nullable=True))
        batch.add_column(sa.Column("case_propensity", sa.Float(), nullable=True))
        batch.add_column(sa.Column("case_mixture", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("experiment_decision") as batch:
        batch.drop_column("case_mixture")
        batch.drop_column("case_propensity")
        batch.drop_column("case_runner")

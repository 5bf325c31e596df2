"""The experiment tables of the ledger (migrations ``0004_experiments``,
``0006_case_exploration``).

* ``experiment_version`` — every experiment file version that served, with its text;
* ``experiment_decision`` — per stored decision: the experiment and version it was made
  under, the arm, the exploration that drew it, each shadow policy's choice, and under
  case exploration the case's runner, its case propensity and the arm's mixture;
* ``experiment_case`` — a case's arm in an experiment (first decision), for guardrails;
* ``experiment_rollback`` — a challenger rolled back by a guardrail: shared by every
  replica that reads the same ledger.

Imported by :mod:`engine.ledger.models` so that the tables live on ``LEDGER_METADATA``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, cast

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Field, Session

from engine.ledger.models import LedgerTable, UTCDateTime


class ExperimentVersionRow(LedgerTable, table=True):
    __tablename__: ClassVar[Any] = "experiment_version"

    experiment_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    version: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    """sha256 hex (first 16) of the file's text."""
    text: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    loaded_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ExperimentDecisionRow(LedgerTable, table=True):
    __tablename__: ClassVar[Any] = "experiment_decision"
    __table_args__: ClassVar[Any] = (sa.Index(None, "experiment_id", "version"),)

    decision_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    experiment_id: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    arm: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    exploration: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """``none``, ``epsilon:<ε>`` or ``softmax:<T>``: how the served treatment was drawn."""
    shadows: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    """JSON list of {name, policy, version, treatment_index, propensity, agrees}."""
    observation: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    """JSON list: the featurizer's output the policy saw (for off-policy evaluation)."""
    allowed: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    """JSON list: the catalogue indices the mask allowed."""
    case_runner: str | None = Field(default=None, sa_column=sa.Column(sa.String(), nullable=True))
    """Case exploration (migration 0006): the policy spec that runs the decision's case."""
    case_propensity: float | None = Field(
        default=None, sa_column=sa.Column(sa.Float(), nullable=True)
    )
    """The probability that the runner runs a case of this arm."""
    case_mixture: str | None = Field(default=None, sa_column=sa.Column(sa.Text(), nullable=True))
    """JSON list of {policy, share}: the arm's mixture of runners, for the estimator."""


class ExperimentCaseRow(LedgerTable, table=True):
    __tablename__: ClassVar[Any] = "experiment_case"
    __table_args__: ClassVar[Any] = (sa.Index(None, "experiment_id", "arm"),)

    experiment_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    case_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    debtor_key: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    """The debtor id (the case id when the caller gave none): the unit of assignment."""
    arm: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    first_decided_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


class ExperimentRollbackRow(LedgerTable, table=True):
    __tablename__: ClassVar[Any] = "experiment_rollback"

    experiment_id: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    arm: str = Field(sa_column=sa.Column(sa.String(), primary_key=True))
    guardrail: str = Field(sa_column=sa.Column(sa.String(), nullable=False))
    reason: str = Field(sa_column=sa.Column(sa.Text(), nullable=False))
    version: str = Field(sa_column=sa.Column(sa.String(64), nullable=False))
    debtors: int = Field(sa_column=sa.Column(sa.BigInteger(), nullable=False))
    """Debtors the arm had been given when it was rolled back."""
    rolled_back_at: datetime = Field(sa_column=sa.Column(UTCDateTime(), nullable=False))


def delete_experiment_rows(executor: Connection | Session, debtor_id: str) -> int:
    """Delete the experiment rows of ``debtor_id``'s decisions and cases (GDPR erasure);
    returns how many. Run before the ledger's own rows go: the tags are found through the
    debtor's stored decisions."""
    decision_table = LedgerTable.metadata.tables["decision"]
    tags = ExperimentDecisionRow.__table__  # type: ignore[attr-defined]
    arms = ExperimentCaseRow.__table__  # type: ignore[attr-defined]
    cases = sa.select(decision_table.c.case_id).where(decision_table.c.debtor_id == debtor_id)
    decisions = sa.select(decision_table.c.decision_id).where(
        sa.or_(decision_table.c.debtor_id == debtor_id, decision_table.c.case_id.in_(cases))
    )
    deleted = 0
    for statement in (
        sa.delete(tags).where(tags.c.decision_id.in_(decisions)),
        sa.delete(arms).where(sa.or_(arms.c.debtor_key == debtor_id, arms.c.case_id.in_(cases))),
    ):
        result = cast("sa.CursorResult[Any]", executor.execute(statement))
        deleted += int(result.rowcount or 0)
    return deleted

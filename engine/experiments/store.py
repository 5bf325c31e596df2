"""Experiment rows in the ledger: versions, decision tags, case arms, rollbacks, arm stats.

Its own engine on the ledger's database (the ledger has applied migrations
``0004_experiments`` and ``0006_case_exploration``). Every replica that shares the ledger
sees the same rollbacks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from engine.ledger import CompanionRows
from engine.ledger.db import WRITE_OPTION, create_ledger_engine
from engine.ledger.experiment_models import (
    ExperimentCaseRow,
    ExperimentDecisionRow,
    ExperimentRollbackRow,
    ExperimentVersionRow,
    delete_experiment_rows,
)
from engine.ledger.models import LEDGER_METADATA, LedgerEventRow
from engine.state import EventKind

VERSIONS = LEDGER_METADATA.tables[ExperimentVersionRow.__tablename__]
DECISIONS = LEDGER_METADATA.tables[ExperimentDecisionRow.__tablename__]
CASES = LEDGER_METADATA.tables[ExperimentCaseRow.__tablename__]
ROLLBACKS = LEDGER_METADATA.tables[ExperimentRollbackRow.__tablename__]
EVENTS = LEDGER_METADATA.tables[LedgerEventRow.__tablename__]


@dataclass(frozen=True, slots=True)
class ShadowChoice:
    name: str
    policy: str
    version: str
    treatment_index: int
    propensity: float
    agrees: bool


@dataclass(frozen=True, slots=True)
class DecisionTag:
    """What an experiment adds to one stored decision."""

    decision_id: str
    experiment_id: str
    version: str
    arm: str
    exploration: str
    case_id: str
    debtor_key: str
    decided_at: datetime
    shadows: tuple[ShadowChoice, ...] = ()
    observation: tuple[float, ...] = ()
    allowed: tuple[int, ...] = ()
    case_runner: str | None = None
    """Under case exploration: the policy that runs the case (its spec)."""
    case_propensity: float | None = None
    """…the probability that it runs a case of this arm…"""
    case_mixture: str | None = None
    """…and the arm's mixture, JSON (engine.experiments.case_exploration.CaseMixture)."""


def tag_rows(tags: Sequence[DecisionTag]) -> list[CompanionRows]:
    """The ledger rows of ``tags``: stored with their decisions, in the decisions' own
    transaction (:meth:`engine.ledger.Ledger.save_decisions`)."""
    if not tags:
        return []
    decisions = [
        {
            "decision_id": t.decision_id,
            "experiment_id": t.experiment_id,
            "version": t.version,
            "arm": t.arm,
            "exploration": t.exploration,
            "shadows": json.dumps(
                [
                    {
                        "name": s.name,
                        "policy": s.policy,
                        "version": s.version,
                        "treatment_index": s.treatment_index,
                        "propensity": s.propensity,
                        "agrees": s.agrees,
                    }
                    for s in t.shadows
                ]
            ),
            "observation": json.dumps(list(t.observation)),
            "allowed": json.dumps(list(t.allowed)),
            "case_runner": t.case_runner,
            "case_propensity": t.case_propensity,
            "case_mixture": t.case_mixture,
        }
        for t in tags
    ]
    # A case's first decision in the experiment gives it its arm (reversed: the batch's
    # first wins); sorted so that concurrent writers lock the rows in one order (PostgreSQL).
    # Each row is stored with the decision it was made for: not at all when that decision
    # turns out to be a repeat of a stored request (the ledger returns the stored one).
    cases = {(t.experiment_id, t.case_id): t for t in reversed(tags)}
    first = [cases[key] for key in sorted(cases)]
    return [
        CompanionRows(DECISIONS.name, decisions, [t.decision_id for t in tags]),
        CompanionRows(
            CASES.name,
            [
                {
                    "experiment_id": t.experiment_id,
                    "case_id": t.case_id,
                    "debtor_key": t.debtor_key,
                    "arm": t.arm,
                    "first_decided_at": t.decided_at,
                }
                for t in first
            ],
            [t.decision_id for t in first],
        ),
    ]


@dataclass(frozen=True, slots=True)
class Rollback:
    experiment_id: str
    arm: str
    guardrail: str
    reason: str
    version: str
    debtors: int
    rolled_back_at: datetime


@dataclass(frozen=True, slots=True)
class ArmStats:
    """Debtors given to an arm, and how many of them complained, opted out, paid."""

    debtors: int = 0
    complained: int = 0
    opted_out: int = 0
    paid: int = 0


class ExperimentStore:
    def __init__(self, url: str) -> None:
        self._engine: Engine = create_ledger_engine(url)
        self._writer = self._engine.execution_options(**{WRITE_OPTION: True})

    def close(self) -> None:
        self._engine.dispose()

    def _insert_ignore(self, table: sa.Table) -> Any:
        if self._engine.dialect.name == "postgresql":
            return postgresql.insert(table).on_conflict_do_nothing()
        return sqlite.insert(table).on_conflict_do_nothing()

    def save_version(self, experiment_id: str, version: str, text: str) -> None:
        with self._writer.begin() as connection:
            connection.execute(
                self._insert_ignore(VERSIONS),
                [
                    {
                        "experiment_id": experiment_id,
                        "version": version,
                        "text": text,
                        "loaded_at": datetime.now(UTC),
                    }
                ],
            )

    def versions(self, experiment_id: str) -> list[tuple[str, datetime]]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                sa.select(VERSIONS.c.version, VERSIONS.c.loaded_at)
                .where(VERSIONS.c.experiment_id == experiment_id)
                .order_by(VERSIONS.c.loaded_at)
            ).all()
        return [(r[0], r[1]) for r in rows]

    def version_text(self, experiment_id: str, version: str) -> str:
        with self._engine.connect() as connection:
            text: str = connection.execute(
                sa.select(VERSIONS.c.text).where(
                    VERSIONS.c.experiment_id == experiment_id, VERSIONS.c.version == version
                )
            ).scalar_one()
        return text

    def tags_for(self, decision_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                sa.select(DECISIONS).where(DECISIONS.c.decision_id.in_(list(decision_ids)))
            ).mappings()
            return {r["decision_id"]: dict(r) for r in rows}

    def erase_debtor(self, debtor_id: str) -> int:
        """Delete the experiment rows of ``debtor_id`` alone (every ledger erasure deletes
        them too, in its own transaction: engine.ledger.queries.delete_debtor_rows)."""
        with self._writer.begin() as connection:
            return delete_experiment_rows(connection, debtor_id)

    def save_rollback(self, rollback: Rollback) -> None:
        with self._writer.begin() as connection:
            connection.execute(
                self._insert_ignore(ROLLBACKS),
                [
                    {
                        "experiment_id": rollback.experiment_id,
                        "arm": rollback.arm,
                        "guardrail": rollback.guardrail,
                        "reason": rollback.reason,
                        "version": rollback.version,
                        "debtors": rollback.debtors,
                        "rolled_back_at": rollback.rolled_back_at,
                    }
                ],
            )

    def rollbacks(self, experiment_id: str) -> dict[str, Rollback]:
        with self._engine.connect() as connection:
            rows = connection.execute(
                sa.select(ROLLBACKS).where(ROLLBACKS.c.experiment_id == experiment_id)
            ).mappings()
            return {
                r["arm"]: Rollback(
                    r["experiment_id"],
                    r["arm"],
                    r["guardrail"],
                    r["reason"],
                    r["version"],
                    int(r["debtors"]),
                    r["rolled_back_at"],
                )
                for r in rows
            }

    def arm_stats(self, experiment_id: str) -> dict[str, ArmStats]:
        """Per arm: debtors, and debtors with a complaint / opt-out / payment reported
        after their case's first decision in the experiment."""
        kinds = (int(EventKind.COMPLAINT), int(EventKind.OPT_OUT), int(EventKind.PAYMENT))
        joined = CASES.outerjoin(
            EVENTS,
            sa.and_(
                EVENTS.c.case_id == CASES.c.case_id,
                EVENTS.c.kind.in_(kinds),
                EVENTS.c.occurred_at >= CASES.c.first_decided_at,
            ),
        )

        def having(kind: EventKind) -> Any:
            return sa.func.count(
                sa.distinct(sa.case((EVENTS.c.kind == int(kind), CASES.c.debtor_key)))
            )

        query = (
            sa.select(
                CASES.c.arm,
                sa.func.count(sa.distinct(CASES.c.debtor_key)),
                having(EventKind.COMPLAINT),
                having(EventKind.OPT_OUT),
                having(EventKind.PAYMENT),
            )
            .select_from(joined)
            .where(CASES.c.experiment_id == experiment_id)
            .group_by(CASES.c.arm)
        )
        with self._engine.connect() as connection:
            return {
                r[0]: ArmStats(int(r[1]), int(r[2]), int(r[3]), int(r[4]))
                for r in connection.execute(query)
            }


__all__ = ["ArmStats", "DecisionTag", "ExperimentStore", "Rollback", "ShadowChoice", "tag_rows"]

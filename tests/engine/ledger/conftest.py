"""Fixtures of the ledger tests: every test runs on SQLite (a real file) and PostgreSQL.

The PostgreSQL variant uses ``TACT_TEST_POSTGRES_URL`` or 127.0.0.1:5432 (database
``test``) and skips when it cannot connect (fails with ``TACT_REQUIRE_POSTGRES=1``). Each
test gets a fresh schema, selected with ``search_path`` in the URL, and drops it
afterwards, so concurrent runs never interfere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.ledger import DecisionRecord, Ledger, inputs_digest, open_ledger
from engine.state import EventKind, LedgerEvent
from tests.support.databases import fresh_postgres_schema, require_postgres

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgresql":
        require_postgres()
    return name


@pytest.fixture
def ledger_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """URL of an empty ledger database (not migrated yet) on ``backend``."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'tact.db'}"
        return
    with fresh_postgres_schema("tact_ledger_test") as url:
        yield url


@pytest.fixture
def ledger(ledger_url: str) -> Iterator[Ledger]:
    """An open, migrated ledger on ``ledger_url``."""
    opened = open_ledger(ledger_url)
    try:
        yield opened
    finally:
        opened.close()


T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
"""A Monday morning: the default instant of the sample records (tests repeat it as T0)."""


def _make_event(
    event_id: str,
    *,
    case_id: str = "case-1",
    kind: EventKind = EventKind.CONTACT_DELIVERED,
    at: datetime = T0,
    **fields: object,
) -> LedgerEvent:
    return LedgerEvent(event_id=event_id, case_id=case_id, kind=kind, occurred_at=at, **fields)  # type: ignore[arg-type]


def _make_decision(
    decision_id: str = "dec-1",
    *,
    case_id: str = "case-1",
    debtor_id: str = "debtor-1",
    **fields: object,
) -> DecisionRecord:
    values: dict[str, object] = {
        "decision_id": decision_id,
        "case_id": case_id,
        "debtor_id": debtor_id,
        "decided_at": T0,
        "treatment_index": 5,
        "treatment_label": "REMINDER/SMS/NEUTRAL/MORNING",
        "policy_name": "ladder",
        "policy_version": "1.0.0",
        "policy_arm": "champion",
        "propensity": 1.0,
        "ruleset_version": "SE-2026.11",
        "inputs_digest": inputs_digest(decision_id.encode()),
        "send_at": T0,
        "rule_ids": ("SE.quiet_hours",),
        "explanation": "ladder step 2",
    }
    values.update(fields)
    return DecisionRecord(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_event() -> Callable[..., LedgerEvent]:
    """Factory of sample events: ``make_event("e-1", kind=..., at=..., **fields)``."""
    return _make_event


@pytest.fixture
def make_decision() -> Callable[..., DecisionRecord]:
    """Factory of sample decision records: ``make_decision("dec-1", **fields)``."""
    return _make_decision

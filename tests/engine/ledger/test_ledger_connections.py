"""Connection settings: what each dialect's pooled connections are configured with."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from engine.ledger import Ledger
from engine.ledger.db import PG_STATEMENT_TIMEOUT_MS, SQLITE_BUSY_TIMEOUT_MS


def test_pooled_connections_are_tuned(ledger: Ledger, backend: str) -> None:
    with ledger.engine.connect() as connection:

        def setting(sql: str) -> object:
            return connection.execute(sa.text(sql)).scalar()

        if backend == "sqlite":
            assert setting("PRAGMA journal_mode") == "wal"
            assert setting("PRAGMA synchronous") == 1  # NORMAL
            assert setting("PRAGMA busy_timeout") == SQLITE_BUSY_TIMEOUT_MS
            assert setting("PRAGMA foreign_keys") == 1
        else:
            assert setting("SHOW statement_timeout") == f"{PG_STATEMENT_TIMEOUT_MS // 1000}s"


def test_close_stops_background_work(ledger: Ledger, backend: str) -> None:
    def checkpointers() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if t.name == "tact-ledger-wal-checkpoint"]

    before = len(checkpointers())
    assert before >= (1 if backend == "sqlite" else 0)
    ledger.close()
    assert len(checkpointers()) == before - (1 if backend == "sqlite" else 0)

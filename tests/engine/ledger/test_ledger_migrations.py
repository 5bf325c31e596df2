"""Migrations: they build exactly the SQLModel schema, and replicas may start together."""

from __future__ import annotations

import multiprocessing
import sqlite3
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from engine.ledger import Ledger, LedgerUnavailable, db, open_ledger
from engine.ledger.migrate import alembic_config, current_revision, head_revision
from engine.ledger.models import LEDGER_METADATA


def _schema_diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, LEDGER_METADATA))


def test_migrations_produce_exactly_the_models(ledger: Ledger) -> None:
    assert _schema_diff(ledger.engine) == []
    with ledger.engine.connect() as connection:
        assert current_revision(connection) == head_revision() is not None


def test_downgrade_to_base_and_upgrade_again(ledger_url: str) -> None:
    open_ledger(ledger_url).close()
    engine = sa.create_engine(ledger_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "base")
        with engine.connect() as connection:
            tables = set(sa.inspect(connection).get_table_names())
        assert tables.isdisjoint(LEDGER_METADATA.tables)

        open_ledger(ledger_url).close()
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def _open_and_close(url: str) -> None:
    open_ledger(url).close()


def test_replicas_starting_at_once_migrate_once(ledger_url: str) -> None:
    # Separate processes, like replicas: the schema lock must work across processes
    # (fork: the children inherit the imported modules and start in milliseconds).
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        starts = [pool.submit(_open_and_close, ledger_url) for _ in range(4)]
        for start in starts:
            start.result(timeout=60)

    engine = sa.create_engine(ledger_url, poolclass=sa.pool.NullPool)
    try:
        assert _schema_diff(engine) == []
    finally:
        engine.dispose()


def test_start_up_waits_out_a_migration_longer_than_a_requests_lock_budget(
    tmp_path, monkeypatch
) -> None:
    # Another replica's schema upgrade may hold SQLite's write lock for longer than a
    # request may wait (on a loaded host: seconds). A starting process must wait it out,
    # as it waits on PostgreSQL's advisory lock, rather than fail "database is locked".
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "tact.db"
    url = f"sqlite:///{path}"
    open_ledger(url).close()
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, holder.execute, args=("COMMIT",))
    release.start()
    started = time.monotonic()
    try:
        open_ledger(url).close()
    finally:
        release.join()
        holder.close()
    assert time.monotonic() - started >= 0.9  # it did wait on the lock, then went on


def test_threads_opening_at_once_all_succeed(ledger_url: str) -> None:
    barrier = threading.Barrier(4)
    opened: list[Ledger] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            opened.append(open_ledger(ledger_url))
        except BaseException as error:  # surfaced by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for ledger in opened:
        ledger.close()
    assert errors == []
    assert len(opened) == 4


def test_upgrade_to_0002_keeps_the_events_and_makes_ids_unique_per_case(ledger_url: str) -> None:
    """0001 → 0002 on a ledger with events: rows survive; an id is then unique per case."""
    from datetime import UTC, datetime

    from engine.ledger.driver import sqlite_datetime
    from engine.state import EventKind, LedgerEvent

    at = datetime(2026, 11, 2, 9, tzinfo=UTC)
    engine = sa.create_engine(ledger_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            command.upgrade(alembic_config(connection), "0001")
            connection.execute(
                sa.text(
                    "INSERT INTO ledger_event (event_id, case_id, debtor_id, kind, channel, "
                    "occurred_at, amount_minor, currency, source, recorded_at) VALUES "
                    "('ev-1', 'case-a', 'd', 9, 0, :at, 100, 'SEK', 'caller', :at)"
                ),
                # As UTCDateTime stores it (SQLite: fixed-width text that sorts by time).
                {"at": sqlite_datetime(at) if engine.dialect.name == "sqlite" else at},
            )
    finally:
        engine.dispose()
    ledger = open_ledger(ledger_url)  # upgrades to head
    try:
        [kept] = ledger.events_for_case("case-a", since=at)
        assert (kept.event_id, kept.kind, kept.amount_minor) == ("ev-1", EventKind.PAYMENT, 100)
        other = LedgerEvent("ev-1", "case-b", EventKind.OPT_OUT, at)
        assert ledger.record_events([other]).stored == 1
        assert ledger.events_for_case("case-b", since=at) == [other]
        assert _schema_diff(ledger.engine) == []
    finally:
        ledger.close()


def test_start_up_retries_a_lock_sqlite_did_not_wait_out(tmp_path, monkeypatch) -> None:
    # SQLite answers BUSY at once, busy handler or not, in a few cases (another process
    # turning a new file to WAL mode, a stale snapshot): the upgrade is one transaction,
    # so start-up retries it within its budget instead of failing the replica.
    from engine.ledger import migrate

    real, calls = migrate._upgrade, []

    def flaky(engine: sa.Engine) -> None:
        calls.append(1)
        if len(calls) <= 2:
            raise sa.exc.OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked"))
        real(engine)

    monkeypatch.setattr(migrate, "_upgrade", flaky)
    open_ledger(f"sqlite:///{tmp_path / 'tact.db'}").close()
    assert len(calls) == 3
    monkeypatch.setattr(db, "SQLITE_MIGRATION_BUSY_TIMEOUT_MS", 0)  # no budget: it fails
    calls.clear()
    with pytest.raises(LedgerUnavailable, match="locked"):
        open_ledger(f"sqlite:///{tmp_path / 'other.db'}")

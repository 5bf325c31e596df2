"""The ledger's SQLAlchemy engine: one per process, tuned per dialect.

SQLite (the default, embedded) runs in WAL mode so readers never wait for the writer;
``synchronous=NORMAL`` keeps commits off ``fsync`` (WAL stays consistent after a crash,
the last commits may be lost on power failure — acceptable for a contact ledger whose
source of truth for contacts is the caller, and required for the latency budget).
Write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
busy timeout instead of failing with "database is locked" when a read lock must be
upgraded. PostgreSQL is used when several replicas share one ledger.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.pool import NullPool

POOL_SIZE = 16
"""Pooled connections kept open, for everything but a decision's two calls (those run on
each worker thread's own connection, which takes no pool slot: engine.ledger.connections).
"""
POOL_OVERFLOW = 8
"""Extra short-lived connections for bursts (batch streams next to unary calls)."""
POOL_TIMEOUT_S = 5.0
"""Waiting longer than this for a pooled connection means the ledger is saturated."""
PG_RECYCLE_S = 1800
"""PostgreSQL connections are replaced after this long (pooled and per-thread alike)."""
SQLITE_BUSY_TIMEOUT_MS = 5000
"""How long a writer waits for SQLite's single write lock before giving up."""
SQLITE_MIGRATION_BUSY_TIMEOUT_MS = 300_000
"""How long a starting process waits for another one's schema upgrade (SQLite's write lock).
A loaded host can take longer than a request's budget to run every migration; replicas that
start together must then wait for the first, as they wait on PostgreSQL's advisory lock."""
PG_CONNECT_TIMEOUT_S = 5
PG_STATEMENT_TIMEOUT_MS = 10_000
"""Fail (UNAVAILABLE) rather than hold a worker forever on a stuck database."""

SQLITE_FALLBACK_CHECKPOINT_PAGES = 16384
"""WAL pages (64 MiB at 4 KiB) after which a commit checkpoints inline: only reached when the
background checkpointer (:class:`WalCheckpointer`) falls behind or has stopped."""
SQLITE_CHECKPOINT_INTERVAL_S = 0.5
SQLITE_WAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024

log = logging.getLogger(__name__)

WRITE_OPTION = "tact_ledger_write"
"""Execution option marking write transactions (``BEGIN IMMEDIATE`` on SQLite)."""


def is_sqlite(engine_or_url: Engine | URL) -> bool:
    url = engine_or_url.url if isinstance(engine_or_url, Engine) else engine_or_url
    return url.get_backend_name() == "sqlite"


def create_ledger_engine(url: str, *, for_migrations: bool = False) -> Engine:
    """Create the engine for ``url`` (``sqlite:///path.db`` or ``postgresql+psycopg://...``).

    With ``for_migrations`` the engine keeps no pool and sets no statement timeout: it
    runs the schema upgrade once at start-up, which may wait on another replica's lock.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as error:
        raise ValueError(
            f"malformed ledger URL ({error}); expected sqlite:///path/to/tact.db or "
            "postgresql+psycopg://user@host:5432/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed, for_migrations=for_migrations)
    if backend == "postgresql":
        return _postgres_engine(parsed, for_migrations=for_migrations)
    raise ValueError(
        f"unsupported ledger database {parsed.render_as_string(hide_password=True)!r}: "
        "use sqlite:///path/to/tact.db or postgresql+psycopg://user@host:5432/dbname"
    )


def _sqlite_engine(url: URL, *, for_migrations: bool) -> Engine:
    database = url.database or ""
    if database in ("", ":memory:") or "mode=memory" in database:
        raise ValueError(
            "an in-memory SQLite ledger would be private to each pooled connection; "
            "use a file, e.g. sqlite:///tact.db (tests: a file under tmp_path)"
        )
    busy_timeout_ms = SQLITE_MIGRATION_BUSY_TIMEOUT_MS if for_migrations else SQLITE_BUSY_TIMEOUT_MS
    pool: dict[str, Any] = (
        {"poolclass": NullPool}
        if for_migrations
        else {
            "pool_size": POOL_SIZE,
            "max_overflow": POOL_OVERFLOW,
            "pool_timeout": POOL_TIMEOUT_S,
        }
    )
    engine = create_engine(
        url,
        # The service hands connections between worker threads through the pool, and a
        # hot-path connection kept by one thread is closed by whichever thread closes the
        # ledger (under that connection's lock: engine.ledger.connections).
        connect_args={"check_same_thread": False, "timeout": busy_timeout_ms / 1000},
        **pool,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: pysqlite's own implicit BEGIN cannot be made
        # IMMEDIATE, so transactions are begun by the "begin" hook below instead.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        if not for_migrations:
            # Checkpoints run on WalCheckpointer's thread, not inside a request's commit
            # (a checkpoint fsyncs the database file: a multi-ms stall every ~100 commits).
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_FALLBACK_CHECKPOINT_PAGES}")
            cursor.execute(f"PRAGMA journal_size_limit={SQLITE_WAL_SIZE_LIMIT_BYTES}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        write = connection.get_execution_options().get(WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


def _postgres_engine(url: URL, *, for_migrations: bool) -> Engine:
    connect_args: dict[str, Any] = {"connect_timeout": PG_CONNECT_TIMEOUT_S}
    if for_migrations:
        return create_engine(url, poolclass=NullPool, connect_args=connect_args)
    engine = create_engine(
        url,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=POOL_TIMEOUT_S,
        # Replicas outlive database restarts and fail-overs: test a pooled connection
        # before use rather than fail the first request after each restart.
        pool_pre_ping=True,
        pool_recycle=PG_RECYCLE_S,
        connect_args=connect_args,
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Set per connection rather than in the URL so a caller's own `options` survive.
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS}")
        dbapi_connection.commit()

    return engine


class WalCheckpointer:
    """Checkpoints a SQLite ledger's write-ahead log on a background thread.

    With the default auto-checkpoint, the commit that pushes the WAL past 1000 pages copies
    them into the database file and fsyncs it, so about one decision in a hundred pays a
    disk flush: exactly the p99. Here a daemon thread runs a PASSIVE checkpoint (it never
    blocks readers or writers) every ``interval_s``; sqlite3 releases the GIL meanwhile.
    """

    def __init__(self, engine: Engine, *, interval_s: float = SQLITE_CHECKPOINT_INTERVAL_S):
        self._engine = engine
        self._interval_s = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name="tact-ledger-wal-checkpoint", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def checkpoint(self) -> None:
        connection = self._engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")
            cursor.close()
        finally:
            connection.close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            try:
                self.checkpoint()
            except Exception:
                # Not fatal: commits fall back to inline checkpoints past the limit above.
                log.warning("ledger: background WAL checkpoint failed", exc_info=True)

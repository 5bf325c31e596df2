"""Apply the ledger's Alembic migrations, programmatically (no alembic.ini at runtime).

Several service replicas may start at once against one PostgreSQL database: each takes
the same advisory lock around ``upgrade head``, so one migrates and the others find the
schema current. On SQLite the migration runs in a ``BEGIN IMMEDIATE`` transaction, which
serialises concurrent starters on the database's write lock just the same.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, exc, text

from engine.ledger import db
from engine.ledger.db import WRITE_OPTION, is_sqlite

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

MIGRATION_LOCK_KEY = 0x7AC7_1ED6
"""pg_advisory_lock key of the ledger's schema upgrade ("tact ledger")."""

_IN_PROCESS_LOCK = threading.Lock()
"""Alembic keeps the running migration in module globals (``alembic.context``), so two
threads of one process must not upgrade at once; processes are serialised by the database."""


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config for the ledger's migrations, optionally bound to ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the schema to the newest revision; a no-op when it is already there.

    SQLAlchemy errors propagate; the caller turns them into ledger errors. On SQLite a
    "database is locked" that the busy handler did not wait out (SQLite answers BUSY at
    once in a few cases, e.g. while another process turns a new file to WAL mode) is
    retried until the start-up budget (``SQLITE_MIGRATION_BUSY_TIMEOUT_MS``) is spent:
    the upgrade is one transaction, so a failed attempt left nothing behind.
    """
    if not is_sqlite(engine):
        _upgrade(engine)
        return
    deadline = time.monotonic() + db.SQLITE_MIGRATION_BUSY_TIMEOUT_MS / 1000
    pause = 0.05
    while True:
        try:
            _upgrade(engine)
            return
        except exc.OperationalError as error:
            if "locked" not in str(error.orig) or time.monotonic() + pause > deadline:
                raise
            log.info("ledger migration: database locked by another starter; retrying")
            time.sleep(pause)
            pause = min(pause * 2, 1.0)


def _upgrade(engine: Engine) -> None:
    sqlite = is_sqlite(engine)
    with _IN_PROCESS_LOCK, engine.connect() as connection:
        if sqlite:
            # BEGIN IMMEDIATE (see engine.ledger.db): the upgrade, version check included,
            # holds the write lock, so a concurrent starter waits and then sees "head".
            connection.execution_options(**{WRITE_OPTION: True})
        else:
            # Session-level lock: held across the migration's own transaction(s).
            connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
            connection.commit()
        try:
            command.upgrade(alembic_config(connection), "head")
            connection.commit()
        finally:
            if not sqlite:
                connection.rollback()
                connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY}
                )
                connection.commit()

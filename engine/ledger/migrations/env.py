"""Alembic environment of the ledger.

At runtime :func:`engine.ledger.migrate.upgrade_to_head` passes an open connection in
``config.attributes["connection"]``. From the command line
(``alembic -c engine/ledger/alembic.ini ...``) the URL comes from ``TACT_DATABASE_URL``,
else from the ini file.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection

from engine.ledger.db import create_ledger_engine
from engine.ledger.models import LEDGER_METADATA

config = context.config
if config.config_file_name is not None:  # CLI only; the service configures logging
    fileConfig(config.config_file_name, disable_existing_loggers=False)
target_metadata = LEDGER_METADATA


def _url() -> str:
    url = os.environ.get("TACT_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "no database URL: set TACT_DATABASE_URL or sqlalchemy.url in the alembic.ini"
        )
    return url


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
        # SQLite can change schema in a transaction too (pysqlite's implicit transaction
        # handling is off, see engine.ledger.db): a failed upgrade leaves nothing behind.
        transactional_ddl=True,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    """Emit the SQL instead of running it (``alembic upgrade head --sql``)."""
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_ledger_engine(_url(), for_migrations=True)
    try:
        with engine.connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

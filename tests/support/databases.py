"""Real test databases: a SQLite file, or a fresh PostgreSQL schema (skipped when absent).

PostgreSQL comes from ``TACT_TEST_POSTGRES_URL`` or 127.0.0.1:5432, database ``test``.
Each schema is selected with ``search_path`` in the URL and dropped afterwards, so
concurrent runs never interfere. With ``TACT_REQUIRE_POSTGRES=1`` (set by ``.ci/run`` on
a machine that has PostgreSQL) an unreachable database fails those tests instead of
skipping them: CI must not pass by quietly running SQLite only.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

REQUIRE_POSTGRES = os.environ.get("TACT_REQUIRE_POSTGRES") == "1"
POSTGRES_URL = os.environ.get(
    "TACT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def postgres_unreachable_reason() -> str | None:
    """Why PostgreSQL cannot be used for tests, or ``None`` when it can."""
    url = make_url(POSTGRES_URL)
    try:
        with socket.create_connection((url.host or "127.0.0.1", url.port or 5432), timeout=1):
            pass
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
    except (OSError, sa.exc.SQLAlchemyError) as error:
        return (
            f"PostgreSQL not reachable at {url.render_as_string()} ({error.__class__.__name__}); "
            "set TACT_TEST_POSTGRES_URL to run the PostgreSQL variant"
        )
    return None


def require_postgres() -> None:
    """Skip the calling test when PostgreSQL is unreachable; fail it instead when the run
    requires PostgreSQL (``TACT_REQUIRE_POSTGRES=1``)."""
    reason = postgres_unreachable_reason()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"{reason}; TACT_REQUIRE_POSTGRES=1: this run must test PostgreSQL")
    pytest.skip(reason)


@contextmanager
def fresh_postgres_schema(prefix: str = "tact_test") -> Iterator[str]:
    """URL of a new, empty PostgreSQL schema; the schema is dropped on exit."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, poolclass=sa.pool.NullPool)
    with admin.begin() as connection:
        connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()

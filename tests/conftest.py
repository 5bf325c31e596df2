"""Fixtures shared by the whole suite: real databases (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

POSTGRES_URL = os.environ.get(
    "TACT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used for tests, or None when it can."""
    try:
        import psycopg
        from sqlalchemy.engine import make_url
    except ImportError as exc:  # pragma: no cover - dev extras missing
        return f"psycopg not installed: {exc}"
    url = make_url(POSTGRES_URL)
    try:
        with psycopg.connect(
            host=url.host,
            port=url.port or 5432,
            user=url.username,
            dbname=url.database,
            connect_timeout=2,
        ):
            return None
    except Exception as exc:
        return f"PostgreSQL not reachable at {url.host}:{url.port} ({exc.__class__.__name__})"


_PG_PROBLEM: str | bool | None = False  # False = not probed yet


def postgres_problem() -> str | None:
    global _PG_PROBLEM
    if _PG_PROBLEM is False:
        _PG_PROBLEM = _postgres_problem()
    assert _PG_PROBLEM is not False
    return _PG_PROBLEM


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the session."""
    problem = postgres_problem()
    if problem:
        pytest.skip(f"PostgreSQL tests skipped: {problem} (set TACT_TEST_POSTGRES_URL)")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(POSTGRES_URL)
    schema = f"tact_test_{uuid.uuid4().hex[:10]}"
    conninfo = dict(host=url.host, port=url.port or 5432, user=url.username, dbname=url.database)
    with psycopg.connect(**conninfo, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(**conninfo, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every test using this runs on a real SQLite file and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tact.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url

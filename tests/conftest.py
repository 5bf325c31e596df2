"""Fixtures shared by the whole suite: real databases (SQLite file, PostgreSQL schema)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import engine  # noqa: F401 - first: pins OpenBLAS to one thread before numpy loads
from tests.support.databases import fresh_postgres_schema, require_postgres


@pytest.fixture(scope="session")
def postgres_schema_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped after the session."""
    require_postgres()
    with fresh_postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Every test using this runs on a real SQLite file and again on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('db') / 'tact.db'}"
    url: str = request.getfixturevalue("postgres_schema_url")
    return url

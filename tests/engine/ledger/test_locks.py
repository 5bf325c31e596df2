"""Per-case reservation locks (engine.ledger.locks): stable keys, and on PostgreSQL a
transaction that holds a case's lock makes another wait until it ends."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from engine.ledger import codec, locks
from engine.ledger.driver import HotPath


def test_keys_are_stable_signed_64_bit_and_sorted() -> None:
    # The same in every process and replica (Python's hash() is salted per process).
    assert locks.lock_key("case-1") == -859274556012873123
    keys = locks.lock_keys(["b", "a", "b", "c"])
    assert keys == sorted(keys) and len(keys) == 3
    assert all(-(2**63) <= k < 2**63 for k in keys)


@pytest.mark.postgres
def test_a_locked_case_waits_for_the_holding_transaction(postgres_schema_url: str) -> None:
    url = make_url(postgres_schema_url).set(drivername="postgresql")
    dsn = url.render_as_string(hide_password=False).split("?")[0]
    hot = HotPath.for_dialect(
        postgresql.psycopg.dialect(),
        event_keys=codec.EVENT_ROW_KEYS,
        decision_keys=codec.DECISION_ROW_KEYS,
    )
    probe = "SELECT pg_try_advisory_xact_lock(%s)"
    with psycopg.connect(dsn) as holder, psycopg.connect(dsn) as other:
        holder.autocommit = True  # as the ledger's driver connections
        with holder.cursor() as cursor:
            locks.begin_and_lock(cursor=cursor, hot=hot, case_ids=["case-a", "case-b"])
        with other.cursor() as cursor:
            cursor.execute(probe, (locks.lock_key("case-a"),))
            assert cursor.fetchone() == (False,)  # held by the other transaction
            cursor.execute(probe, (locks.lock_key("case-c"),))
            assert cursor.fetchone() == (True,)  # another case is free
        other.rollback()
        holder.execute("COMMIT")  # the transaction ends: its locks are released
        with other.cursor() as cursor:
            cursor.execute(probe, (locks.lock_key("case-a"),))
            assert cursor.fetchone() == (True,)
        other.rollback()


def test_a_group_is_locked_in_one_statement_in_ascending_order() -> None:
    keys = locks.lock_keys(["case-b", "case-a"])
    assert locks.lock_statement(keys[:1]) == f"SELECT pg_advisory_xact_lock({keys[0]})"
    assert f"ARRAY[{keys[0]},{keys[1]}]" in locks.lock_statement(keys)

"""Per-case locks that serialise a decision's ledger re-read with its contact reservation.

The rules count contacts in a case's ledger (``Ledger.events_for_case`` reads by
``case_id``), so the case is the unit a reservation must be serialised on: two decisions
for one case must not both read "no call today" and both reserve a call. Decisions for
different cases take different locks and still commit together (group commit).

* **PostgreSQL**: transaction-scoped advisory locks (``pg_advisory_xact_lock``) on a
  stable 64-bit hash of the case id, in ascending order so that two groups never wait on
  each other in a cycle, taken in the same round trip as the BEGIN; released by the COMMIT
  or ROLLBACK that ends the transaction. They hold across threads, processes and replicas
  sharing the database. A hash collision only serialises two unrelated cases.
* **SQLite**: the transaction begins with ``BEGIN IMMEDIATE``
  (:attr:`engine.ledger.driver.HotPath.begin_write`), which holds the database's single
  write lock from the re-read to the commit, across threads and processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from engine.ledger.driver import HotPath

LOCK_NAMESPACE = b"tact.case-reservation:"
"""Prefix hashed with the case id, so tact's keys stay apart from other users' advisory
locks in the same database."""


def lock_statement(keys: list[int]) -> str:
    """One statement, one round trip, for a whole group: ``unnest`` yields the keys in array
    order. The keys are ints of our own making, written as literals (binding a Python list
    as an array costs the driver more than the lock itself)."""
    if len(keys) == 1:
        return f"SELECT pg_advisory_xact_lock({int(keys[0])})"
    literal = ",".join(str(int(key)) for key in keys)
    return f"SELECT pg_advisory_xact_lock(k) FROM unnest(ARRAY[{literal}]::bigint[]) AS k"


def lock_key(case_id: str) -> int:
    """The signed 64-bit advisory-lock key of ``case_id`` (the same in every process)."""
    digest = hashlib.blake2b(LOCK_NAMESPACE + case_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_keys(case_ids: Iterable[str]) -> list[int]:
    """The distinct keys of ``case_ids``, ascending: the order every transaction locks in."""
    return sorted({lock_key(case_id) for case_id in case_ids})


def begin_and_lock(*, cursor: Any, hot: HotPath, case_ids: Iterable[str]) -> None:
    """Begin a write transaction on ``cursor`` (a driver connection in autocommit) that
    holds the locks of ``case_ids`` until it ends: one round trip."""
    if hot.sqlite:  # BEGIN IMMEDIATE: the database's write lock covers every case
        cursor.execute(hot.begin_write)
        return
    keys = lock_keys(case_ids)
    if not keys:
        cursor.execute(hot.begin_write)
        return
    # Two statements without parameters go as one simple query.
    cursor.execute(f"{hot.begin_write}; {lock_statement(keys)}")


__all__ = ["LOCK_NAMESPACE", "begin_and_lock", "lock_key", "lock_keys", "lock_statement"]

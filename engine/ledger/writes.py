"""How a group of decisions is written: their rows, and the replay of a repeated request.

:class:`~engine.ledger.store.Ledger` runs these inside its write transactions
(``save_decisions``, ``reserve_decisions``). A decision's row is inserted unless its
request is stored for its case already (a unique index on ``(case_id, request_digest)``);
then the stored decision takes its place, and its reservation and companion rows are not
written (``Decide`` is idempotent per request).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from engine.ledger import codec, driver
from engine.ledger.errors import LedgerIntegrityError
from engine.ledger.records import DecisionRecord
from engine.state import LedgerEvent

DecisionPair = tuple[DecisionRecord, LedgerEvent | None]
"""A decision and its contact reservation (``None`` for a wait)."""
PairRows = tuple[tuple[Any, ...], tuple[Any, ...] | None]
"""A decision's row and its reservation's row (``None`` for a wait), bound for the driver."""

_CASE_ID = codec.DECISION_ROW_KEYS.index("case_id")
_REQUEST_DIGEST = codec.DECISION_ROW_KEYS.index("request_digest")


def pair_rows(hot: driver.HotPath, decisions: Sequence[DecisionPair]) -> list[PairRows]:
    """Per (decision, reservation): its decision row and reservation row (or ``None``),
    bound for the driver. Raises ``ValueError`` for a reservation that does not fit."""
    bind = hot.bind_datetime
    recorded_at = bind(datetime.now(UTC))
    rows: list[PairRows] = []
    for record, reservation in decisions:
        event = None
        if reservation is not None:
            codec.check_reservation(record, reservation)
            event = codec.reservation_values(record, reservation, hot, recorded_at)
        rows.append((codec.decision_values(record, bind), event))
    return rows


def insert_pairs(
    cursor: Any,
    hot: driver.HotPath,
    decisions: Sequence[DecisionPair],
    rows: Sequence[PairRows],
    companions: Sequence[driver.BoundRows],
) -> list[DecisionPair]:
    """Insert ``decisions`` (bound as ``rows``); returns the pairs as stored.

    The decision insert skips a row whose request is stored for its case (the unique
    index on ``(case_id, request_digest)``: on PostgreSQL a concurrent transaction
    that inserts the same request first makes this one wait for its end), so the
    common path costs no extra statement; only when a row was skipped are the stored
    decisions read, and the skipped ones' reservations and companion rows dropped.
    """
    decision_rows = [d for d, _ in rows]
    if len(rows) > 1:  # one order for every writer: concurrent batches cannot deadlock
        decision_rows.sort(key=lambda row: (row[_CASE_ID], row[_REQUEST_DIGEST] or ""))
    inserted = driver.insert_decisions(cursor=cursor, hot=hot, rows=decision_rows)
    stored = list(decisions)
    replayed: set[str] = set()
    if inserted < len(rows):
        for index, (record, _) in enumerate(decisions):
            found = _stored_for_request(cursor, hot, record)
            if found is None:
                continue
            if found.decision_id != record.decision_id:
                stored[index] = (found, None)
                replayed.add(record.decision_id)
            elif found != record:  # its own request, stored earlier with other content
                raise LedgerIntegrityError(
                    f"decision {record.decision_id} is stored with other content; "
                    "nothing was written — use a new decision_id, or resend exactly the "
                    "stored content"
                )
    events = [
        event
        for (_, event), (record, _) in zip(rows, decisions, strict=True)
        if event is not None and record.decision_id not in replayed
    ]
    if events:
        driver.insert_events(cursor=cursor, hot=hot, rows=events)
    if companions:
        driver.insert_companions(cursor=cursor, rows=companions, skip=replayed)
    return stored


def _stored_for_request(
    cursor: Any, hot: driver.HotPath, record: DecisionRecord
) -> DecisionRecord | None:
    """The decision stored for ``record``'s request (``None`` if it is not replayable)."""
    if not record.replayable:
        return None
    row = driver.select_request_decision(
        cursor=cursor, hot=hot, case_id=record.case_id, request_digest=record.inputs_digest
    )
    return None if row is None else codec.decision_from_values(row, hot.result_datetime)


__all__ = ["DecisionPair", "PairRows", "insert_pairs", "pair_rows"]

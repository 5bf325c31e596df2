"""A decision's request is stored with it (``decision.request_digest``, unique per case): a
decision for a request stored already is not stored — the ledger returns the stored one,
and writes neither the new decision's reservation nor its companion rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from engine.experiments.store import DecisionTag, tag_rows
from engine.ledger import DecisionRecord, Ledger, LedgerIntegrityError, open_ledger
from engine.ledger.migrate import alembic_config
from engine.ledger.models import LEDGER_METADATA
from tests.support.ledger_records import planned_contact

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
DIGEST = "d" * 64
TAGS = LEDGER_METADATA.tables["experiment_decision"]
ARMS = LEDGER_METADATA.tables["experiment_case"]


_reservation = planned_contact


def _tag(decision_id: str) -> DecisionTag:
    return DecisionTag(
        decision_id=decision_id,
        experiment_id="exp-1",
        version="0123456789abcdef",
        arm="champion",
        exploration="none",
        case_id="case-1",
        debtor_key="debtor-1",
        decided_at=T0,
    )


def _rows(ledger: Ledger, table: sa.Table) -> list[dict[str, Any]]:
    with ledger.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table)).mappings()]


def _planned(ledger: Ledger) -> list[str]:
    return [e.event_id for e in ledger.events_for_case("case-1", since=T0)]


def test_a_repeated_request_gets_the_stored_decision_and_writes_nothing(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    first = make_decision("dec-1", inputs_digest=DIGEST, replayable=True)
    again = make_decision("dec-2", inputs_digest=DIGEST, replayable=True, propensity=0.5)
    assert ledger.save_decisions([(first, _reservation("res-1"))]) == [
        (first, _reservation("res-1"))
    ]
    stored = ledger.save_decisions(
        [(again, _reservation("res-2"))], companions=tag_rows([_tag("dec-2")])
    )
    assert stored == [(first, None)]
    assert ledger.get_decision("dec-1") == first and ledger.get_decision("dec-2") is None
    assert _planned(ledger) == ["res-1"]
    assert _rows(ledger, TAGS) == [] and _rows(ledger, ARMS) == []


def test_a_repeated_request_on_the_serialised_path_writes_nothing(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    first = make_decision("dec-1", inputs_digest=DIGEST, replayable=True)
    again = make_decision("dec-2", inputs_digest=DIGEST, replayable=True)
    ledger.reserve_decisions([(first, _reservation("res-1"))], since=T0, recheck=lambda _: {})
    stored = ledger.reserve_decisions(
        [(again, _reservation("res-2"))], since=T0, recheck=lambda _: {}
    )
    assert stored == [(first, None)]
    assert _planned(ledger) == ["res-1"]


def test_the_same_request_twice_in_one_batch_is_stored_once(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    first = make_decision("dec-1", inputs_digest=DIGEST, replayable=True)
    again = make_decision("dec-2", inputs_digest=DIGEST, replayable=True)
    other = make_decision("dec-3", replayable=True)  # another request of the case
    stored = ledger.save_decisions(
        [(first, _reservation("res-1")), (again, _reservation("res-2")), (other, None)],
        companions=tag_rows([_tag("dec-1"), _tag("dec-2"), _tag("dec-3")]),
    )
    assert stored == [(first, _reservation("res-1")), (first, None), (other, None)]
    assert ledger.get_decision("dec-2") is None
    assert _planned(ledger) == ["res-1"]
    assert sorted(r["decision_id"] for r in _rows(ledger, TAGS)) == ["dec-1", "dec-3"]


def test_decisions_without_a_request_never_clash(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    first = make_decision("dec-1", inputs_digest=DIGEST)
    second = make_decision("dec-2", inputs_digest=DIGEST)
    ledger.save_decisions([(first, _reservation("res-1"))])
    assert ledger.save_decisions([(second, None)]) == [(second, None)]
    assert ledger.get_decision("dec-2") == second and not second.replayable


def test_resaving_a_stored_request_is_a_no_op_and_other_content_is_refused(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    record = make_decision("dec-1", inputs_digest=DIGEST, replayable=True)
    ledger.save_decision(record, reservation=_reservation("res-1"))
    ledger.save_decision(record, reservation=_reservation("res-1"))  # a lost commit, retried
    assert ledger.get_decision("dec-1") == record and _planned(ledger) == ["res-1"]

    changed = make_decision("dec-1", inputs_digest=DIGEST, replayable=True, policy_arm="x")
    for reservation in (None, _reservation("res-9")):
        with pytest.raises(LedgerIntegrityError, match="nothing was written"):
            ledger.save_decision(changed, reservation=reservation)
    assert ledger.get_decision("dec-1") == record and _planned(ledger) == ["res-1"]


def test_decisions_stored_before_0005_may_share_a_request_digest(ledger_url: str) -> None:
    # Before request idempotency every retry was a second decision of the same request:
    # the upgrade keeps those rows as they are (no request key, never replayed).
    open_ledger(ledger_url).close()
    engine = sa.create_engine(ledger_url, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), "0004")
        decisions = sa.Table("decision", sa.MetaData(), autoload_with=engine)
        row = {
            "case_id": "case-1",
            "debtor_id": "debtor-1",
            "decided_at": T0.replace(tzinfo=None),
            "treatment_index": 0,
            "treatment_label": "WAIT",
            "policy_name": "ladder",
            "policy_version": "1",
            "policy_arm": "champion",
            "propensity": 1.0,
            "ruleset_version": "v",
            "rule_ids": "[]",
            "inputs_digest": DIGEST,
            "explanation": "",
        }
        with engine.begin() as connection:
            connection.execute(
                sa.insert(decisions), [{**row, "decision_id": f"old-{n}"} for n in (1, 2)]
            )
    finally:
        engine.dispose()
    ledger = open_ledger(ledger_url)  # upgrades to head
    try:
        old = [ledger.get_decision(f"old-{n}") for n in (1, 2)]
        assert all(r is not None and not r.replayable for r in old)
    finally:
        ledger.close()

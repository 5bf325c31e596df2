"""Rows of other ledger tables stored in a decision write's own transaction (an
experiment's tags of the decisions): committed with the decisions, or nothing is."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from engine.experiments.store import DecisionTag, ShadowChoice, tag_rows
from engine.ledger import CompanionRows, DecisionRecord, Ledger, LedgerError
from engine.ledger.models import LEDGER_METADATA
from tests.support.ledger_records import planned_contact

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
TAGS = LEDGER_METADATA.tables["experiment_decision"]
ARMS = LEDGER_METADATA.tables["experiment_case"]
T0_NAIVE = datetime(2026, 11, 2, 9, 0)


def _tag(decision_id: str, *, case_id: str = "case-1", arm: str = "champion") -> DecisionTag:
    return DecisionTag(
        decision_id=decision_id,
        experiment_id="exp-1",
        version="0123456789abcdef",
        arm=arm,
        exploration="epsilon:0.2",
        case_id=case_id,
        debtor_key="debtor-1",
        decided_at=T0,
        shadows=(ShadowChoice("rnd", "random", "1", 3, 0.25, False),),
        observation=(0.5, 1.0),
        allowed=(0, 3, 5),
    )


ARM_ROW = tag_rows([_tag("dec-1")])[1]


_reservation = planned_contact


def _rows(ledger: Ledger, table: sa.Table) -> list[dict[str, Any]]:
    with ledger.engine.connect() as connection:
        return [dict(r) for r in connection.execute(sa.select(table)).mappings()]


def test_decisions_and_their_tags_commit_together(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    decisions = [(make_decision("dec-1"), None), (make_decision("dec-2"), None)]
    companions = tag_rows([_tag("dec-1"), _tag("dec-2", arm="challenger:seg")])
    ledger.save_decisions(decisions, companions=companions)

    assert ledger.get_decision("dec-1") is not None and ledger.get_decision("dec-2") is not None
    tags = {r["decision_id"]: r for r in _rows(ledger, TAGS)}
    assert set(tags) == {"dec-1", "dec-2"}
    assert tags["dec-1"]["version"] == "0123456789abcdef"
    assert tags["dec-2"]["arm"] == "challenger:seg"
    # One arm row per case: its first decision's, with its time read back as stored.
    [arm] = _rows(ledger, ARMS)
    assert arm["arm"] == "champion" and arm["first_decided_at"] == T0

    ledger.save_decisions(decisions, companions=companions)  # a retried write: a no-op
    assert len(_rows(ledger, TAGS)) == 2 and len(_rows(ledger, ARMS)) == 1


def test_a_reserved_decision_and_its_tag_commit_together(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    pairs = [(make_decision("dec-1"), _reservation("res-1"))]
    stored = ledger.reserve_decisions(
        pairs, since=T0, recheck=lambda _read: {}, companions=tag_rows([_tag("dec-1")])
    )
    assert stored == pairs
    assert [r["decision_id"] for r in _rows(ledger, TAGS)] == ["dec-1"]
    assert len(ledger.events_for_case("case-1", since=T0)) == 1


def test_a_decision_the_recheck_turned_into_a_wait_keeps_its_tag(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    wait = make_decision(
        "dec-1", treatment_index=0, treatment_label="WAIT", send_at=None, next_review_at=T0
    )
    stored = ledger.reserve_decisions(
        [(make_decision("dec-1"), _reservation("res-1"))],
        since=T0,
        recheck=lambda _read: {0: (wait, None)},
        companions=tag_rows([_tag("dec-1")]),
    )
    assert stored == [(wait, None)] and ledger.get_decision("dec-1") == wait
    assert [r["decision_id"] for r in _rows(ledger, TAGS)] == ["dec-1"]
    assert ledger.events_for_case("case-1", since=T0) == []


def test_a_failed_tag_insert_stores_no_decision_either(
    ledger: Ledger, make_decision: Callable[..., DecisionRecord]
) -> None:
    good = tag_rows([_tag("dec-1")])[0]
    broken = CompanionRows(good.table, [{**good.rows[0], "arm": None}])  # NOT NULL
    with pytest.raises(LedgerError):
        ledger.save_decisions([(make_decision("dec-1"), None)], companions=[broken])
    with pytest.raises(LedgerError):
        ledger.reserve_decisions(
            [(make_decision("dec-1"), _reservation("res-1"))],
            since=T0,
            recheck=lambda _read: {},
            companions=[broken],
        )
    assert ledger.get_decision("dec-1") is None
    assert ledger.events_for_case("case-1", since=T0) == []
    assert _rows(ledger, TAGS) == [] and _rows(ledger, ARMS) == []


@pytest.mark.parametrize(
    ("companion", "message"),
    [
        (CompanionRows("decision", [{"decision_id": "x"}]), "another ledger table"),
        (CompanionRows("no_such_table", [{"decision_id": "x"}]), "another ledger table"),
        (CompanionRows("experiment_decision", [{"colour": "red"}]), "no column"),
        (
            CompanionRows(ARM_ROW.table, [{**ARM_ROW.rows[0], "first_decided_at": T0_NAIVE}]),
            "naive",
        ),
    ],
)
def test_companion_rows_that_cannot_be_stored_are_refused_before_the_write(
    ledger: Ledger,
    make_decision: Callable[..., DecisionRecord],
    companion: CompanionRows,
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        ledger.save_decisions([(make_decision("dec-1"), None)], companions=[companion])
    assert ledger.get_decision("dec-1") is None

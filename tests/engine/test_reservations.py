"""Re-check and reserve (engine/reservations.py) on a real ledger, without threads: two
decisions for one case made from the same ledger state — what concurrent calls see — are
stored one after the other, or together in one batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, select

from engine.catalogue import Channel
from engine.compliance import RulesHolder
from engine.convert import decide_request_from_proto
from engine.ledger import Ledger, open_ledger
from engine.ledger.models import DecisionRow
from engine.outcomes import DecisionOutcome
from engine.pipeline import DecisionPipeline
from engine.reservations import Reservations
from engine.state import EventKind
from policies.registry import load_policy
from tact.v1 import decision_service_pb2
from tests.support.service_calls import fresh, phone_only_case

NOW = datetime(2026, 11, 26, 8, 30, tzinfo=UTC)  # Thursday 09:30 in Oslo
DIGESTS = ("a" * 64, "b" * 64)
"""Two requests for one case (racing calls: other requests, so other digests)."""


@pytest.fixture
def ledger(database_url: str) -> Ledger:
    opened = open_ledger(database_url)
    yield opened  # type: ignore[misc]
    opened.close()


def _pipeline(ledger: Ledger, *, serialise: bool = True) -> DecisionPipeline:
    return DecisionPipeline(
        rules=RulesHolder(),
        ledger=ledger,
        champion=load_policy("ladder"),
        reservations=Reservations(ledger, serialise=serialise),
    )


def _decided_twice(pipeline: DecisionPipeline) -> tuple[str, list[DecisionOutcome]]:
    """Two decisions for one phone-only case, both from the empty ledger."""
    case_id = fresh("no-recheck")
    request = decision_service_pb2.DecideRequest(case=phone_only_case(case_id))
    snapshot, events = decide_request_from_proto(request)[:2]
    outcomes = pipeline.decide_many([(snapshot, events, NOW), (snapshot, events, NOW)])
    assert all(
        isinstance(o, DecisionOutcome) and o.treatment.channel is Channel.PHONE for o in outcomes
    )
    return case_id, outcomes  # type: ignore[return-value]


def _calls(ledger: Ledger, case_id: str) -> int:
    events = ledger.events_for_case(case_id, since=NOW - timedelta(days=1))
    return sum(e.kind is EventKind.CONTACT_PLANNED and e.channel is Channel.PHONE for e in events)


def _assert_waited_for_the_limit(stored: DecisionOutcome, chosen: DecisionOutcome) -> None:
    assert stored.treatment.channel is Channel.NONE and stored.send_at is None
    assert stored.next_review_at is not None
    assert stored.decision_id == chosen.decision_id
    assert "NO.calls.per-day" in [hit.rule_id for hit in stored.rule_hits]
    assert "another decision reserved a contact for this case meanwhile" in stored.explanation


def test_the_later_of_two_racing_calls_is_stored_as_a_wait(ledger: Ledger) -> None:
    pipeline = _pipeline(ledger)
    case_id, (first, second) = _decided_twice(pipeline)
    [stored_first] = pipeline.persist([(first, DIGESTS[0])])
    [stored_second] = pipeline.persist([(second, DIGESTS[1])])
    assert stored_first is first  # nothing changed under it: stored as decided
    _assert_waited_for_the_limit(stored_second, second)
    assert _calls(ledger, case_id) == 1
    record = ledger.get_decision(second.decision_id)
    assert record is not None and record.send_at is None and "NO.calls.per-day" in record.rule_ids


def test_one_case_twice_in_one_batch_reserves_one_call(ledger: Ledger) -> None:
    pipeline = _pipeline(ledger)
    case_id, (first, second) = _decided_twice(pipeline)
    stored = pipeline.persist([(first, DIGESTS[0]), (second, DIGESTS[1])])
    assert stored[0] is first
    _assert_waited_for_the_limit(stored[1], second)
    assert _calls(ledger, case_id) == 1


def test_unserialised_both_calls_are_reserved(ledger: Ledger) -> None:
    """The test-only switch off: the race the re-check closes (so the tests above can fail)."""
    pipeline = _pipeline(ledger, serialise=False)
    case_id, (first, second) = _decided_twice(pipeline)
    pipeline.persist([(first, DIGESTS[0])])
    pipeline.persist([(second, DIGESTS[1])])
    assert _calls(ledger, case_id) == 2


def _decisions(ledger: Ledger, case_id: str) -> int:
    with Session(ledger.engine) as session:
        rows = session.exec(select(DecisionRow.decision_id).where(DecisionRow.case_id == case_id))
        return len(rows.all())


def _assert_replayed(stored: DecisionOutcome, first: DecisionOutcome) -> None:
    assert stored.replayed and not first.replayed
    assert stored.decision_id == first.decision_id
    assert (stored.index, stored.send_at, stored.propensity) == (
        first.index,
        first.send_at,
        first.propensity,
    )
    assert stored.explanation == first.explanation


@pytest.mark.parametrize("serialise", [True, False], ids=["serialised", "unserialised"])
def test_a_repeated_request_gets_the_stored_decision_and_stores_nothing(
    ledger: Ledger, serialise: bool
) -> None:
    # The same request decided twice from the same ledger state (a retry whose first
    # attempt's reply was lost, or two replicas at once): the unique index on the request
    # decides, on the locked path and the unlocked one alike.
    pipeline = _pipeline(ledger, serialise=serialise)
    case_id, (first, second) = _decided_twice(pipeline)
    [stored_first] = pipeline.persist([(first, DIGESTS[0])])
    [stored_second] = pipeline.persist([(second, DIGESTS[0])])
    assert stored_first is first
    _assert_replayed(stored_second, first)
    assert _calls(ledger, case_id) == 1
    assert _decisions(ledger, case_id) == 1


def test_the_same_request_twice_in_one_batch_is_stored_once(ledger: Ledger) -> None:
    pipeline = _pipeline(ledger)
    case_id, (first, second) = _decided_twice(pipeline)
    stored = pipeline.persist([(first, DIGESTS[0]), (second, DIGESTS[0])])
    assert stored[0] is first
    _assert_replayed(stored[1], first)
    assert (_calls(ledger, case_id), _decisions(ledger, case_id)) == (1, 1)


def test_decisions_without_a_request_are_never_replayed(ledger: Ledger) -> None:
    pipeline = _pipeline(ledger)
    case_id, (first, second) = _decided_twice(pipeline)
    stored = pipeline.persist([(first, None)]) + pipeline.persist([(second, None)])
    assert [o.decision_id for o in stored] == [first.decision_id, second.decision_id]
    assert not any(o.replayed for o in stored)
    assert (_calls(ledger, case_id), _decisions(ledger, case_id)) == (1, 2)

"""The documented limits on request values (README "Limits", engine/limits.py): each edge
is accepted and one step beyond it is a violation naming the field; values at the edges
go through the whole pipeline; errors stay small; undecodable bytes are located."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import code_pb2, error_details_pb2

from bench.bad_requests import METHOD_BY_PATH, field_paths, set_value, with_corrupt_bytes
from engine import limits
from engine.convert import (
    check_request_from_proto,
    decide_request_from_proto,
    events_from_proto,
)
from engine.errors import FieldViolation, InvalidRequestError
from engine.service import RunningServer, create_server
from engine.settings import Settings
from engine.status import VIOLATIONS_BUDGET, to_status
from engine.wire import locate_wire_problem
from tact.v1 import decision_service_pb2, decision_service_pb2_grpc, types_pb2

DECIDE = METHOD_BY_PATH["/tact.v1.DecisionService/Decide"]
CHECK = METHOD_BY_PATH["/tact.v1.DecisionService/CheckAction"]
RECORD = METHOD_BY_PATH["/tact.v1.DecisionService/RecordEvents"]
PARSERS = {
    DECIDE.path: decide_request_from_proto,
    CHECK.path: check_request_from_proto,
    RECORD.path: lambda r: events_from_proto(list(r.events)),
}
EARLIEST = int(limits.EARLIEST.timestamp())
LATEST = int(limits.LATEST.timestamp())


def violations(method_path: str, request: Message) -> list[str]:
    """Field paths of the violations converting ``request`` gives ([] when it is valid)."""
    try:
        PARSERS[method_path](request)
    except InvalidRequestError as exc:
        return [v.field for v in exc.violations]
    return []


def timestamp_fields() -> list[tuple[str, tuple[str, ...]]]:
    """Every Timestamp field of the three requests, from their descriptors."""
    return [
        (method.path, path)
        for method in (DECIDE, CHECK, RECORD)
        for path, f in field_paths(method.request_class.DESCRIPTOR)
        if f.type == FieldDescriptor.TYPE_MESSAGE
        and f.message_type.full_name == "google.protobuf.Timestamp"
        and not f.is_repeated
    ]


TIMESTAMP_FIELDS = timestamp_fields()


def test_every_timestamp_field_is_found() -> None:
    names = {".".join(p) for _, p in TIMESTAMP_FIELDS}
    assert {"now", "at", "case.flags.breathing_space_until", "events[0].occurred_at"} <= names
    assert {"case.recent_events[0].occurred_at", "case.recent_events[0].until"} <= names


@pytest.mark.parametrize(
    ("method_path", "path"), TIMESTAMP_FIELDS, ids=[".".join(p) for _, p in TIMESTAMP_FIELDS]
)
def test_every_timestamp_accepts_its_range_and_nothing_beyond(
    method_path: str, path: tuple[str, ...]
) -> None:
    method = METHOD_BY_PATH[method_path]
    field = ".".join(path).replace("[0]", "[0]")
    for seconds, nanos, ok in [
        (EARLIEST, 0, True),
        (LATEST - 1, 999_999_999, True),
        (EARLIEST - 1, 999_999_999, False),
        (LATEST, 0, False),
        (-62135596800, 0, False),  # year 1
        (253402300799, 0, False),  # year 9999
        (1_800_000_000, -1, False),
        (1_800_000_000, 1_000_000_000, False),
    ]:
        request = method.valid()
        set_value(request, path, Timestamp(seconds=seconds, nanos=nanos))
        # An event's `until` is read for breathing spaces only; the check applies anyway.
        found = violations(method_path, request)
        assert found == ([] if ok else [field]), (seconds, nanos, found)


def _set(request: Message, path: str, value: object) -> Message:
    set_value(request, tuple(path.split(".")), value)
    return request


@pytest.mark.parametrize(
    ("path", "good", "bad"),
    [
        ("case.case_id", "c" * limits.MAX_ID_LENGTH, "c" * (limits.MAX_ID_LENGTH + 1)),
        ("case.debtor_id", "d-1", "d\x00"),
        ("case.recent_events[0].event_id", "e" * limits.MAX_ID_LENGTH, "e\n1"),
        ("case.recent_events[0].decision_id", "", "x" * (limits.MAX_ID_LENGTH + 1)),
        ("case.recent_events[0].debtor_id", "", "\x1b[31m"),
        ("case.recent_events[0].attempt_event_id", "a" * limits.MAX_ID_LENGTH, "a\x00"),
        ("case.subdivision", "SE-AB", "SE-AB\n"),  # of the case's country (SE), or empty
        ("case.timezone", "America/Argentina/ComodRivadavia", "Europe/" + "x" * 60),
        ("case.debtor.language", "x" * limits.MAX_LANGUAGE_LENGTH, "sv_SE"),
        ("case.outstanding.amount_minor", limits.MAX_AMOUNT_MINOR, limits.MAX_AMOUNT_MINOR + 1),
        ("case.recent_events[0].amount.amount_minor", 0, limits.MAX_AMOUNT_MINOR + 1),
    ],
)
def test_field_limits_at_the_edge(path: str, good: object, bad: object) -> None:
    assert violations(DECIDE.path, _set(DECIDE.valid(), path, good)) == []
    assert violations(DECIDE.path, _set(DECIDE.valid(), path, bad)) == [path]


@pytest.mark.parametrize("method", [DECIDE, RECORD], ids=["recent_events", "events"])
def test_history_length_is_limited_with_one_violation(method) -> None:  # type: ignore[no-untyped-def]
    request = method.valid()
    events = request.case.recent_events if method is DECIDE else request.events
    path = "case.recent_events" if method is DECIDE else "events"
    template = events[0]
    del events[:]
    for i in range(limits.MAX_EVENTS):
        event = events.add()
        event.CopyFrom(template)
        event.event_id = f"e-{i}"
    assert violations(method.path, request) == []
    events.add().CopyFrom(events[0])  # 1,001, one a duplicate id: not even looked at
    assert violations(method.path, request) == [path]


def test_consents_beyond_one_per_channel_are_one_violation() -> None:
    request = DECIDE.valid()
    for _ in range(10_000):
        request.case.consents.add(channel=types_pb2.CHANNEL_SMS)
    assert violations(DECIDE.path, request) == ["case.consents"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("proposed.channel", 99),
        ("proposed.slot", 77),
        ("proposed.tone", -1),
        ("proposed.offer.kind", 2**31 - 1),
        ("proposed.action", 9),
    ],
)
def test_every_proposed_enum_is_checked(field: str, value: int) -> None:
    """CheckAction with out-of-range enums was INTERNAL (ValueError in convert)."""
    assert violations(CHECK.path, _set(CHECK.valid(), field, value)) == [field]


def test_quote_keeps_a_bounded_prefix() -> None:
    assert limits.quote("SE\n") == "'SE\\n'"
    long = limits.quote("x" * 10_000)
    assert long == "'" + "x" * (limits.QUOTE_CHARS - 1) + "…"
    escaped = limits.quote("\x00" * 100)  # escapes count: the text stays bounded
    assert len(escaped) == limits.QUOTE_CHARS + 1 and escaped.endswith("…")


def test_a_status_lists_violations_up_to_its_budget() -> None:
    many = [FieldViolation(f"events[{i}].event_id", "x" * 200) for i in range(5_000)]
    status = to_status(InvalidRequestError(many))
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad)
    listed = [v.field for v in bad.field_violations]
    assert listed == [v.field for v in many[: len(listed)]]
    assert 5 < len(listed) < 5_000
    assert bad.ByteSize() <= VIOLATIONS_BUDGET + 8 * len(listed)
    assert f"{len(listed)} of 5000 problems listed" in status.message
    few = to_status(InvalidRequestError(many[:3]))
    assert "listed" not in few.message


def test_undecodable_bytes_are_located_without_false_alarms() -> None:
    """upb decides; the walk names the field. On 5,000 seeded corruptions of each request:
    no accusation where upb parses, a location for nearly every failure."""
    rng = random.Random(14)
    found = failed = 0
    for _ in range(5_000):
        method = rng.choice([DECIDE, CHECK, RECORD])
        [data] = with_corrupt_bytes(method, rng).data
        location = locate_wire_problem(method.request_class.DESCRIPTOR, data)
        try:
            method.request_class.FromString(data)
        except Exception:
            failed += 1
            found += location is not None
        else:
            assert location is None, (data, location)
    assert failed > 4_000 and found >= 0.99 * failed


# ---- the edges go through the whole pipeline ---------------------------------------------
@pytest.fixture(scope="module")
def stub(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[decision_service_pb2_grpc.DecisionServiceStub]:
    db: Path = tmp_path_factory.mktemp("limits") / "tact.db"
    running: RunningServer = create_server(
        Settings(port=0, database_url=f"sqlite:///{db}", rules_watch=False, policy="ladder")
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield decision_service_pb2_grpc.DecisionServiceStub(channel)
    finally:
        running.stop(0)


@pytest.mark.parametrize("instant", [EARLIEST, LATEST - 1], ids=["earliest", "latest"])
@pytest.mark.parametrize(
    ("country", "zone", "currency"),
    [("GB", "Europe/London", "GBP"), ("US", "", "USD")],
    ids=["gb", "us-unknown-zone"],
)
def test_decisions_and_checks_at_the_edges_of_time(  # type: ignore[no-untyped-def]
    stub, instant: int, country: str, zone: str, currency: str
) -> None:
    """At the first and last instants accepted, with a breathing space to the last day and
    an event at the first: decided and checked (the next allowed time is looked for up to
    60 days ahead, history ten years back, a wait's review after the breathing space),
    nothing overflows."""
    decide = DECIDE.valid()
    assert isinstance(decide, decision_service_pb2.DecideRequest)
    decide.case.country, decide.case.timezone = country, zone
    decide.case.outstanding.currency = decide.case.original.currency = currency
    decide.case.recent_events[0].amount.currency = currency
    decide.now.seconds = instant
    decide.case.flags.breathing_space_until.seconds = LATEST - 1
    decide.case.recent_events[1].occurred_at.seconds = EARLIEST
    decide.case.recent_events[1].until.seconds = LATEST - 1
    decision = stub.Decide(decide, timeout=30)
    if country == "GB":  # the breathing space holds until its last day, 2199-12-31
        assert decision.treatment.action == types_pb2.ACTION_WAIT
        assert decision.next_review_at.seconds == LATEST + 8 * 3600  # 08:00 GMT the day after
    decide.case.ClearField("flags")
    del decide.case.recent_events[1:]
    decide.dry_run = True
    assert stub.Decide(decide, timeout=30).decision_id
    check = decision_service_pb2.CheckActionRequest(
        case=decide.case,
        proposed=types_pb2.Treatment(
            action=types_pb2.ACTION_AGENT_CALL, channel=types_pb2.CHANNEL_PHONE
        ),
        at=decide.now,
    )
    answer = stub.CheckAction(check, timeout=30)
    assert answer.ruleset_version
    if answer.HasField("next_allowed_at"):
        assert answer.next_allowed_at.seconds >= instant
        assert answer.next_allowed_at.seconds - instant <= timedelta(days=61).total_seconds()


def test_status_code_of_a_limit_is_invalid_argument(stub) -> None:  # type: ignore[no-untyped-def]
    decide = DECIDE.valid()
    decide.now.seconds = LATEST
    with pytest.raises(grpc.RpcError) as info:
        stub.Decide(decide, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.code().value[0] == code_pb2.INVALID_ARGUMENT

"""No bad input reaches INTERNAL: a real server on port 0, a real SQLite ledger file, raw
bytes through generic channel methods (bench/bad_requests.py builds them and judges the
answers).

Every field of every request message (enumerated from the descriptors, so new fields
are covered) is set to each of its extreme values; every ``string`` field gets bytes that
are not UTF-8; and a seeded Hypothesis run sends random bytes, flipped and cut requests
and combinations of extreme values. For each: the status is OK, INVALID_ARGUMENT (with
``BadRequest`` field violations naming the bad field) or the documented other code
(FAILED_PRECONDITION for a country without rules, NOT_FOUND for an unknown health
entry), never INTERNAL, UNKNOWN or RESOURCE_EXHAUSTED; errors quote at most a bounded
prefix of a value and fit gRPC's metadata limits; no traceback is logged; and a rejected
request writes no row. The long run (30,000 requests, the server's memory) is
bench/bench_bad_input.py, run by tests/engine/test_bad_input_soak.py (slow).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.bad_requests import (
    MARKER,
    METHODS,
    BadRequest,
    Method,
    call,
    extreme_edits,
    ledger_rows,
    problems_with,
    string_paths,
    with_bad_utf8,
    with_extremes,
)
from engine.limits import QUOTE_CHARS
from engine.service import RunningServer, create_server
from engine.settings import Settings
from tact.v1 import decision_service_pb2

pytestmark = pytest.mark.xdist_group("bad-input-server")
IDS = [m.path.rsplit("/", 2)[-1] for m in METHODS]


class _Tracebacks(logging.Handler):
    """Every record logged with a traceback, or at ERROR and above, by any thread."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info or record.levelno >= logging.ERROR:
            self.records.append(record)


@pytest.fixture(scope="module")
def ledger_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "tact.db"


@pytest.fixture(scope="module")
def server(ledger_file: Path) -> Iterator[RunningServer]:
    settings = Settings(
        port=0, database_url=f"sqlite:///{ledger_file}", rules_watch=False, policy="ladder"
    )
    running = create_server(settings)
    yield running
    running.stop(0)


@pytest.fixture(scope="module")
def channel(server: RunningServer) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


@pytest.fixture(scope="module")
def rows(ledger_file: Path) -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(ledger_file)
    yield connection
    connection.close()


@pytest.fixture(autouse=True)
def no_tracebacks() -> Iterator[_Tracebacks]:
    """Records of the server's threads (and any other) logged during one test."""
    handler = _Tracebacks()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    assert not handler.records, [r.getMessage() for r in handler.records[:5]]


def judge(
    channel: grpc.Channel, db: sqlite3.Connection, tracebacks: _Tracebacks, bad: BadRequest
) -> set[int]:
    """Send ``bad`` and fail with everything wrong about the answer; the status codes it
    got (a stream's: those of its decisions' errors too)."""
    before = ledger_rows(db)
    reply = call(channel, bad)
    problems = problems_with(bad, reply)
    written = ledger_rows(db) - before
    # A stream's valid messages are dry runs: only its middle (bad) message may write.
    rejected = reply.code != code_pb2.OK or bool(reply.stream_errors)
    if rejected and written:
        problems.append(f"a rejected request wrote {written} rows")
    if tracebacks.records:
        problems.append(f"logged: {tracebacks.records[0].getMessage()}")
    assert not problems, (bad.method.path, bad.mutated, bad.bad_utf8, problems)
    return {reply.code} | {s.code for s in reply.stream_errors}


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_every_field_at_every_extreme_value(
    method: Method, channel: grpc.Channel, rows: sqlite3.Connection, no_tracebacks: _Tracebacks
) -> None:
    codes: set[int] = set()
    for edit in extreme_edits(method):
        codes |= judge(channel, rows, no_tracebacks, with_extremes(method, [edit]))
    if method.path.startswith("/tact.v1.DecisionService/"):
        assert code_pb2.INVALID_ARGUMENT in codes, "the sweep should find bad values"


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_bad_utf8_in_any_string_field_is_that_field_s_error(
    method: Method, channel: grpc.Channel, rows: sqlite3.Connection, no_tracebacks: _Tracebacks
) -> None:
    for path in string_paths(method):
        # A stream's status is OK: the error is in the decision of that message.
        codes = judge(channel, rows, no_tracebacks, with_bad_utf8(method, path))
        assert code_pb2.INVALID_ARGUMENT in codes, path


@st.composite
def bad_requests(draw: st.DrawFn) -> BadRequest:
    method = draw(st.sampled_from(METHODS))
    kind = draw(st.sampled_from(["bytes", "flipped", "cut", "extremes", "utf8"]))
    valid = method.valid().SerializeToString()
    if kind == "extremes" and extreme_edits(method):
        edits = draw(st.lists(st.sampled_from(extreme_edits(method)), min_size=1, max_size=4))
        return with_extremes(method, edits)
    if kind == "utf8" and string_paths(method):
        return with_bad_utf8(method, draw(st.sampled_from(string_paths(method))))
    if kind == "flipped" and valid:
        data = bytearray(valid)
        for at, byte in draw(
            st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(0, 255)), max_size=5)
        ):
            data[at] = byte
        payload = bytes(data)
    elif kind == "cut" and valid:
        payload = valid[: draw(st.integers(0, len(valid) - 1))]
    else:
        payload = draw(st.binary(max_size=300))
    framed = [valid, payload, valid] if method.streaming else [payload]
    return BadRequest(method, framed)


def test_seeded_fuzz_of_random_and_extreme_requests(
    channel: grpc.Channel, rows: sqlite3.Connection, no_tracebacks: _Tracebacks
) -> None:
    seen: set[int] = set()

    @settings(
        max_examples=600,
        derandomize=True,  # seeded: the same requests on every run
        database=None,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(bad_requests())
    def fuzz(bad: BadRequest) -> None:
        seen.update(judge(channel, rows, no_tracebacks, bad))

    fuzz()
    assert code_pb2.INVALID_ARGUMENT in seen and code_pb2.OK in seen


def test_a_huge_country_code_is_quoted_by_a_short_prefix(
    channel: grpc.Channel, rows: sqlite3.Connection, no_tracebacks: _Tracebacks
) -> None:
    """The issue's case: a 10,000-character country was echoed until the trailer passed
    the metadata limit (the client saw RESOURCE_EXHAUSTED)."""
    bad = with_extremes(METHODS[0], [(("case", "country"), "Q" * 10_000)])
    reply = call(channel, bad)
    assert reply.code == code_pb2.INVALID_ARGUMENT and reply.status is not None
    violations = error_details_pb2.BadRequest()
    assert reply.status.details[0].Unpack(violations)
    [violation] = violations.field_violations
    assert violation.field == "case.country"
    quoted = "'" + "Q" * QUOTE_CHARS
    assert violation.description.endswith(f"got {quoted[:QUOTE_CHARS]}…")
    assert "Q" * QUOTE_CHARS not in violation.description


def test_a_stream_answers_an_undecodable_message_in_its_place(
    channel: grpc.Channel, rows: sqlite3.Connection, no_tracebacks: _Tracebacks
) -> None:
    stream_method = next(m for m in METHODS if m.streaming)
    bad = with_bad_utf8(stream_method, ("case", "country"))
    identity = lambda b: b  # noqa: E731
    stream = channel.stream_stream(
        stream_method.path, request_serializer=identity, response_deserializer=identity
    )
    decisions = [
        decision_service_pb2.Decision.FromString(r) for r in stream(iter(bad.data), timeout=30)
    ]
    assert [d.HasField("error") for d in decisions] == [False, True, False]
    error = decisions[1].error
    assert error.code == code_pb2.INVALID_ARGUMENT
    violations = error_details_pb2.BadRequest()
    assert error.details[0].Unpack(violations)
    assert [v.field for v in violations.field_violations] == ["case.country"]
    assert decisions[1].treatment.action == 1 and not decisions[1].decision_id  # WAIT
    assert MARKER not in str(decisions[1])

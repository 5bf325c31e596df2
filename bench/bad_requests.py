"""Malformed and extreme requests for tact's gRPC methods, and what a correct answer is.

Used by the fuzz test of the suite (tests/engine/test_bad_input_fuzz.py, through
Hypothesis) and by the soak run (bench/bench_bad_input.py, seeded ``random``). Three
kinds of bad request, each as the raw bytes a client sends:

* **extreme values**: a valid request with some fields set to extreme values. The fields
  are enumerated from the request messages' descriptors, so a field added to the protos
  is fuzzed without touching this file;
* **bad UTF-8**: a valid request whose one ``string`` field holds bytes that are not
  UTF-8 (the framing stays valid, so the answer can name that field);
* **corrupt bytes**: random bytes, or a valid request's bytes flipped or cut.

:func:`problems_with` says what is wrong with an answer: an INTERNAL or UNKNOWN status,
an INVALID_ARGUMENT without ``BadRequest`` field violations naming the bad field, an
error that quotes more than a bounded prefix of a bad value, a status too large for
gRPC's metadata limits, a status code tact never gives for bad input.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health_pb2

from engine.convert import datetime_to_timestamp
from engine.limits import QUOTE_CHARS
from tact.v1 import admin_service_pb2, case_pb2, decision_service_pb2, types_pb2

REPO = Path(__file__).resolve().parents[1]
NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
MARKER = "Zq7wX9"
"""A string that occurs nowhere else in a request: its bytes are replaced by bad UTF-8."""

Path_ = tuple[str, ...]
"""A field path as its components: ``("case", "recent_events[0]", "occurred_at")``."""


def _base_case() -> case_pb2.Case:
    case = json_format.Parse(
        (REPO / "examples" / "cases" / "se-telecom-early.json").read_text(), case_pb2.Case()
    )
    # Every kind of field set: events (with amount, decision id and until), flags' date.
    case.flags.breathing_space_until.CopyFrom(datetime_to_timestamp(NOW - timedelta(days=90)))
    case.recent_events.add(
        event_id="fuzz-e1",  # case_id empty: "this case" (a field less tied to another)
        debtor_id=case.debtor_id,
        type=case_pb2.EVENT_TYPE_PAYMENT,
        occurred_at=datetime_to_timestamp(NOW - timedelta(days=3)),
        channel=types_pb2.CHANNEL_SMS,
        action=types_pb2.ACTION_REMINDER,
        amount=types_pb2.Money(amount_minor=1000, currency="SEK"),
        decision_id="dec-1",
    )
    case.recent_events.add(
        event_id="fuzz-e2",
        type=case_pb2.EVENT_TYPE_BREATHING_SPACE_STARTED,
        occurred_at=datetime_to_timestamp(NOW - timedelta(days=100)),
        until=datetime_to_timestamp(NOW - timedelta(days=90)),
    )
    return case


@dataclass(frozen=True)
class Method:
    """One fuzzed RPC: its path, request class, a valid request, and how it streams."""

    path: str
    request_class: type[Message]
    valid: Callable[[], Message]
    streaming: bool = False
    allowed: frozenset[int] = frozenset(
        {code_pb2.OK, code_pb2.INVALID_ARGUMENT, code_pb2.FAILED_PRECONDITION}
    )
    """Codes a bad request may get (FAILED_PRECONDITION: a valid code of a country without
    rules, as documented)."""


def _event() -> case_pb2.Event:
    event = case_pb2.Event()
    event.CopyFrom(_base_case().recent_events[0])
    event.case_id = "fuzz-case"  # RecordEvents needs it
    return event


METHODS: tuple[Method, ...] = (
    Method(
        "/tact.v1.DecisionService/Decide",
        decision_service_pb2.DecideRequest,
        lambda: decision_service_pb2.DecideRequest(
            case=_base_case(), now=datetime_to_timestamp(NOW)
        ),
    ),
    Method(
        "/tact.v1.DecisionService/DecideStream",
        decision_service_pb2.DecideRequest,
        lambda: decision_service_pb2.DecideRequest(
            case=_base_case(), now=datetime_to_timestamp(NOW), dry_run=True
        ),
        streaming=True,
    ),
    Method(
        "/tact.v1.DecisionService/CheckAction",
        decision_service_pb2.CheckActionRequest,
        lambda: decision_service_pb2.CheckActionRequest(
            case=_base_case(),
            proposed=types_pb2.Treatment(
                action=types_pb2.ACTION_REMINDER, channel=types_pb2.CHANNEL_SMS
            ),
            at=datetime_to_timestamp(NOW),
        ),
    ),
    Method(
        "/tact.v1.DecisionService/RecordEvents",
        decision_service_pb2.RecordEventsRequest,
        lambda: decision_service_pb2.RecordEventsRequest(events=[_event()]),
    ),
    Method(
        "/tact.v1.AdminService/GetStatus",
        admin_service_pb2.GetStatusRequest,
        admin_service_pb2.GetStatusRequest,
    ),
    Method(
        "/grpc.health.v1.Health/Check",
        health_pb2.HealthCheckRequest,
        health_pb2.HealthCheckRequest,
        allowed=frozenset({code_pb2.OK, code_pb2.INVALID_ARGUMENT, code_pb2.NOT_FOUND}),
    ),
)
METHOD_BY_PATH = {m.path: m for m in METHODS}


# ---- the fields of a request, from its descriptor -----------------------------------------
def field_paths(descriptor: Any, prefix: Path_ = ()) -> list[tuple[Path_, FieldDescriptor]]:
    """Every field reachable from ``descriptor``: a repeated field as itself and as its
    first element (``name[0]``), a message field and each of its fields."""
    out: list[tuple[Path_, FieldDescriptor]] = []
    for f in descriptor.fields:
        path = (*prefix, f.name)
        out.append((path, f))
        if f.type == FieldDescriptor.TYPE_MESSAGE and len(prefix) < 6:
            element = (*prefix, f"{f.name}[0]") if f.is_repeated else path
            out.extend(field_paths(f.message_type, element))
    return out


INT64_EDGES = (-(2**63), 2**63 - 1, -62135596800, 253402300799, -(10**12), 10**12)
"""int64 extremes, and Timestamp seconds at years 1 and 9999 and beyond."""


def extreme_values(f: FieldDescriptor) -> list[Any]:
    """Values of field ``f`` at and beyond every edge (a message: cleared or empty; a
    repeated field: empty or far too long)."""
    if f.is_repeated:
        return ["<empty>", "<many>"]
    kind = f.type
    if kind == FieldDescriptor.TYPE_STRING:
        return [
            "",
            "x" * 10_000,
            "x" * 129,
            "\x00",
            "a\nb",
            "SE\n",
            "ZZ",
            "ÅÄÖ",
            "🙂" * 70,
            "\u202eevil",
            "../../etc/passwd",
        ]
    if kind == FieldDescriptor.TYPE_BOOL:
        return [True, False]
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return [float("nan"), float("inf"), float("-inf"), -0.0, 1e308, -1e308, 5e-324]
    if kind == FieldDescriptor.TYPE_ENUM:
        assert f.enum_type is not None
        top = max(v.number for v in f.enum_type.values)
        return [0, -1, top, top + 1, 2**31 - 1, -(2**31)]
    if kind == FieldDescriptor.TYPE_MESSAGE:
        return ["<clear>", "<empty>"]
    if kind in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64):
        return [0, -1, 1, *INT64_EDGES]
    if kind in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64):
        return [0, 2 ** (32 if kind == FieldDescriptor.TYPE_UINT32 else 64) - 1]
    return [0, -1, 1, -(2**31), 2**31 - 1, 10**9, -(10**9)]  # int32 and kin


def _resolve(message: Message, path: Path_) -> tuple[Message, str]:
    """(the message holding the last component of ``path``, that field's name), creating
    the element ``name[0]`` on the way when a list is empty."""
    for part in path[:-1]:
        name, _, index = part.partition("[")
        if index:
            items = getattr(message, name)
            if not items:
                items.add()
            message = items[0]
        else:
            message = getattr(message, name)
    return message, path[-1]


def set_value(message: Message, path: Path_, value: Any) -> None:
    """Set field ``path`` of ``message`` to ``value`` (see :func:`extreme_values`)."""
    holder, name = _resolve(message, path)
    target = getattr(holder, name)
    if value == "<clear>":
        holder.ClearField(name)
    elif value == "<empty>":
        if isinstance(target, Message):
            holder.ClearField(name)
            target.SetInParent()
        else:
            del target[:]
    elif isinstance(value, Message):
        target.CopyFrom(value)
    elif value == "<many>":
        seed = list(target) or [target.add()]
        del target[:]
        target.extend(seed[0] for _ in range(2001))
    else:
        setattr(holder, name, value)


# ---- the three kinds of bad request -------------------------------------------------------
@dataclass
class BadRequest:
    """The bytes of one bad request and what was done to make them bad."""

    method: Method
    data: list[bytes]
    """One message for a unary call; the messages of a stream."""
    mutated: list[Path_] = field(default_factory=list)
    """Fields set to extreme values (a violation must name one of them)."""
    bad_utf8: Path_ | None = None
    """The string field whose bytes are not UTF-8 (a violation must name exactly it)."""
    values: list[str] = field(default_factory=list)
    """String values sent (no error may quote more than a bounded prefix of one)."""


def with_extremes(method: Method, edits: list[tuple[Path_, Any]]) -> BadRequest:
    request = method.valid()
    for path, value in edits:
        set_value(request, path, value)
    data = request.SerializeToString()
    values = [v for _, v in edits if isinstance(v, str) and not v.startswith("<")]
    return BadRequest(method, _framed(method, data), [p for p, _ in edits], values=values)


def with_bad_utf8(method: Method, path: Path_) -> BadRequest:
    request = method.valid()
    set_value(request, path, MARKER)
    data = request.SerializeToString()
    assert data.count(MARKER.encode()) == 1, path
    bad = data.replace(MARKER.encode(), b"\xff\xfe" * (len(MARKER) // 2))
    return BadRequest(method, _framed(method, bad), bad_utf8=path)


def with_corrupt_bytes(method: Method, rng: random.Random) -> BadRequest:
    valid = method.valid().SerializeToString()
    how = rng.randrange(3)
    if how == 0 or not valid:
        data = rng.randbytes(rng.randrange(1, 200))
    elif how == 1:
        flipped = bytearray(valid)
        for _ in range(rng.randrange(1, 6)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        data = bytes(flipped)
    else:
        data = valid[: rng.randrange(len(valid))]
    return BadRequest(method, _framed(method, data))


def _framed(method: Method, data: bytes) -> list[bytes]:
    """A stream sends the bad message between two valid ones (order and isolation)."""
    if not method.streaming:
        return [data]
    valid = method.valid().SerializeToString()
    return [valid, data, valid]


def string_paths(method: Method) -> list[Path_]:
    return [
        p
        for p, f in field_paths(method.request_class.DESCRIPTOR)
        if f.type == FieldDescriptor.TYPE_STRING and not f.is_repeated
    ]


def extreme_edits(method: Method) -> list[tuple[Path_, Any]]:
    """Every (field, extreme value) pair of ``method``'s request."""
    return [
        (path, value)
        for path, f in field_paths(method.request_class.DESCRIPTOR)
        for value in extreme_values(f)
    ]


def random_bad_requests(seed: int) -> Iterator[BadRequest]:
    """An endless, seeded mix of the three kinds over every method."""
    rng = random.Random(seed)
    edits = {m.path: extreme_edits(m) for m in METHODS}
    strings = {m.path: string_paths(m) for m in METHODS}
    while True:
        method = rng.choice(METHODS)
        kind = rng.randrange(3)
        if kind == 0 and edits[method.path]:
            yield with_extremes(method, rng.sample(edits[method.path], rng.randrange(1, 4)))
        elif kind == 1 and strings[method.path]:
            yield with_bad_utf8(method, rng.choice(strings[method.path]))
        else:
            yield with_corrupt_bytes(method, rng)


# ---- calling and judging --------------------------------------------------------------------
LEDGER_TABLES = ("ledger_event", "decision", "outcome")


def ledger_rows(db: sqlite3.Connection) -> int:
    """Rows in the ledger's tables (a rejected request must not change the count)."""
    query = " + ".join(f"(SELECT count(*) FROM {t})" for t in LEDGER_TABLES)
    return int(db.execute(f"SELECT {query}").fetchone()[0])


@dataclass
class Reply:
    code: int
    status: status_pb2.Status | None
    """The rich status of an error (None for OK or when there is none)."""
    trailer_bytes: int = 0
    answered: int = 1
    """Responses received (a stream: one per request message)."""
    stream_errors: list[status_pb2.Status] = field(default_factory=list)
    """``Decision.error`` of a stream's responses that have one."""


def call(channel: grpc.Channel, bad: BadRequest, timeout: float = 30) -> Reply:
    """Send ``bad`` as raw bytes through a generic channel method."""
    identity: Callable[[bytes], bytes] = lambda b: b  # noqa: E731
    try:
        if bad.method.streaming:
            stream = channel.stream_stream(
                bad.method.path, request_serializer=identity, response_deserializer=identity
            )
            responses = [
                decision_service_pb2.Decision.FromString(r)
                for r in stream(iter(bad.data), timeout=timeout)
            ]
            errors = [r.error for r in responses if r.HasField("error")]
            return Reply(code_pb2.OK, None, answered=len(responses), stream_errors=errors)
        unary = channel.unary_unary(
            bad.method.path, request_serializer=identity, response_deserializer=identity
        )
        unary(bad.data[0], timeout=timeout)
        return Reply(code_pb2.OK, None)
    except grpc.RpcError as err:
        metadata: Any = err.trailing_metadata()  # type: ignore[attr-defined]
        trailers: dict[str, Any] = dict(metadata or ())
        raw = trailers.get("grpc-status-details-bin", b"")
        status = status_pb2.Status.FromString(raw) if raw else None
        size = sum(len(key) + len(value) for key, value in trailers.items())
        return Reply(err.code().value[0], status, size)  # type: ignore[attr-defined]


MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""gRPC's default limit on a received message."""
TRAILER_BUDGET = 4096
"""An error's trailers stay well under gRPC's 8 KiB metadata limit."""


def problems_with(bad: BadRequest, reply: Reply) -> list[str]:
    """What is wrong with ``reply`` as the answer to ``bad`` (empty: nothing)."""
    out: list[str] = []
    statuses = list(reply.stream_errors)
    if bad.method.streaming and reply.code == code_pb2.OK and reply.answered != len(bad.data):
        out.append(f"the stream answered {reply.answered} of {len(bad.data)} messages")
    too_large = max(len(d) for d in bad.data) > MAX_MESSAGE_BYTES
    if reply.code == code_pb2.RESOURCE_EXHAUSTED and too_large:
        return out  # gRPC's own limit on a message, before tact sees it (documented)
    if reply.code != code_pb2.OK:
        if reply.code not in bad.method.allowed:
            out.append(f"status {code_pb2.Code.Name(reply.code)} for a bad request")
        if reply.trailer_bytes > TRAILER_BUDGET:
            out.append(f"trailers of {reply.trailer_bytes} bytes")
        if reply.code == code_pb2.INVALID_ARGUMENT:
            statuses.append(reply.status or status_pb2.Status(code=reply.code))
    for status in statuses:
        if status.code == code_pb2.INVALID_ARGUMENT:
            out.extend(_bad_request_problems(bad, status))
        elif status.code not in bad.method.allowed:
            out.append(f"stream error {code_pb2.Code.Name(status.code)} for a bad request")
    return out


def _bad_request_problems(bad: BadRequest, status: status_pb2.Status) -> list[str]:
    out: list[str] = []
    violations: list[error_details_pb2.BadRequest.FieldViolation] = []
    for detail in status.details:
        details = error_details_pb2.BadRequest()
        if detail.Unpack(details):
            violations.extend(details.field_violations)
    if not violations:
        return ["INVALID_ARGUMENT without BadRequest field violations"]
    fields = [_components(v.field) for v in violations]
    if bad.bad_utf8 is not None and bad.bad_utf8 not in fields:
        out.append(f"bad UTF-8 in {'.'.join(bad.bad_utf8)} but violations name {fields}")
    if bad.mutated and not any(_related(f, m) for f in fields for m in bad.mutated):
        out.append(f"violations {fields} name none of the fields set {bad.mutated}")
    texts = [status.message, *(v.description for v in violations)]
    for value in bad.values:
        if len(value) > QUOTE_CHARS and any(value[: QUOTE_CHARS + 1] in t for t in texts):
            out.append(f"an error quotes more than {QUOTE_CHARS} characters of a value")
    return out


def _components(field_path: str) -> Path_:
    return tuple(field_path.split(".")) if field_path else ()


def _related(violation: Path_, mutated: Path_) -> bool:
    """One path leads to the other: a Timestamp's ``seconds`` to the Timestamp, a
    message to its fields, a list (``events``) to its elements (``events[3]``)."""
    n = min(len(violation), len(mutated))
    return n > 0 and all(_same_field(a, b) for a, b in zip(violation[:n], mutated[:n], strict=True))


def _same_field(a: str, b: str) -> bool:
    """The same field, or a list and its elements (a duplicate of the element set is
    reported at the other copy)."""
    return a.partition("[")[0] == b.partition("[")[0]


__all__ = [
    "METHODS",
    "METHOD_BY_PATH",
    "BadRequest",
    "Method",
    "Reply",
    "call",
    "extreme_edits",
    "field_paths",
    "ledger_rows",
    "problems_with",
    "random_bad_requests",
    "string_paths",
    "with_bad_utf8",
    "with_corrupt_bytes",
    "with_extremes",
]

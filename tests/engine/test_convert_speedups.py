"""The fast request parsing, decision rendering and inputs digest give exactly what the
previous implementations gave (kept verbatim in bench/bench_convert.py as ``reference_*``):
the same domain objects, the same violations (field paths, descriptions, order), the
same exceptions, the same Decision bytes and the same digest, on the example cases and
on many random and mutated requests.

Requests are drawn within the documented limits (engine/limits.py: printable ids, the
timestamp range): outside them the new validation deliberately differs from the
reference (which let such values through to fail later, as INTERNAL errors); those values
are tested in tests/engine/test_request_limits.py."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.bench_convert import (
    NOW,
    example_cases,
    example_outcomes,
    reference_case_from_proto,
    reference_datetime_to_timestamp,
    reference_decision_to_proto,
    reference_digest,
    reference_events_from_proto,
    reference_timestamp_to_date,
    reference_timestamp_to_datetime,
    reference_treatment_to_proto,
)
from engine import limits
from engine.catalogue import CATALOGUE
from engine.compliance.verdict import RuleHit
from engine.convert import (
    _timestamp_to_date,
    case_from_proto,
    datetime_to_timestamp,
    events_from_proto,
    local_isoformat,
    timestamp_to_datetime,
    treatment_to_proto,
)
from engine.errors import InvalidRequestError
from engine.outcomes import DecisionOutcome
from engine.service import DecisionServicer, decision_to_proto
from tact.v1 import case_pb2
from tact.v1.decision_service_pb2 import DecideRequest

FAST = settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SECONDS_MIN, SECONDS_MAX = -62135596800, 253402300799
LIMIT_MIN = int(limits.EARLIEST.timestamp())
LIMIT_MAX = int(limits.LATEST.timestamp()) - 1
printable = st.characters(exclude_categories=("C", "Z"))


def result_of(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What ``fn`` returns (by repr: enum members and tzinfo included), or how it fails."""
    try:
        value = fn(*args)
    except InvalidRequestError as exc:
        return ("invalid", [(v.field, v.description) for v in exc.violations], str(exc))
    except Exception as exc:
        return ("error", type(exc), str(exc))
    return ("ok", repr(value))


# ---- strategies -------------------------------------------------------------------------
ids = st.sampled_from(["", "c-1", "x" * 128, "x" * 129, "é" * 40])
countries = st.sampled_from(["SE", "US", "GB", "se", "S", "SWE", "SE\n", "ÅÄ", "S1", ""])
currencies = st.sampled_from(["SEK", "USD", "sek", "SE", "SEKK", "SEK\n", "ÅÄÖ", ""])
subdivisions = st.sampled_from(["", "US-MA", "SE-AB", "US-ma", "US-MAXX", "US-MA\n", "US-", "se-1"])
zones = st.sampled_from(["", "Europe/Stockholm", "America/Chicago", "Mars/Base", "../x", "UTC"])
enum_values = st.integers(min_value=-2, max_value=30)
floats = st.one_of(
    st.sampled_from([0.0, -0.0, 0.5, 1.0, 1.0000001, -1e-9, float("nan"), float("inf")]),
    st.floats(min_value=-0.5, max_value=1.5),
)
# Mostly valid Timestamps, with some out of range (both versions must raise alike).
seconds = st.one_of(
    st.integers(min_value=1_700_000_000, max_value=1_900_000_000),
    st.integers(min_value=SECONDS_MIN - 5, max_value=SECONDS_MAX + 5),
    st.sampled_from([SECONDS_MIN, SECONDS_MAX, SECONDS_MIN - 1, SECONDS_MAX + 1, 0, -1]),
)
nanos = st.one_of(
    st.integers(min_value=0, max_value=999_999_999),
    st.sampled_from([0, 999, 1000, 999_999_999, 1_000_000_000, -1]),
)
# In requests: Timestamps within the limits (and their edges).
request_seconds = st.one_of(
    st.integers(min_value=1_700_000_000, max_value=1_900_000_000),
    st.integers(min_value=LIMIT_MIN, max_value=LIMIT_MAX),
    st.sampled_from([LIMIT_MIN, LIMIT_MAX, 0, -1]),
)
timestamps = st.builds(
    lambda s, n: {"seconds": s, "nanos": n},
    request_seconds,
    st.integers(min_value=0, max_value=999_999_999),
)
money = st.one_of(
    st.none(),
    st.builds(
        lambda a, c: {"amount_minor": a, "currency": c},
        st.integers(min_value=-5, max_value=10**12),
        currencies,
    ),
)


@st.composite
def events(draw: st.DrawFn, case_id: str = "c-1") -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": draw(ids),
        "case_id": draw(st.sampled_from(["", case_id, "other"])),
        "debtor_id": draw(st.sampled_from(["", "d-1"])),
        "type": draw(st.one_of(st.integers(min_value=0, max_value=27), enum_values)),
        "channel": draw(st.integers(min_value=-1, max_value=7)),
        "action": draw(st.integers(min_value=-1, max_value=9)),
        "decision_id": draw(st.sampled_from(["", "dec-1"])),
        "attempt_event_id": draw(st.one_of(ids, st.just("a-1"))),
    }
    for name in ("occurred_at", "until"):
        if draw(st.integers(0, 4)):  # mostly present
            event[name] = draw(timestamps)
    if (amount := draw(money)) is not None:
        event["amount"] = amount
    return event


@st.composite
def cases(draw: st.DrawFn) -> case_pb2.Case:
    case_id = draw(ids)
    values: dict[str, Any] = {
        "case_id": case_id,
        "debtor_id": draw(ids),
        "country": draw(countries),
        "subdivision": draw(subdivisions),
        "timezone": draw(zones),
        "days_past_due": draw(st.integers(min_value=-3, max_value=400)),
        "product": draw(enum_values),
        "consents": [
            {"channel": ch, "status": status}
            for ch, status in draw(
                st.lists(
                    st.tuples(
                        st.integers(min_value=-1, max_value=7),
                        st.integers(min_value=-1, max_value=4),
                    ),
                    max_size=4,
                )
            )
        ],
        "recent_events": draw(st.lists(events(case_id), max_size=5)),
    }
    for name in ("outstanding", "original"):
        if (amount := draw(money)) is not None:
            values[name] = amount
    if draw(st.booleans()):
        values["debtor"] = {
            "age_band": draw(enum_values),
            "language": draw(st.sampled_from(["", "sv-SE"])),
            "tenure_months": draw(st.integers(min_value=-2, max_value=400)),
            "prior_on_time_ratio": draw(floats),
            "risk_score": draw(floats),
            "has_app": draw(st.booleans()),
        }
    flags = {
        name: draw(st.booleans())
        for name in ("dispute", "vulnerable", "hardship", "time_barred", "deceased")
    }
    if draw(st.booleans()):
        flags["breathing_space_until"] = draw(timestamps)
    values["flags"] = flags
    return case_pb2.Case(**values)


def valid_cases() -> list[case_pb2.Case]:
    return example_cases()


EDITS: list[Callable[[case_pb2.Case], object]] = [
    lambda c: setattr(c, "case_id", ""),
    lambda c: setattr(c, "debtor_id", "d" * 129),
    lambda c: setattr(c, "country", "se"),
    lambda c: setattr(c, "timezone", "Nowhere/Else"),
    lambda c: c.ClearField("outstanding"),
    lambda c: setattr(c.outstanding, "amount_minor", -1),
    lambda c: setattr(c.original, "currency", "ZZZ"),
    lambda c: setattr(c, "days_past_due", -1),
    lambda c: setattr(c, "product", 99),
    lambda c: setattr(c.debtor, "age_band", 9),
    lambda c: setattr(c.debtor, "risk_score", float("nan")),
    lambda c: c.consents.add(channel=2, status=1) and c.consents.add(channel=2, status=2),
    lambda c: c.consents.add(channel=0, status=7),
    lambda c: c.recent_events.add(event_id="", type=26, channel=9, action=12),
    lambda c: c.recent_events.add(event_id="e", type=18, amount={"currency": "x"}),
    lambda c: c.recent_events.add(event_id="e", type=1, case_id="other"),
]
"""One-field breakages of a valid case, each of a different validation rule."""


def mutations(case: case_pb2.Case) -> list[case_pb2.Case]:
    out = []
    for edit in EDITS:
        mutated = case_pb2.Case()
        mutated.CopyFrom(case)
        edit(mutated)
        out.append(mutated)
    return out


valid_timestamps = st.builds(
    lambda s, n: {"seconds": s, "nanos": n},
    st.integers(min_value=LIMIT_MIN, max_value=LIMIT_MAX),
    st.integers(min_value=0, max_value=999_999_999),
)
EVENT_KINDS = list(range(1, 26))  # not 26, CONTACT_PLANNED: tact's own


@st.composite
def valid_events(draw: st.DrawFn, case_id: str) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_id": draw(st.text(printable, min_size=1, max_size=12)),
        "case_id": draw(st.sampled_from(["", case_id])),
        "type": draw(st.sampled_from(EVENT_KINDS)),
        "channel": draw(st.integers(min_value=1, max_value=5)),
        "action": draw(st.integers(min_value=0, max_value=8)),
        "occurred_at": draw(valid_timestamps),
        "decision_id": draw(st.sampled_from(["", "dec-1"])),
        "attempt_event_id": draw(st.one_of(ids, st.just("a-1"))),
    }
    if draw(st.booleans()):
        event["until"] = draw(valid_timestamps)
    elif event["type"] == 18:
        event["type"] = 19
    if draw(st.booleans()):
        event["amount"] = {
            "amount_minor": draw(st.integers(0, 10**9)),
            "currency": draw(st.sampled_from(["", "SEK"])),
        }
    return event


@st.composite
def edited_examples(draw: st.DrawFn) -> case_pb2.Case:
    """An example case with random valid field values, then maybe one breakage."""
    case = case_pb2.Case()
    case.CopyFrom(draw(st.sampled_from(valid_cases())))
    case.case_id = draw(st.text(printable, min_size=1, max_size=20))
    case.days_past_due = draw(st.integers(min_value=0, max_value=2**31 - 1))
    case.product = draw(st.integers(min_value=0, max_value=5))  # type: ignore[assignment]
    debtor = draw(st.sampled_from(["keep", "random", "unset", "empty"]))
    if debtor == "random":
        case.debtor.age_band = draw(st.integers(0, 4))  # type: ignore[assignment]
        case.debtor.prior_on_time_ratio = draw(st.floats(0.0, 1.0))
        case.debtor.risk_score = draw(st.floats(0.0, 1.0))
        case.debtor.tenure_months = draw(st.integers(0, 600))
    elif debtor == "unset":
        case.ClearField("debtor")
    elif debtor == "empty":
        case.ClearField("debtor")
        case.debtor.SetInParent()
    # At most 3: an edit may add 2, and more than 5 (one per channel) is over the limit.
    consents = draw(st.dictionaries(st.integers(1, 5), st.integers(0, 2), max_size=3))
    del case.consents[:]
    for channel, status in consents.items():
        case.consents.add(channel=channel, status=status)  # type: ignore[arg-type]
    del case.recent_events[:]
    case.recent_events.extend(
        case_pb2.Event(**e) for e in draw(st.lists(valid_events(case.case_id), max_size=5))
    )
    if draw(st.booleans()):
        ts = draw(valid_timestamps)
        case.flags.breathing_space_until.seconds = ts["seconds"]
        case.flags.breathing_space_until.nanos = ts["nanos"]
    if draw(st.booleans()):
        draw(st.sampled_from(EDITS))(case)
    return case


# ---- case_from_proto / events_from_proto ------------------------------------------------
@pytest.mark.parametrize("prefix", ["case", "cases[3]"])
def test_examples_and_their_mutations_parse_alike(prefix: str) -> None:
    for case in valid_cases():
        assert result_of(case_from_proto, case, prefix)[0] == "ok"
        assert result_of(case_from_proto, case, prefix) == result_of(
            reference_case_from_proto, case, prefix
        )
        for mutated in mutations(case):
            new = result_of(case_from_proto, mutated, prefix)
            assert new[0] == "invalid"
            assert new == result_of(reference_case_from_proto, mutated, prefix)


@FAST
@given(cases())
def test_random_cases_parse_alike(case: case_pb2.Case) -> None:
    assert result_of(case_from_proto, case) == result_of(reference_case_from_proto, case)


@FAST
@given(edited_examples())
def test_edited_examples_parse_alike(case: case_pb2.Case) -> None:
    assert result_of(case_from_proto, case) == result_of(reference_case_from_proto, case)


@FAST
@given(st.lists(events(), max_size=6))
def test_random_record_events_parse_alike(batch: list[dict[str, Any]]) -> None:
    messages = [case_pb2.Event(**e) for e in batch]
    new = result_of(
        lambda: (lambda p: (p.events, p.debtor_ids, p.currencies))(events_from_proto(messages))
    )
    assert new == result_of(reference_events_from_proto, messages)


def test_valid_random_cases_are_generated() -> None:
    """The strategy reaches the conversion path too, not only violations."""
    ok = 0

    @settings(max_examples=300, deadline=None, database=None, derandomize=True)
    @given(edited_examples())
    def count(case: case_pb2.Case) -> None:
        nonlocal ok
        ok += result_of(case_from_proto, case)[0] == "ok"

    count()
    assert ok > 30


# ---- Timestamp conversions --------------------------------------------------------------
@FAST
@given(seconds, nanos)
def test_timestamp_conversions_match_the_protobuf_ones(s: int, n: int) -> None:
    ts = datetime_to_timestamp(NOW)
    ts.seconds, ts.nanos = s, n
    assert result_of(timestamp_to_datetime, ts) == result_of(reference_timestamp_to_datetime, ts)
    assert result_of(_timestamp_to_date, ts) == result_of(reference_timestamp_to_date, ts)


datetimes = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.none()
)
tzinfos = st.one_of(
    st.just(UTC),
    st.builds(lambda m: timezone(timedelta(minutes=m)), st.integers(-23 * 60, 23 * 60)),
    st.sampled_from([ZoneInfo("Europe/Stockholm"), ZoneInfo("America/Chicago"), ZoneInfo("UTC")]),
)


@FAST
@given(datetimes, tzinfos, st.booleans())
def test_datetime_to_timestamp_matches_from_datetime(at: datetime, tz: Any, naive: bool) -> None:
    at = at if naive else at.replace(tzinfo=tz)
    new = result_of(lambda: datetime_to_timestamp(at).SerializeToString())
    assert new == result_of(lambda: reference_datetime_to_timestamp(at).SerializeToString())


# ---- decision_to_proto ------------------------------------------------------------------
@pytest.fixture(scope="module")
def outcomes() -> list[DecisionOutcome]:
    return example_outcomes(example_cases())


def same_decision(outcome: DecisionOutcome, include_inputs: bool) -> None:
    new = decision_to_proto(outcome, include_inputs=include_inputs)
    old = reference_decision_to_proto(outcome, include_inputs=include_inputs)
    assert new == old
    assert new.SerializeToString(deterministic=True) == old.SerializeToString(deterministic=True)


@pytest.mark.parametrize("include_inputs", [False, True])
def test_example_decisions_render_alike(
    outcomes: list[DecisionOutcome], include_inputs: bool
) -> None:
    assert any(o.send_at is not None for o in outcomes)
    assert any(o.next_review_at is not None for o in outcomes)
    for outcome in outcomes:
        same_decision(outcome, include_inputs)


text = st.text(max_size=20)
instants = st.datetimes(
    min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.integers(min_value=0, max_value=len(CATALOGUE) - 1),
    st.integers(min_value=0, max_value=10**12),
    st.sampled_from(["SEK", "USD", ""]),
    st.one_of(st.none(), instants, instants.map(lambda t: t.astimezone(ZoneInfo("Asia/Tokyo")))),
    st.one_of(st.none(), instants),
    st.sampled_from(["Europe/Stockholm", "America/Chicago", "Asia/Kolkata", "UTC"]),
    st.booleans(),
)
def test_random_decisions_render_alike(
    outcomes: list[DecisionOutcome],
    data: st.DataObject,
    index: int,
    outstanding: int,
    currency: str,
    send_at: datetime | None,
    next_review_at: datetime | None,
    zone: str,
    include_inputs: bool,
) -> None:
    base = data.draw(st.sampled_from(outcomes))
    outcome = dataclasses.replace(
        base,
        decision_id=data.draw(text),
        snapshot=dataclasses.replace(
            base.snapshot, outstanding_minor=outstanding, currency=currency
        ),
        index=index,
        treatment=CATALOGUE[index],
        decided_at=data.draw(instants),
        zone=ZoneInfo(zone),
        send_at=send_at,
        next_review_at=next_review_at,
        policy_name=data.draw(text),
        policy_version=data.draw(text),
        arm=data.draw(st.sampled_from(["", "champion", "challenger"])),
        propensity=data.draw(st.floats(min_value=0.0, max_value=1.0)),
        sampled=data.draw(st.booleans()),
        ruleset_version=data.draw(text),
        rule_hits=tuple(
            RuleHit(*hit) for hit in data.draw(st.lists(st.tuples(text, text, text), max_size=4))
        ),
        explanation=data.draw(text),
        dry_run=data.draw(st.booleans()),
    )
    same_decision(outcome, include_inputs)


@FAST
@given(datetimes, tzinfos, st.sampled_from([0, 1]), st.sampled_from(["Europe/Stockholm", "UTC"]))
def test_local_isoformat_is_astimezone_isoformat(
    at: datetime, tz: Any, fold: int, zone: str
) -> None:
    at = at.replace(tzinfo=tz, fold=fold)
    for _ in range(2):  # computed, then remembered
        assert result_of(local_isoformat, at, ZoneInfo(zone)) == result_of(
            lambda: at.astimezone(ZoneInfo(zone)).isoformat()
        )


def test_local_isoformat_tells_folds_apart() -> None:
    stockholm = ZoneInfo("Europe/Stockholm")
    first = datetime(2026, 10, 25, 2, 30, tzinfo=stockholm)  # the hour clocks repeat
    second = first.replace(fold=1)
    assert first == second  # same zone: compared by wall time, fold ignored
    for at in (first, second, first, second):
        assert local_isoformat(at, UTC) == at.astimezone(UTC).isoformat()  # type: ignore[arg-type]


def test_every_catalogue_treatment_renders_alike() -> None:
    for index, treatment in enumerate(CATALOGUE):
        for outstanding in (0, 1, 99_999, 10**12 + 7):
            new = treatment_to_proto(
                treatment, index, outstanding_minor=outstanding, currency="SEK"
            )
            old = reference_treatment_to_proto(
                treatment, index, outstanding_minor=outstanding, currency="SEK"
            )
            assert new.SerializeToString() == old.SerializeToString()


# ---- inputs digest ----------------------------------------------------------------------
unknown_fields = st.sampled_from(
    [
        b"",
        b"\x28\x01",  # field 5 (not in this schema), varint
        b"\xfa\x3e\x03abc",  # field 1007, bytes
        b"\x10\x07",  # field 2 (now) with the wrong wire type: kept as an unknown field
        b"\x08\x01\x28\x02",  # field 1 (case) with the wrong wire type, then field 5
    ]
)


def request_with(
    case: case_pb2.Case | None,
    now: dict[str, int] | None,
    dry_run: bool,
    include_inputs: bool,
    unknown: bytes,
    unknown_in_now: bool,
) -> DecideRequest:
    request = DecideRequest(case=case, dry_run=dry_run, include_inputs=include_inputs)
    if now is not None:
        request.now.seconds, request.now.nanos = now["seconds"], now["nanos"]
    data = request.SerializeToString()
    if unknown_in_now:  # an unknown field inside `now`: gone once `now` is pinned
        data += b"\x12\x02\x18\x01"
    parsed = DecideRequest()
    parsed.ParseFromString(data + unknown)
    return parsed


@FAST
@given(
    st.one_of(st.none(), cases(), st.sampled_from(valid_cases())),
    st.one_of(st.none(), timestamps),
    st.booleans(),
    st.booleans(),
    unknown_fields,
    st.booleans(),
    st.one_of(instants, datetimes.map(lambda t: t.replace(tzinfo=UTC))),
)
def test_digest_is_the_digest_of_the_pinned_copy(
    case: case_pb2.Case | None,
    now: dict[str, int] | None,
    dry_run: bool,
    include_inputs: bool,
    unknown: bytes,
    unknown_in_now: bool,
    pinned_now: datetime,
) -> None:
    request = request_with(case, now, dry_run, include_inputs, unknown, unknown_in_now)
    assert DecisionServicer._digest(request, pinned_now) == reference_digest(request, pinned_now)


def test_digest_of_examples_as_the_servicer_calls_it() -> None:
    for case in valid_cases():
        for now in (None, reference_datetime_to_timestamp(NOW)):
            request = DecideRequest(case=case, now=now)
            at = NOW if now is None else timestamp_to_datetime(request.now)
            assert DecisionServicer._digest(request, at) == reference_digest(request, at)
        # Sub-microsecond `now`: the pinned value (microseconds) differs from the request's.
        request = DecideRequest(case=case, now={"seconds": 1_795_000_000, "nanos": 123_456_789})
        at = timestamp_to_datetime(request.now)
        assert DecisionServicer._digest(request, at) == reference_digest(request, at)
    assert DecisionServicer._digest(DecideRequest(), NOW) == reference_digest(DecideRequest(), NOW)

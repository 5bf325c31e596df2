"""Request parsing and decision rendering: ``case_from_proto``, ``decision_to_proto`` and
the servicer's ``_digest``, each against its previous implementation in the same run.

The previous implementations are kept below as they were, only renamed (``reference_*``),
so that the figures are ratios measured on the same machine at the same time (these
machines are shared and noisy), and so that tests/engine/test_convert_speedups.py can
prove the new functions give the same results. Old and new calls are interleaved, input
by input, in alternating order; set-up objects are frozen out of the garbage collector
first.

    .venv/bin/python bench/bench_convert.py [--rounds 300] [--json out.json]

Inputs: the example cases (examples/cases/*.json) as ``DecideRequest``s with ``now``
pinned (and, for ``_digest``, also without ``now``: the server-clock path), one invalid
case with several bad fields, and the decisions the pipeline makes for the examples
(``ladder`` policy, dry run, SQLite ledger in a temporary directory).
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from enum import IntEnum
from functools import cache
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import engine  # noqa: E402, F401, I001 - first: pins OpenBLAS to one thread before numpy loads
import numpy as np  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from google.protobuf.timestamp_pb2 import Timestamp  # noqa: E402

from engine.catalogue import (  # noqa: E402
    CATALOGUE,
    DEFERRAL_DAYS,
    PLAN_INSTALMENTS,
    SETTLEMENT_DISCOUNT,
    Action,
    Channel,
    Offer,
    Treatment,
)
from engine.errors import FieldViolation, InvalidRequestError  # noqa: E402
from engine.features import feature_schema_hash  # noqa: E402
from engine.ledger import inputs_digest  # noqa: E402
from engine.outcomes import DecisionOutcome  # noqa: E402
from engine.state import (  # noqa: E402
    AgeBand,
    CaseFlags,
    CaseSnapshot,
    ConsentStatus,
    DebtorProfile,
    EventKind,
    LedgerEvent,
    Product,
)
from tact.v1 import case_pb2, decision_service_pb2, types_pb2  # noqa: E402

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
EXAMPLES = sorted((REPO / "examples" / "cases").glob("*.json"))


# ---- reference: the implementations before this change (engine/convert.py, service.py) ---
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_SUBDIVISION = re.compile(r"[A-Z]{2}-[A-Z0-9]{1,3}")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MAX_ID = 128
_CHANNELS = frozenset(int(ch) for ch in Channel if ch is not Channel.NONE)
_CHANNEL_NAMES = [ch.name for ch in Channel if ch is not Channel.NONE]
_ACTIONS = frozenset(int(a) for a in Action)
_EVENT_KINDS = frozenset(int(k) for k in EventKind)
_CONSENT_STATUSES = frozenset(int(s) for s in ConsentStatus)


def reference_timestamp_to_datetime(ts: Timestamp) -> datetime:
    return ts.ToDatetime(tzinfo=UTC)


def reference_datetime_to_timestamp(at: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(at.astimezone(UTC))
    return ts


def reference_timestamp_to_date(ts: Timestamp) -> date:
    return ts.ToDatetime(tzinfo=UTC).date()


class _Collector:
    def __init__(self) -> None:
        self.violations: list[FieldViolation] = []

    def check(self, ok: bool, field: str, description: str) -> bool:
        if not ok:
            self.violations.append(FieldViolation(field, description))
        return ok

    def raise_if_any(self) -> None:
        if self.violations:
            raise InvalidRequestError(self.violations)


def _check_id(c: _Collector, value: str, field: str) -> None:
    c.check(bool(value), field, "is required (a non-empty pseudonymous id)")
    c.check(len(value) <= _MAX_ID, field, f"is longer than {_MAX_ID} characters")


def _check_money(c: _Collector, money: types_pb2.Money, field: str, *, required: bool) -> None:
    if not required and not money.currency and money.amount_minor == 0:
        return
    c.check(
        bool(_CURRENCY.fullmatch(money.currency)),
        f"{field}.currency",
        f"must be an ISO 4217 code like 'SEK', got {money.currency!r}",
    )
    c.check(money.amount_minor >= 0, f"{field}.amount_minor", "must be ≥ 0 (minor units)")


@cache
def _enum_members(enum_cls: type[IntEnum]) -> tuple[frozenset[int], list[str]]:
    return frozenset(int(m) for m in enum_cls), [m.name for m in enum_cls]


def _enum_value(
    c: _Collector, enum_cls: type[IntEnum], value: int, field: str, *, allow_zero: bool
) -> int:
    if value == 0 and allow_zero:
        return 0
    valid, names = _enum_members(enum_cls)
    if value not in valid:
        c.check(False, field, f"must be one of {names}, got {value}")
    return value


def _parse_zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def reference_case_from_proto(
    case: case_pb2.Case, prefix: str = "case"
) -> tuple[CaseSnapshot, list[LedgerEvent]]:
    c = _Collector()
    _check_id(c, case.case_id, f"{prefix}.case_id")
    _check_id(c, case.debtor_id, f"{prefix}.debtor_id")
    c.check(
        bool(_COUNTRY.fullmatch(case.country)),
        f"{prefix}.country",
        f"must be an ISO 3166-1 alpha-2 code in upper case like 'SE', got {case.country!r}",
    )
    if case.subdivision:
        c.check(
            bool(_SUBDIVISION.fullmatch(case.subdivision)) and case.subdivision[:2] == case.country,
            f"{prefix}.subdivision",
            f"must be an ISO 3166-2 code of the country like '{case.country or 'US'}-MA' "
            f"(^[A-Z]{{2}}-[A-Z0-9]{{1,3}}$, starting with country), got {case.subdivision!r}; "
            "or leave it empty",
        )
    if case.timezone:
        c.check(
            _parse_zone(case.timezone) is not None,
            f"{prefix}.timezone",
            f"unknown IANA time zone {case.timezone!r}; use a name like 'Europe/Oslo' "
            "or leave it empty",
        )
    c.check(case.HasField("outstanding"), f"{prefix}.outstanding", "is required")
    _check_money(c, case.outstanding, f"{prefix}.outstanding", required=True)
    _check_money(c, case.original, f"{prefix}.original", required=False)
    if case.original.currency and case.outstanding.currency:
        c.check(
            case.original.currency == case.outstanding.currency,
            f"{prefix}.original.currency",
            "must equal outstanding.currency",
        )
    c.check(case.days_past_due >= 0, f"{prefix}.days_past_due", "must be ≥ 0")
    _enum_value(c, Product, case.product, f"{prefix}.product", allow_zero=True)
    d = case.debtor
    _enum_value(c, AgeBand, d.age_band, f"{prefix}.debtor.age_band", allow_zero=True)
    c.check(d.tenure_months >= 0, f"{prefix}.debtor.tenure_months", "must be ≥ 0")
    for name in ("prior_on_time_ratio", "risk_score"):
        value = getattr(d, name)
        c.check(0.0 <= value <= 1.0, f"{prefix}.debtor.{name}", f"must be in [0, 1], got {value}")
    consents: dict[Channel, ConsentStatus] = {}
    for i, consent in enumerate(case.consents):
        field = f"{prefix}.consents[{i}]"
        known_channel = consent.channel in _CHANNELS
        c.check(known_channel, f"{field}.channel", f"must be one of {_CHANNEL_NAMES}")
        known_status = consent.status in _CONSENT_STATUSES
        c.check(known_status, f"{field}.status", f"unknown ConsentStatus {consent.status}")
        if known_channel and known_status:
            channel = Channel(consent.channel)
            c.check(channel not in consents, f"{field}.channel", "appears twice; one per channel")
            consents[channel] = ConsentStatus(consent.status)
    events = [
        ev
        for i, e in enumerate(case.recent_events)
        if (ev := _event_from_proto(c, e, f"{prefix}.recent_events[{i}]", case_id=case.case_id))
    ]
    c.raise_if_any()

    f = case.flags
    snapshot = CaseSnapshot(
        case_id=case.case_id,
        debtor_id=case.debtor_id,
        country=case.country,
        timezone=case.timezone or None,
        currency=case.outstanding.currency,
        outstanding_minor=case.outstanding.amount_minor,
        original_minor=case.original.amount_minor or case.outstanding.amount_minor,
        days_past_due=case.days_past_due,
        product=Product(case.product),
        debtor=DebtorProfile(
            age_band=AgeBand(d.age_band),
            language=d.language,
            tenure_months=d.tenure_months,
            prior_on_time_ratio=d.prior_on_time_ratio if d.ByteSize() else 0.5,
            risk_score=d.risk_score if d.ByteSize() else 0.5,
            has_app=d.has_app,
        ),
        consents=consents,
        flags=CaseFlags(
            dispute=f.dispute,
            cease_communication=f.cease_communication,
            vulnerable=f.vulnerable,
            bankruptcy=f.bankruptcy,
            deceased=f.deceased,
            breathing_space_until=(
                reference_timestamp_to_date(f.breathing_space_until)
                if f.HasField("breathing_space_until")
                else None
            ),
            mental_health_crisis=f.mental_health_crisis,
            time_barred=f.time_barred,
            hardship=f.hardship,
        ),
        subdivision=case.subdivision or None,
    )
    return snapshot, events


def _event_from_proto(
    c: _Collector, e: case_pb2.Event, field: str, *, case_id: str | None
) -> LedgerEvent | None:
    ok = True
    ok &= c.check(bool(e.event_id), f"{field}.event_id", "is required (the idempotency key)")
    ok &= c.check(len(e.event_id) <= _MAX_ID, f"{field}.event_id", "is longer than 128 characters")
    long_ref = len(e.attempt_event_id) > _MAX_ID
    ok &= c.check(not long_ref, f"{field}.attempt_event_id", "is longer than 128 characters")
    if e.attempt_event_id and not long_ref:
        ok &= c.check(
            e.attempt_event_id != e.event_id,
            f"{field}.attempt_event_id",
            "names the event itself; name the attempt's event_id",
        )
    if case_id is None:
        ok &= c.check(bool(e.case_id), f"{field}.case_id", "is required")
    elif e.case_id:
        ok &= c.check(
            e.case_id == case_id, f"{field}.case_id", "must equal case.case_id or be empty"
        )
    ok &= c.check(e.type != 0, f"{field}.type", "is required (an EventType)")
    if e.type:
        ok &= c.check(
            e.type in _EVENT_KINDS,
            f"{field}.type",
            f"unknown EventType {e.type}",
        )
        ok &= c.check(
            e.type != EventKind.CONTACT_PLANNED,
            f"{field}.type",
            "CONTACT_PLANNED is written by tact itself; report CONTACT_ATTEMPTED instead",
        )
    ok &= c.check(e.HasField("occurred_at"), f"{field}.occurred_at", "is required (UTC)")
    if e.channel:
        ok &= c.check(
            e.channel in {int(ch) for ch in Channel}, f"{field}.channel", "unknown Channel"
        )
    if e.action:
        ok &= c.check(e.action in _ACTIONS, f"{field}.action", "unknown Action")
    if e.type in (EventKind.CONTACT_ATTEMPTED, EventKind.OPT_OUT, EventKind.CONSENT_GRANTED):
        ok &= c.check(e.channel != 0, f"{field}.channel", "is required for this event type")
    elif e.type in (
        EventKind.CONTACT_DELIVERED,
        EventKind.CONTACT_OPENED,
        EventKind.CONTACT_CLICKED,
    ):
        ok &= c.check(
            bool(e.channel or e.decision_id or e.attempt_event_id),
            f"{field}.channel",
            "is required for a delivery, open or click that names neither decision_id nor "
            "attempt_event_id (the message it reports counts against its channel's limits)",
        )
    if e.type == EventKind.BREATHING_SPACE_STARTED:
        ok &= c.check(e.HasField("until"), f"{field}.until", "is required: the last day")
    if e.HasField("amount"):
        _check_money(c, e.amount, f"{field}.amount", required=False)
    if not ok:
        return None
    return LedgerEvent(
        event_id=e.event_id,
        case_id=e.case_id or (case_id or ""),
        kind=EventKind(e.type),
        occurred_at=reference_timestamp_to_datetime(e.occurred_at),
        channel=Channel(e.channel),
        action=Action(e.action) if e.action else None,
        amount_minor=e.amount.amount_minor,
        until=reference_timestamp_to_date(e.until) if e.HasField("until") else None,
        decision_id=e.decision_id,
        attempt_event_id=e.attempt_event_id,
    )


def reference_events_from_proto(
    events: Sequence[case_pb2.Event],
) -> tuple[list[LedgerEvent], list[str], list[str]]:
    c = _Collector()
    c.check(bool(events), "events", "is empty; send at least one event")
    out: list[LedgerEvent] = []
    debtors: list[str] = []
    currencies: list[str] = []
    for i, e in enumerate(events):
        ev = _event_from_proto(c, e, f"events[{i}]", case_id=None)
        if ev is not None:
            out.append(ev)
            debtors.append(e.debtor_id)
            currencies.append(e.amount.currency)
    c.raise_if_any()
    return out, debtors, currencies


def reference_treatment_to_proto(
    t: Treatment, index: int, *, outstanding_minor: int, currency: str
) -> types_pb2.Treatment:
    offer = types_pb2.Offer(kind=cast(Any, int(t.offer)))
    if t.offer in PLAN_INSTALMENTS:
        n = PLAN_INSTALMENTS[t.offer]
        offer.instalments = n
        offer.instalment_amount.CopyFrom(
            types_pb2.Money(amount_minor=-(-outstanding_minor // n), currency=currency)
        )
    elif t.offer in DEFERRAL_DAYS:
        offer.deferral_days = DEFERRAL_DAYS[t.offer]
    elif t.offer in SETTLEMENT_DISCOUNT:
        discount = SETTLEMENT_DISCOUNT[t.offer]
        offer.discount = discount
        offer.settlement_amount.CopyFrom(
            types_pb2.Money(
                amount_minor=round(outstanding_minor * (1 - discount)), currency=currency
            )
        )
    values: dict[str, Any] = {
        "action": int(t.action),
        "channel": int(t.channel),
        "tone": int(t.tone),
        "offer": offer if t.offer is not Offer.NONE else None,
        "slot": int(t.slot),
        "catalogue_index": index,
    }
    return types_pb2.Treatment(**values)


def reference_decision_to_proto(
    outcome: DecisionOutcome, *, include_inputs: bool = False
) -> decision_service_pb2.Decision:
    snap = outcome.snapshot
    decision = decision_service_pb2.Decision(
        decision_id=outcome.decision_id,
        case_id=snap.case_id,
        treatment=reference_treatment_to_proto(
            outcome.treatment,
            outcome.index,
            outstanding_minor=snap.outstanding_minor,
            currency=snap.currency,
        ),
        policy=decision_service_pb2.PolicyInfo(
            name=outcome.policy_name,
            version=outcome.policy_version,
            arm=outcome.arm,
            propensity=outcome.propensity,
            sampled=outcome.sampled,
        ),
        ruleset_version=outcome.ruleset_version,
        rule_hits=[
            types_pb2.RuleHit(rule_id=h.rule_id, message=h.message, citation=h.citation)
            for h in outcome.rule_hits
        ],
        explanation=outcome.explanation,
        decided_at=reference_datetime_to_timestamp(outcome.decided_at),
        dry_run=outcome.dry_run,
        timezone=outcome.zone.key,
    )
    if outcome.send_at is not None:
        decision.send_at.CopyFrom(reference_datetime_to_timestamp(outcome.send_at))
        decision.send_at_local = outcome.send_at.astimezone(outcome.zone).isoformat()
    if outcome.next_review_at is not None:
        decision.next_review_at.CopyFrom(reference_datetime_to_timestamp(outcome.next_review_at))
    if include_inputs:
        decision.inputs.CopyFrom(
            decision_service_pb2.DecisionInputs(
                observation=outcome.observation.tolist(),
                allowed_indices=np.flatnonzero(outcome.mask).tolist(),
                feature_schema_hash=feature_schema_hash(),
                catalogue_hash=CATALOGUE.content_hash,
            )
        )
    return decision


def reference_digest(request: decision_service_pb2.DecideRequest, now: datetime) -> str:
    pinned = decision_service_pb2.DecideRequest()
    pinned.CopyFrom(request)
    pinned.now.CopyFrom(reference_datetime_to_timestamp(now))
    pinned.include_inputs = False  # how to answer, not what to decide
    return inputs_digest(pinned.SerializeToString(deterministic=True))


# ---- inputs -----------------------------------------------------------------------------
def example_cases() -> list[case_pb2.Case]:
    return [json_format.Parse(p.read_text(), case_pb2.Case()) for p in EXAMPLES]


def invalid_case() -> case_pb2.Case:
    """The US example with five bad fields, two of them in events."""
    case = example_cases()[[p.stem for p in EXAMPLES].index("us-card-7in7")]
    case.country = "us"
    case.outstanding.currency = "usd"
    case.debtor.risk_score = 1.5
    case.recent_events[1].type = case_pb2.EVENT_TYPE_UNSPECIFIED
    case.recent_events[3].ClearField("occurred_at")
    return case


def example_outcomes(cases: Sequence[case_pb2.Case]) -> list[DecisionOutcome]:
    """The decisions the pipeline makes for ``cases`` (dry run, ``ladder`` policy)."""
    from engine.app import build_components
    from engine.convert import case_from_proto
    from engine.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            port=0, database_url=f"sqlite:///{tmp}/bench.db", rules_watch=False, policy="ladder"
        )
        components = build_components(settings)
        try:
            outcomes = components.pipeline.decide_many(
                [(*case_from_proto(case), NOW) for case in cases], dry_run=True
            )
        finally:
            components.close()
    for outcome in outcomes:
        if isinstance(outcome, Exception):
            raise outcome
    return cast(list[DecisionOutcome], outcomes)


# ---- timing -----------------------------------------------------------------------------
def _raises(fn: Callable[..., object]) -> Callable[..., object]:
    def call(*args: object) -> object:
        try:
            return fn(*args)
        except InvalidRequestError as exc:
            return exc

    return call


def interleaved(
    old: Callable[..., object],
    new: Callable[..., object],
    inputs: Sequence[tuple[object, ...]],
    rounds: int,
) -> dict[str, float]:
    """p50/p99 (µs) of ``old`` and ``new`` over ``inputs``, called alternately."""
    clock = time.perf_counter_ns
    old_ns: list[int] = []
    new_ns: list[int] = []
    for r in range(rounds):
        for args in inputs:
            pair = ((old, old_ns), (new, new_ns)) if r % 2 == 0 else ((new, new_ns), (old, old_ns))
            for fn, out in pair:
                t0 = clock()
                fn(*args)
                out.append(clock() - t0)

    def pct(samples: list[int], q: int) -> float:
        return float(np.percentile(samples, q)) / 1000

    old_p50, new_p50 = statistics.median(old_ns) / 1000, statistics.median(new_ns) / 1000
    return {
        "old_p50_us": old_p50,
        "new_p50_us": new_p50,
        "ratio_p50": new_p50 / old_p50,
        "old_p99_us": pct(old_ns, 99),
        "new_p99_us": pct(new_ns, 99),
        "calls": len(new_ns),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300, help="passes over the inputs")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    from engine.convert import case_from_proto
    from engine.service import DecisionServicer, decision_to_proto

    cases = example_cases()
    outcomes = example_outcomes(cases)
    pinned = [
        decision_service_pb2.DecideRequest(case=c, now=reference_datetime_to_timestamp(NOW))
        for c in cases
    ]
    unpinned = [decision_service_pb2.DecideRequest(case=c) for c in cases]
    bad = invalid_case()
    gc.collect()
    gc.freeze()

    digest = DecisionServicer._digest
    rounds = args.rounds
    results = {
        "case_from_proto": interleaved(
            reference_case_from_proto, case_from_proto, [(c,) for c in cases], rounds
        ),
        "case_from_proto (invalid, 5 violations)": interleaved(
            _raises(reference_case_from_proto), _raises(case_from_proto), [(bad,)], rounds
        ),
        "decision_to_proto": interleaved(
            reference_decision_to_proto, decision_to_proto, [(o,) for o in outcomes], rounds
        ),
        "_digest (now in request)": interleaved(
            reference_digest, digest, [(r, NOW) for r in pinned], rounds
        ),
        "_digest (server clock)": interleaved(
            reference_digest, digest, [(r, NOW) for r in unpinned], rounds
        ),
    }
    heads = ("old p50", "new p50", "new/old", "old p99", "new p99")
    print(f"{'function':42} " + " ".join(f"{h:>9}" for h in heads))
    for name, r in results.items():
        print(
            f"{name:42} {r['old_p50_us']:8.1f}µ {r['new_p50_us']:8.1f}µ {r['ratio_p50']:9.2f} "
            f"{r['old_p99_us']:8.1f}µ {r['new_p99_us']:8.1f}µ"
        )
    print(f"({len(cases)} example cases, {rounds} rounds; old and new interleaved)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

"""Flags that come from the ledger (engine/history.py: a recorded death, bankruptcy,
dispute, cease request, closure, breathing space, opt-out or consent) decide exactly as
the same flag on the case does.

Random cases (random countries, histories and decision times) get the event recorded
some days before the decision; the history is folded from the events by
``summarise_history`` and the case row built by ``case_row``, as the service does. The
verdict must then equal, exactly, the verdict of the same case with the flag set on the
case itself (or, where the case has no such flag, what the event means: a hold with its
rule, or the verdict without the event for an event that undoes another). Every event
kind is classified here, so a new kind fails until its meaning is written down.

Officer cases for the same events: rules/tests/DK.yaml and GB.yaml ("… in the ledger").
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from engine.catalogue import CATALOGUE, Channel
from engine.compliance import ComplianceEngine, ComplianceVerdict
from engine.compliance.sampling import random_states
from engine.contacts import reports_contact
from engine.history import summarise_history
from engine.state import (
    CaseFlags,
    CaseState,
    ConsentStatus,
    EventKind,
    HistorySummary,
    LedgerEvent,
)

sys.path.insert(0, str(Path(__file__).parent / "compliance"))
from rule_oracle import at_random_times

CASES = 150


@dataclass(frozen=True)
class FlagEvent:
    """What recording ``events`` means for a case, as a change of the case itself."""

    events: tuple[tuple[EventKind, Channel], ...]
    """Kinds (with channel) recorded, oldest first."""
    on_case: Callable[[CaseState], CaseState] | None
    """The same case with the flag set on it (None: the ledger is the only source)."""
    hold_rule: str | None = None
    """A rule that must hold the case (every contact blocked, ``hold`` set)."""
    countries: frozenset[str] | None = None
    """Countries whose rules give the event a meaning (None: all)."""


def _flags(**values: object) -> Callable[[CaseState], CaseState]:
    def set_flags(state: CaseState) -> CaseState:
        return replace(state, snapshot=replace(state.snapshot, flags=CaseFlags(**values)))  # type: ignore[arg-type]

    return set_flags


def _consent(channel: Channel, status: ConsentStatus) -> Callable[[CaseState], CaseState]:
    def set_consent(state: CaseState) -> CaseState:
        consents = {**state.snapshot.consents, channel: status}
        return replace(state, snapshot=replace(state.snapshot, consents=consents))

    return set_consent


def _unchanged(state: CaseState) -> CaseState:
    return state


NONE = Channel.NONE
FLAG_EVENTS: dict[str, FlagEvent] = {
    "deceased": FlagEvent(
        ((EventKind.DECEASED, NONE),), _flags(deceased=True), hold_rule="stop.deceased"
    ),
    "bankruptcy": FlagEvent(
        ((EventKind.BANKRUPTCY, NONE),), _flags(bankruptcy=True), hold_rule="stop.bankruptcy"
    ),
    "cease": FlagEvent(
        ((EventKind.CEASE_REQUEST, NONE),),
        _flags(cease_communication=True),
        hold_rule="cease-communication",
    ),
    "dispute": FlagEvent(
        ((EventKind.DISPUTE_OPENED, NONE),), _flags(dispute=True), hold_rule="dispute.hold"
    ),
    "dispute resolved": FlagEvent(
        ((EventKind.DISPUTE_OPENED, NONE), (EventKind.DISPUTE_RESOLVED, NONE)), _unchanged
    ),
    "closed": FlagEvent(((EventKind.CASE_CLOSED, NONE),), None, hold_rule="stop.closed"),
    **{
        f"opt-out {c.name}": FlagEvent(
            ((EventKind.OPT_OUT, c),), _consent(c, ConsentStatus.OPTED_OUT)
        )
        for c in (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
    },
    "consent PUSH": FlagEvent(
        ((EventKind.CONSENT_GRANTED, Channel.PUSH),), _consent(Channel.PUSH, ConsentStatus.GRANTED)
    ),
    "consent then opt-out SMS": FlagEvent(
        ((EventKind.CONSENT_GRANTED, Channel.SMS), (EventKind.OPT_OUT, Channel.SMS)),
        _consent(Channel.SMS, ConsentStatus.OPTED_OUT),
    ),
    "opt-out then consent PUSH": FlagEvent(
        ((EventKind.OPT_OUT, Channel.PUSH), (EventKind.CONSENT_GRANTED, Channel.PUSH)),
        _consent(Channel.PUSH, ConsentStatus.GRANTED),
    ),
    "breathing space": FlagEvent(
        ((EventKind.BREATHING_SPACE_STARTED, NONE),),
        None,
        hold_rule="GB.breathing-space.standard",
        countries=frozenset({"GB"}),
    ),
    "breathing space ended": FlagEvent(
        ((EventKind.BREATHING_SPACE_STARTED, NONE), (EventKind.BREATHING_SPACE_ENDED, NONE)),
        _unchanged,
    ),
}

# Every other kind reports a contact (counted once however it is reported, engine/contacts.py)
# or feeds counters, not flags; where their effect is tested.
CONTACT_REPORTS: dict[EventKind, str] = {
    EventKind.CONTACT_ATTEMPTED: "contact limits, notices (rules/tests, test_pipeline)",
    EventKind.CONTACT_PLANNED: "reservations (test_service, rules/tests)",
    EventKind.CALL_CONNECTED: "a call when no attempt was reported (test_contacts, rules/tests)",
    EventKind.CALL_NOT_CONNECTED: "not-connected exclusions (test_contacts, rules/tests/US.yaml)",
    EventKind.CONVERSATION: "cool-downs; a call when no attempt was reported (test_contacts)",
    EventKind.PROMISE_TO_PAY: "a call when made on the phone (test_contacts); features",
    EventKind.PLAN_AGREED: "a call when made on the phone (test_contacts); features",
    EventKind.CONTACT_DELIVERED: "a message of its channel (test_contacts); features",
    EventKind.CONTACT_OPENED: "a message of its channel (test_contacts); features",
    EventKind.CONTACT_CLICKED: "a message of its channel (test_contacts); features",
}
COUNTER_EVENTS: dict[EventKind, str] = {
    EventKind.CALL_CONSENT: "US direct prior consent (rules/tests/US.yaml)",
    EventKind.PROMISE_BROKEN: "features only",
    EventKind.PAYMENT: "features, outcomes",
    EventKind.PLAN_BROKEN: "features only",
    EventKind.PLAN_COMPLETED: "features only",
    EventKind.COMPLAINT: "features only",
}


def test_every_event_kind_is_classified() -> None:
    flag_kinds = {kind for f in FLAG_EVENTS.values() for kind, _ in f.events}
    classes = [flag_kinds, set(CONTACT_REPORTS), set(COUNTER_EVENTS)]
    assert set().union(*classes) == set(EventKind)
    assert sum(map(len, classes)) == len(EventKind), "each kind in one class only"
    # The contact reports are exactly the kinds the contact grouping takes part in (on
    # some channel): a kind that starts or stops reporting contacts is classified anew.
    at = datetime(2024, 3, 11, tzinfo=UTC)
    reporting = {
        kind
        for kind in EventKind
        for channel in Channel
        if reports_contact(LedgerEvent("e", "c", kind, at, channel))
    }
    assert reporting == set(CONTACT_REPORTS)


def _plain(state: CaseState) -> CaseState:
    """The case without flags of its own (so that the recorded event is what counts)."""
    snapshot = replace(state.snapshot, flags=CaseFlags(), consents={})
    history = replace(state.history, closed=False, days_since_breathing_space_started=9999)
    return replace(state, snapshot=snapshot, history=history)


def _recorded(
    state: CaseState, flag: FlagEvent, rng: np.random.Generator
) -> tuple[CaseState, date, list[LedgerEvent]]:
    """``state`` with ``flag``'s events recorded before the decision, folded as the service
    folds a ledger; the day the first of them happened; the events."""
    tz = ZoneInfo(state.snapshot.timezone or "")
    local_now = state.as_of.astimezone(tz)
    days = sorted(rng.integers(0, 90, size=len(flag.events)).tolist(), reverse=True)
    events, first = [], state.local_date
    for n, ((kind, channel), ago) in enumerate(zip(flag.events, days, strict=True)):
        day = state.local_date - timedelta(days=ago)
        latest = local_now.time() if ago == 0 else time(23, 59)
        minute = int(rng.integers(0, latest.hour * 60 + latest.minute + 1))
        at = datetime.combine(day, time(minute // 60, minute % 60), tz).astimezone(UTC)
        at = min(at, state.as_of) + timedelta(microseconds=n)  # oldest first, same instant ok
        until = state.local_date + timedelta(days=int(rng.integers(-5, 40)))
        events.append(LedgerEvent(f"e{n}", state.snapshot.case_id, kind, at, channel, until=until))
        first = min(first, day)
    folded = summarise_history(events, as_of=state.local_date, tz=tz)
    # The counters of the random history stay; what the events set replaces them.
    blank = HistorySummary()
    history = replace(state.history)
    for f in fields(HistorySummary):
        value = getattr(folded, f.name)
        if not _equal(value, getattr(blank, f.name)):
            setattr(history, f.name, value)
    return replace(state, history=history), first, events


def _equal(a: object, b: object) -> bool:
    return bool(np.array_equal(a, b)) if isinstance(a, np.ndarray) else a == b


def _same(a: ComplianceVerdict, b: ComplianceVerdict) -> bool:
    return (
        np.array_equal(a.mask, b.mask)
        and (a.hold, a.human_only) == (b.hold, b.human_only)
        and sorted(a.rule_ids) == sorted(b.rule_ids)
    )


@pytest.fixture(scope="module")
def engine() -> ComplianceEngine:
    return ComplianceEngine.load()


@pytest.mark.parametrize("name", list(FLAG_EVENTS))
def test_a_recorded_event_decides_as_the_flag_on_the_case(
    engine: ComplianceEngine, name: str
) -> None:
    flag = FLAG_EVENTS[name]
    seed = zlib.crc32(name.encode())
    rng = np.random.default_rng(seed)
    drawn = at_random_times(random_states(engine, CASES * 8, seed=seed), seed=seed)
    countries = flag.countries or engine.countries
    states = [s for s in drawn if s.snapshot.country in countries][:CASES]
    assert len(states) == CASES
    changed = 0
    for state in map(_plain, states):
        recorded, started, events = _recorded(state, flag, rng)
        got = engine.evaluate(recorded)
        without = engine.evaluate(state)
        where = f"{name}: {state.snapshot.country} at {state.as_of} UTC"
        applies = flag.countries is None or state.snapshot.country in flag.countries
        if flag.hold_rule is not None and applies:
            if name == "breathing space":  # holds while the end date lasts or < 60 days in
                until = events[0].until  # as recorded (not as folded: the fold is tested)
                applies = bool(until and until >= state.local_date) or (
                    (state.local_date - started).days < 60
                )
            if applies:
                assert got.mask.sum() == 1 and got.mask[CATALOGUE.WAIT_INDEX], where
                assert got.hold, where
                assert flag.hold_rule in got.rule_ids, (where, got.rule_ids)
        if flag.on_case is not None:
            expected = engine.evaluate(flag.on_case(state))
            assert _same(got, expected), (where, got.rule_ids, expected.rule_ids)
        elif not applies:
            assert _same(got, without), where
        changed += not _same(got, without)
    # The events matter: most cases decide otherwise with them than without.
    if flag.on_case is not _unchanged:
        assert changed > CASES // 5, f"{name}: only {changed} of {CASES} cases changed"
    else:
        assert changed == 0


def test_the_hold_of_a_recorded_event_is_every_contact_step(engine: ComplianceEngine) -> None:
    """A recorded death at 10:00 blocks all 143 contact steps of a case that had many open."""
    # Decided at local midnight: every slot of the day ahead; the first Swedish case of
    # the draw with many steps open.
    state = next(
        s
        for s in map(_plain, random_states(engine, 50, seed=3))
        if s.snapshot.country == "SE" and engine.evaluate(s).mask.sum() > 20
    )
    dead, _, _ = _recorded(state, FLAG_EVENTS["deceased"], np.random.default_rng(0))
    v = engine.evaluate(dead)
    assert v.mask.tolist() == [i == CATALOGUE.WAIT_INDEX for i in range(len(CATALOGUE))]

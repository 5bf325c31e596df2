"""CheckAction's answer, exactly: may a step be taken at an instant, which rules block it
then, and the earliest instant it is allowed (to the minute), with the real rule files
and histories folded from ledger events as the service folds them."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from pathlib import Path

import numpy as np
from compliance_factories import make_state

from engine.catalogue import CATALOGUE, Action, Channel, Tone
from engine.compliance import ComplianceEngine
from engine.compliance.calendar import zone
from engine.compliance.planning import StepCheck, check_step, states_from_events, step_entries
from engine.state import CaseFlags, EventKind, LedgerEvent


def ask(
    engine: ComplianceEngine,
    country: str,
    at: datetime,
    events: list[LedgerEvent] | None = None,
    *,
    action: Action = Action.AGENT_CALL,
    channel: Channel = Channel.PHONE,
    tone: Tone | None = None,
    timezone: str | None = "",
    flags: CaseFlags | None = None,
) -> StepCheck:
    """CheckAction for ``action`` by ``channel`` at ``at`` (naive: the debtor's local time)."""
    snapshot = make_state(
        country, date(2024, 1, 1), timezone=timezone, flags=flags, engine=engine
    ).snapshot
    ref = engine.reference_zone(country, snapshot.timezone)
    instant = (at.replace(tzinfo=ref) if at.tzinfo is None else at).astimezone(UTC)
    [proposed] = [t for t in CATALOGUE.treatments if (t.action, t.channel) == (action, channel)][:1]
    return check_step(
        engine,
        states_from_events(snapshot, events or [], ref, instant),
        step_entries(proposed, tone=tone),
        instant,
        reference_zone=ref,
    )


def local(country: str, engine: ComplianceEngine, *args: int) -> datetime:
    """UTC instant of a local wall-clock time in ``country``'s reference zone."""
    ref = zone(engine.timezones(country)[0])
    return datetime(*args, tzinfo=ref).astimezone(UTC)  # type: ignore[misc]


def events_at(kind: EventKind, instants: list[datetime], **fields: object) -> list[LedgerEvent]:
    return [
        LedgerEvent(f"{kind.name}-{k}", "case", kind, at, **fields)  # type: ignore[arg-type]
        for k, at in enumerate(instants)
    ]


def ids(answer: StepCheck) -> list[str]:
    return [h.rule_id for h in answer.violations]


def test_after_a_conversation_the_next_call_is_day_8_at_the_window_start(
    engine: ComplianceEngine,
) -> None:
    """The issue: asked in the midday slot, the answer was 11:00 on day 8, not 08:00."""
    talk = events_at(EventKind.CONVERSATION, [local("US", engine, 2024, 3, 4, 9)])  # Monday
    answer = ask(engine, "US", datetime(2024, 3, 5, 11, 30), talk)
    assert not answer.allowed
    assert ids(answer) == ["US.calls.after-conversation"]
    # Day 8 = next Monday, 08:00 in New York (EDT since 10 March) = 12:00 UTC.
    assert answer.next_allowed_at == datetime(2024, 3, 11, 12, tzinfo=UTC)


def test_seven_calls_on_day_1_next_call_on_day_8_at_8(engine: ComplianceEngine) -> None:
    calls = events_at(
        EventKind.CONTACT_ATTEMPTED,
        [local("US", engine, 2024, 3, 4, 9, 5 * k) for k in range(7)],
        channel=Channel.PHONE,
        action=Action.AGENT_CALL,
    )
    answer = ask(engine, "US", datetime(2024, 3, 4, 14), calls)
    assert ids(answer) == ["calls.per-day", "US.calls.7-in-7"]
    assert answer.next_allowed_at == datetime(2024, 3, 11, 12, tzinfo=UTC)


def test_unknown_zone_at_night_the_next_call_is_when_every_us_zone_allows_it(
    engine: ComplianceEngine,
) -> None:
    """The issue: no answer at all, though a call is allowed from 18:00 UTC (08:00 in
    Honolulu, 13:00 in New York)."""
    night = datetime(2026, 11, 26, 4, tzinfo=UTC)  # 23:00 in New York, 18:00 in Honolulu
    answer = ask(engine, "US", night, timezone=None)
    assert ids(answer) == ["window.calls"]
    assert answer.next_allowed_at == datetime(2026, 11, 26, 18, tzinfo=UTC)
    noon = datetime(2026, 11, 26, 17, tzinfo=UTC)  # 12:00 in New York, 07:00 in Honolulu
    answer = ask(engine, "US", noon, timezone=None)
    assert ids(answer) == ["window.calls", "tact.timezone-unknown"]
    assert answer.next_allowed_at == datetime(2026, 11, 26, 18, tzinfo=UTC)
    assert ask(engine, "US", datetime(2026, 11, 26, 18, tzinfo=UTC), timezone=None).allowed


def test_quiet_hours_cite_the_rule_that_sets_the_hours(engine: ComplianceEngine) -> None:
    answer = ask(engine, "US", datetime(2024, 3, 12, 22, 30))
    assert [(h.rule_id, h.citation) for h in answer.violations] == [
        ("window.calls", "12 CFR 1006.6(b)(1)(i)")
    ]
    assert answer.next_allowed_at == local("US", engine, 2024, 3, 13, 8)
    early = ask(engine, "NO", datetime(2024, 3, 12, 7, 15))
    assert ids(early) == ["window.calls"]
    assert early.next_allowed_at == local("NO", engine, 2024, 3, 12, 8)


def test_before_the_window_opens_only_the_blocking_rules_are_listed(
    engine: ComplianceEngine,
) -> None:
    """The issue: every rule that shaped the day (push consent, legal notice…) was listed.
    Swedish Saturday calls open at 10:00; asked at 09:59:30 in the morning slot."""
    answer = ask(engine, "SE", datetime(2024, 6, 8, 9, 59, 30))
    assert ids(answer) == ["window.calls"]
    assert answer.next_allowed_at == local("SE", engine, 2024, 6, 8, 10)


def test_tact_send_slots_is_cited_only_where_no_rule_sets_the_hours(rules_copy: Path) -> None:
    us = rules_copy / "US.yaml"
    us.write_text(us.read_text().replace('"08:00-21:00"', '"07:00-22:00"'))
    engine = ComplianceEngine.load(rules_copy)
    answer = ask(engine, "US", datetime(2024, 3, 12, 7, 30))
    assert ids(answer) == ["tact.send-slots"]
    assert answer.next_allowed_at == local("US", engine, 2024, 3, 12, 8)
    late = ask(engine, "US", datetime(2024, 3, 12, 22, 30))  # the rule excludes it again
    assert ids(late) == ["window.calls"]


def test_next_allowed_skips_holidays_and_calendar_caps(engine: ComplianceEngine) -> None:
    # 15 calls in March → blocked until April; 1 April 2024 is Easter Monday in Norway.
    days = (26, 23, 22, 21, 20, 19, 16, 15, 14, 13, 12, 9, 8, 7, 6)
    calls = events_at(
        EventKind.CONTACT_ATTEMPTED,
        [local("NO", engine, 2024, 3, 27 - ago, 10) for ago in days],
        channel=Channel.PHONE,
    )
    answer = ask(engine, "NO", datetime(2024, 3, 27, 9), calls)
    assert "NO.calls.per-month" in ids(answer)
    assert answer.next_allowed_at == local("NO", engine, 2024, 4, 2, 8)


def test_next_allowed_after_a_breathing_space(engine: ComplianceEngine) -> None:
    """GB standard breathing space: 60 days from its start (day 0), whatever its end date."""
    start = events_at(
        EventKind.BREATHING_SPACE_STARTED,
        [local("GB", engine, 2024, 3, 1, 9)],
        until=date(2024, 3, 20),
    )
    answer = ask(engine, "GB", datetime(2024, 3, 5, 10), start)
    assert ids(answer) == ["GB.breathing-space.standard"]
    assert answer.next_allowed_at == local("GB", engine, 2024, 4, 30, 8)


def test_no_answer_within_the_horizon_for_a_permanent_hold(engine: ComplianceEngine) -> None:
    answer = ask(engine, "DK", datetime(2024, 3, 12, 10), flags=CaseFlags(deceased=True))
    assert not answer.allowed and ids(answer) == ["stop.deceased"]
    assert answer.next_allowed_at is None


def test_a_step_without_a_tone_is_allowed_when_one_tone_is(engine: ComplianceEngine) -> None:
    vulnerable = CaseFlags(vulnerable=True)
    at = datetime(2024, 3, 12, 10)
    assert ask(engine, "DE", at, flags=vulnerable).allowed
    neutral = ask(engine, "DE", at, flags=vulnerable, tone=Tone.NEUTRAL)
    assert not neutral.allowed and ids(neutral) == ["vulnerable.human-only"]
    assert neutral.next_allowed_at is None


# --- the answer is exact: allowed at next_allowed_at, not a minute before ------------------


def _random_history(
    rng: np.random.Generator, engine: ComplianceEngine, country: str, at: datetime
) -> list[LedgerEvent]:
    ref = zone(engine.timezones(country)[0])
    events: list[LedgerEvent] = []

    def instant(days_ago: int) -> datetime:
        day = at.astimezone(ref).date() - timedelta(days=days_ago)
        minute = int(rng.integers(6 * 60, 22 * 60))
        return datetime.combine(day, time(minute // 60, minute % 60), ref).astimezone(UTC)

    for k in range(int(rng.integers(0, 12))):
        kind = rng.choice(
            [
                EventKind.CONTACT_ATTEMPTED,
                EventKind.CALL_CONNECTED,
                EventKind.CALL_NOT_CONNECTED,
                EventKind.CONVERSATION,
                EventKind.CALL_CONSENT,
                EventKind.OPT_OUT,
                EventKind.BREATHING_SPACE_STARTED,
            ],
            p=[0.45, 0.15, 0.1, 0.12, 0.06, 0.06, 0.06],
        )
        channel = Channel.PHONE
        action = None
        if kind in (EventKind.CONTACT_ATTEMPTED, EventKind.OPT_OUT):
            channel = Channel(int(rng.choice([1, 2, 3, 4, 4, 4])))
            action = (
                Action(int(rng.choice([2, 3, 7, 8])))
                if kind is EventKind.CONTACT_ATTEMPTED
                else None
            )
        days_ago = int(rng.integers(0, 20))
        events.append(
            LedgerEvent(
                f"r{k}",
                "case",
                EventKind(int(kind)),
                instant(days_ago),
                channel,
                action,
                until=at.date() + timedelta(days=int(rng.integers(-3, 15)))
                if kind is EventKind.BREATHING_SPACE_STARTED
                else None,
            )
        )
    return events


def test_next_allowed_at_is_allowed_and_a_minute_earlier_is_not(engine: ComplianceEngine) -> None:
    rng = np.random.default_rng(14)
    countries = sorted(engine.countries)
    steps = [
        (Action.AGENT_CALL, Channel.PHONE),
        (Action.REMINDER, Channel.SMS),
        (Action.REMINDER, Channel.EMAIL),
        (Action.LEGAL_ESCALATION, Channel.LETTER),
    ]
    checked = later = 0
    for _ in range(150):
        country = str(rng.choice(countries))
        timezone = None if rng.random() < 0.25 else ""
        at = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 525_000)))
        events = _random_history(rng, engine, country, at)
        action, channel = steps[int(rng.integers(len(steps)))]

        at_instant = partial(
            ask, engine, country, events=events, action=action, channel=channel, timezone=timezone
        )

        answer = at_instant(at)
        assert answer.allowed == (answer.next_allowed_at == at)
        assert answer.allowed != bool(answer.violations), answer
        if answer.next_allowed_at is None or answer.allowed:
            continue
        first = answer.next_allowed_at
        assert first > at
        assert at_instant(first).allowed, (country, at, first, answer)
        before = first - timedelta(minutes=1)
        if before >= at:
            assert not at_instant(before).allowed, (country, at, first)
            later += 1
        checked += 1
    assert checked > 40 and later > 20


def test_legal_action_in_sweden_from_the_day_after_the_inkassokrav_period(
    engine: ComplianceEngine,
) -> None:
    """The issue: an inkassokrav sent on 2 March allowed legal action from 00:00 on 10
    March, the period's last day. The 8 days run 3–10 March: legal action from 11 March."""
    demand = events_at(
        EventKind.CONTACT_ATTEMPTED,
        [local("SE", engine, 2026, 3, 2, 9)],
        channel=Channel.LETTER,
        action=Action.DEMAND,
    )
    answer = ask(
        engine,
        "SE",
        datetime(2026, 3, 5, 10),
        demand,
        action=Action.LEGAL_ESCALATION,
        channel=Channel.LETTER,
    )
    assert ids(answer) == ["legal.notice", "SE.legal.bank-days"]
    assert answer.next_allowed_at == local("SE", engine, 2026, 3, 11, 0)
    last_minute = ask(
        engine,
        "SE",
        datetime(2026, 3, 10, 23, 59),
        demand,
        action=Action.LEGAL_ESCALATION,
        channel=Channel.LETTER,
    )
    assert not last_minute.allowed
    assert last_minute.next_allowed_at == local("SE", engine, 2026, 3, 11, 0)

"""Local time: DST switches, public holidays, Sundays, unknown and invalid time zones."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest
from compliance_factories import make_state

from engine.catalogue import CATALOGUE, Action, Channel, Slot, Tone
from engine.compliance import ComplianceEngine
from engine.compliance.calendar import DayKind, HolidayCalendar, HolidaySource
from engine.compliance.verdict import UNKNOWN_TIMEZONE

CALL_MORNING = int(
    CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.MORNING)[0]
)
CALL_EVENING = int(
    CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.EVENING)[0]
)
CALL_AFTERNOON = int(
    CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.AFTERNOON)[0]
)
CALL_MIDDAY = int(CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.MIDDAY)[0])
LETTER_REMINDER = int(
    CATALOGUE.find(action=Action.REMINDER, channel=Channel.LETTER, tone=Tone.NEUTRAL)[0]
)


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@pytest.mark.parametrize(
    ("day", "expected_start"),
    [
        (date(2024, 3, 9), utc(2024, 3, 9, 13)),  # Saturday, EST (UTC-5)
        (date(2024, 3, 10), utc(2024, 3, 10, 12)),  # switch day: 08:00 is already EDT
        (date(2024, 11, 3), utc(2024, 11, 3, 13)),  # fall back: 08:00 EST again
    ],
)
def test_us_dst_switch_days_give_the_right_utc_window(
    engine: ComplianceEngine, day: date, expected_start: datetime
) -> None:
    verdict = engine.evaluate(make_state("US", day, timezone="America/New_York", engine=engine))
    assert verdict.mask[CALL_MORNING]
    start, end = verdict.window_utc(CALL_MORNING)  # type: ignore[misc]
    assert start == expected_start
    assert end - start == (utc(2024, 1, 1, 11) - utc(2024, 1, 1, 8))


def test_europe_dst_changes_the_utc_offset_of_the_same_local_window(
    engine: ComplianceEngine,
) -> None:
    before = engine.evaluate(make_state("DE", date(2024, 3, 29 - 1), engine=engine))  # Thu, CET
    after = engine.evaluate(make_state("DE", date(2024, 4, 2), engine=engine))  # Tue, CEST
    assert before.window_utc(CALL_EVENING) == (utc(2024, 3, 28, 16), utc(2024, 3, 28, 19))
    assert after.window_utc(CALL_EVENING) == (utc(2024, 4, 2, 15), utc(2024, 4, 2, 18))


def test_public_holiday_closes_calls_but_the_next_day_is_open(engine: ComplianceEngine) -> None:
    holiday = engine.evaluate(make_state("NO", date(2024, 5, 17), engine=engine))
    saturday = engine.evaluate(make_state("NO", date(2024, 5, 18), engine=engine))
    assert not holiday.mask[CALL_MORNING]
    assert [h.rule_id for h in holiday.hits_for(CALL_MORNING)] == ["window.calls"]
    assert saturday.mask[CALL_MORNING] and not saturday.mask[CALL_EVENING]


def test_sweden_sunday_is_a_sunday_not_a_holiday() -> None:
    calendar = HolidayCalendar(HolidaySource("SE"))
    plain_sunday = date(2024, 6, 9)
    assert not calendar.is_holiday(plain_sunday)
    assert calendar.day_kind(plain_sunday) is DayKind.SUNDAY
    assert calendar.day_kind(date(2024, 3, 31)) is DayKind.HOLIDAY  # Easter Sunday
    assert calendar.day_kind(date(2024, 6, 6)) is DayKind.HOLIDAY  # National Day
    assert calendar.day_kind(date(2024, 6, 8)) is DayKind.SATURDAY
    import numpy as np

    days = np.array(["2024-06-09", "2024-06-06", "2024-06-07"], dtype="datetime64[D]")
    assert (
        calendar.holiday_mask(np.repeat(days, 20)).tolist()
        == [False] * 20 + [True] * 20 + [False] * 20
    )


def test_unknown_zone_allows_only_what_every_us_zone_allows(engine: ComplianceEngine) -> None:
    day = date(2024, 3, 12)
    known = engine.evaluate(make_state("US", day, timezone="America/New_York", engine=engine))
    unknown = engine.evaluate(make_state("US", day, timezone=None, engine=engine))
    assert unknown.timezone is None
    assert known.mask[CALL_MORNING] and not unknown.mask[CALL_MORNING]
    assert not unknown.mask[CALL_MIDDAY]
    assert unknown.hits_for(CALL_MORNING) == [UNKNOWN_TIMEZONE]
    # 08:00 in Honolulu (UTC-10) is 18:00 UTC; 21:00 in New York (EDT) is 01:00 UTC.
    assert unknown.window_utc(CALL_AFTERNOON) == (utc(2024, 3, 12, 18), utc(2024, 3, 12, 21))
    assert unknown.window_utc(CALL_EVENING) == (utc(2024, 3, 12, 21), utc(2024, 3, 13, 1))
    assert UNKNOWN_TIMEZONE in unknown.shaping_hits
    # An unknown zone never allows more than a known one.
    assert not (unknown.mask & ~known.mask).any()


def test_invalid_zone_name_is_treated_as_unknown(engine: ComplianceEngine) -> None:
    verdict = engine.evaluate(
        make_state("US", date(2024, 3, 12), timezone="Mars/Olympus_Mons", engine=engine)
    )
    assert verdict.timezone is None
    assert not verdict.mask[CALL_MORNING]


def test_slots_that_have_passed_are_blocked_and_windows_start_now(
    engine: ComplianceEngine,
) -> None:
    state = make_state("SE", date(2024, 3, 12), at=time(12, 30), engine=engine)
    verdict = engine.evaluate(state)
    assert not verdict.mask[CALL_MORNING]
    assert [h.rule_id for h in verdict.hits_for(CALL_MORNING)] == ["tact.slot-passed"]
    start, end = verdict.window_utc(CALL_MIDDAY)  # type: ignore[misc]
    assert start == state.as_of and end == utc(2024, 3, 12, 13)
    # A letter can still be posted the same day.
    assert verdict.window_utc(LETTER_REMINDER) == (state.as_of, utc(2024, 3, 12, 23))

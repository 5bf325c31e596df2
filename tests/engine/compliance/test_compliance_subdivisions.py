"""Subdivisions (ISO 3166-2): rules/US-MA.yaml over US.yaml, chosen by the case's
subdivision; an unknown subdivision gets its country's rules and the verdict says so."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from compliance_factories import make_state

from engine.catalogue import CATALOGUE, Action, Channel, Slot, Tone
from engine.compliance import ComplianceEngine, RulesError, RulesHolder
from engine.history import summarise_history
from engine.state import CaseState, EventKind, LedgerEvent

CALL = int(CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.AFTERNOON)[0])
SMS = int(CATALOGUE.find(action=Action.REMINDER, channel=Channel.SMS, slot=Slot.AFTERNOON)[0])


def _two_calls(state: CaseState) -> CaseState:
    """``state`` (a New York case) after two calls yesterday, folded from ledger events."""
    yesterday = state.as_of - timedelta(days=1)
    events = [
        LedgerEvent(
            f"c{k}",
            "case",
            EventKind.CONTACT_ATTEMPTED,
            yesterday + timedelta(hours=k),
            Channel.PHONE,
        )
        for k in range(2)
    ]
    history = summarise_history(events, as_of=state.local_date, tz=ZoneInfo("America/New_York"))
    return replace(state, history=history)


def test_a_subdivision_with_a_rule_file_is_decided_by_it(engine: ComplianceEngine) -> None:
    ma = _two_calls(make_state("US-MA", date(2024, 3, 12), at=time(9), engine=engine))
    assert (ma.snapshot.country, ma.snapshot.subdivision) == ("US", "US-MA")
    assert engine.jurisdiction(ma.snapshot) == "US-MA"
    verdict = engine.evaluate(ma)
    assert verdict.country == "US-MA"
    assert not verdict.mask[CALL] and not verdict.mask[SMS]
    assert [h.rule_id for h in verdict.hits_for(CALL)] == ["US-MA.telephone.2-in-7"]
    # The same history in another state: Regulation F alone allows a third call.
    us = replace(ma, snapshot=replace(ma.snapshot, subdivision=None))
    assert engine.evaluate(us).mask[CALL] and engine.evaluate(us).mask[SMS]


def test_an_unknown_subdivision_gets_the_country_rules_and_says_so(
    engine: ComplianceEngine,
) -> None:
    state = _two_calls(make_state("US", date(2024, 3, 12), at=time(9), engine=engine))
    ca = replace(state, snapshot=replace(state.snapshot, subdivision="US-CA"))
    assert engine.jurisdiction(ca.snapshot) == "US"
    verdict = engine.evaluate(ca)
    assert verdict.country == "US" and verdict.mask[CALL]
    [note] = [h for h in verdict.shaping_hits if h.rule_id == "tact.subdivision-unknown"]
    assert "US-CA" in note.message and "US apply" in note.message
    assert "tact.subdivision-unknown" not in engine.evaluate(state).rule_ids


def test_a_subdivision_without_zone_uses_its_own_zones(engine: ComplianceEngine) -> None:
    """Unknown zone: the whole US spans New York to Honolulu, Massachusetts only New York."""
    assert engine.timezones("US-MA") == ("America/New_York",)
    morning = int(CATALOGUE.find(action=Action.AGENT_CALL, tone=Tone.NEUTRAL, slot=Slot.MORNING)[0])
    day = date(2024, 3, 12)
    us = make_state("US", day, timezone=None, at=time(7), engine=engine)
    ma = make_state("US-MA", day, timezone=None, at=time(7), engine=engine)
    assert not engine.evaluate(us).mask[morning]
    assert engine.evaluate(ma).mask[morning]


def test_a_subdivision_file_must_extend_its_country(rules_copy: Path) -> None:
    path = rules_copy / "US-MA.yaml"
    path.write_text(path.read_text().replace("extends: US", "extends: defaults"))
    with pytest.raises(RulesError) as err:
        ComplianceEngine.load(rules_copy)
    [issue] = err.value.issues
    assert issue.file.name == "US-MA.yaml" and issue.line == 9
    assert "extends US.yaml" in issue.message and issue.fix.startswith("write `extends: US`")


def test_a_subdivision_file_is_named_after_its_code(rules_copy: Path) -> None:
    (rules_copy / "US-MA.yaml").rename(rules_copy / "US-NY.yaml")
    with pytest.raises(RulesError) as err:
        ComplianceEngine.load(rules_copy)
    assert any(
        i.file.name == "US-NY.yaml" and "declares jurisdiction US-MA" in i.message
        for i in err.value.issues
    )


def test_hot_reload_covers_subdivision_files(rules_copy: Path) -> None:
    holder = RulesHolder(rules_copy)
    first = holder.current
    path = rules_copy / "US-MA.yaml"
    path.write_text(path.read_text().replace("within_days: 7", "within_days: 6"))
    # An officer's test of US-MA (2 calls on day 1 still block day 7) fails: rejected.
    rejected = holder.reload()
    assert not rejected.ok and holder.current is first
    assert "tests/US-MA.yaml" in (rejected.error or "")
    path.write_text(path.read_text().replace("within_days: 6", "within_days: 7"))
    path.write_text(path.read_text().replace("max: 2", "max: 1"))  # stricter: tests pass
    accepted = holder.reload()
    assert accepted.ok and accepted.changed and accepted.version != first.version
    one_call = _two_calls(make_state("US-MA", date(2024, 3, 12), at=time(9), engine=first))
    one_call.history.contacts_by_day[1, Channel.PHONE] = 1
    assert first.evaluate(one_call).mask[CALL]
    verdict = holder.current.evaluate(one_call)
    assert not verdict.mask[CALL] and verdict.ruleset_version == accepted.version


def test_subdivision_holidays_join_the_country_holidays(engine: ComplianceEngine) -> None:
    patriots_day = date(2024, 4, 15)  # Massachusetts only
    calendar_ma = engine.country_rules("US-MA").calendar
    calendar_us = engine.country_rules("US").calendar
    assert calendar_ma.is_holiday(patriots_day) and not calendar_us.is_holiday(patriots_day)
    assert calendar_ma.is_holiday(date(2024, 7, 4))

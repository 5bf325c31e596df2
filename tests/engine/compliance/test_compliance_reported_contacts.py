"""Contacts however they are reported, through the rules.

Random cases (every jurisdiction, random times of day) get random ledgers: contacts in the
last two weeks reported by any subset of their events (attempt, tact's reservation,
call outcomes, conversations, agreements on the phone, deliveries, opens, clicks), tied by
decision id, by ``attempt_event_id`` or not at all, arriving in any order and some twice;
older reminders and demands; direct prior consents to calls. The engine's fold
(``summarise_history``) must give exactly the counters of an independent reading of the
guide (contact_oracle.py) — contacts per day and channel, calls not connected, calls with
consent, notice and conversation days — and the verdict on it must be rule_oracle.py's.
"""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

import numpy as np
from compliance_factories import random_states
from contact_oracle import history_from_events, random_ledger
from rule_oracle import at_random_times, load_rules, verdict

from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from engine.history import summarise_history

CASES = 800
COUNTERS = (
    "contacts_by_day",
    "calls_not_connected_by_day",
    "calls_with_consent_by_day",
    "days_since_conversation",
    "days_since_first_reminder",
    "days_since_first_written_reminder",
    "days_since_first_demand",
    "days_since_call_consent",
)
"""What the rules read of a history's contacts (docs/rules.md, Facts and contact_limit)."""


def test_every_reported_contact_counts_once_and_decides_as_the_guide_says(
    engine: ComplianceEngine,
) -> None:
    rules = load_rules(engine.rules_dir)
    limits = {
        r["id"]
        for jurisdiction in rules.values()
        for r in jurisdiction.rules
        if "contact_limit" in r or "cool_down" in r
    }
    rng = np.random.default_rng(14)
    states = at_random_times(random_states(engine, CASES, seed=14), seed=14)
    limited = not_connected = with_consent = 0
    for state in states:
        snap = state.snapshot
        tz = ZoneInfo(snap.timezone or "")
        events = random_ledger(snap.case_id, state.as_of, rng)
        rng.shuffle(events)  # the order of arrival does not matter
        ours = summarise_history(events, as_of=state.local_date, tz=tz)
        guide = history_from_events(events, state.local_date, tz)
        where = f"{snap.subdivision or snap.country} at {state.as_of} UTC: {events}"
        for name in COUNTERS:
            assert np.array_equal(getattr(ours, name), getattr(guide, name)), (name, where)
        v = engine.evaluate(replace(state, history=ours))
        expected = verdict(replace(state, history=guide), rules)
        wrong = np.flatnonzero(v.mask != expected.mask)
        assert not wrong.size, (CATALOGUE[int(wrong[0])].label, expected.reasons[wrong[0]], where)
        limited += bool(set().union(*expected.reasons) & limits)
        not_connected += int(guide.calls_not_connected_by_day.any())
        with_consent += int(guide.calls_with_consent_by_day.any())
    # The draw reaches the limits and both exclusions.
    assert limited > CASES // 5 and not_connected > CASES // 10 and with_consent > 20, (
        limited,
        not_connected,
        with_consent,
    )

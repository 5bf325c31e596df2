"""Property tests: the mask never allows a step that any rule blocks.

The oracle here re-derives every rule's effect from the rule file as written (the
validated pydantic rule), from the case state directly (not from the engine's facts),
with its own day kinds, counts and windows. The engine's verdict must agree with it on
every catalogue entry, and must explain every blocked entry and no allowed one.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays
import numpy as np
import pytest
import yaml
from compliance_factories import random_states

from engine.catalogue import CATALOGUE, SLOT_HOURS, Action, Channel, Slot
from engine.compliance import DEFAULT_RULES_DIR, ComplianceEngine
from engine.compliance import expressions as ex
from engine.compliance.model import MinNoticeEffect, Rule, Selector, parse_window
from engine.state import NEVER, CaseState, ConsentStatus

CONTACT: list[Channel] = [c for c in Channel if c is not Channel.NONE]


@cache
def _holidays(jurisdiction: str, year: int) -> frozenset[date]:
    country, _, part = jurisdiction.partition("-")  # US-MA: the state's holidays too
    table = holidays.country_holidays(country, subdiv=part or None, years=year)
    return frozenset(
        d for d, name in table.items() if not (d.weekday() == 6 and name in ("Sunday", "Söndag"))
    )


def _facts(state: CaseState) -> dict[str, int]:
    """The public facts, computed straight from the state (independently of the engine)."""
    s, h, day = state.snapshot, state.history, state.local_date
    flags = s.flags
    consent = {**s.consents, **h.consent_overrides}
    until = max(
        (u for u in (flags.breathing_space_until, h.breathing_space_until) if u), default=None
    )
    is_holiday = day in _holidays(s.subdivision or s.country, day.year)
    kind = 3 if is_holiday else {5: 1, 6: 2}.get(day.weekday(), 0)
    f: dict[str, int] = {
        "dispute": int(flags.dispute or h.dispute_open),
        "cease_communication": int(flags.cease_communication or h.cease_requested),
        "vulnerable": int(flags.vulnerable),
        "bankruptcy": int(flags.bankruptcy or h.bankruptcy),
        "deceased": int(flags.deceased or h.deceased),
        "closed": int(h.closed),
        "mental_health_crisis": int(flags.mental_health_crisis),
        "time_barred": int(flags.time_barred),
        "hardship": int(flags.hardship),
        "has_app": int(s.debtor.has_app),
        "breathing_space": int(until is not None and until >= day),
        "days_since_conversation": h.days_since_conversation,
        "days_since_first_reminder": h.days_since_first_reminder,
        "days_since_first_written_reminder": h.days_since_first_written_reminder,
        "days_since_first_demand": h.days_since_first_demand,
        "days_since_call_consent": h.days_since_call_consent,
        "days_since_breathing_space_started": h.days_since_breathing_space_started,
        "days_past_due": s.days_past_due,
        "weekday": day.weekday(),
        "day_kind": kind,
        "is_holiday": int(is_holiday),
    }
    for c in CONTACT:
        f[f"opted_out_{c.name.lower()}"] = int(consent.get(c) == ConsentStatus.OPTED_OUT)
        f[f"consent_granted_{c.name.lower()}"] = int(consent.get(c) == ConsentStatus.GRANTED)
    return f


def _holds(expr: ex.Expr, facts: dict[str, int]) -> bool:
    if isinstance(expr, ex.Const):
        return expr.value
    if isinstance(expr, ex.Cmp):
        a, b = facts[expr.fact], expr.value
        return {"==": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[
            expr.op
        ]
    if isinstance(expr, ex.AllOf):
        return all(_holds(i, facts) for i in expr.items)
    return any(_holds(i, facts) for i in expr.items)


def _count(state: CaseState, channels: list[Channel], rule_limit) -> int:  # type: ignore[no-untyped-def]
    h, day = state.history, state.local_date
    if rule_limit.within_days is not None:
        days = rule_limit.within_days
    else:
        days = {"day": 1, "week": day.weekday() + 1, "month": day.day}[rule_limit.per.value]
    total = 0
    for c in channels:
        total += int(h.contacts_by_day[:days, c].sum())
    if Channel.PHONE in channels:
        excluded = {e.value for e in rule_limit.exclude}
        if "calls_not_connected" in excluded:
            total -= int(h.calls_not_connected_by_day[:days].sum())
        if "calls_with_consent" in excluded:
            total -= int(h.calls_with_consent_by_day[:days].sum())
    return max(total, 0)


_NAMES = {
    "actions": np.array([t.action.name for t in CATALOGUE.treatments]),
    "channels": np.array([t.channel.name for t in CATALOGUE.treatments]),
    "tones": np.array([t.tone.name for t in CATALOGUE.treatments]),
    "offers": np.array([t.offer.name for t in CATALOGUE.treatments]),
    "slots": np.array([t.slot.name for t in CATALOGUE.treatments]),
}
_CONTACT_MASK = np.array([t.action is not Action.WAIT for t in CATALOGUE.treatments])


def _selected(sel: Selector) -> np.ndarray:
    mask = _CONTACT_MASK.copy()
    for dim in _NAMES:
        values = getattr(sel, dim)
        if values is not None:
            mask &= np.isin(_NAMES[dim], [v.value for v in values])
    return mask


def _channels(names: list[str]) -> np.ndarray:
    return _CONTACT_MASK & np.isin(_NAMES["channels"], names)


def _rule_blocks(rule: Rule, facts: dict[str, int], state: CaseState) -> np.ndarray:
    """Catalogue entries ``rule`` blocks for this case (its condition already holds)."""
    none = np.zeros(len(CATALOGUE), dtype=bool)
    if rule.block is not None:
        return _selected(rule.block)
    if rule.hold is not None:
        return _CONTACT_MASK.copy()
    if rule.human_only is not None:
        human = (_NAMES["actions"] == "AGENT_CALL") & np.isin(
            _NAMES["tones"], [x.value for x in rule.human_only.tones]
        )
        return _CONTACT_MASK & ~human
    if rule.contact_limit is not None:
        cl = rule.contact_limit
        counted: list[Channel] = [Channel[c.value] for c in cl.channels] if cl.channels else CONTACT
        targets = [c.value for c in (cl.blocks or cl.channels or [])] or [c.name for c in CONTACT]
        return _channels(targets) if _count(state, counted, cl) >= cl.max else none
    if rule.cool_down is not None:
        cd = rule.cool_down
        fires = facts["days_since_conversation"] < cd.days
        return _channels([c.value for c in cd.channels]) if fires else none
    if rule.channel_consent is not None:
        cc = rule.channel_consent
        key = "opted_out_{}" if cc.require.value == "not_opted_out" else "consent_granted_{}"
        wanted = 1 if cc.require.value == "not_opted_out" else 0
        firing = [c.value for c in cc.channels if facts[key.format(c.value.lower())] == wanted]
        return _channels(firing)
    if rule.min_notice is not None:
        mn = rule.min_notice
        since = facts[f"days_since_{mn.after.value}"]
        return _selected(mn.blocks) if _notice_running(mn, since, state) else none
    return none


def _notice_running(mn: MinNoticeEffect, since: int, state: CaseState) -> bool:
    """Whether the period a notice gave is still running (or no notice was sent), counted
    day by day as the rule file says: from the day after receipt, ``days`` days or
    ``bank_days`` bank days, over at the end of the last one."""
    if since >= NEVER:
        return True
    country, today = state.snapshot.subdivision or state.snapshot.country, state.local_date
    one = timedelta(days=1)

    def bank(day: date) -> bool:
        return day.weekday() < 5 and day not in _bank_holidays(country, day.year)

    receipt, pending = today - since * one, mn.received_after_bank_days
    while pending:
        receipt += one
        pending -= bank(receipt)
    done, day = 0, receipt + one
    while day < today:
        done += bank(day) if mn.bank_days is not None else 1
        day += one
    return done < (mn.bank_days if mn.bank_days is not None else mn.days or 0)


@cache
def _bank_holidays(country: str, year: int) -> frozenset[date]:
    """Holidays that are not bank days, as the country's rule file names their categories."""
    text = (DEFAULT_RULES_DIR / f"{country}.yaml").read_text()
    spec = yaml.load(text, Loader=yaml.BaseLoader).get("holidays") or {}  # strings only
    categories = spec.get("bank_categories") or spec.get("categories") or ["public"]
    nation, _, part = country.partition("-")
    return frozenset(
        holidays.country_holidays(nation, subdiv=part or None, years=year, categories=categories)
    )


_SLOT_BOUNDS = np.array(
    [
        (0, 24 * 60)
        if t.slot in (Slot.POST, Slot.NONE)
        else (SLOT_HOURS[t.slot][0] * 60, SLOT_HOURS[t.slot][1] * 60)
        for t in CATALOGUE.treatments
    ]
)


def oracle_blocked(engine: ComplianceEngine, state: CaseState) -> tuple[np.ndarray, set[str]]:
    """(blocked mask, ids of the rules that block something) from the rule files."""
    facts = _facts(state)
    blocked = np.zeros(len(CATALOGUE), dtype=bool)
    blockers: set[str] = set()
    windows = {c.name: (0, 24 * 60) for c in CONTACT}
    window_rules: dict[str, list[str]] = {c.name: [] for c in CONTACT}
    for ref in engine.country_rules(state.snapshot.subdivision or state.snapshot.country).rules:
        rule: Rule = ref.model
        if rule.when and not _holds(ex.parse_condition(rule.when, facts.keys()), facts):
            continue
        if rule.send_window is not None:
            sw = rule.send_window
            text = (sw.weekday, sw.saturday, sw.sunday, sw.holiday)[facts["day_kind"]]
            lo, hi = parse_window(text) if text else (24 * 60, 0)
            if (lo, hi) != (0, 24 * 60):
                for name in sw.channels:
                    key = name.value
                    windows[key] = (max(windows[key][0], lo), min(windows[key][1], hi))
                    window_rules[key].append(rule.id)
            continue
        hit = _rule_blocks(rule, facts, state)
        if hit.any():
            blockers.add(rule.id)
        blocked |= hit
    for c in CONTACT:
        lo, hi = windows[c.name]
        rows = _CONTACT_MASK & (_NAMES["channels"] == c.name)
        closed = rows & (np.maximum(_SLOT_BOUNDS[:, 0], lo) >= np.minimum(_SLOT_BOUNDS[:, 1], hi))
        if closed.any():
            blocked |= closed
            blockers.update(window_rules[c.name])
    return blocked, blockers


@pytest.mark.parametrize("seed", [1, 2])
def test_mask_agrees_with_an_independent_reading_of_the_rule_files(
    engine: ComplianceEngine, seed: int
) -> None:
    holds = 0
    for k, state in enumerate(random_states(engine, 1000, seed=seed)):
        verdict = engine.evaluate(state)
        blocked, blockers = oracle_blocked(engine, state)
        holds += int(blocked[1:].all())
        # The property that matters: nothing a rule blocks is ever allowed …
        leaks = np.flatnonzero(verdict.mask & blocked)
        assert not leaks.size, (
            f"{state.snapshot.country} {state.local_date}: allowed although blocked: "
            f"{[CATALOGUE[int(i)].label for i in leaks[:3]]}"
        )
        # … and nothing is blocked without a rule saying so.
        expected = ~blocked
        expected[CATALOGUE.WAIT_INDEX] = True
        extra = np.flatnonzero(expected & ~verdict.mask)
        assert not extra.size, (
            f"{state.snapshot.country} {state.local_date}: blocked without a rule: "
            f"{[CATALOGUE[int(i)].label for i in extra[:3]]} ({verdict.rule_ids})"
        )
        assert verdict.mask[CATALOGUE.WAIT_INDEX]
        # Every blocked entry is explained by rules that do block something; none allowed is.
        for i in range(1, len(CATALOGUE)) if k % 4 == 0 else ():
            hits = verdict.hits_for(i)
            if verdict.mask[i]:
                assert hits == [] and verdict.window_utc(i) is not None
            else:
                assert hits, f"{CATALOGUE[i].label} blocked without a reason"
                assert verdict.window_utc(i) is None
                assert {h.rule_id for h in hits} <= blockers | {"tact.slot-passed"}
        if verdict.hold:
            assert verdict.mask.sum() == 1, "a hold allows nothing but WAIT"
        if verdict.human_only:
            allowed = np.flatnonzero(verdict.mask)[1:]
            assert all(CATALOGUE[int(i)].action is Action.AGENT_CALL for i in allowed)
    # The draw exercises both sides: some cases fully blocked, most partly open.
    assert 50 < holds < 700

"""An independent reading of the rule files: what each rule allows, for one case at one
instant, computed without any of the engine's compliance code.

The parity and property tests hold the engine to this oracle. To be worth anything it
shares nothing with what it checks: it reads the YAML itself (``yaml.safe_load``,
``extends`` chains — a subdivision's file extends its country's, which extends the
defaults — ``disable`` and same-id replacement, as docs/rules.md describes), evaluates
``when:`` conditions with Python's own expression grammar (restricted to names, numbers,
comparisons, ``and``/``or``/``not``), parses ``"HH:MM-HH:MM"`` windows with its own
regular expression, derives the facts from the case state itself, reads holidays (a
subdivision's included) and bank holidays from the ``holidays`` package directly, counts
notice periods day by day from the notice's (assumed) receipt, picks the rule file of a
case's subdivision or else its country's, and applies the decision instant (any time of
day: a slot whose window has ended is closed).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import yaml

from engine.catalogue import CATALOGUE, Channel, Slot
from engine.state import NEVER, CaseState, ConsentStatus

CONTACT = [c for c in Channel if c is not Channel.NONE]
_SLOT_MINUTES = {  # docs/rules.md: MORNING 08–11, MIDDAY 11–14, AFTERNOON 14–17, EVENING 17–21
    Slot.MORNING: (8 * 60, 11 * 60),
    Slot.MIDDAY: (11 * 60, 14 * 60),
    Slot.AFTERNOON: (14 * 60, 17 * 60),
    Slot.EVENING: (17 * 60, 21 * 60),
    Slot.POST: (0, 24 * 60),
}
_WINDOW = re.compile(r"^([01]\d|2[0-4]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")
_CONDITION_NODES = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.Name,
    ast.Load,
    ast.Constant,
)
_CONSTANTS = {"true": 1, "false": 0, "NEVER": NEVER}


def window_minutes(text: str | None) -> tuple[int, int] | None:
    """``"08:00-20:00"`` → (480, 1200); None (not at all) stays None."""
    if text is None:
        return None
    match = _WINDOW.match(text)
    assert match, f"not a window: {text!r}"
    h0, m0, h1, m1 = (int(g) for g in match.groups())
    return h0 * 60 + m0, h1 * 60 + m1


@cache
def _condition(text: str) -> Any:
    tree = ast.parse(text, mode="eval")
    for node in ast.walk(tree):
        assert isinstance(node, _CONDITION_NODES), f"{text!r}: {type(node).__name__}"
    return compile(tree, f"<when: {text}>", "eval")


def holds(text: str | None, facts: dict[str, int]) -> bool:
    if not text:
        return True
    return bool(eval(_condition(text), {"__builtins__": {}}, {**facts, **_CONSTANTS}))


@dataclass(frozen=True)
class Calendar:
    """Which holidays apply to a jurisdiction (docs/rules.md, ``holidays:``)."""

    country: str
    subdivision: str | None = None
    categories: tuple[str, ...] = ("public",)
    bank_categories: tuple[str, ...] = ("public",)
    """Holidays that are not bank days (besides Saturdays and Sundays)."""


@dataclass
class CountryRules:
    """The rules in effect for one jurisdiction: a country (``US``) or a subdivision with a
    rule file of its own (``US-MA``)."""

    code: str
    rules: list[dict[str, Any]]
    calendar: Calendar


SUBDIVISIONS_WITHOUT_FILES = {
    "US": ("US-CA", "US-TX", "US-NY"),
    "GB": ("GB-SCT", "GB-WLS"),
    "DE": ("DE-BY", "DE-BE"),
    "SE": ("SE-AB", "SE-O"),
    "DK": ("DK-84",),
    "FI": ("FI-18",),
    "NO": ("NO-03",),
}
"""Real ISO 3166-2 codes of each country that have no rule file: their cases are decided
by the country's file (with the country's holidays only) and say so."""
SUBDIVISION_UNKNOWN = "tact.subdivision-unknown"


def load_rules(rules_dir: Path) -> dict[str, CountryRules]:
    """Every country or subdivision file with its inherited rules, by its code."""
    texts = {p.stem: yaml.safe_load(p.read_text()) for p in sorted(rules_dir.glob("*.yaml"))}

    def rules_of(name: str) -> list[dict[str, Any]]:
        data = texts[name]
        rules: list[dict[str, Any]] = []
        if data.get("extends"):
            disabled = set(data.get("disable", []))
            rules = [r for r in rules_of(data["extends"]) if r["id"] not in disabled]
        for rule in data.get("rules", []):
            ids = [r["id"] for r in rules]
            if rule["id"] in ids:
                rules[ids.index(rule["id"])] = rule
            else:
                rules.append(rule)
        return rules

    def calendar_of(name: str) -> Calendar:
        spec = texts[name].get("holidays")
        if spec:  # the file says
            categories = tuple(spec.get("categories", ["public"]))
            return Calendar(
                spec.get("country") or name[:2],
                spec.get("subdivision"),
                categories,
                tuple(spec.get("bank_categories") or categories),
            )
        if "-" in name:  # a subdivision: its country's, with its own where the package has them
            country = calendar_of(texts[name]["extends"])
            part = name[3:]
            known = part in holidays.country_holidays(country.country).subdivisions
            return replace(country, subdivision=part if known else None)
        return Calendar(name)

    # The file name, not `jurisdiction:` (YAML 1.1 reads a bare NO as false).
    return {
        name: CountryRules(code=name, rules=rules_of(name), calendar=calendar_of(name))
        for name in texts
        if name != "defaults"
    }


def rules_for(rules: dict[str, CountryRules], state: CaseState) -> tuple[CountryRules, list[str]]:
    """The rules that decide ``state``'s case — its subdivision's file if there is one, else
    its country's — and the built-in notes the verdict must carry (an unknown subdivision)."""
    subdivision = state.snapshot.subdivision
    if subdivision and subdivision in rules:
        return rules[subdivision], []
    return rules[state.snapshot.country], [SUBDIVISION_UNKNOWN] if subdivision else []


@cache
def _holidays(
    country: str, subdivision: str | None, categories: tuple[str, ...], year: int
) -> frozenset[date]:
    table = holidays.country_holidays(
        country, subdiv=subdivision, years=year, categories=categories
    )
    # A Sunday is a Sunday (Sweden lists every Sunday as a holiday named "Söndag").
    return frozenset(
        d
        for d, name in table.items()
        if not (d.weekday() == 6 and set(name.split("; ")) <= {"Sunday", "Söndag"})
    )


def is_holiday(day: date, calendar: Calendar) -> bool:
    return day in _holidays(calendar.country, calendar.subdivision, calendar.categories, day.year)


def is_bank_day(day: date, calendar: Calendar) -> bool:
    """Monday to Friday, not a bank holiday."""
    closed = _holidays(calendar.country, calendar.subdivision, calendar.bank_categories, day.year)
    return day.weekday() < 5 and day not in closed


def _bank_days_after(day: date, n: int, calendar: Calendar) -> date:
    """The ``n``-th bank day after ``day`` (``day`` itself for 0)."""
    while n:
        day += timedelta(days=1)
        n -= is_bank_day(day, calendar)
    return day


def notice_last_day(notice: dict[str, Any], sent: date, calendar: Calendar) -> date:
    """The last day of the period a notice sent on ``sent`` gives (docs/rules.md,
    ``min_notice``): it is received the day it is sent or ``received_after_bank_days``
    bank days later; the period starts the day after receipt and lasts ``days`` days or
    ``bank_days`` bank days."""
    received = _bank_days_after(sent, notice.get("received_after_bank_days", 0), calendar)
    if "bank_days" in notice:
        return _bank_days_after(received, notice["bank_days"], calendar)
    return received + timedelta(days=notice["days"])


def facts(state: CaseState, country: CountryRules) -> dict[str, int]:
    """The documented facts (docs/rules.md), straight from the case state."""
    s, h, day = state.snapshot, state.history, state.local_date
    flags = s.flags
    consent = {**s.consents, **h.consent_overrides}
    ends = [u for u in (flags.breathing_space_until, h.breathing_space_until) if u]
    until = max(ends, default=None)
    holiday = is_holiday(day, country.calendar)
    f: dict[str, int] = {
        "days_past_due": s.days_past_due,
        "outstanding_minor": s.outstanding_minor,
        "original_minor": s.original_minor,
        "paid_minor_total": h.paid_minor_total,
        "product": int(s.product),
        "age_band": int(s.debtor.age_band),
        "tenure_months": s.debtor.tenure_months,
        "has_app": int(s.debtor.has_app),
        "dispute": int(flags.dispute or h.dispute_open),
        "cease_communication": int(flags.cease_communication or h.cease_requested),
        "vulnerable": int(flags.vulnerable),
        "bankruptcy": int(flags.bankruptcy or h.bankruptcy),
        "deceased": int(flags.deceased or h.deceased),
        "closed": int(h.closed),
        "mental_health_crisis": int(flags.mental_health_crisis),
        "time_barred": int(flags.time_barred),
        "hardship": int(flags.hardship),
        "breathing_space": int(until is not None and until >= day),
        "breathing_space_days_left": (until - day).days + 1 if until and until >= day else 0,
        "weekday": day.weekday(),
        "day_of_month": day.day,
        "month": day.month,
        "is_holiday": int(holiday),
        "day_kind": 3 if holiday else {5: 1, 6: 2}.get(day.weekday(), 0),
    }
    for name in (
        "days_since_conversation",
        "days_since_first_reminder",
        "days_since_first_written_reminder",
        "days_since_first_demand",
        "days_since_last_payment",
        "days_since_call_consent",
        "days_since_breathing_space_started",
        "deliveries_30d",
        "opens_7d",
        "opens_30d",
        "clicks_30d",
        "conversations_30d",
        "payments_total",
        "promises_open",
        "promises_broken",
        "plans_broken",
        "complaints_total",
        "complaints_30d",
    ):
        f[name] = int(getattr(h, name))
    f["plan_active"] = int(h.plan_active)
    for c in CONTACT:
        f[f"opted_out_{c.name.lower()}"] = int(consent.get(c) == ConsentStatus.OPTED_OUT)
        f[f"consent_granted_{c.name.lower()}"] = int(consent.get(c) == ConsentStatus.GRANTED)
    return f


@dataclass
class OracleVerdict:
    mask: np.ndarray
    """Allowed at the decision instant (WAIT always)."""
    reasons: list[set[str]]
    """Per catalogue entry: ids of the rules that block it or close its window."""
    windows: list[tuple[datetime, datetime] | None]
    """Per catalogue entry: the allowed UTC interval left today (None: none)."""
    hold: bool = False
    human_only: bool = False
    fired: set[str] = field(default_factory=set)
    notes: list[str] = field(default_factory=list)
    running_notices: set[str] = field(default_factory=set)
    """min_notice rules whose notice was sent and whose period has not run out."""
    """Built-in ids the verdict must name first, blocking nothing (an unknown subdivision)."""


_CONTACT_ENTRIES = [i for i in range(len(CATALOGUE)) if i != CATALOGUE.WAIT_INDEX]


@cache
def _selected(selector: tuple[tuple[str, tuple[str, ...]], ...]) -> frozenset[int]:
    """Contact entries matching every listed dimension (``(("channels", ("SMS",)),)``)."""
    out = set()
    for i in _CONTACT_ENTRIES:
        t = CATALOGUE[i]
        names = {
            "actions": t.action.name,
            "channels": t.channel.name,
            "tones": t.tone.name,
            "offers": t.offer.name,
            "slots": t.slot.name,
        }
        if all(names[dim] in allowed for dim, allowed in selector):
            out.add(i)
    return frozenset(out)


def _select(**dims: list[str] | None) -> frozenset[int]:
    return _selected(tuple((d, tuple(v)) for d, v in sorted(dims.items()) if v is not None))


def _count(state: CaseState, limit: dict[str, Any]) -> int:
    h, day = state.history, state.local_date
    if "within_days" in limit:
        days = limit["within_days"]
    else:
        days = {"day": 1, "week": day.weekday() + 1, "month": day.day}[limit["per"]]
    channels = [Channel[c] for c in limit.get("channels") or [c.name for c in CONTACT]]
    total = sum(int(h.contacts_by_day[:days, c].sum()) for c in channels)
    if Channel.PHONE in channels:
        if "calls_not_connected" in limit.get("exclude", []):
            total -= int(h.calls_not_connected_by_day[:days].sum())
        if "calls_with_consent" in limit.get("exclude", []):
            total -= int(h.calls_with_consent_by_day[:days].sum())
    return max(total, 0)


def _blocked(
    rule: dict[str, Any], f: dict[str, int], state: CaseState, calendar: Calendar
) -> frozenset[int]:
    """The contact entries ``rule`` blocks (its condition holds; not a send window)."""
    if "block" in rule:
        return _select(**(rule["block"] or {}))
    if "hold" in rule:
        return _select()
    if "human_only" in rule:
        tones = (rule["human_only"] or {}).get("tones", ["EMPATHETIC", "NEUTRAL"])
        return _select() - _select(actions=["AGENT_CALL"], tones=tones)
    if "contact_limit" in rule:
        limit = rule["contact_limit"]
        targets = limit.get("blocks") or limit.get("channels") or [c.name for c in CONTACT]
        reached = _count(state, limit) >= limit["max"]
        return _select(channels=targets) if reached else frozenset()
    if "cool_down" in rule:
        cool = rule["cool_down"]
        recent = f["days_since_conversation"] < cool["days"]
        return _select(channels=cool["channels"]) if recent else frozenset()
    if "channel_consent" in rule:
        consent = rule["channel_consent"]
        if consent["require"] == "not_opted_out":
            refused = [c for c in consent["channels"] if f[f"opted_out_{c.lower()}"]]
        else:
            refused = [c for c in consent["channels"] if not f[f"consent_granted_{c.lower()}"]]
        return _select(channels=refused) if refused else frozenset()
    if "min_notice" in rule:
        notice = rule["min_notice"]
        since = f[f"days_since_{notice['after']}"]
        day = state.local_date
        # Blocked while no notice was sent, and through the last day of its period.
        waiting = since >= NEVER or day <= notice_last_day(
            notice, day - timedelta(days=since), calendar
        )
        return _select(**notice["blocks"]) if waiting else frozenset()
    raise AssertionError(f"rule {rule['id']}: unknown effect")


def _utc(day: date, minute: int, tz: ZoneInfo) -> datetime:
    """UTC instant of local wall-clock ``minute`` (1440 = the next midnight) of ``day``."""
    clock = time((minute % 1440) // 60, minute % 60)
    return datetime.combine(day + timedelta(days=minute // 1440), clock, tz).astimezone(UTC)


def verdict(state: CaseState, rules: dict[str, CountryRules]) -> OracleVerdict:
    """The oracle's verdict for ``state`` (a known time zone) at ``state.as_of``."""
    country, notes = rules_for(rules, state)
    tz = ZoneInfo(state.snapshot.timezone or "")
    local = state.as_of.astimezone(tz)
    assert local.date() == state.local_date, "the decision instant is on the local date"
    now = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    f = facts(state, country)
    n = len(CATALOGUE)
    reasons: list[set[str]] = [set() for _ in range(n)]
    channel_window = {c.name: (0, 24 * 60) for c in CONTACT}
    window_rules: dict[str, list[str]] = {c.name: [] for c in CONTACT}
    out = OracleVerdict(np.zeros(n, dtype=bool), reasons, [None] * n, notes=notes)
    for rule in country.rules:
        if not holds(rule.get("when"), f):
            continue
        out.fired.add(rule["id"])
        if "send_window" in rule:
            sw = rule["send_window"]
            kind = ("weekday", "saturday", "sunday", "holiday")[f["day_kind"]]
            lo, hi = window_minutes(sw[kind]) or (24 * 60, 0)
            for channel in sw["channels"]:
                start, end = channel_window[channel]
                channel_window[channel] = (max(start, lo), min(end, hi))
                window_rules[channel].append(rule["id"])
            continue
        out.hold |= "hold" in rule
        out.human_only |= "human_only" in rule
        blocked = _blocked(rule, f, state, country.calendar)
        for i in blocked:
            reasons[i].add(rule["id"])
        if blocked and "min_notice" in rule:
            sent = f[f"days_since_{rule['min_notice']['after']}"] < NEVER
            out.running_notices |= {rule["id"]} if sent else set()
    out.mask[CATALOGUE.WAIT_INDEX] = True
    for i, t in enumerate(CATALOGUE.treatments):
        if i == CATALOGUE.WAIT_INDEX:
            continue
        slot_lo, slot_hi = _SLOT_MINUTES[t.slot]
        start, end = channel_window[t.channel.name]
        lo, hi = max(slot_lo, start), min(slot_hi, end)
        if lo >= hi:
            reasons[i].update(window_rules[t.channel.name])
            continue
        if hi <= now:
            continue  # the slot's time is over today (tact.slot-passed)
        out.windows[i] = (
            max(_utc(state.local_date, lo, tz), state.as_of),
            _utc(state.local_date, hi, tz),
        )
        out.mask[i] = not reasons[i]
    return out


def at_random_times(states: list[CaseState], seed: int) -> list[CaseState]:
    """The same cases decided at a random instant of their local day (not midnight)."""
    rng = np.random.default_rng(seed)
    out = []
    for state in states:
        tz = ZoneInfo(state.snapshot.timezone or "")
        second = int(rng.integers(0, 24 * 3600))
        # Wall-clock arithmetic: midnight + `second` on the local clock.
        local = datetime.combine(state.local_date, time(0), tz) + timedelta(seconds=second)
        as_of = local.astimezone(UTC)
        if as_of.astimezone(tz).date() != state.local_date:  # a DST gap at midnight
            as_of = datetime.combine(state.local_date, time(12), tz).astimezone(UTC)
        out.append(replace(state, as_of=as_of))
    return out


def with_unknown_subdivisions(states: list[CaseState], seed: int) -> list[CaseState]:
    """The same cases, a tenth of those without a subdivision naming one that has no rule
    file (:data:`SUBDIVISIONS_WITHOUT_FILES`)."""
    rng = np.random.default_rng(seed)
    out = []
    for state in states:
        codes = SUBDIVISIONS_WITHOUT_FILES.get(state.snapshot.country, ())
        if codes and state.snapshot.subdivision is None and rng.random() < 0.1:
            code = codes[int(rng.integers(len(codes)))]
            state = replace(state, snapshot=replace(state.snapshot, subdivision=code))
        out.append(state)
    return out


__all__ = [
    "SUBDIVISION_UNKNOWN",
    "Calendar",
    "CountryRules",
    "OracleVerdict",
    "at_random_times",
    "is_bank_day",
    "load_rules",
    "notice_last_day",
    "rules_for",
    "verdict",
    "with_unknown_subdivisions",
]

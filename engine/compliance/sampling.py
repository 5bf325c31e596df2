"""Case states for tests and benchmarks of the compliance engine: hand-made and random.

The random cases are drawn near the rules' thresholds (small contact counts, day counts
around notice periods, ``NEVER``) so that a few thousand of them exercise every rule;
they are what the parity test, the property tests and ``bench/bench_compliance.py`` use.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from engine.catalogue import Channel
from engine.compliance.calendar import country_zones, local_midnight, zone
from engine.compliance.engine import ComplianceEngine
from engine.compliance.jurisdictions import country_of, is_subdivision
from engine.state import (
    HISTORY_DAYS,
    NEVER,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    HistorySummary,
)

CONTACT: list[Channel] = [c for c in Channel if c is not Channel.NONE]


def make_state(
    country: str,
    day: date,
    *,
    timezone: str | None = "",
    at: time | None = None,
    flags: CaseFlags | None = None,
    history: HistorySummary | None = None,
    consents: dict[Channel, ConsentStatus] | None = None,
    has_app: bool = False,
    engine: ComplianceEngine | None = None,
) -> CaseState:
    """A case of ``country`` decided on local ``day`` at ``at`` (default: local midnight).

    ``country`` may be a subdivision with a rule file (``US-MA``: the case's country is
    US and its subdivision US-MA). ``timezone=""`` means the jurisdiction's reference zone;
    None means unknown.
    """
    zones = engine.timezones(country) if engine else None
    tz_name = (zones[0] if zones else _first_zone(country)) if timezone == "" else timezone
    try:
        ref = zone(tz_name or "")
    except (ValueError, KeyError, OSError):  # unknown or invalid: the reference zone
        ref = zone(zones[0] if zones else _first_zone(country))
    as_of = (
        local_midnight(day, ref) if at is None else datetime.combine(day, at, ref).astimezone(UTC)
    )
    snap = CaseSnapshot(
        case_id=f"{country}-{day}",
        debtor_id="d",
        country=country_of(country),
        subdivision=country if is_subdivision(country) else None,
        timezone=tz_name,
        currency="XXX",
        outstanding_minor=10_000,
        original_minor=10_000,
        days_past_due=30,
        debtor=DebtorProfile(has_app=has_app),
        consents=consents or {},
        flags=flags or CaseFlags(),
    )
    return CaseState(snap, history or HistorySummary(), as_of, day)


def jurisdictions_of(engine: ComplianceEngine, states: list[CaseState]) -> np.ndarray:
    """Each state's jurisdiction (country or subdivision with rules), for the batch path."""
    return np.array([engine.jurisdiction(s.snapshot) for s in states])


def _first_zone(country: str) -> str:
    return country_zones(country_of(country))[0]


def random_states(engine: ComplianceEngine, n: int, seed: int) -> list[CaseState]:
    """``n`` random cases (seeded) decided at the start of their local day, known zone.

    Values are drawn near the rules' thresholds (small counts, day counts around the
    notice periods, NEVER) and flags are rare enough that most cases are not on hold.
    All draws are vectorised; only the dataclasses are built row by row.
    """
    rng = np.random.default_rng(seed)
    countries = sorted(engine.countries)
    country_idx = rng.integers(len(countries), size=n)
    zone_pick = rng.random(n)
    days = rng.integers(0, 3 * 365, size=n)
    flag_rates = np.array([0.05, 0.05, 0.08, 0.03, 0.03, 0.05, 0.1, 0.1])
    flags = rng.random((n, len(flag_rates))) < flag_rates
    has_until = rng.random(n) < 0.05
    until_offset = rng.integers(-5, 40, size=n)
    consent_present = rng.random((n, len(CONTACT))) < 0.6
    consent_value = rng.choice(3, size=(n, len(CONTACT)), p=[0.5, 0.3, 0.2])
    rate = rng.choice([0.05, 0.15, 0.4], size=n)
    contacts = rng.poisson(rate[:, None, None], size=(n, HISTORY_DAYS, len(CONTACT)))
    phone = contacts[:, :, CONTACT.index(Channel.PHONE)]
    not_connected = rng.binomial(phone, 0.3)
    with_consent = rng.binomial(phone - not_connected, 0.3)

    def since(p_happened: float) -> np.ndarray:
        return np.where(rng.random(n) < p_happened, rng.integers(0, 70, size=n), NEVER)

    conversation, reminder, written, demand = (since(0.75) for _ in range(4))
    call_consent = since(0.3 * 0.75)
    breathing_started = since(0.1 * 0.75)
    closed = rng.random(n) < 0.02
    has_app = rng.random(n) < 0.5
    start = date(2023, 1, 1)
    out = []
    for i in range(n):
        country = countries[int(country_idx[i])]
        zones = engine.timezones(country)
        tz = zones[int(zone_pick[i] * len(zones))]
        day = start + timedelta(days=int(days[i]))
        f = flags[i]
        case_flags = CaseFlags(
            dispute=bool(f[0]),
            cease_communication=bool(f[1]),
            vulnerable=bool(f[2]),
            bankruptcy=bool(f[3]),
            deceased=bool(f[4]),
            breathing_space_until=(
                day + timedelta(days=int(until_offset[i])) if has_until[i] else None
            ),
            mental_health_crisis=bool(f[5]),
            time_barred=bool(f[6]),
            hardship=bool(f[7]),
        )
        consents: dict[Channel, ConsentStatus] = {
            ch: ConsentStatus(int(consent_value[i, k]))
            for k, ch in enumerate(CONTACT)
            if consent_present[i, k]
        }
        h = HistorySummary()
        h.contacts_by_day[:, 1:] = contacts[i]
        h.calls_not_connected_by_day[:] = not_connected[i]
        h.calls_with_consent_by_day[:] = with_consent[i]
        h.days_since_conversation = int(conversation[i])
        h.days_since_first_reminder = int(reminder[i])
        h.days_since_first_written_reminder = int(written[i])
        h.days_since_first_demand = int(demand[i])
        h.days_since_call_consent = int(call_consent[i])
        h.days_since_breathing_space_started = int(breathing_started[i])
        h.closed = bool(closed[i])
        state = make_state(
            country,
            day,
            timezone=tz,
            flags=case_flags,
            history=h,
            consents=consents,
            has_app=bool(has_app[i]),
            engine=engine,
        )
        out.append(replace(state, snapshot=replace(state.snapshot, case_id=f"r{seed}-{i}")))
    return out

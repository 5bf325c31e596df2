"""What the service would see of a simulated case: its snapshot and its ledger events.

A parity test replays these through :func:`engine.history.summarise_history` (and a later one
through the real gRPC service) and asserts the same observation and mask as the simulator
built. Needs a simulator constructed with ``record_events=True``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from engine.catalogue import CONTACT_CHANNELS
from engine.history import summarise_history
from engine.state import (
    AgeBand,
    CaseFlags,
    CaseSnapshot,
    CaseState,
    ConsentStatus,
    DebtorProfile,
    LedgerEvent,
    Product,
)
from simulator.batched import BatchedCollectionsSim
from simulator.events import local_date_of


def snapshot_of(sim: BatchedCollectionsSim, row: int) -> CaseSnapshot:
    """The caller's view of the case in ``row`` now (history excluded)."""
    b, tr = sim.batch, sim.traits
    zone = sim.sampler.zones[int(tr.zone[row])]
    consents = {
        c: ConsentStatus(int(tr.consent[row, int(c)]))
        for c in CONTACT_CHANNELS
        if tr.consent[row, int(c)] != ConsentStatus.UNKNOWN
    }
    return CaseSnapshot(
        case_id=sim.case_id(row),
        debtor_id=sim.case_id(row),
        country=str(b.country[row]),
        timezone=zone,
        currency=sim.scenario.currency,
        outstanding_minor=int(b.outstanding_minor[row]),
        original_minor=int(b.original_minor[row]),
        days_past_due=int(b.days_past_due[row]),
        product=Product(int(b.product[row])),
        debtor=DebtorProfile(
            age_band=AgeBand(int(b.age_band[row])),
            tenure_months=int(b.tenure_months[row]),
            prior_on_time_ratio=float(b.prior_on_time_ratio[row]),
            risk_score=float(b.risk_score[row]),
            has_app=bool(b.has_app[row]),
        ),
        consents=consents,
        flags=CaseFlags(
            vulnerable=bool(b.vulnerable[row]),
            mental_health_crisis=bool(b.mental_health_crisis[row]),
            time_barred=bool(b.time_barred[row]),
            hardship=bool(b.hardship[row]),
        ),
    )


def ledger_of(sim: BatchedCollectionsSim, row: int) -> list[LedgerEvent]:
    """Every event recorded so far for the case in ``row``, in emission order."""
    if sim.recorder is None:
        raise ValueError("construct the simulator with record_events=True to replay cases")
    return sim.recorder.events_for(sim.case_id(row))


def decision_instant(sim: BatchedCollectionsSim, row: int) -> datetime:
    """UTC instant of today's decision for ``row`` (``decision_hour`` local time)."""
    zone = ZoneInfo(sim.sampler.zones[int(sim.traits.zone[row])])
    today = local_date_of(int(sim.local_day[row]))
    local = datetime.combine(today, time(sim.scenario.decision_hour), tzinfo=zone)
    return local.astimezone(UTC)


def replayed_state(sim: BatchedCollectionsSim, row: int) -> CaseState:
    """The CaseState the service would build now from the snapshot and the ledger."""
    zone = ZoneInfo(sim.sampler.zones[int(sim.traits.zone[row])])
    today = local_date_of(int(sim.local_day[row]))
    history = summarise_history(ledger_of(sim, row), as_of=today, tz=zone)
    return CaseState(
        snapshot=snapshot_of(sim, row),
        history=history,
        as_of=decision_instant(sim, row),
        local_date=today,
    )

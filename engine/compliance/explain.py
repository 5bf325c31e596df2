"""Explanations for compliance officers: for one case and local day, what may be sent
through each channel in each send slot, and which rule blocked the rest."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from engine.catalogue import CATALOGUE, CONTACT_CHANNELS, Channel, Slot
from engine.compliance.engine import ComplianceEngine
from engine.compliance.verdict import ComplianceVerdict, RuleHit
from engine.history import summarise_history
from engine.state import CaseSnapshot, CaseState, LedgerEvent

SLOT_COLUMNS: tuple[Slot, ...] = (
    Slot.MORNING,
    Slot.MIDDAY,
    Slot.AFTERNOON,
    Slot.EVENING,
    Slot.POST,
)


@dataclass(frozen=True, slots=True)
class Cell:
    """One channel × slot: the local window if anything is allowed, and what is blocked."""

    applicable: bool
    """False where the catalogue has no such combination (e.g. SMS × POST)."""
    allowed: int
    total: int
    window_local: str | None
    """"HH:MM-HH:MM" in the debtor's (or reference) zone, when something is allowed."""
    blocked_by: tuple[tuple[str, tuple[str, ...]], ...]
    """(action name, rule ids) for each blocked action in this cell."""


@dataclass(frozen=True, slots=True)
class DayExplanation:
    verdict: ComplianceVerdict
    zone_name: str
    cells: dict[tuple[Channel, Slot], Cell]
    hits: tuple[RuleHit, ...]


def state_for(
    engine: ComplianceEngine, snapshot: CaseSnapshot, events: list[LedgerEvent], at: datetime
) -> CaseState:
    """The :class:`CaseState` of a case at ``at`` (naive = the debtor's local time)."""
    ref = engine.reference_zone(engine.jurisdiction(snapshot), snapshot.timezone)
    aware = at.replace(tzinfo=ref) if at.tzinfo is None else at
    as_of = aware.astimezone(UTC)
    local_day = as_of.astimezone(ref).date()
    history = summarise_history(events, as_of=local_day, tz=ref)
    return CaseState(snapshot=snapshot, history=history, as_of=as_of, local_date=local_day)


def explain_day(engine: ComplianceEngine, state: CaseState) -> DayExplanation:
    verdict = engine.evaluate(state)
    ref = engine.reference_zone(engine.jurisdiction(state.snapshot), state.snapshot.timezone)
    cells: dict[tuple[Channel, Slot], Cell] = {}
    for channel in CONTACT_CHANNELS:
        for slot in SLOT_COLUMNS:
            indices = [int(i) for i in CATALOGUE.find(channel=channel, slot=slot)]
            if not indices:
                cells[(channel, slot)] = Cell(False, 0, 0, None, ())
                continue
            allowed = [i for i in indices if verdict.mask[i]]
            window = verdict.window_utc(allowed[0]) if allowed else None
            window_text = None
            if window is not None:
                start = window[0].astimezone(ref)
                end = window[1].astimezone(ref)
                end_text = (
                    "24:00" if end.date() > start.date() and end.hour == 0 else f"{end:%H:%M}"
                )
                window_text = f"{start:%H:%M}-{end_text}"
            by_action: dict[str, list[str]] = {}
            for i in indices:
                if verdict.mask[i]:
                    continue
                ids = by_action.setdefault(CATALOGUE[i].action.name, [])
                for hit in verdict.hits_for(i):
                    if hit.rule_id not in ids:
                        ids.append(hit.rule_id)
            cells[(channel, slot)] = Cell(
                True,
                len(allowed),
                len(indices),
                window_text,
                tuple((a, tuple(ids)) for a, ids in by_action.items()),
            )
    seen: dict[str, RuleHit] = {h.rule_id: h for h in verdict.shaping_hits}
    for i in range(1, len(CATALOGUE)):
        for hit in verdict.hits_for(i):
            seen.setdefault(hit.rule_id, hit)
    return DayExplanation(
        verdict,
        ref.key if state.snapshot.timezone else f"{ref.key} (reference; case has no time zone)",
        cells,
        tuple(seen.values()),
    )

"""May a step be taken at an instant, and if not, when first? (``CheckAction``).

A *step* is an action through a channel (optionally in a given tone and with a given
offer), in whichever send slot the instant falls: every catalogue entry that matches is an
alternative, and the step is allowed when one of them is. The earliest allowed instant is
found day by day from the instant asked about, each day decided exactly as ``Decide``
would decide it on that day (the same ledger fold, the same verdict), assuming nothing new
is reported meanwhile; within a day it is the earliest start of an allowed entry's send
window, to the minute. So send windows, public holidays, rolling limits running out,
calendar caps, notice periods and breathing spaces ending are all accounted for, and with
an unknown time zone the instant is allowed in every zone of the country.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from engine.catalogue import CATALOGUE, SLOT_HOURS, Offer, Slot, Tone, Treatment
from engine.compliance.calendar import local_midnight
from engine.compliance.engine import ComplianceEngine
from engine.compliance.verdict import ComplianceVerdict, RuleHit
from engine.history import summarise_history
from engine.state import CaseSnapshot, CaseState, LedgerEvent

HORIZON_DAYS = 60
"""Days after the instant asked about that are searched for the next allowed instant."""


@dataclass(frozen=True, slots=True)
class StepCheck:
    """The answer to "may this step be taken at ``at``?"."""

    allowed: bool
    violations: tuple[RuleHit, ...]
    """When not allowed: the rules that block the step at ``at``, each once."""
    next_allowed_at: datetime | None
    """The earliest instant ≥ ``at`` at which the step is allowed (``at`` itself when
    allowed); None when no instant within :data:`HORIZON_DAYS` days is."""
    ruleset_version: str


def step_entries(
    proposed: Treatment, *, tone: Tone | None = None, offer: Offer | None = None
) -> list[int]:
    """The catalogue entries of a step in any send slot: ``proposed``'s action and channel,
    and ``tone`` / ``offer`` when given (None: any)."""
    query: dict[str, int] = {"action": proposed.action, "channel": proposed.channel}
    if tone is not None:
        query["tone"] = tone
    if offer is not None:
        query["offer"] = offer
    return [int(i) for i in CATALOGUE.find(**query)]


def states_from_events(
    snapshot: CaseSnapshot, events: Sequence[LedgerEvent], zone: ZoneInfo, at: datetime
) -> Callable[[date], CaseState]:
    """The case on a local day as the service would build it then: ``events`` folded as of
    that day in ``zone`` (the reference zone), decided at ``at`` on ``at``'s own day and
    at local midnight on later days."""
    at_utc = at.astimezone(UTC)
    today = at_utc.astimezone(zone).date()

    def state_on(day: date) -> CaseState:
        history = summarise_history(events, as_of=day, tz=zone)
        as_of = at_utc if day == today else local_midnight(day, zone)
        return CaseState(snapshot=snapshot, history=history, as_of=as_of, local_date=day)

    return state_on


def check_step(
    engine: ComplianceEngine,
    state_on: Callable[[date], CaseState],
    entries: Sequence[int],
    at: datetime,
    *,
    reference_zone: ZoneInfo,
    horizon_days: int = HORIZON_DAYS,
) -> StepCheck:
    """May the step whose catalogue entries are ``entries`` be taken at ``at``, and when
    first? ``state_on(day)``: the case on a local day (see :func:`states_from_events`)."""
    at = at.astimezone(UTC)
    today = at.astimezone(reference_zone).date()
    verdict = engine.evaluate(state_on(today))
    at_local = at.astimezone(reference_zone)
    current = [i for i in entries if _slot_holds(CATALOGUE[i].slot, at_local)] or list(entries)
    first = _earliest(verdict, entries)
    if first == at:
        return StepCheck(True, (), at, verdict.ruleset_version)
    violations = tuple(verdict.reasons_at(current, at))
    for k in range(1, horizon_days + 1):
        if first is not None:
            break
        first = _earliest(engine.evaluate(state_on(today + timedelta(days=k))), entries)
    return StepCheck(False, violations, first, verdict.ruleset_version)


def _slot_holds(slot: Slot, local: datetime) -> bool:
    """Whether the send slot covers local time ``local`` (a letter's POST: the whole day)."""
    if slot is Slot.POST:
        return True
    start, end = SLOT_HOURS[slot]
    return start <= local.hour < end


def _earliest(verdict: ComplianceVerdict, entries: Sequence[int]) -> datetime | None:
    """The earliest instant of the verdict's day (not before its decision instant) at which
    one of ``entries`` may be sent."""
    starts = [
        window[0]
        for i in entries
        if verdict.mask[i] and (window := verdict.window_utc(i)) is not None
    ]
    return min(starts) if starts else None


__all__ = ["HORIZON_DAYS", "StepCheck", "check_step", "states_from_events", "step_entries"]

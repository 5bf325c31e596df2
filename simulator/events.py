"""Optional ledger-event recording of simulated cases (``record_events=True``).

The recorded :class:`engine.state.LedgerEvent` streams are what the service would have
received from a core collection system; replaying them through
:func:`engine.history.summarise_history` (or the real gRPC service) must rebuild the very
case columns the simulator decided on. Off by default: it is slow (one Python object per
event) and only parity tests and audits need it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import Action, Channel
from engine.compliance import calendar
from engine.state import EventKind, LedgerEvent

_EPOCH = date(1970, 1, 1)


def local_instant(day: int, hour: int, minute: int, zone: str) -> datetime:
    """UTC instant of ``hour:minute`` local time on local day ``day`` (days since epoch)."""
    return calendar.local_instant(local_date_of(day), hour * 60 + minute, ZoneInfo(zone))


def local_date_of(day: int) -> date:
    return _EPOCH + timedelta(days=int(day))


@dataclass(frozen=True, slots=True)
class RowContext:
    """Who the rows are: case ids, their local day today and their time zone names."""

    case_ids: list[str]
    local_days: np.ndarray
    zones: list[str]
    decision_ids: list[str]


class EventRecorder:
    """Collects LedgerEvents per case id, in emission order."""

    def __init__(self) -> None:
        self.events: dict[str, list[LedgerEvent]] = defaultdict(list)
        self._serial = 0

    def emit(
        self,
        kind: EventKind,
        context: RowContext,
        hour: int | np.ndarray,
        minute: int,
        *,
        channel: np.ndarray | None = None,
        action: np.ndarray | None = None,
        amount: np.ndarray | None = None,
        until_days: np.ndarray | None = None,
        with_decision: bool = False,
    ) -> None:
        n = len(context.case_ids)
        hours = np.broadcast_to(np.asarray(hour), (n,))
        for i in range(n):
            self._serial += 1
            case_id = context.case_ids[i]
            self.events[case_id].append(
                LedgerEvent(
                    event_id=f"{case_id}/e{self._serial}",
                    case_id=case_id,
                    kind=kind,
                    occurred_at=local_instant(
                        int(context.local_days[i]), int(hours[i]), minute, context.zones[i]
                    ),
                    channel=Channel(int(channel[i])) if channel is not None else Channel.NONE,
                    action=Action(int(action[i])) if action is not None else None,
                    amount_minor=int(amount[i]) if amount is not None else 0,
                    until=local_date_of(int(until_days[i])) if until_days is not None else None,
                    decision_id=context.decision_ids[i] if with_decision else "",
                )
            )

    def events_for(self, case_id: str) -> list[LedgerEvent]:
        return list(self.events.get(case_id, ()))

"""The history columns of a :class:`engine.state.CaseBatch`, kept for simulated cases the
way the service folds its ledger.

Each method is one ledger event kind applied to a set of rows, with the exact semantics of
:func:`engine.history.summarise_history` (a planned contact and its attempt count once, a
payment clears open promises, ``days_since_first_*`` keep the oldest event, 30- and 7-day
windows roll with the debtor's local date). When an :class:`EventRecorder` is attached the
same call emits the matching :class:`engine.state.LedgerEvent` objects, so a replay through
the service rebuilds the same columns (checked in tests/simulator/test_ledger_parity.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields

import numpy as np

from engine.catalogue import Action, Channel
from engine.state import HISTORY_DAYS, NEVER, CaseBatch, ConsentStatus, EventKind
from simulator.events import EventRecorder, RowContext

_COLUMNS = frozenset(f.name for f in fields(CaseBatch))
DAYS_SINCE_COLUMNS = tuple(sorted(n for n in _COLUMNS if n.startswith("days_since_")))
"""Every ``days_since_*`` column: NEVER for a new case, one more each local day."""
FIRST_CONTACT_COLUMNS = {
    action: name
    for action, name in (
        (Action.REMINDER, "days_since_first_reminder"),
        (Action.DEMAND, "days_since_first_demand"),
        (Action.LEGAL_ESCALATION, "days_since_legal_escalation"),
    )
    if name in _COLUMNS
}
"""Columns that keep the day of the *first* contact with that action (summarise_history's
``_first``); a column the shared CaseBatch does not have (yet) is skipped."""

WINDOW_DAYS = 30
"""Longest rolling window of the summary (``*_30d``)."""
SHORT_WINDOW_DAYS = 7

Hour = int | np.ndarray


class LedgerColumns:
    """Updates the history columns of ``batch`` in place, one event kind at a time.

    The 30-day counters are kept as rings of per-day counts with one shared head (all rows
    advance one local day per step), so rolling a window costs one column, not a copy.
    """

    def __init__(
        self,
        batch: CaseBatch,
        recorder: EventRecorder | None = None,
        context: Callable[[np.ndarray], RowContext] | None = None,
    ) -> None:
        if recorder is not None and context is None:
            raise ValueError("an EventRecorder needs a context function naming the rows")
        self.batch = batch
        self.recorder = recorder
        self._context = context
        n = len(batch)
        self._head = 0
        self._rings = {
            name: np.zeros((n, WINDOW_DAYS), dtype=np.int16)
            for name in ("deliveries", "opens", "clicks", "conversations", "complaints")
        }

    # -- bookkeeping -------------------------------------------------------------------

    def reset_rows(self, rows: np.ndarray) -> None:
        """A new case in ``rows``: empty history."""
        b = self.batch
        for col in (b.contacts_by_day, b.calls_not_connected_by_day, b.calls_with_consent_by_day):
            col[rows] = 0
        for name in DAYS_SINCE_COLUMNS:
            getattr(b, name)[rows] = NEVER
        for name in (
            "deliveries_30d",
            "opens_7d",
            "opens_30d",
            "clicks_30d",
            "conversations_30d",
            "payments_total",
            "paid_minor_total",
            "promises_open",
            "promises_broken",
            "plan_active",
            "plans_broken",
            "complaints_total",
            "complaints_30d",
            "dispute",
            "cease_communication",
            "closed",
            "breathing_space_days_left",
        ):
            getattr(b, name)[rows] = 0
        for ring in self._rings.values():
            ring[rows] = 0

    def next_day(self) -> None:
        """Advance every row by one local day: offsets shift, windows drop their oldest day."""
        b = self.batch
        b.contacts_by_day[:, 1:] = b.contacts_by_day[:, :-1]
        b.contacts_by_day[:, 0] = 0
        for col in (b.calls_not_connected_by_day, b.calls_with_consent_by_day):
            col[:, 1:] = col[:, :-1]
            col[:, 0] = 0
        for name in DAYS_SINCE_COLUMNS:
            col = getattr(b, name)
            col += col != NEVER
        new_head = (self._head + 1) % WINDOW_DAYS
        seven_days_ago = (self._head - (SHORT_WINDOW_DAYS - 1)) % WINDOW_DAYS
        b.opens_7d -= self._rings["opens"][:, seven_days_ago]
        for name, column in (
            ("deliveries", b.deliveries_30d),
            ("opens", b.opens_30d),
            ("clicks", b.clicks_30d),
            ("conversations", b.conversations_30d),
            ("complaints", b.complaints_30d),
        ):
            ring = self._rings[name]
            column -= ring[:, new_head]
            ring[:, new_head] = 0
        self._head = new_head

    def _count(self, name: str, rows: np.ndarray) -> None:
        self._rings[name][rows, self._head] += 1

    def _emit(
        self, kind: EventKind, rows: np.ndarray, hour: Hour, minute: int, **kw: object
    ) -> None:
        # Outcome events (call outcome, delivery, open, click, conversation) pass
        # with_decision=True: in the simulator every outcome follows the contact decided
        # that day (letters, which arrive later, report none), and the service counts each
        # contact once through that link (engine.contacts).
        if self.recorder is None or rows.size == 0:
            return
        assert self._context is not None
        self.recorder.emit(kind, self._context(rows), hour, minute, **kw)  # type: ignore[arg-type]

    # -- contacts ----------------------------------------------------------------------

    def contact(
        self,
        rows: np.ndarray,
        channel: np.ndarray,
        action: np.ndarray,
        planned_at: tuple[int, int],
        hour: Hour,
        minute: int,
    ) -> None:
        """A contact decided today: planned at the decision, attempted at its send time."""
        if rows.size == 0:
            return
        b = self.batch
        b.contacts_by_day[rows, 0, channel] += 1
        for act, name in FIRST_CONTACT_COLUMNS.items():
            col = getattr(b, name)
            first = rows[(action == act) & (col[rows] == NEVER)]
            col[first] = 0
        written = (action == Action.REMINDER) & (
            (channel == Channel.LETTER) | (channel == Channel.EMAIL)
        )
        first = rows[written & (b.days_since_first_written_reminder[rows] == NEVER)]
        b.days_since_first_written_reminder[first] = 0
        kw = {"channel": channel, "action": action, "with_decision": True}
        self._emit(EventKind.CONTACT_PLANNED, rows, planned_at[0], planned_at[1], **kw)
        self._emit(EventKind.CONTACT_ATTEMPTED, rows, hour, minute, **kw)

    def call_outcome(
        self, rows: np.ndarray, connected: np.ndarray, hour: Hour, minute: int
    ) -> None:
        """Today's call in ``rows`` connected (ringing, voicemail, answer) or not."""
        missed = rows[~connected]
        self.batch.calls_not_connected_by_day[missed, 0] += 1
        if self.recorder is not None:
            hours = np.broadcast_to(np.asarray(hour), rows.shape)
            self._emit(
                EventKind.CALL_NOT_CONNECTED, missed, hours[~connected], minute, with_decision=True
            )
            self._emit(
                EventKind.CALL_CONNECTED,
                rows[connected],
                hours[connected],
                minute,
                with_decision=True,
            )

    def delivered(self, rows: np.ndarray, channel: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.deliveries_30d[rows] += 1
        self._count("deliveries", rows)
        self._emit(
            EventKind.CONTACT_DELIVERED, rows, hour, minute, channel=channel, with_decision=True
        )

    def opened(self, rows: np.ndarray, channel: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.opens_7d[rows] += 1
        self.batch.opens_30d[rows] += 1
        self._count("opens", rows)
        self._emit(
            EventKind.CONTACT_OPENED, rows, hour, minute, channel=channel, with_decision=True
        )

    def clicked(self, rows: np.ndarray, channel: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.clicks_30d[rows] += 1
        self._count("clicks", rows)
        self._emit(
            EventKind.CONTACT_CLICKED, rows, hour, minute, channel=channel, with_decision=True
        )

    def conversation(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.days_since_conversation[rows] = 0
        self.batch.conversations_30d[rows] += 1
        self._count("conversations", rows)
        phone = np.full(rows.shape, int(Channel.PHONE))
        self._emit(EventKind.CONVERSATION, rows, hour, minute, channel=phone, with_decision=True)

    # -- money and agreements ----------------------------------------------------------

    def payment(self, rows: np.ndarray, amount: np.ndarray, hour: Hour, minute: int) -> None:
        b = self.batch
        b.payments_total[rows] += 1
        b.paid_minor_total[rows] += amount
        b.days_since_last_payment[rows] = 0
        b.promises_open[rows] = 0
        self._emit(EventKind.PAYMENT, rows, hour, minute, amount=amount)

    def promise(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.promises_open[rows] += 1
        self._emit(EventKind.PROMISE_TO_PAY, rows, hour, minute)

    def promise_broken(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        b = self.batch
        b.promises_broken[rows] += 1
        b.promises_open[rows] = np.maximum(0, b.promises_open[rows] - 1)
        self._emit(EventKind.PROMISE_BROKEN, rows, hour, minute)

    def plan_agreed(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.plan_active[rows] = True
        self._emit(EventKind.PLAN_AGREED, rows, hour, minute)

    def plan_broken(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.plan_active[rows] = False
        self.batch.plans_broken[rows] += 1
        self._emit(EventKind.PLAN_BROKEN, rows, hour, minute)

    def plan_completed(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.plan_active[rows] = False
        self._emit(EventKind.PLAN_COMPLETED, rows, hour, minute)

    # -- complaints, permissions, protections -----------------------------------------

    def complaint(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.complaints_total[rows] += 1
        self.batch.complaints_30d[rows] += 1
        self._count("complaints", rows)
        self._emit(EventKind.COMPLAINT, rows, hour, minute)

    def opt_out(self, rows: np.ndarray, channel: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.consent[rows, channel] = ConsentStatus.OPTED_OUT
        self._emit(EventKind.OPT_OUT, rows, hour, minute, channel=channel)

    def dispute_opened(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.dispute[rows] = True
        self._emit(EventKind.DISPUTE_OPENED, rows, hour, minute)

    def dispute_resolved(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.dispute[rows] = False
        self._emit(EventKind.DISPUTE_RESOLVED, rows, hour, minute)

    def cease(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.cease_communication[rows] = True
        self._emit(EventKind.CEASE_REQUEST, rows, hour, minute)

    def breathing_space(
        self, rows: np.ndarray, until_days: np.ndarray, hour: Hour, minute: int
    ) -> None:
        """Breathing space until local day ``until_days`` (inclusive); the engine keeps
        ``breathing_space_days_left`` current each morning from the same end day."""
        self.batch.days_since_breathing_space_started[rows] = 0
        self._emit(EventKind.BREATHING_SPACE_STARTED, rows, hour, minute, until_days=until_days)

    def closed(self, rows: np.ndarray, hour: Hour, minute: int) -> None:
        self.batch.closed[rows] = True
        self._emit(EventKind.CASE_CLOSED, rows, hour, minute)


__all__ = ["HISTORY_DAYS", "SHORT_WINDOW_DAYS", "WINDOW_DAYS", "LedgerColumns"]

"""Re-check and reserve: a contact is reserved only if the case's ledger still allows it.

A decision reads its case's ledger, asks the rules and the policy, and then stores itself
with its contact reservation (``CONTACT_PLANNED``). Between that read and that write,
another decision for the same case — another thread's group, a ``DecideStream`` batch,
another process or replica — may reserve a contact, and both would pass a limit of one
call a day. So the write is one transaction that first locks the cases it reserves for
(:mod:`engine.ledger.locks`) and re-reads their ledgers; a decision whose case's ledger
changed since it was decided is checked again against the rules with what is there now,
and one whose contact is now blocked is stored as a WAIT that names the blocking rules
(fail closed). Decisions for different cases still commit together (group commit); a
decision that reserves nothing (a wait) takes no lock.

The lock covers the re-read, the re-check and the write, not the policy: the expensive
part of a decision runs outside it, and only a decision that lost a race is decided again.

A decision whose request is stored for its case already (a retry after a lost reply, or
the same request arriving twice at once) is not stored at all: the ledger's unique index
on the request skips it in the same write, with its reservation, and the stored decision
is returned in its place (``replay``), whichever path stored it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from engine.ledger import CompanionRows, DecisionRecord, Ledger
from engine.state import EventKind, LedgerEvent

if TYPE_CHECKING:
    from engine.outcomes import DecisionOutcome

Recheck = Callable[["DecisionOutcome", Sequence[LedgerEvent]], "DecisionOutcome"]
"""``(decision, its case's ledger events now) → the decision as it may be stored``: the
same object when it stands, another (a WAIT) when the ledger no longer allows it."""
Replay = Callable[["DecisionOutcome", DecisionRecord], "DecisionOutcome"]
"""``(decision, the decision stored earlier for its request) → what the caller gets``."""


class Reservations:
    """Stores decisions with their reservations, serialised per case.

    ``serialise=False``, ``hold_s`` and ``hold_after_s`` exist for tests only
    (``TACT_TEST_*`` settings): without serialisation the read and the write are apart, as
    before; ``hold_s`` waits that long between a group's decision and its write, so that a
    test can make concurrent decisions for one case overlap on purpose; ``hold_after_s``
    waits after the write, so that a test can kill a replica between a commit and its
    reply.
    """

    def __init__(
        self,
        ledger: Ledger,
        *,
        serialise: bool = True,
        hold_s: float = 0.0,
        hold_after_s: float = 0.0,
    ) -> None:
        if hold_s < 0 or hold_after_s < 0:
            raise ValueError(
                f"hold_s and hold_after_s must be >= 0 seconds, got {hold_s}, {hold_after_s}"
            )
        self.ledger = ledger
        self.serialise = serialise
        self.hold_s = hold_s
        self.hold_after_s = hold_after_s

    def reserve(
        self,
        outcomes: Sequence[tuple[DecisionOutcome, str | None]],
        *,
        recheck: Recheck,
        replay: Replay,
        since: datetime | None,
        companions: Sequence[CompanionRows] = (),
    ) -> list[DecisionOutcome]:
        """Store ``(decision, request digest)`` pairs in one transaction (all or none); a
        digest of ``None``: the decision has no request and is never replayed.

        ``since``: where the decisions' ledger reads began (the earliest of them). Returns
        the decisions as stored, in order: ``recheck`` decides what a decision becomes
        when its case's ledger changed since it was read; ``replay`` what it becomes when
        its request is stored already (the stored decision, nothing written for it).
        ``companions``: rows of other ledger tables stored in the same transaction (an
        experiment's tags of these decisions; :meth:`engine.ledger.Ledger.save_decisions`).
        """
        stored = self._reserve(
            outcomes, recheck=recheck, replay=replay, since=since, companions=companions
        )
        if self.hold_after_s:
            time.sleep(self.hold_after_s)
        return stored

    def _reserve(
        self,
        outcomes: Sequence[tuple[DecisionOutcome, str | None]],
        *,
        recheck: Recheck,
        replay: Replay,
        since: datetime | None,
        companions: Sequence[CompanionRows],
    ) -> list[DecisionOutcome]:
        if self.hold_s:
            time.sleep(self.hold_s)
        pairs = [(outcome.record(digest), outcome.reservation()) for outcome, digest in outcomes]
        if not self.serialise or all(reservation is None for _, reservation in pairs):
            written = self.ledger.save_decisions(pairs, companions=companions)
            return _as_stored([outcome for outcome, _ in outcomes], written, replay)
        assert since is not None
        own = {outcome.decision_id for outcome, _ in outcomes}
        stored = [outcome for outcome, _ in outcomes]

        def decide_again(
            read: dict[str, list[LedgerEvent]],
        ) -> dict[int, tuple[DecisionRecord, LedgerEvent | None]]:
            # Runs inside the transaction, with the cases locked; again if it is retried.
            taken: dict[str, list[LedgerEvent]] = {}  # reserved earlier in this group
            replaced: dict[int, tuple[DecisionRecord, LedgerEvent | None]] = {}
            for index, (outcome, digest) in enumerate(outcomes):
                stored[index] = outcome
                reservation = pairs[index][1]
                if reservation is None:
                    continue
                case_id = outcome.snapshot.case_id
                now = [e for e in read[case_id] if not _own(e, own)]
                checked = recheck(outcome, [*now, *taken.get(case_id, ())])
                if checked is not outcome:
                    stored[index] = checked
                    reservation = checked.reservation()
                    replaced[index] = (checked.record(digest), reservation)
                if reservation is not None:
                    taken.setdefault(case_id, []).append(reservation)
            return replaced

        written = self.ledger.reserve_decisions(
            pairs, since=since, recheck=decide_again, companions=companions
        )
        return _as_stored(stored, written, replay)


def _as_stored(
    decided: Sequence[DecisionOutcome],
    written: Sequence[tuple[DecisionRecord, LedgerEvent | None]],
    replay: Replay,
) -> list[DecisionOutcome]:
    """``decided`` as the ledger stored them: a decision whose request was stored already
    comes back as that stored decision (another decision id)."""
    return [
        outcome if record.decision_id == outcome.decision_id else replay(outcome, record)
        for outcome, (record, _) in zip(decided, written, strict=True)
    ]


def _own(event: LedgerEvent, decision_ids: set[str]) -> bool:
    """A reservation of one of the decisions being stored (found again when a transaction
    whose commit was lost is retried): not another decision's contact."""
    return event.kind is EventKind.CONTACT_PLANNED and event.decision_id in decision_ids


__all__ = ["Recheck", "Replay", "Reservations"]

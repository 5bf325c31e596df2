"""Records the ledger takes and returns (besides :class:`engine.state.LedgerEvent`).

They are plain frozen dataclasses so that the servicer, the CLI and the tests never see a
database row; :mod:`engine.ledger.store` converts them to and from the tables.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Any

_SHA256_HEX_LEN = 64


def inputs_digest(serialized_request: bytes) -> str:
    """The audit digest of a decision's inputs: sha256 (hex) of the serialized request.

    Pass the deterministic protobuf serialization of the ``DecideRequest`` (with ``now``
    filled in) so that the same inputs always give the same digest.
    """
    return hashlib.sha256(serialized_request).hexdigest()


def _require_utc_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(
            f"DecisionRecord.{name} must be timezone-aware (got naive {value.isoformat()}); "
            "pass datetime(..., tzinfo=UTC) or an aware value from the request"
        )


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    """The audit record of one persisted decision (dry runs are never persisted).

    Datetimes must be timezone-aware; they are stored and returned in UTC.
    """

    decision_id: str
    """Unique id returned to the caller in ``Decision.decision_id``."""
    case_id: str
    debtor_id: str
    """Pseudonymous debtor id (never a name, address, phone number or e-mail)."""
    decided_at: datetime
    """The decision instant (the request's ``now`` or the server clock)."""
    treatment_index: int
    """Index into :data:`engine.catalogue.CATALOGUE` of the chosen treatment."""
    treatment_label: str
    """``Treatment.label`` of the chosen treatment, readable without the catalogue."""
    policy_name: str
    policy_version: str
    policy_arm: str
    """``"champion"`` or ``"challenger"``."""
    propensity: float
    """Probability the policy gave to the chosen treatment, in [0, 1]."""
    ruleset_version: str
    inputs_digest: str
    """sha256 hex of the serialized request; see :func:`inputs_digest`."""
    send_at: datetime | None = None
    """When to send (UTC); ``None`` for a wait."""
    next_review_at: datetime | None = None
    """For a wait: when to ask again (UTC)."""
    rule_ids: tuple[str, ...] = ()
    """Ids of the compliance rules that blocked treatments or shaped the send time."""
    explanation: str = ""
    replayable: bool = False
    """A repeat of its request (the same ``inputs_digest`` for the case) gets this decision
    back instead of a new one: stored as ``decision.request_digest``, unique per case
    (:meth:`engine.ledger.Ledger.save_decisions`). False for a decision stored without a
    request (an in-process caller's) and for those stored before migration 0005."""

    def __post_init__(self) -> None:
        if not self.decision_id or not self.case_id:
            raise ValueError("DecisionRecord needs a non-empty decision_id and case_id")
        for name in ("decided_at", "send_at", "next_review_at"):
            _require_utc_aware(name, getattr(self, name))
        if self.treatment_index < 0:
            raise ValueError(
                f"DecisionRecord.treatment_index must be >= 0 (got {self.treatment_index}); "
                "use CATALOGUE.index_of(treatment)"
            )
        if not 0.0 <= self.propensity <= 1.0:
            raise ValueError(f"DecisionRecord.propensity must be in [0, 1] (got {self.propensity})")
        digest = self.inputs_digest
        if len(digest) != _SHA256_HEX_LEN or digest.strip("0123456789abcdef"):
            raise ValueError(
                "DecisionRecord.inputs_digest must be 64 lowercase hex characters; "
                "compute it with engine.ledger.inputs_digest(request.SerializeToString())"
            )
        if isinstance(self.rule_ids, list):
            # A list would make the frozen record unhashable and compare unequal to the
            # tuple read back; accept it but store the tuple.
            object.__setattr__(self, "rule_ids", tuple(self.rule_ids))


class EventStatus(IntEnum):
    """What :meth:`Ledger.record_events` did with one event. Values match
    ``tact.v1.EventStatus``."""

    STORED = 1
    """Newly stored."""
    DUPLICATE = 2
    """Its (case_id, event_id) was already stored, or sent earlier in the call, with the same
    content: a retry, ignored."""
    CONFLICT = 3
    """Its (case_id, event_id) was already stored, or sent earlier in the call, with other
    content: not stored (the first write wins); the caller must resend it under a new id."""


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """The result of one event of a :meth:`Ledger.record_events` call."""

    case_id: str
    event_id: str
    status: EventStatus
    detail: str = ""
    """For a conflict: the fields that differ from the stored event, stored vs sent."""


@dataclass(frozen=True, slots=True)
class RecordResult:
    """Outcome of :meth:`Ledger.record_events`."""

    stored: int
    """Events newly stored."""
    duplicates: int
    """Events identical to one already stored or sent earlier in the call (ignored)."""
    conflicts: int = 0
    """Events whose (case_id, event_id) was taken by other content (not stored)."""
    events: tuple[EventOutcome, ...] = ()
    """One outcome per event passed, in the same order."""


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """Per-case roll-up of outcome events (PAYMENT, CASE_CLOSED), for learning."""

    case_id: str
    debtor_id: str
    last_event_at: datetime
    """Latest ``occurred_at`` of the case's payments and closure (UTC)."""
    paid_minor_total: int
    resolved: bool
    """Closed after at least one payment (paid off or settled), as far as the ledger knows."""
    closed: bool


@dataclass(frozen=True, slots=True)
class CompanionRows:
    """Rows of another ledger table that a decision write stores in its own transaction.

    Passed to :meth:`engine.ledger.Ledger.save_decisions` / ``reserve_decisions``: they
    commit with the decisions or not at all (an experiment's tags of those decisions,
    :mod:`engine.experiments.store`). Each row is inserted unless a row with its primary
    key is stored already, so that a retried write stores nothing twice.
    """

    table: str
    """A table of ``LEDGER_METADATA`` (not ``decision`` or ``event``)."""
    rows: Sequence[Mapping[str, Any]]
    """Column values as Python values (timezone-aware datetimes); every row the same keys."""
    decision_ids: Sequence[str] = ()
    """Per row, the decision it is stored for: a row whose decision turns out to repeat a
    stored request (replayed, not stored) is not stored either. Empty: every row is."""

    def __post_init__(self) -> None:
        if self.decision_ids and len(self.decision_ids) != len(self.rows):
            raise ValueError(
                f"CompanionRows of {self.table}: {len(self.decision_ids)} decision ids for "
                f"{len(self.rows)} rows; give one per row, or none"
            )

"""What the decision pipeline produces and is given: outcomes, arms, the rules source.

:class:`DecisionOutcome` is one decided case, everything the servicer needs to answer and
the ledger to store (:meth:`DecisionOutcome.record`, :meth:`DecisionOutcome.reservation`);
:class:`CheckOutcome` answers ``CheckAction``. Made by :mod:`engine.pipeline`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np

from engine.catalogue import CATALOGUE, Treatment
from engine.compliance import ComplianceEngine, RuleHit
from engine.ledger import DecisionRecord
from engine.state import CaseSnapshot, EventKind, LedgerEvent
from policies.base import Policy

NO_REQUEST_DIGEST = "0" * 64
"""``decision.inputs_digest`` of a decision stored without a request (in-process callers)."""


class RulesSource(Protocol):
    """Anything that hands out the current compliance engine (a hot-reload holder)."""

    @property
    def current(self) -> ComplianceEngine: ...


@dataclass(frozen=True, slots=True)
class PolicyArm:
    name: str  # "champion" | "challenger"
    policy: Policy


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """Everything the servicer needs to build a ``tact.v1.Decision``."""

    decision_id: str
    snapshot: CaseSnapshot
    index: int
    treatment: Treatment
    decided_at: datetime
    zone: ZoneInfo
    send_at: datetime | None
    next_review_at: datetime | None
    policy_name: str
    policy_version: str
    arm: str
    propensity: float
    sampled: bool
    ruleset_version: str
    rule_hits: tuple[RuleHit, ...]
    explanation: str
    dry_run: bool
    observation: np.ndarray
    """The featurizer's output the policy saw (float32, N_FEATURES)."""
    mask: np.ndarray
    """The action mask the policy chose under (bool, len(CATALOGUE))."""
    caller_events: tuple[LedgerEvent, ...] = ()
    """The history the caller sent with the case."""
    ledger_events: tuple[LedgerEvent, ...] = ()
    """The case's ledger events the decision read (since ``decided_at`` - lookback): a
    reservation re-checks the decision when the ledger holds anything else by then."""
    replayed: bool = False
    """The decision stored for an earlier attempt of the same request, returned again
    (:meth:`DecisionPipeline.replay`): ``observation`` and ``mask`` are then this
    attempt's, not the stored decision's (they are not stored)."""

    def record(self, inputs_digest: str | None) -> DecisionRecord:
        """The audit record; ``inputs_digest``: the request's digest, under which a repeat
        of the request replays this decision, or ``None`` for a decision made without a
        request (stored with :data:`NO_REQUEST_DIGEST`, never replayed)."""
        propensity = self.propensity
        return DecisionRecord(
            decision_id=self.decision_id,
            case_id=self.snapshot.case_id,
            debtor_id=self.snapshot.debtor_id,
            decided_at=self.decided_at,
            treatment_index=self.index,
            treatment_label=treatment_label(self.index, self.treatment),
            policy_name=self.policy_name,
            policy_version=self.policy_version,
            policy_arm=self.arm,
            propensity=propensity if propensity < 1.0 else 1.0,  # min(1.0, p), NaN → 1.0
            ruleset_version=self.ruleset_version,
            inputs_digest=NO_REQUEST_DIGEST if inputs_digest is None else inputs_digest,
            send_at=self.send_at,
            next_review_at=self.next_review_at,
            rule_ids=tuple([h.rule_id for h in self.rule_hits]),
            explanation=self.explanation,
            replayable=inputs_digest is not None,
        )

    def reservation(self) -> LedgerEvent | None:
        """The planned contact that counts against contact limits until it is reported."""
        if self.send_at is None:
            return None
        return LedgerEvent(
            event_id=f"planned:{self.decision_id}",
            case_id=self.snapshot.case_id,
            kind=EventKind.CONTACT_PLANNED,
            occurred_at=self.send_at,
            channel=self.treatment.channel,
            action=self.treatment.action,
            decision_id=self.decision_id,
            debtor_id=self.snapshot.debtor_id,
        )


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    allowed: bool
    violations: tuple[RuleHit, ...]
    next_allowed_at: datetime | None
    ruleset_version: str


_TREATMENTS = CATALOGUE.treatments


def treatment_label(index: int, treatment: Treatment) -> str:
    """``treatment.label``, read from a table when ``treatment`` is catalogue entry ``index``."""
    try:
        if _TREATMENTS[index] is treatment:
            return CATALOGUE.labels[index]
    except (IndexError, TypeError):
        pass
    return treatment.label


__all__ = [
    "NO_REQUEST_DIGEST",
    "CheckOutcome",
    "DecisionOutcome",
    "PolicyArm",
    "RulesSource",
    "treatment_label",
]

"""Hidden, changing state of the simulated debtors (the part no observation shows)."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np


@dataclass(slots=True)
class DebtorDynamics:
    """Per-row arrays that evolve day by day. Times are engine clock days (-1 = none)."""

    active: np.ndarray  # bool: the row holds a debtor in collection
    serial: np.ndarray  # int64: debtor number within the run
    born: np.ndarray  # int64: clock day the episode started
    willingness: np.ndarray
    liquidity: np.ndarray  # minor units payable now
    fatigue: np.ndarray
    experience: np.ndarray
    collected_minor: np.ndarray  # int64
    cost: np.ndarray  # major units
    contacts: np.ndarray  # int32
    complaints: np.ndarray  # int32
    reward: np.ndarray  # scaled reward so far
    promise_due: np.ndarray  # int64 clock day of the promised payment
    plan_left: np.ndarray  # int16 instalments left
    plan_next: np.ndarray  # int64 clock day of the next instalment
    plan_amount: np.ndarray  # int64 minor units per instalment
    plan_by_agent: np.ndarray  # bool
    settled: np.ndarray  # bool: closed by a settlement
    disputed: np.ndarray  # bool: has ever disputed (disputes once)
    dispute_until: np.ndarray  # int64 clock day the open dispute is resolved
    legal_handover: np.ndarray  # int64 clock day the case goes to enforcement
    breathing_until: np.ndarray  # int64 last local day of breathing space (-1 = none)
    churned: np.ndarray  # bool: left the creditor during collection
    pending_letters: np.ndarray  # int16 (n, delay+1): treatment index arriving per day, -1

    @classmethod
    def zeros(cls, n: int, letter_ring: int) -> DebtorDynamics:
        def z(dtype: object) -> np.ndarray:
            return np.zeros(n, dtype=dtype)  # type: ignore[call-overload]

        return cls(
            active=z(bool),
            serial=z(np.int64),
            born=z(np.int64),
            willingness=z(np.float64),
            liquidity=z(np.float64),
            fatigue=z(np.float64),
            experience=z(np.float64),
            collected_minor=z(np.int64),
            cost=z(np.float64),
            contacts=z(np.int32),
            complaints=z(np.int32),
            reward=z(np.float64),
            promise_due=np.full(n, -1, np.int64),
            plan_left=z(np.int16),
            plan_next=np.full(n, -1, np.int64),
            plan_amount=z(np.int64),
            plan_by_agent=z(bool),
            settled=z(bool),
            disputed=z(bool),
            dispute_until=np.full(n, -1, np.int64),
            legal_handover=np.full(n, -1, np.int64),
            breathing_until=np.full(n, -1, np.int64),
            churned=z(bool),
            pending_letters=np.full((n, letter_ring), -1, np.int16),
        )

    def clear_rows(self, rows: np.ndarray) -> None:
        """Reset ``rows`` to the zero state (the caller then fills in the new debtors)."""
        fresh = DebtorDynamics.zeros(rows.size, self.pending_letters.shape[1])
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(fresh, f.name)

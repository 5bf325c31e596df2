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
    collected_pv: np.ndarray  # float64 minor units, each payment discounted to the episode start
    collected_30: np.ndarray  # int64 minor units paid in the first 30 days in collection
    collected_60: np.ndarray  # int64 minor units paid in the first 60 days in collection
    first_payment_at: np.ndarray  # int64 days in collection at the first payment (-1 = none)
    cost: np.ndarray  # major units
    contacts: np.ndarray  # int32
    complaints: np.ndarray  # int32
    reward: np.ndarray  # scaled reward so far
    promise_due: np.ndarray  # int64 clock day of the promised payment
    plan_left: np.ndarray  # int16 instalments left
    plan_next: np.ndarray  # int64 clock day of the next instalment
    plan_amount: np.ndarray  # int64 minor units per instalment
    plan_by_agent: np.ndarray  # bool
    plans_agreed: np.ndarray  # int16
    plans_broken: np.ndarray  # int16
    first_plan_at: np.ndarray  # int64 days in collection when the first plan was agreed (-1)
    first_plan_broken_at: np.ndarray  # int64 days in collection when it broke (-1 = did not)
    first_plan_able: np.ndarray  # bool: the debtor could have paid in full when agreeing
    first_plan_by_agent: np.ndarray  # bool
    noticed: np.ndarray  # int32 contacts noticed (read, opened, a conversation)
    acted: np.ndarray  # int32 contacts acted on (clicked, paid, agreed, called back)
    offers_noticed: np.ndarray  # int32 offers (plan, deferral, settlement) noticed
    offers_taken: np.ndarray  # int32 offers accepted
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
            collected_pv=z(np.float64),
            collected_30=z(np.int64),
            collected_60=z(np.int64),
            first_payment_at=np.full(n, -1, np.int64),
            cost=z(np.float64),
            contacts=z(np.int32),
            complaints=z(np.int32),
            reward=z(np.float64),
            promise_due=np.full(n, -1, np.int64),
            plan_left=z(np.int16),
            plan_next=np.full(n, -1, np.int64),
            plan_amount=z(np.int64),
            plan_by_agent=z(bool),
            plans_agreed=z(np.int16),
            plans_broken=z(np.int16),
            first_plan_at=np.full(n, -1, np.int64),
            first_plan_broken_at=np.full(n, -1, np.int64),
            first_plan_able=z(bool),
            first_plan_by_agent=z(bool),
            noticed=z(np.int32),
            acted=z(np.int32),
            offers_noticed=z(np.int32),
            offers_taken=z(np.int32),
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

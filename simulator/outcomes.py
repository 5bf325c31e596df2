"""Per-debtor outcomes of finished episodes: the raw material of every KPI.

One row per simulated debtor, so that :mod:`simulator.kpis` (and a later ``tact
evaluate``) can compute means with 95 % confidence intervals, per segment if needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from enum import IntEnum

import numpy as np


class Outcome(IntEnum):
    """How a collection episode ended."""

    PAID = 1
    """Balance paid in full (one or several payments)."""
    SETTLED = 2
    """A settlement offer was accepted and paid; the rest was waived."""
    PLAN_COMPLETED = 3
    """Every instalment of a plan was paid."""
    PLAN_ACTIVE = 4
    """At the horizon, an instalment plan is running (no instalment missed). Not a
    resolution: it is valued at its expected completion (``plan_expected_minor``)."""
    LEGAL = 5
    """Handed over to legal enforcement after the legal notice period."""
    UNRESOLVED = 6
    """At the horizon, still owing and not on a plan."""


RESOLVED_OUTCOMES = (Outcome.PAID, Outcome.SETTLED, Outcome.PLAN_COMPLETED)


@dataclass(slots=True)
class CaseOutcomes:
    """Columnar outcomes; row i is one finished debtor."""

    serial: np.ndarray  # int64, the debtor's number within the run
    segment: np.ndarray  # int8, index into the scenario's segment names
    country: np.ndarray  # <U2
    outcome: np.ndarray  # int8 Outcome
    days: np.ndarray  # int32, days in collection
    original_minor: np.ndarray  # int64
    collected_minor: np.ndarray  # int64, paid during the episode
    collected_pv_minor: np.ndarray  # float64, the same, discounted to the episode start
    collected_30_minor: np.ndarray  # int64, paid in the first 30 days
    collected_60_minor: np.ndarray  # int64, paid in the first 60 days
    first_payment_day: np.ndarray  # int32, days in collection at the first payment (-1 = none)
    legal_expected_minor: np.ndarray  # float64, expected net enforcement recovery (present value)
    plan_expected_minor: np.ndarray  # float64, expected value of a running plan's instalments
    plans_agreed: np.ndarray  # int32
    plans_broken: np.ndarray  # int32
    churn_expected: np.ndarray  # float64, P(churn): 1 if left during collection, else P(after)
    churn_price: np.ndarray  # float64, the scenario's price of a lost customer (0 without churn)
    cost: np.ndarray  # float64, contact and legal costs, major units
    contacts: np.ndarray  # int32
    complaints: np.ndarray  # int32
    churned: np.ndarray  # bool, left the creditor during or within 90 days after collection
    nps_score: np.ndarray  # int8, simulated 0–10 likelihood-to-recommend answer
    reward: np.ndarray  # float64, sum of the episode's rewards (scaled units)

    def __len__(self) -> int:
        return int(self.serial.shape[0])

    @property
    def resolved(self) -> np.ndarray:
        """Paid, settled or plan completed (a running plan is not resolved)."""
        return np.isin(self.outcome, [int(o) for o in RESOLVED_OUTCOMES])

    @property
    def plan_running(self) -> np.ndarray:
        return self.outcome == Outcome.PLAN_ACTIVE

    @classmethod
    def empty(cls) -> CaseOutcomes:
        return cls(
            serial=np.zeros(0, np.int64),
            segment=np.zeros(0, np.int8),
            country=np.zeros(0, "<U2"),
            outcome=np.zeros(0, np.int8),
            days=np.zeros(0, np.int32),
            original_minor=np.zeros(0, np.int64),
            collected_minor=np.zeros(0, np.int64),
            collected_pv_minor=np.zeros(0),
            collected_30_minor=np.zeros(0, np.int64),
            collected_60_minor=np.zeros(0, np.int64),
            first_payment_day=np.zeros(0, np.int32),
            legal_expected_minor=np.zeros(0),
            plan_expected_minor=np.zeros(0),
            plans_agreed=np.zeros(0, np.int32),
            plans_broken=np.zeros(0, np.int32),
            churn_expected=np.zeros(0),
            churn_price=np.zeros(0),
            cost=np.zeros(0),
            contacts=np.zeros(0, np.int32),
            complaints=np.zeros(0, np.int32),
            churned=np.zeros(0, bool),
            nps_score=np.zeros(0, np.int8),
            reward=np.zeros(0),
        )

    @classmethod
    def concat(cls, parts: Sequence[CaseOutcomes]) -> CaseOutcomes:
        if not parts:
            return cls.empty()
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def take(self, rows: np.ndarray) -> CaseOutcomes:
        return CaseOutcomes(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def sorted_by_serial(self) -> CaseOutcomes:
        return self.take(np.argsort(self.serial, kind="stable"))

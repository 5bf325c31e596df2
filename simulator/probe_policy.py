"""``segmented-probe``: a quick hand-written segmented strategy used to check the simulator's
*direction* (segmented, empathetic, self-service-first treatment should beat the ladder).

It is not the project's ``segmented`` baseline (policies/segmented.py, a later issue) and
the simulator is not tuned to make it win: calibration targets only the ladder. It reads
only the shared observation vector, like any served policy, so it guesses segments from
observable proxies (payment record, risk score, hardship flag, broken promises) and:

* waits while a plan or a promise is running, and contacts at most once a week;
* hardship-like debtors: empathetic deferral, then instalment-plan offers, digital first;
* chronic-late-like debtors: empathetic plan offers, an empathetic call if they stay silent;
* likely strategic non-payers: firm demand, a settlement offer, legal escalation late;
* everyone else (forgot, sporadic): empathetic reminders on their likely channel and hour.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from engine.features import feature_schema_hash
from engine.state import AgeBand
from policies.base import FEATURE_INDEX, PolicyDecisions, first_allowed

_DAY_SCALE = 90.0
_COUNT_SCALE = 5.0
_DPD_SCALE = 120.0


def _i(action: Action, channel: Channel, tone: Tone, offer: Offer, slot: Slot) -> int:
    return CATALOGUE.index_of(Treatment(action, channel, tone, offer, slot))


def _digital(action: Action, tone: Tone, offer: Offer, slot: Slot) -> list[int]:
    """SMS, then e-mail, then push, then letter: self-service first."""
    return [
        _i(action, Channel.SMS, tone, offer, slot),
        _i(action, Channel.EMAIL, tone, offer, slot),
        _i(action, Channel.PUSH, tone, offer, slot),
        _i(action, Channel.LETTER, tone, offer, Slot.POST),
    ]


class SegmentedProbePolicy:
    """Deterministic probe of the simulator's direction; propensity 1."""

    name = "segmented-probe"
    version = f"1+{feature_schema_hash()}"

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        obs = observations
        n = obs.shape[0]
        f = FEATURE_INDEX

        def col(name: str) -> np.ndarray:
            return obs[:, f[name]]

        dpd = col("days_past_due") * _DPD_SCALE
        on_time = col("prior_on_time_ratio")
        risk = col("risk_score")
        contacted_7d = sum(
            col(f"contacts_{c.name.lower()}_7d")
            for c in (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
        )
        quiet_30d = (col("opens_30d") + col("clicks_30d") + col("conversations_30d")) == 0
        contacts_30d = sum(
            col(f"contacts_{c.name.lower()}_30d") * _COUNT_SCALE
            for c in (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
        )
        never_demand = col("never_first_demand") > 0.5
        since_demand = np.where(never_demand, np.inf, col("days_since_first_demand") * _DAY_SCALE)
        waiting = (col("plan_active") > 0.5) | (col("promises_open") > 0) | (contacted_7d > 0)

        strategic = ((risk >= 0.7) & (on_time < 0.5)) | (col("promises_broken") >= 1.0)
        hardship = (col("hardship") > 0.5) | ((on_time >= 0.7) & (risk >= 0.35))
        chronic = ~hardship & (on_time < 0.6) & (risk >= 0.45)

        young = (col(f"age_{AgeBand.AGE_18_29.name.lower()}") > 0.5) | (
            col(f"age_{AgeBand.AGE_30_44.name.lower()}") > 0.5
        )
        old = col(f"age_{AgeBand.AGE_65_PLUS.name.lower()}") > 0.5
        slot = np.where(young, Slot.EVENING, np.where(old, Slot.MORNING, Slot.MIDDAY))

        chosen = np.zeros(n, dtype=np.int64)
        undecided = ~waiting
        for s in (Slot.MORNING, Slot.MIDDAY, Slot.EVENING):
            here = slot == s
            rules: list[tuple[np.ndarray, list[int]]] = [
                (
                    strategic & (dpd >= 75) & (since_demand >= 21),
                    [_i(Action.LEGAL_ESCALATION, Channel.LETTER, Tone.FIRM, Offer.NONE, Slot.POST)],
                ),
                (
                    strategic & never_demand,
                    [
                        _i(Action.DEMAND, Channel.LETTER, Tone.FIRM, Offer.NONE, Slot.POST),
                        _i(Action.DEMAND, Channel.EMAIL, Tone.FIRM, Offer.NONE, s),
                    ],
                ),
                (strategic, _digital(Action.SETTLEMENT, Tone.NEUTRAL, Offer.SETTLE_20, s)),
                (
                    hardship & (contacts_30d < 1.5),
                    _digital(Action.DEFERRAL, Tone.EMPATHETIC, Offer.DEFER_30, s),
                ),
                (hardship, _digital(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_6, s)),
                (
                    chronic & quiet_30d & (contacts_30d >= 2),
                    [_i(Action.AGENT_CALL, Channel.PHONE, Tone.EMPATHETIC, Offer.NONE, s)],
                ),
                (chronic, _digital(Action.INSTALMENT_PLAN, Tone.EMPATHETIC, Offer.PLAN_3, s)),
                (
                    old,
                    [
                        _i(Action.REMINDER, Channel.LETTER, Tone.EMPATHETIC, Offer.NONE, Slot.POST),
                        *_digital(Action.REMINDER, Tone.EMPATHETIC, Offer.NONE, s),
                    ],
                ),
                (np.ones(n, dtype=bool), _digital(Action.REMINDER, Tone.EMPATHETIC, Offer.NONE, s)),
            ]
            for due, preferences in rules:
                rows = np.flatnonzero(undecided & here & due)
                if rows.size == 0:
                    continue
                prefs = np.tile(np.asarray(preferences), (rows.size, 1))
                picked = first_allowed(prefs, masks[rows])
                chosen[rows] = picked
                undecided[rows] &= picked == 0
        return PolicyDecisions(indices=chosen, propensities=np.ones(n))

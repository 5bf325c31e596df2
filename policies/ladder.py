"""``ladder``: the one-size-fits-all dunning ladder that most agencies run today.

Everyone gets the same steps at the same days past due, in a neutral-to-firm tone:

====  ==============================================  ========================
dpd   step                                             repeated
====  ==============================================  ========================
 1+   e-mail reminder (neutral)                        once
 7+   SMS reminder (neutral)                           every 30 days
14+   agent call (neutral)                             every 7 days
21+   demand letter (firm)                             once
45+   legal escalation, ≥ 14 days after the demand     once (never repeated)
====  ==============================================  ========================

When a step is blocked by the rules it falls back along its channel list (e-mail →
letter, SMS → e-mail), then waits. It reads only the shared observation vector.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from engine.features import feature_schema_hash
from policies.base import FEATURE_INDEX, PolicyDecisions, first_allowed

_DAY_SCALE = 90.0  # engine.features._DAY_CAP: days_since_* are scaled by 90
_COUNT_SCALE = 5.0  # contacts_* windows are scaled by 5


def _idx(action: Action, channel: Channel, tone: Tone, slot: Slot) -> int:
    return CATALOGUE.index_of(Treatment(action, channel, tone, Offer.NONE, slot))


_EMAIL_REMINDER = [
    _idx(Action.REMINDER, Channel.EMAIL, Tone.NEUTRAL, Slot.MORNING),
    _idx(Action.REMINDER, Channel.LETTER, Tone.NEUTRAL, Slot.POST),
]
_SMS_REMINDER = [
    _idx(Action.REMINDER, Channel.SMS, Tone.NEUTRAL, Slot.MIDDAY),
    _idx(Action.REMINDER, Channel.EMAIL, Tone.NEUTRAL, Slot.MIDDAY),
]
_CALL = [
    _idx(Action.AGENT_CALL, Channel.PHONE, Tone.NEUTRAL, Slot.AFTERNOON),
    _idx(Action.AGENT_CALL, Channel.PHONE, Tone.NEUTRAL, Slot.EVENING),
]
_DEMAND = [
    _idx(Action.DEMAND, Channel.LETTER, Tone.FIRM, Slot.POST),
    _idx(Action.DEMAND, Channel.EMAIL, Tone.FIRM, Slot.MORNING),
]
_LEGAL = [_idx(Action.LEGAL_ESCALATION, Channel.LETTER, Tone.FIRM, Slot.POST)]


class LadderPolicy:
    """Deterministic fixed-schedule baseline. Propensity is 1 for every choice."""

    name = "ladder"
    version = f"1+{feature_schema_hash()}"

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        obs = observations
        n = obs.shape[0]
        dpd = obs[:, FEATURE_INDEX["days_past_due"]] * 120.0

        def days_since(event: str) -> np.ndarray:
            never = obs[:, FEATURE_INDEX[f"never_{event}"]] > 0.5
            return np.where(
                never, np.inf, obs[:, FEATURE_INDEX[f"days_since_{event}"]] * _DAY_SCALE
            )

        def contacted(channel: str, window: int) -> np.ndarray:
            return obs[:, FEATURE_INDEX[f"contacts_{channel}_{window}d"]] * _COUNT_SCALE > 0.5

        since_reminder = days_since("first_reminder")
        since_demand = days_since("first_demand")
        escalated = np.isfinite(days_since("legal_escalation"))
        steps: list[tuple[np.ndarray, list[int]]] = [
            ((dpd >= 45) & (since_demand >= 14) & np.isfinite(since_demand) & ~escalated, _LEGAL),
            ((dpd >= 21) & ~np.isfinite(since_demand), _DEMAND),
            ((dpd >= 14) & ~contacted("phone", 7), _CALL),
            ((dpd >= 7) & ~contacted("sms", 30), _SMS_REMINDER),
            ((dpd >= 1) & ~np.isfinite(since_reminder), _EMAIL_REMINDER),
        ]
        chosen = np.zeros(n, dtype=np.int64)
        undecided = np.ones(n, dtype=bool)
        for due, preferences in steps:
            rows = np.flatnonzero(undecided & due)
            if rows.size == 0:
                continue
            prefs = np.tile(np.asarray(preferences), (rows.size, 1))
            picked = first_allowed(prefs, masks[rows])
            chosen[rows] = picked
            undecided[rows] &= picked == 0  # a blocked step lets the next one try
        return PolicyDecisions(indices=chosen, propensities=np.ones(n))

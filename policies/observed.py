"""The shared observation vector decoded back into domain units, for rule-based policies.

``engine.features`` scales every feature to about [0, 4] for the network; a hand-written
strategy reads better in days, counts, major currency units and flags. :class:`Observed`
decodes a whole observation matrix once per ``act`` call (it reads nothing else, so a
rule-based policy stays servable: the service builds exactly this vector).

It runs once per decision on the serving path, so it slices whole feature blocks instead
of decoding column by column: every numpy call costs about a microsecond at batch size 1.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import CONTACT_CHANNELS, Channel
from engine.state import N_CHANNEL_SLOTS, AgeBand
from policies.base import FEATURE_INDEX

# Scales of engine.features (feature = raw / scale); decoded back to days and counts here
# so that thresholds read in domain units.
_DPD_SCALE = 120.0
_DAY_SCALE = 90.0
_CONTACT_SCALE = 5.0
_BALANCE_DECADES = 5.0
_COUNT_SCALES: dict[str, float] = {
    "opens_7d": 3.0,
    "opens_30d": 10.0,
    "clicks_30d": 5.0,
    "conversations_30d": 3.0,
    "payments_total": 3.0,
    "promises_open": 1.0,
    "promises_broken": 2.0,
    "plans_broken": 1.0,
    "complaints_total": 2.0,
    "complaints_30d": 1.0,
}
WINDOWS = (1, 7, 30)
"""The contact-count windows of the observation, in days (today included)."""
PROTECTION_FLAGS = (
    "dispute",
    "cease_communication",
    "bankruptcy_or_deceased",
    "breathing_space",
    "mental_health_crisis",
    "time_barred",
)
"""Case flags under which the law (or the creditor's duty of care) stops collection
contact; the compliance mask blocks most contact then anyway, a strategy waits."""

_CONTACT_COLUMNS = [
    FEATURE_INDEX[f"contacts_{c.name.lower()}_{w}d"] for c in CONTACT_CHANNELS for w in WINDOWS
]
_AGE_COLUMNS = [FEATURE_INDEX[f"age_{a.name.lower()}"] for a in AgeBand]
_OPTED_OUT_COLUMNS = [FEATURE_INDEX[f"opted_out_{c.name.lower()}"] for c in CONTACT_CHANNELS]
_PROTECTION_COLUMNS = [FEATURE_INDEX[name] for name in PROTECTION_FLAGS]


def _block(columns: list[int]) -> slice:
    """The columns as one slice; the featurizer lays them out contiguously (checked here)."""
    if columns != list(range(columns[0], columns[0] + len(columns))):
        raise ImportError("engine.features changed its column layout; update policies.observed")
    return slice(columns[0], columns[0] + len(columns))


_CONTACT_BLOCK = _block(_CONTACT_COLUMNS)  # (channel in CONTACT_CHANNELS order) × window
_AGE_BLOCK = _block(_AGE_COLUMNS)


class Observed:
    """An observation matrix (n, N_FEATURES) decoded into days, counts, money and flags."""

    def __init__(self, obs: np.ndarray) -> None:
        x = np.asarray(obs, dtype=np.float64)
        self._x = x
        n = x.shape[0]
        self.n = n
        self.dpd = np.rint(self.col("days_past_due") * _DPD_SCALE).astype(np.int64)
        self.risk = self.col("risk_score")
        self.on_time = self.col("prior_on_time_ratio")
        self.has_app = self.flag("has_app")
        # Major units of the case's currency (the observation carries no currency).
        self.balance = 10.0 ** (self.col("log_outstanding") * _BALANCE_DECADES) - 1.0
        self.age_band = np.argmax(x[:, _AGE_BLOCK], axis=1)  # one-hot → AgeBand value
        self.opted_out = np.zeros((n, N_CHANNEL_SLOTS), dtype=bool)
        self.opted_out[:, list(CONTACT_CHANNELS)] = x[:, _OPTED_OUT_COLUMNS] > 0.5
        self._contacts = np.rint(x[:, _CONTACT_BLOCK] * _CONTACT_SCALE).reshape(
            n, len(CONTACT_CHANNELS), len(WINDOWS)
        )
        self._contacts_total = self._contacts.sum(axis=1)

    def col(self, name: str) -> np.ndarray:
        return self._x[:, FEATURE_INDEX[name]]

    def flag(self, name: str) -> np.ndarray:
        return self._x[:, FEATURE_INDEX[name]] > 0.5

    def count(self, name: str) -> np.ndarray:
        return np.rint(self.col(name) * _COUNT_SCALES[name])

    def days_since(self, event: str) -> np.ndarray:
        """Days since ``event``; +inf when it never happened (capped at 90 otherwise)."""
        never = self.flag(f"never_{event}")
        return np.where(never, np.inf, np.rint(self.col(f"days_since_{event}") * _DAY_SCALE))

    def contacts(self, channel: Channel, window: int) -> np.ndarray:
        """Contacts placed on ``channel`` in the last ``window`` days (today included)."""
        return self._contacts[:, CONTACT_CHANNELS.index(channel), WINDOWS.index(window)]

    def contacts_by_position(self, positions: list[int], window: int) -> np.ndarray:
        """(n, len(positions)) contacts in ``window`` days on channels at ``positions`` of
        the featurizer's channel order (``engine.catalogue.CONTACT_CHANNELS``)."""
        return self._contacts[:, positions, WINDOWS.index(window)]

    def contacts_total(self, window: int) -> np.ndarray:
        """Contacts placed on any channel in the last ``window`` days (today included)."""
        return self._contacts_total[:, WINDOWS.index(window)]

    def protected(self) -> np.ndarray:
        """Rows with any :data:`PROTECTION_FLAGS` flag set."""
        protected: np.ndarray = np.logical_or.reduce(self._x[:, _PROTECTION_COLUMNS] > 0.5, axis=1)
        return protected

    def arranged(self) -> np.ndarray:
        """Rows with an instalment plan running or a promise to pay open (a deferral is a
        promise due in 30 days): the arrangement is left to run."""
        return self.flag("plan_active") | (self.count("promises_open") > 0)


__all__ = ["PROTECTION_FLAGS", "WINDOWS", "Observed"]

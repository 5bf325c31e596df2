"""``daily-calls``: a deliberately harmful policy, for rehearsing an experiment's guardrails.

An agent call every day the rules allow one, else a firm demand by SMS, else wait. The
rules still shield every step (it never breaks a contact limit), but it presses debtors far
harder than any strategy anyone should run: in ``nordic-telecom`` about five times the
champion's complaints. It exists so that a rehearsal (``tact simulate --against`` with it
as a challenger, ``bench/bench_guardrails.py``) can show the guardrails rolling a harmful
challenger back. It may only be a challenger: the service refuses it as the champion.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Tone
from engine.features import feature_schema_hash
from policies.base import PolicyDecisions, first_allowed


class DailyCallsPolicy:
    """An agent call every day the rules allow, else a firm SMS demand (deterministic)."""

    name = "daily-calls"
    rehearsal_only = True
    """Never the champion (:func:`policies.registry.load_champion` refuses it)."""

    def __init__(self) -> None:
        self.version = f"1+{feature_schema_hash()}"
        calls = np.flatnonzero(
            (CATALOGUE.actions == Action.AGENT_CALL) & (CATALOGUE.channels == Channel.PHONE)
        )
        demands = np.flatnonzero(
            (CATALOGUE.actions == Action.DEMAND)
            & (CATALOGUE.channels == Channel.SMS)
            & (CATALOGUE.tones == Tone.FIRM)
        )
        self._preferences = np.concatenate([calls, demands]).astype(np.int64)

    def act(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None = None
    ) -> PolicyDecisions:
        """The first allowed of the preferences per row; ``rng`` is ignored."""
        n = masks.shape[0]
        prefs = np.broadcast_to(self._preferences, (n, self._preferences.size))
        return PolicyDecisions(first_allowed(prefs, masks).astype(np.int64), np.ones(n))

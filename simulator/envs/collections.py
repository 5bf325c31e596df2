"""``tact/Collections-v0``: one debtor per episode, on the batched engine with n = 1."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from simulator.batched import BatchedCollectionsSim
from simulator.masks import MaskProvider, compliance_masks
from simulator.scenario import Scenario
from simulator.scenario_loader import load_scenario
from simulator.spaces import action_space, observation_space


class CollectionsEnv(gym.Env[np.ndarray, np.int64]):
    """A single debtor from ``scenario``, one local day per step.

    Action: an index into :data:`engine.catalogue.CATALOGUE`. A treatment that the
    compliance mask blocks runs as WAIT (the shield fails closed) and ``info`` says
    ``blocked_action``. Use :meth:`action_masks` (sb3-contrib protocol) to never ask for one.
    Observation: :func:`engine.features.featurize` of the debtor's case state.
    Reward: money collected − costs − prices of complaints and churn, / ``reward.scale``.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium declares it on the instance)

    def __init__(
        self,
        scenario: Scenario | str = "nordic-telecom",
        *,
        masks: MaskProvider | None = None,
        randomise: bool = False,
        record_events: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if render_mode is not None:
            raise ValueError("CollectionsEnv has no render modes; pass render_mode=None")
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.observation_space = observation_space()
        self.action_space = action_space()
        self.render_mode = render_mode
        self.sim = BatchedCollectionsSim(
            self.scenario,
            1,
            masks if masks is not None else compliance_masks(),
            randomise=randomise,
            auto_reset=False,
            record_events=record_events,
        )
        self._needs_reset = True

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs = self.sim.reset(seed=int(self.np_random.integers(2**63 - 1)))
        self._needs_reset = False
        return obs[0].copy(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._needs_reset:
            raise RuntimeError("the episode has ended (or not started): call reset() first")
        result = self.sim.step(np.array([int(action)]))
        info: dict[str, Any] = {"blocked_action": bool(result.blocked[0])}
        terminated = bool(result.done[0])
        if terminated:
            info["outcome"] = int(result.finished.outcome[0])
            info["collected_minor"] = int(result.finished.collected_minor[0])
            self._needs_reset = True
        return self.sim.observe()[0].copy(), float(result.rewards[0]), terminated, False, info

    def action_masks(self) -> np.ndarray:
        """(len(CATALOGUE),) bool for the current decision, True = allowed."""
        return self.sim.action_masks()[0].copy()

"""A masked gymnasium env with tact's real observation and action sizes, and nothing else.

It is *not* a debtor model (that is ``simulator/``): observations are random vectors in the
featurizer's range, masks are random (WAIT always allowed), and the reward is an arbitrary
learnable function of both. It exists so that tests and benchmarks of the policy runtime
can build, briefly train and export a real ``MaskablePPO`` of the production shape
(``N_FEATURES`` inputs, ``len(CATALOGUE)`` logits) in seconds, without the simulator.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from engine.catalogue import CATALOGUE
from engine.features import N_FEATURES

OBS_LOW, OBS_HIGH = -1.0, 4.0
"""Range of the featurizer's output (``engagement_trend`` can be negative; counts cap at 4)."""


def random_observations(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, N_FEATURES) float32 drawn over the featurizer's range, skewed towards [0, 1]."""
    obs = rng.uniform(0.0, 1.0, size=(n, N_FEATURES)) ** 2 * (OBS_HIGH - OBS_LOW) + OBS_LOW
    return obs.astype(np.float32)


def random_masks(rng: np.random.Generator, n: int, p_allowed: float = 0.5) -> np.ndarray:
    """(n, len(CATALOGUE)) bool, each treatment allowed with ``p_allowed``; WAIT always."""
    masks = rng.random((n, len(CATALOGUE))) < p_allowed
    masks[:, CATALOGUE.WAIT_INDEX] = True
    return masks


class SyntheticMaskedEnv(gym.Env[np.ndarray, np.int64]):
    """Random observations and masks; reward 1 when the action's index ≡ argmax(obs[:8]) mod 8.

    Args:
        episode_length: steps before ``truncated`` is set.
        p_allowed: probability that a non-WAIT treatment is allowed in a step's mask.
    """

    def __init__(self, episode_length: int = 32, p_allowed: float = 0.5) -> None:
        super().__init__()
        if episode_length < 1:
            raise ValueError(f"episode_length must be ≥ 1, got {episode_length}")
        if not 0.0 <= p_allowed <= 1.0:
            raise ValueError(f"p_allowed must lie in [0, 1], got {p_allowed}")
        self.observation_space = spaces.Box(OBS_LOW, OBS_HIGH, (N_FEATURES,), dtype=np.float32)
        self.action_space = spaces.Discrete(len(CATALOGUE))
        self.episode_length = episode_length
        self.p_allowed = p_allowed
        self._t = 0
        self._obs = np.zeros(N_FEATURES, dtype=np.float32)
        self._mask = np.ones(len(CATALOGUE), dtype=bool)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        self._draw()
        return self._obs, {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        a = int(action)
        reward = float(a % 8 == int(np.argmax(self._obs[:8]))) if self._mask[a] else -1.0
        self._t += 1
        self._draw()
        return self._obs, reward, False, self._t >= self.episode_length, {}

    def action_masks(self) -> np.ndarray:
        """sb3-contrib's masking protocol: True = allowed."""
        return self._mask.copy()

    def _draw(self) -> None:
        self._obs = random_observations(self.np_random, 1)[0]
        self._mask = random_masks(self.np_random, 1, self.p_allowed)[0]


__all__ = ["SyntheticMaskedEnv", "random_masks", "random_observations"]

"""``tact/CGW-v0``: the Chehrazi–Glynn–Weber credit-collections problem as a gymnasium env.

One step is one decision period of length ``dt``: the agent picks an action size from
``params.actions`` (raising the repayment intensity at once, at cost ``c * a``), then the
self-exciting repayment process runs exactly for ``dt`` (see :mod:`simulator.cgw.dynamics`).
The reward is the payments of the period discounted to its start minus the action cost,
so that the return discounted with ``gamma = exp(-rho * dt)`` is exactly the continuous
discounted objective of the paper.
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from simulator.cgw.dynamics import step_batch
from simulator.cgw.errors import CGWParameterError
from simulator.cgw.params import CGWParams

#: Intensities above ``LAM_OBS_RATIO * lam_inf`` look the same to the agent; at the
#: reference values that is 5.0, far above the region where acting can pay.
LAM_OBS_RATIO = 50.0


def observe(lam: np.ndarray, w: np.ndarray, params: CGWParams) -> np.ndarray:
    """Neural-net friendly features in [-1, 1]: log-intensity and log-balance, rescaled.

    Logs because both the intensity (near its baseline) and the balance (which repayments
    cut multiplicatively) matter on a relative scale.
    """
    lam = np.asarray(lam, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    lam_feature = (
        2.0 * np.log(np.maximum(lam, params.lam_inf) / params.lam_inf) / math.log(LAM_OBS_RATIO)
    )
    w_span = max(math.log(params.w0 / params.w_min), 1e-9)
    w_feature = 2.0 * np.log(np.maximum(w, 1e-300) / params.w_min) / w_span
    features = np.stack([lam_feature - 1.0, w_feature - 1.0], axis=-1)
    return np.clip(features, -1.0, 1.0).astype(np.float32)


class CGWEnv(gym.Env[np.ndarray, np.int64]):
    """Single-account CGW collections control with a discrete action set.

    Observation: ``observe(lam, w)`` (2 floats in [-1, 1]). Action: index into
    ``params.actions``. Episode terminates when the balance drops below ``w_min`` and is
    truncated after ``params.horizon_steps`` steps. ``reset(options={"lam": .., "w": ..})``
    starts from another state (used for plots and tests).
    """

    metadata = {"render_modes": []}  # noqa: RUF012 - gymnasium declares it as a plain dict

    def __init__(self, params: CGWParams | None = None, render_mode: str | None = None) -> None:
        if render_mode is not None:
            raise CGWParameterError(f"CGWEnv has no render modes, got render_mode={render_mode!r}")
        self.params = params or CGWParams()
        self._amounts = np.asarray(self.params.actions, dtype=np.float64)
        self.action_space = spaces.Discrete(len(self.params.actions))
        self.observation_space = spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32)
        self.lam = self.params.lam0
        self.w = self.params.w0
        self.time = 0.0
        self.steps = 0

    def _obs(self) -> np.ndarray:
        return observe(np.array(self.lam), np.array(self.w), self.params)

    def _info(self) -> dict[str, Any]:
        return {"lam": self.lam, "w": self.w, "time": self.time}

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new account at (lam0, w0), or at ``options["lam"]``/``options["w"]``."""
        super().reset(seed=seed)
        options = options or {}
        lam = float(options.get("lam", self.params.lam0))
        w = float(options.get("w", self.params.w0))
        if lam < self.params.lam_inf or w < self.params.w_min:
            raise CGWParameterError(
                f"reset options need lam >= lam_inf={self.params.lam_inf} and "
                f"w >= w_min={self.params.w_min}; got lam={lam}, w={w}"
            )
        self.lam, self.w, self.time, self.steps = lam, w, 0.0, 0
        return self._obs(), self._info()

    def step(self, action: np.int64 | int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Apply the action of index ``action`` and simulate one period exactly."""
        if not self.action_space.contains(np.int64(action)):
            raise CGWParameterError(
                f"action {action!r} is not an index in [0, {len(self._amounts) - 1}] "
                f"of the action set {self.params.actions}"
            )
        out = step_batch(
            np.array([self.lam]),
            np.array([self.w]),
            self._amounts[[int(action)]],
            self.np_random,
            self.params,
        )
        self.lam, self.w = float(out.lam[0]), float(out.w[0])
        self.time += self.params.dt
        self.steps += 1
        terminated = bool(out.terminated[0])
        truncated = not terminated and self.steps >= self.params.horizon_steps
        info = self._info() | {
            "collected": float(out.collected[0]),
            "arrivals": int(out.arrivals[0]),
        }
        return self._obs(), float(out.reward[0]), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """All actions are always allowed (sb3-contrib masking protocol)."""
        return np.ones(len(self._amounts), dtype=bool)

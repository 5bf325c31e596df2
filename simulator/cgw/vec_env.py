"""A batched SB3 ``VecEnv`` of CGW accounts: one numpy call steps all of them.

Same dynamics, observation, termination and truncation as :class:`CGWEnv` (both call
:func:`simulator.cgw.dynamics.step_batch`), without the per-env Python overhead of
``DummyVecEnv``: training collects experience several times faster on the 2-core machine.
Finished episodes are reset automatically, with SB3's ``terminal_observation`` and
``TimeLimit.truncated`` infos, exactly as ``DummyVecEnv`` does.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices, VecEnvStepReturn

from simulator.cgw.dynamics import step_batch
from simulator.cgw.env import observe
from simulator.cgw.errors import CGWParameterError
from simulator.cgw.params import CGWParams


class CGWVecEnv(VecEnv):
    """``num_envs`` independent CGW accounts starting at (lam0, w0).

    ``reward_scale`` multiplies rewards (a training device; 1.0 gives the true rewards).
    Seeding: ``seed(s)`` then ``reset()`` restarts the shared random stream from ``s``.
    """

    render_mode: str | None = None

    def __init__(self, num_envs: int, params: CGWParams, reward_scale: float = 1.0) -> None:
        if num_envs < 1:
            raise CGWParameterError(f"num_envs must be >= 1, got {num_envs}")
        self.params = params
        self.reward_scale = reward_scale
        self._amounts = np.asarray(params.actions, dtype=np.float64)
        self._masks = np.ones(len(params.actions), dtype=bool)
        self._rng = np.random.default_rng()
        self._actions = np.zeros(num_envs, dtype=np.int64)
        self.lam = np.full(num_envs, params.lam0)
        self.w = np.full(num_envs, params.w0)
        self.steps = np.zeros(num_envs, dtype=np.int64)
        super().__init__(
            num_envs,
            spaces.Box(low=-1.0, high=1.0, shape=(2,), dtype=np.float32),
            spaces.Discrete(len(params.actions)),
        )

    def reset(self) -> np.ndarray:
        """Restart every account at (lam0, w0); reseed if ``seed()`` was called."""
        if self._seeds[0] is not None:
            self._rng = np.random.default_rng(self._seeds[0])
        self._reset_seeds()
        self._reset_options()
        self.lam[:] = self.params.lam0
        self.w[:] = self.params.w0
        self.steps[:] = 0
        return observe(self.lam, self.w, self.params)

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions of the next step."""
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        """Step all accounts; auto-reset the finished ones."""
        out = step_batch(self.lam, self.w, self._amounts[self._actions], self._rng, self.params)
        self.lam, self.w = out.lam, out.w
        self.steps += 1
        terminated = out.terminated
        truncated = ~terminated & (self.steps >= self.params.horizon_steps)
        done = terminated | truncated
        obs = observe(self.lam, self.w, self.params)
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        for i in np.flatnonzero(done):
            infos[i]["terminal_observation"] = obs[i].copy()
            infos[i]["TimeLimit.truncated"] = bool(truncated[i])
        if done.any():
            self.lam[done] = self.params.lam0
            self.w[done] = self.params.w0
            self.steps[done] = 0
            obs[done] = observe(self.lam[done], self.w[done], self.params)
        reward = (out.reward * self.reward_scale).astype(np.float32)
        return obs, reward, done, infos

    def close(self) -> None:
        """Nothing to release."""

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        assert isinstance(indices, Iterable)
        return list(indices)

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of this (shared) object, once per selected env."""
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Attributes are shared by all accounts; only whole-batch setting is supported."""
        setattr(self, attr_name, value)

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        """Only ``action_masks`` (all true) is provided per env."""
        if method_name != "action_masks":
            raise CGWParameterError(
                f"CGWVecEnv supports env_method('action_masks') only, got {method_name!r}"
            )
        return [self._masks.copy() for _ in self._indices(indices)]

    def action_masks(self) -> np.ndarray:
        """All actions allowed (marks the env as mask-aware for MaskablePPO)."""
        return np.ones((self.num_envs, len(self._masks)), dtype=bool)

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        """No gymnasium wrappers are involved."""
        return [False for _ in self._indices(indices)]

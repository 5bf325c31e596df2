"""``CollectionsVecEnv``: the batched engine as a stable-baselines3 ``VecEnv``.

Each of the ``num_envs`` slots holds one debtor; a slot whose episode ends gets a new
debtor at once (SB3's auto-reset convention: the returned observation is the new
debtor's, the last one is in ``infos[i]["terminal_observation"]``). Action masks follow
sb3-contrib's protocol: ``action_masks()`` returns (num_envs, n_actions), and
``env_method("action_masks")`` returns one row per slot, so ``MaskablePPO`` trains on it
directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvIndices

from simulator.batched import BatchedCollectionsSim
from simulator.masks import MaskProvider, compliance_masks
from simulator.scenario import Scenario
from simulator.scenario_loader import load_scenario
from simulator.spaces import action_space, observation_space

_PER_SLOT_METHODS = frozenset({"action_masks"})
StepReturn = tuple[np.ndarray, np.ndarray, np.ndarray, list[dict[str, Any]]]
"""SB3's VecEnvStepReturn, narrowed to this env's array observations."""


class CollectionsVecEnv(VecEnv):
    """``num_envs`` debtors stepped together by one :class:`BatchedCollectionsSim`."""

    render_mode = None

    def __init__(
        self,
        num_envs: int,
        scenario: Scenario | str = "nordic-telecom",
        *,
        masks: MaskProvider | None = None,
        seed: int | None = None,
        randomise: bool = False,
        log_steps: bool = False,
    ) -> None:
        self.scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.sim = BatchedCollectionsSim(
            self.scenario,
            num_envs,
            masks if masks is not None else compliance_masks(),
            seed=seed,
            randomise=randomise,
            auto_reset=True,
            log_steps=log_steps,
        )
        self._actions: np.ndarray | None = None
        self._episode_days = np.zeros(num_envs, dtype=np.int64)
        super().__init__(num_envs, observation_space(), action_space())
        # Debtors exist from the start, so masks can be read before the first reset().
        self.sim.reset(seed=seed)

    # -- VecEnv API --------------------------------------------------------------------

    def reset(self) -> np.ndarray:
        """New debtors in every slot (re-seeded if :meth:`seed` was called)."""
        seed = self._seeds[0]
        obs = self.sim.reset(seed=seed)
        self._reset_seeds()
        self._episode_days[:] = 0
        return obs.copy()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step(self, actions: np.ndarray) -> StepReturn:
        """One simulated day for every slot: (observations, rewards, dones, infos)."""
        self.step_async(actions)
        return self.step_wait()

    def step_wait(self) -> StepReturn:
        assert self._actions is not None, "call step_async() before step_wait()"
        rows = self.sim.dyn.active.copy()
        before = self.sim.dyn.reward.copy()
        result = self.sim.step(self._actions)
        self._actions = None
        self._episode_days += rows
        obs = self.sim.observe().copy()
        infos: list[dict[str, Any]] = [{} for _ in range(self.num_envs)]
        if result.finished_rows.size:
            terminal = self.sim.terminal_observations
            assert terminal is not None
            for j, row in enumerate(result.finished_rows.tolist()):
                infos[row] = {
                    "terminal_observation": terminal[j],
                    "TimeLimit.truncated": False,
                    "episode": {
                        "r": float(before[row] + result.rewards[row]),
                        "l": int(self._episode_days[row]),
                    },
                    "outcome": int(result.finished.outcome[j]),
                }
            self._episode_days[result.finished_rows] = 0
        for row in np.flatnonzero(result.blocked).tolist():
            infos[row]["blocked_action"] = True
        return obs, result.rewards.copy(), result.done.copy(), infos

    def close(self) -> None:
        return None

    def action_masks(self) -> np.ndarray:
        """(num_envs, len(CATALOGUE)) bool, True = allowed (compliance shield)."""
        return self.sim.action_masks().copy()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        value = getattr(self, attr_name)
        return [value for _ in self._indices(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        raise AttributeError(
            f"CollectionsVecEnv slots share one engine; set {attr_name!r} on the VecEnv "
            "itself or build a new one"
        )

    def env_method(
        self,
        method_name: str,
        *method_args: Any,
        indices: VecEnvIndices = None,
        **method_kwargs: Any,
    ) -> list[Any]:
        if method_name not in _PER_SLOT_METHODS:
            raise AttributeError(
                f"CollectionsVecEnv has no per-slot method {method_name!r}; "
                f"available: {', '.join(sorted(_PER_SLOT_METHODS))}"
            )
        values = getattr(self, method_name)(*method_args, **method_kwargs)
        return [values[i] for i in self._indices(indices)]

    def env_is_wrapped(
        self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None
    ) -> list[bool]:
        return [False for _ in self._indices(indices)]

    def _indices(self, indices: VecEnvIndices) -> Sequence[int]:
        if indices is None:
            return range(self.num_envs)
        if isinstance(indices, int):
            return [indices]
        return list(indices)

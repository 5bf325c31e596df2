"""Train MaskablePPO on ``tact/CGW-v0`` from a :class:`CGWTrainingConfig`.

Reads top to bottom like the experiment: seed everything, build the environments
(reward scaled for training only), build the agent with the problem's own discount,
learn, and record wall time. Heavy imports (torch, SB3) happen inside the functions so
that importing this module is cheap.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from policies.cgw.config import CGWTrainingConfig
from simulator.cgw.params import CGWParams, params_with_actions

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainedCGWAgent:
    """A trained model with the parameters it was trained on and its run record."""

    model: MaskablePPO
    params: CGWParams
    config: CGWTrainingConfig
    run_name: str
    wall_seconds: float
    learning_curve: list[dict[str, float]]


def training_params(config: CGWTrainingConfig, base: CGWParams | None = None) -> CGWParams:
    """The CGW parameters a run trains on: the reference problem with its action set."""
    return params_with_actions(config.action_set, base)


def run_name(config: CGWTrainingConfig) -> str:
    """``scenario__algo__seed__time``, as for every tact training run."""
    return f"cgw-{config.action_set}__maskable_ppo__{config.seed}__{int(time.time())}"


def train(
    config: CGWTrainingConfig,
    params: CGWParams | None = None,
    progress: Callable[[dict[str, float]], None] | None = None,
) -> TrainedCGWAgent:
    """Train from scratch; deterministic for a given config on the same machine/threads."""
    import torch
    from gymnasium.wrappers import TransformReward
    from sb3_contrib import MaskablePPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv

    from policies.cgw.agent import LearnedCGWPolicy
    from simulator.cgw.env import CGWEnv
    from simulator.cgw.montecarlo import evaluate
    from simulator.cgw.vec_env import CGWVecEnv

    env_params = training_params(config, params)
    torch.set_num_threads(config.torch_threads)
    set_random_seed(config.seed)
    scale = config.reward_scale

    def make_env() -> Any:
        # Scaling is a training device only; evaluation uses the raw env and raw rewards.
        return TransformReward(CGWEnv(env_params), lambda r: scale * float(r))

    venv: VecEnv
    if config.batched_env:
        venv = CGWVecEnv(config.n_envs, env_params, reward_scale=scale)
    else:
        venv = DummyVecEnv([make_env] * config.n_envs)
    venv.seed(config.seed)
    lr0, lr1 = config.learning_rate, config.final_learning_rate

    model = MaskablePPO(
        "MlpPolicy",
        venv,
        learning_rate=lambda remaining: lr1 + (lr0 - lr1) * remaining,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=env_params.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        vf_coef=config.vf_coef,
        max_grad_norm=config.max_grad_norm,
        policy_kwargs={"net_arch": list(config.net_arch)},
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    curve: list[dict[str, float]] = []
    started = time.perf_counter()

    class _Curve(BaseCallback):
        """Monte Carlo evaluation every ``eval_every`` steps (learning curve only)."""

        def __init__(self) -> None:
            super().__init__()
            self._next = config.eval_every

        def _on_step(self) -> bool:
            if config.eval_every > 0 and self.num_timesteps >= self._next:
                self._next += config.eval_every
                est = evaluate(
                    LearnedCGWPolicy(model, env_params),
                    env_params,
                    config.eval_episodes,
                    seed=config.seed + 10_000 + len(curve),
                )
                point = {
                    "timesteps": float(self.num_timesteps),
                    "seconds": time.perf_counter() - started,
                    "value": est.mean,
                    "half_width": est.half_width,
                }
                curve.append(point)
                log.info("cgw training %s", point)
                if progress is not None:
                    progress(point)
            return True

    model.learn(total_timesteps=config.total_timesteps, callback=_Curve())
    wall = time.perf_counter() - started
    venv.close()
    return TrainedCGWAgent(
        model=model,
        params=env_params,
        config=config,
        run_name=run_name(config),
        wall_seconds=wall,
        learning_curve=curve,
    )


def smoke_config(seed: int = 0) -> CGWTrainingConfig:
    """A tiny-budget config for tests: a few seconds, enough to beat a random policy."""
    return replace(
        CGWTrainingConfig(seed=seed),
        total_timesteps=8_192,
        n_envs=8,
        n_steps=256,
        batch_size=512,
        n_epochs=5,
        learning_rate=1e-3,
        final_learning_rate=1e-3,
        eval_every=0,
    )

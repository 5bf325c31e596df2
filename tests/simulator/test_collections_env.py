"""tact/Collections-v0: gymnasium and SB3 checkers, seeding, and the shield."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import simulator  # noqa: F401  (registers tact/Collections-v0)
from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from simulator.envs.collections import CollectionsEnv


def _rollout(env: CollectionsEnv, seed: int, days: int) -> tuple[list[np.ndarray], list[float]]:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(99)
    observations, rewards = [obs], []
    for _ in range(days):
        allowed = np.flatnonzero(env.action_masks())
        obs, reward, terminated, truncated, _ = env.step(int(rng.choice(allowed)))
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            obs, _ = env.reset()
    return observations, rewards


def test_gymnasium_checker(compliance_engine: ComplianceEngine) -> None:
    gym_check_env(CollectionsEnv(masks=compliance_engine), skip_render_check=True)


def test_sb3_checker(compliance_engine: ComplianceEngine) -> None:
    sb3_check_env(CollectionsEnv(masks=compliance_engine), warn=True)


def test_registered_id_builds_the_env() -> None:
    env = gym.make("tact/Collections-v0")
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs)
    assert env.action_space.n == len(CATALOGUE)  # type: ignore[attr-defined]


def test_seeded_runs_are_reproducible(compliance_engine: ComplianceEngine) -> None:
    a = _rollout(CollectionsEnv(masks=compliance_engine), seed=7, days=150)
    b = _rollout(CollectionsEnv(masks=compliance_engine), seed=7, days=150)
    c = _rollout(CollectionsEnv(masks=compliance_engine), seed=8, days=150)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert a[1] == b[1]
    assert not all(np.array_equal(x, y) for x, y in zip(a[0], c[0], strict=True))


def test_a_blocked_treatment_runs_as_wait(compliance_engine: ComplianceEngine) -> None:
    env = CollectionsEnv(masks=compliance_engine)
    for seed in range(50):
        env.reset(seed=seed)
        blocked = np.flatnonzero(~env.action_masks())
        if blocked.size:
            break
    assert blocked.size, "no debtor with a blocked treatment in 50 seeds"
    contacts_before = env.sim.dyn.contacts[0]
    _, _, _, _, info = env.step(int(blocked[0]))
    assert info["blocked_action"] is True
    assert env.sim.dyn.contacts[0] == contacts_before  # nothing was sent


def test_episode_ends_within_the_horizon(nordic_telecom, compliance_engine) -> None:  # type: ignore[no-untyped-def]
    env = CollectionsEnv(nordic_telecom, masks=compliance_engine)
    env.reset(seed=3)
    days = 0
    terminated = truncated = False
    while not terminated and days < nordic_telecom.horizon_days:
        _, _, terminated, truncated, info = env.step(0)
        days += 1
    assert terminated and not truncated and "outcome" in info

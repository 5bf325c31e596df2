"""CollectionsVecEnv: the sb3-contrib masking protocol, reproducibility, MaskablePPO."""

from __future__ import annotations

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

from engine.catalogue import CATALOGUE
from engine.compliance import ComplianceEngine
from engine.features import N_FEATURES
from policies.random_policy import RandomPolicy
from simulator.vec_env import CollectionsVecEnv


def _run(env: CollectionsVecEnv, steps: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    policy, rng = RandomPolicy(), np.random.default_rng(5)
    obs = env.reset()
    observations, rewards = [obs], []
    for _ in range(steps):
        actions = policy.act(obs, get_action_masks(env), rng).indices
        obs, reward, _, _ = env.step(actions)
        observations.append(obs)
        rewards.append(reward)
    return observations, rewards


def test_masks_through_env_method(compliance_engine: ComplianceEngine) -> None:
    env = CollectionsVecEnv(8, masks=compliance_engine, seed=0)
    assert is_masking_supported(env)
    masks = get_action_masks(env)
    assert masks.shape == (8, len(CATALOGUE)) and masks.dtype == np.bool_
    assert masks[:, CATALOGUE.WAIT_INDEX].all()
    assert np.array_equal(masks, env.action_masks())
    assert len(env.env_method("action_masks", indices=[1, 3])) == 2


def test_seeded_vec_env_is_reproducible(compliance_engine: ComplianceEngine) -> None:
    a = _run(CollectionsVecEnv(16, masks=compliance_engine, seed=11), 60)
    b = _run(CollectionsVecEnv(16, masks=compliance_engine, seed=11), 60)
    assert all(np.array_equal(x, y) for x, y in zip(a[0], b[0], strict=True))
    assert all(np.array_equal(x, y) for x, y in zip(a[1], b[1], strict=True))


def test_auto_reset_reports_terminal_observation(compliance_engine: ComplianceEngine) -> None:
    env = CollectionsVecEnv(32, masks=compliance_engine, seed=2)
    env.reset()
    policy, rng = RandomPolicy(), np.random.default_rng(0)
    obs = env.reset()
    finished = 0
    for _ in range(130):
        obs, _, dones, infos = env.step(policy.act(obs, env.action_masks(), rng).indices)
        for i in np.flatnonzero(dones):
            assert infos[i]["terminal_observation"].shape == (N_FEATURES,)
            assert infos[i]["episode"]["l"] >= 1
            finished += 1
        assert env.observation_space.contains(obs[0])
    assert finished >= 32  # every slot finished at least once within the 120-day horizon


def test_masks_are_respected_by_maskable_ppo(compliance_engine: ComplianceEngine) -> None:
    torch.set_num_threads(1)
    env = CollectionsVecEnv(16, masks=compliance_engine, seed=0)
    model = MaskablePPO("MlpPolicy", env, n_steps=32, batch_size=128, n_epochs=1, seed=0)
    model.learn(total_timesteps=512)
    obs = env.reset()
    for _ in range(20):
        masks = env.action_masks()
        actions, _ = model.predict(obs, action_masks=masks, deterministic=False)
        assert masks[np.arange(16), actions].all()
        obs, _, _, infos = env.step(actions)
        assert not any(info.get("blocked_action") for info in infos)

"""CGWVecEnv: the batched training env behaves like a DummyVecEnv of CGWEnv."""

from __future__ import annotations

import numpy as np

from simulator.cgw.grid import GridSpec
from simulator.cgw.no_action import no_action_value
from simulator.cgw.params import CGWParams
from simulator.cgw.vec_env import CGWVecEnv


def _first_episode_returns(venv: CGWVecEnv, action: int, gamma: float) -> np.ndarray:
    n = venv.num_envs
    returns, discount = np.zeros(n), np.ones(n)
    finished = np.zeros(n, dtype=bool)
    venv.reset()
    while not finished.all():
        _, reward, done, _ = venv.step(np.full(n, action))
        returns += np.where(finished, 0.0, discount * reward)
        discount *= gamma
        finished |= done
    return returns


def test_no_action_returns_match_the_quadrature_value() -> None:
    params = CGWParams()
    venv = CGWVecEnv(8_000, params)
    venv.seed(4)
    returns = _first_episode_returns(venv, 0, params.gamma)
    half_width = 1.96 * returns.std(ddof=1) / np.sqrt(returns.size)
    exact = no_action_value(params, GridSpec(n_lam=100, n_u=64)).start_value
    assert abs(returns.mean() - exact) < half_width, (returns.mean(), half_width, exact)


def test_auto_reset_reports_terminal_observation_truncation_and_scaled_reward() -> None:
    params = CGWParams(horizon_steps=3)
    venv = CGWVecEnv(64, params, reward_scale=0.5)
    venv.seed(1)
    start = np.asarray(venv.reset()).copy()
    assert venv.env_method("action_masks")[0].all()
    for step in range(3):
        step_obs, reward, done, infos = venv.step(np.zeros(64, dtype=np.int64))
        obs = np.asarray(step_obs)
        assert np.all((reward >= 0.0) & (reward <= 0.5 * params.w0))  # scaled payments only
        for i in np.flatnonzero(done):
            assert "terminal_observation" in infos[i]
            assert infos[i]["TimeLimit.truncated"] == (step == 2)
            np.testing.assert_array_equal(obs[i], start[i])  # auto-reset to (lam0, w0)
    assert done.all()  # everything still open after 3 steps is truncated
    # Reseeding replays the same stream.
    venv.seed(1)
    venv.reset()
    _, reward_again, _, _ = venv.step(np.full(64, 5))
    venv.seed(1)
    venv.reset()
    _, reward_same, _, _ = venv.step(np.full(64, 5))
    np.testing.assert_array_equal(reward_again, reward_same)
    assert np.all(reward_same <= 0.5 * (-params.c * 1.5) + 0.5 * params.w0)

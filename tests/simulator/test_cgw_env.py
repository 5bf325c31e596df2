"""The tact/CGW-v0 environment: checkers, seeding, and exactness of the within-step dynamics."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import simulator  # noqa: F401  (registers tact/CGW-v0)
from simulator.cgw.dynamics import first_arrival_time, integrated_intensity, step_batch
from simulator.cgw.env import CGWEnv
from simulator.cgw.errors import CGWParameterError
from simulator.cgw.params import FINE_ACTIONS, CGWParams, params_with_actions


def test_registered_env_passes_gymnasium_and_sb3_checkers() -> None:
    env = gym.make("tact/CGW-v0")
    assert isinstance(env.unwrapped, CGWEnv)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any checker warning is a failure
        gym_check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped, warn=True)
    env.close()


def test_fine_action_set_env_passes_checker() -> None:
    env = CGWEnv(params_with_actions("fine"))
    assert env.action_space.contains(np.int64(len(FINE_ACTIONS) - 1))
    assert not env.action_space.contains(np.int64(len(FINE_ACTIONS)))
    gym_check_env(env, skip_render_check=True)


def _rollout(seed: int, steps: int = 300) -> list[tuple[float, ...]]:
    env = CGWEnv()
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    trace = []
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        trace.append((*obs.tolist(), reward, info["lam"], info["w"]))
        if terminated or truncated:
            obs, _ = env.reset()
    return trace


def test_seeded_runs_are_reproducible_and_seeds_differ() -> None:
    assert _rollout(11) == _rollout(11)
    assert _rollout(11) != _rollout(12)


def test_observation_is_scaled_log_intensity_and_log_balance() -> None:
    env = CGWEnv()
    obs, _ = env.reset(seed=0, options={"lam": 0.1, "w": 200.0})
    np.testing.assert_allclose(obs, [-1.0, 1.0])
    obs, _ = env.reset(seed=0, options={"lam": 0.1 * math.sqrt(50.0), "w": math.sqrt(200.0)})
    np.testing.assert_allclose(obs, [0.0, 0.0], atol=1e-6)


def test_bad_parameters_and_actions_say_how_to_fix() -> None:
    with pytest.raises(CGWParameterError, match="strictly increasing"):
        CGWParams(actions=(0.0, 0.5, 0.2))
    with pytest.raises(CGWParameterError, match="lam0"):
        CGWParams(lam0=0.05)
    with pytest.raises(CGWParameterError, match="choose one of"):
        params_with_actions("medium")
    env = CGWEnv()
    env.reset(seed=0)
    with pytest.raises(CGWParameterError, match="not an index"):
        env.step(len(env.params.actions))


def test_arrival_time_inverts_integrated_intensity() -> None:
    params = CGWParams()
    lam = np.array([0.1, 0.5, 3.0, 40.0])
    level = np.array([1e-6, 0.3, 2.0, 7.5])
    s = first_arrival_time(lam, level, params)
    np.testing.assert_allclose(integrated_intensity(lam, s, params), level, rtol=1e-12)


def test_multiple_arrivals_per_step_follow_the_poisson_law() -> None:
    """No self-excitation: the count in a step is Poisson(I(dt)), often > 1 at high intensity."""
    params = CGWParams(delta10=0.0, delta11=0.0, w0=1e12, w_min=1e-300, lam0=30.0)
    n = 100_000
    rng = np.random.default_rng(5)
    out = step_batch(np.full(n, 30.0), np.full(n, 1e12), np.zeros(n), rng, params)
    mean = float(integrated_intensity(np.array(30.0), params.dt, params))
    assert mean > 1.0
    counts = out.arrivals
    assert abs(counts.mean() - mean) < 4.0 * math.sqrt(mean / n)
    p_two_plus = 1.0 - math.exp(-mean) * (1.0 + mean)
    assert abs((counts >= 2).mean() - p_two_plus) < 4.0 * math.sqrt(p_two_plus / n)
    # Between arrivals the intensity decays exactly: with no jumps it ends at lam(dt).
    np.testing.assert_allclose(out.lam, 0.1 + 29.9 * math.exp(-0.7 * params.dt))


def test_payments_are_discounted_at_their_exact_arrival_times() -> None:
    """Constant intensity L, no jumps: E[collected] = w E[R] L (1 - e^{-(rho + L E[R]) dt}) /
    (rho + L E[R]), because each arrival pays R times the balance left by earlier ones."""
    big = 20.0
    params = replace(
        CGWParams(), lam_inf=big, lam0=big, delta10=0.0, delta11=0.0, rho=3.0, w_min=1e-300
    )
    n = 200_000
    out = step_batch(
        np.full(n, big), np.full(n, 100.0), np.zeros(n), np.random.default_rng(9), params
    )
    er = params.mean_fraction
    rate = params.rho + big * er
    expected = 100.0 * er * big * (1.0 - math.exp(-rate * params.dt)) / rate
    sem = out.collected.std(ddof=1) / math.sqrt(n)
    assert abs(out.collected.mean() - expected) < 4.0 * sem
    # Discounting at the step end instead would be off by far more than the noise.
    assert expected * (1.0 - math.exp(-params.rho * params.dt)) / 2 > 4.0 * sem


def test_episode_terminates_below_w_min_and_truncates_at_horizon() -> None:
    env = CGWEnv(CGWParams(horizon_steps=5))
    env.reset(seed=3, options={"lam": 0.1, "w": 1.0})
    for step in range(5):
        _, _, terminated, truncated, info = env.step(0)
        if terminated:
            assert info["w"] < 1.0
            break
        assert truncated == (step == 4)
    env2 = CGWEnv()
    env2.reset(seed=0, options={"lam": 60.0, "w": 1.0})
    _, reward, terminated, _, info = env2.step(0)
    assert terminated and info["w"] < 1.0 and reward > 0.0

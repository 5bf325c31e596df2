"""Batched Monte Carlo evaluation of CGW policies with the exact dynamics of the env.

All episodes run side by side as numpy arrays, so 10^5 episodes take seconds; the
dynamics are :func:`simulator.cgw.dynamics.step_batch`, the same code the env steps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from simulator.cgw.dynamics import step_batch
from simulator.cgw.errors import CGWParameterError
from simulator.cgw.params import CGWParams

#: Maps batches of states (lam, w) to action indices into ``params.actions``.
BatchPolicy = Callable[[np.ndarray, np.ndarray], np.ndarray]

#: Two-sided 95 % normal quantile.
Z95 = 1.959963984540054


@dataclass(frozen=True, slots=True)
class MCEstimate:
    """Mean of i.i.d. episode returns with a normal-approximation 95 % confidence interval."""

    mean: float
    std: float
    episodes: int

    @property
    def half_width(self) -> float:
        """Half-width of the 95 % confidence interval of the mean."""
        return Z95 * self.std / math.sqrt(self.episodes)

    @property
    def ci(self) -> tuple[float, float]:
        """The 95 % confidence interval of the mean."""
        return (self.mean - self.half_width, self.mean + self.half_width)

    @classmethod
    def from_samples(cls, returns: np.ndarray) -> MCEstimate:
        """Estimate from per-episode returns."""
        if returns.size < 2:
            raise CGWParameterError(f"need at least 2 episodes for a CI, got {returns.size}")
        return cls(float(returns.mean()), float(returns.std(ddof=1)), int(returns.size))


def no_action_policy(lam: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Never act (action index 0)."""
    return np.zeros(lam.shape, dtype=np.int64)


def constant_policy(index: int) -> BatchPolicy:
    """Always take the action of index ``index``."""

    def policy(lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.full(lam.shape, index, dtype=np.int64)

    return policy


def threshold_policy(index: int, lam_below: float, w_above: float) -> BatchPolicy:
    """Take action ``index`` when lam < ``lam_below`` and w > ``w_above``, else do nothing."""

    def policy(lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        return np.where((lam < lam_below) & (w > w_above), index, 0).astype(np.int64)

    return policy


def episode_returns(
    policy: BatchPolicy,
    params: CGWParams,
    episodes: int,
    seed: int,
    lam0: float | None = None,
    w0: float | None = None,
) -> np.ndarray:
    """Discounted returns of ``episodes`` independent episodes from (lam0, w0).

    Episodes end at termination or after ``params.horizon_steps`` steps, like the env.
    """
    if episodes < 1:
        raise CGWParameterError(f"episodes must be >= 1, got {episodes}")
    rng = np.random.default_rng(seed)
    amounts = np.asarray(params.actions)
    lam = np.full(episodes, params.lam0 if lam0 is None else lam0, dtype=np.float64)
    w = np.full(episodes, params.w0 if w0 is None else w0, dtype=np.float64)
    returns = np.zeros(episodes)
    live = np.arange(episodes)
    discount = 1.0
    for _ in range(params.horizon_steps):
        actions = np.asarray(policy(lam[live], w[live]), dtype=np.int64)
        out = step_batch(lam[live], w[live], amounts[actions], rng, params)
        returns[live] += discount * out.reward
        lam[live], w[live] = out.lam, out.w
        live = live[~out.terminated]
        discount *= params.gamma
        if not live.size:
            break
    return returns


def evaluate(
    policy: BatchPolicy,
    params: CGWParams,
    episodes: int,
    seed: int,
    lam0: float | None = None,
    w0: float | None = None,
) -> MCEstimate:
    """Monte Carlo value of ``policy`` at (lam0, w0) with a 95 % CI."""
    return MCEstimate.from_samples(episode_returns(policy, params, episodes, seed, lam0, w0))

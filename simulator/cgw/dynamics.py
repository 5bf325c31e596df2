"""Exact, vectorised within-step dynamics of the CGW self-exciting repayment process.

Between repayments the intensity decays deterministically,
``lam(s) = lam_inf + (lam - lam_inf) * exp(-kappa * s)``, so the integrated intensity
``I(s) = lam_inf * s + (lam - lam_inf) * (1 - exp(-kappa * s)) / kappa`` is known in closed
form. By the time-change theorem the next repayment happens when ``I`` reaches an Exp(1)
draw; we find that time by Newton's method (``I`` is increasing and concave, so Newton
started at 0 converges monotonically from below). After each repayment a fresh Exp(1) is
drawn for the rest of the step, which handles any number of repayments within one step
exactly, and each payment is discounted at its exact arrival time.

Both the gymnasium environment (batch of one) and the batched Monte Carlo evaluator use
:func:`step_batch`, so the two can never drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulator.cgw.params import CGWParams

_NEWTON_TOL = 1e-13
_NEWTON_MAX_ITER = 100


def intensity_after(lam: np.ndarray, s: np.ndarray | float, params: CGWParams) -> np.ndarray:
    """Intensity after ``s`` time units without repayment, starting from ``lam``."""
    return params.lam_inf + (lam - params.lam_inf) * np.exp(-params.kappa * s)


def integrated_intensity(lam: np.ndarray, s: np.ndarray | float, params: CGWParams) -> np.ndarray:
    """Integral of the intensity over ``[0, s]`` without repayment, starting from ``lam``."""
    return params.lam_inf * s - (lam - params.lam_inf) * np.expm1(-params.kappa * s) / params.kappa


def first_arrival_time(lam: np.ndarray, level: np.ndarray, params: CGWParams) -> np.ndarray:
    """Solve ``integrated_intensity(lam, s) = level`` for ``s`` (vectorised).

    ``level`` is an Exp(1) draw; the solution is the time of the next repayment.
    """
    s = np.zeros_like(level)
    for _ in range(_NEWTON_MAX_ITER):
        step = (level - integrated_intensity(lam, s, params)) / intensity_after(lam, s, params)
        s = s + step
        if np.all(np.abs(step) <= _NEWTON_TOL * (1.0 + s)):
            return s
    raise AssertionError("Newton iteration for the arrival time did not converge")


@dataclass(frozen=True, slots=True)
class StepOutcome:
    """Result of one decision period for a batch of accounts (all arrays of shape (n,))."""

    lam: np.ndarray
    """Intensity at the end of the period (or just after the closing repayment)."""
    w: np.ndarray
    """Balance at the end of the period."""
    reward: np.ndarray
    """Payments discounted to the start of the period minus the action cost."""
    collected: np.ndarray
    """Payments discounted to the start of the period (without the action cost)."""
    terminated: np.ndarray
    """True where the balance fell below ``w_min`` during the period."""
    arrivals: np.ndarray
    """Number of repayments during the period."""


def step_batch(
    lam: np.ndarray,
    w: np.ndarray,
    amounts: np.ndarray,
    rng: np.random.Generator,
    params: CGWParams,
) -> StepOutcome:
    """Advance a batch of accounts by one decision period of length ``params.dt``.

    The action of size ``amounts`` raises the intensity at the start of the period and
    costs ``c * amounts`` (undiscounted, it is paid at the decision time). Repayments in
    the period are simulated exactly and discounted to the period start.
    """
    lam = np.asarray(lam, dtype=np.float64) + params.delta2 * np.asarray(amounts, np.float64)
    w = np.array(w, dtype=np.float64, copy=True)
    n = lam.shape[0]
    collected = np.zeros(n)
    arrivals = np.zeros(n, dtype=np.int64)
    terminated = np.zeros(n, dtype=bool)
    elapsed = np.zeros(n)
    # Indices still inside the period (may see another repayment).
    live = np.arange(n)
    while live.size:
        remaining = params.dt - elapsed[live]
        level = rng.exponential(size=live.size)
        hits = level < integrated_intensity(lam[live], remaining, params)
        quiet = live[~hits]
        lam[quiet] = intensity_after(lam[quiet], params.dt - elapsed[quiet], params)
        live = live[hits]
        if not live.size:
            break
        s = np.minimum(first_arrival_time(lam[live], level[hits], params), remaining[hits])
        elapsed[live] += s
        fraction = rng.uniform(params.r, 1.0, size=live.size)
        collected[live] += np.exp(-params.rho * elapsed[live]) * fraction * w[live]
        w[live] *= 1.0 - fraction
        lam[live] = (
            intensity_after(lam[live], s, params) + params.delta10 + params.delta11 * fraction
        )
        arrivals[live] += 1
        closed = w[live] < params.w_min
        terminated[live[closed]] = True
        live = live[~closed]
    reward = collected - params.c * np.asarray(amounts, np.float64)
    return StepOutcome(
        lam=lam, w=w, reward=reward, collected=collected, terminated=terminated, arrivals=arrivals
    )

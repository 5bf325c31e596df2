"""Exact dynamic-programming solution of the discrete-time CGW problem.

Structure exploited (derived in docs/cgw.md):

* The balance only moves at repayments, and every repayment cuts it by a factor
  ``1 - R <= 1 - r = 0.9``. On a grid uniform in ``u = log(w / w_min)`` with spacing
  ``h <= -log(1 - r)`` every post-repayment state lies on levels *strictly below* the
  current one. So the value is computed level by level, from ``w_min`` upwards, and each
  level is a one-dimensional problem in the intensity alone.
* Within a level the only coupling is the no-repayment transition
  ``lam -> lam_inf + (lam + delta2 * a - lam_inf) * exp(-kappa * dt)``; the level's Bellman
  equation is solved exactly (up to interpolation) by policy iteration with a sparse
  linear solve per policy.
* Within one decision period several repayments can occur. The period is split into
  ``n_sub`` sub-intervals; ``H(sigma, lam, w)`` is the value from time ``sigma`` into the
  period (no decision until its end). Conditioning on the first repayment time ``s``:
  ``H(sigma, lam, w) = int_0^{dt-sigma} g(s) e^{-rho s} E_R[R w + H(sigma + s, lam', (1-R) w)] ds
  + P(no repayment) e^{-rho (dt - sigma)} V(lam(dt - sigma), w)``, with ``g`` the
  first-arrival density. The ``H`` on the right is on lower levels, already known, so the
  recursion is exact up to quadrature in ``s`` (Newton–Cotes on the sub-grid) and ``R``
  (Gauss–Legendre) and linear interpolation in ``lam`` and ``log w``.
* ``V / w`` is smooth and nearly constant in ``w`` (the value is close to homogeneous of
  degree one in w for large balances), so it is what we interpolate in ``u``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from simulator.cgw.dynamics import integrated_intensity, intensity_after
from simulator.cgw.errors import CGWConvergenceError
from simulator.cgw.grid import GridSpec, StateGrid, interp_lam
from simulator.cgw.params import CGWParams

_PAYMENT_NODES = 24
_MAX_POLICY_ITERATIONS = 200


def newton_cotes_weights(n_intervals: int, spacing: float) -> np.ndarray:
    """Composite Newton–Cotes weights on ``n_intervals + 1`` equispaced nodes.

    Simpson's rule, closed by the 3/8 rule for an odd count; the trapezoid rule for one
    interval. Zero intervals give a single zero weight (an empty integral).
    """
    n = n_intervals
    weights = np.zeros(n + 1)
    if n == 0:
        return weights
    if n == 1:
        return np.array([0.5, 0.5]) * spacing
    simpson = n if n % 2 == 0 else n - 3
    for start in range(0, simpson, 2):
        weights[start : start + 3] += np.array([1.0, 4.0, 1.0]) * spacing / 3.0
    if simpson < n:
        weights[simpson : simpson + 4] += np.array([1.0, 3.0, 3.0, 1.0]) * 3.0 * spacing / 8.0
    return weights


def arrival_density(lam: np.ndarray, s: np.ndarray | float, params: CGWParams) -> np.ndarray:
    """Density of the first repayment time at ``s``, starting from intensity ``lam``."""
    return intensity_after(lam, s, params) * np.exp(-integrated_intensity(lam, s, params))


def discounted_arrival_mass(lam: np.ndarray, horizon: float, params: CGWParams) -> np.ndarray:
    """``E[exp(-rho T); T <= horizon]`` for the first repayment time T (Gauss–Legendre)."""
    if horizon <= 0.0:
        return np.zeros_like(lam)
    x, wq = np.polynomial.legendre.leggauss(_PAYMENT_NODES)
    s = 0.5 * horizon * (x + 1.0)
    dens = arrival_density(lam[..., None], s, params) * np.exp(-params.rho * s)
    return 0.5 * horizon * (dens @ wq)


@dataclass(frozen=True)
class CGWSolution:
    """Optimal value and policy of the discrete-time CGW problem on a grid."""

    grid: StateGrid
    value: np.ndarray
    """V(lam_i, w_j), shape (n_u + 1, n_lam)."""
    policy: np.ndarray
    """Optimal action index at the grid nodes, shape (n_u + 1, n_lam)."""
    post_decision: np.ndarray
    """H(0, lam_i, w_j) / w_j: value right after the decision, before the period runs."""
    start_value: float
    """Optimal value at the start state (lam0, w0), computed without lam-interpolation."""
    start_q: np.ndarray
    """Action values at the start state, one per action."""
    seconds: float
    """Wall time of the solve."""

    @property
    def params(self) -> CGWParams:
        """The problem that was solved."""
        return self.grid.params

    def q_values(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Action values (n, n_actions) at arbitrary states, interpolated on the grid."""
        p, g = self.params, self.grid
        lam = np.asarray(lam, dtype=np.float64)
        w = np.asarray(w, dtype=np.float64)
        amounts = np.asarray(p.actions)
        ell = lam[:, None] + p.delta2 * amounts[None, :]
        u = np.log(np.maximum(w, p.w_min) / p.w_min)
        j0, fu = g.u_locate(u, top=len(g.u) - 1)
        i0, fl = g.lam_locate(ell)
        # Gather from the flattened table: indexing rows first would copy (n, n_lam).
        flat = self.post_decision.ravel()
        base = (j0 * g.spec.n_lam)[:, None] + i0
        h0 = flat[base] * (1 - fl) + flat[base + 1] * fl
        base = base + g.spec.n_lam
        h1 = flat[base] * (1 - fl) + flat[base + 1] * fl
        h = (1 - fu)[:, None] * h0 + fu[:, None] * h1
        q = -p.c * amounts[None, :] + w[:, None] * h
        q[:, 1:] = np.where(ell[:, 1:] > g.spec.lam_max, -np.inf, q[:, 1:])
        return q

    def greedy_action(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """The solver's (greedy) optimal action index at arbitrary states."""
        return np.argmax(self.q_values(lam, w), axis=1)

    def value_at(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Interpolated optimal value at arbitrary states."""
        return np.max(self.q_values(lam, w), axis=1)


def _fraction_nodes(params: CGWParams, u_level: float, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes/weights for R on [r, R*], R* = 1 - exp(-u): the fractions that
    leave a balance >= w_min. Weights include the Uniform[r, 1] density."""
    upper = -math.expm1(-u_level)
    if upper <= params.r:
        return np.zeros(0), np.zeros(0)
    x, wq = np.polynomial.legendre.leggauss(n)
    half = 0.5 * (upper - params.r)
    return params.r + half * (x + 1.0), wq * half / (1.0 - params.r)


class _WithinStep:
    """Level-independent pieces of the within-period recursion at sub-grid offset k."""

    def __init__(self, grid: StateGrid, points: np.ndarray, k: int) -> None:
        p, spec = grid.params, grid.spec
        sub = p.dt / spec.n_sub
        remaining = p.dt - k * sub
        self.points = points
        self.payment = p.mean_fraction * discounted_arrival_mass(points, remaining, p)
        self.survive = np.exp(-integrated_intensity(points, remaining, p) - p.rho * remaining)
        self.end_loc = grid.lam_locate(intensity_after(points, remaining, p))
        n_int = spec.n_sub - k
        s = sub * np.arange(n_int + 1)
        weights = newton_cotes_weights(n_int, sub)
        # (m, point): quadrature weight * arrival density * discount at s_m.
        self.arrival_weight = (
            weights[:, None]
            * arrival_density(points[None, :], s[:, None], p)
            * np.exp(-p.rho * s)[:, None]
        )
        self.pre_jump = intensity_after(points[None, :], s[:, None], p)
        self.k = k


def _continuation(
    grid: StateGrid,
    ws: _WithinStep,
    h_norm: np.ndarray,
    level: int,
    fractions: np.ndarray,
    fraction_weights: np.ndarray,
) -> np.ndarray:
    """Expected discounted value after a first repayment within the period, per point.

    ``h_norm[j, k, i]`` holds H(sigma_k, lam_i, w_j) / w_j for the levels below ``level``.
    """
    p = grid.params
    out = np.zeros(ws.points.shape)
    if fractions.size == 0:
        return out
    u_post = grid.u[level] + np.log1p(-fractions)
    j0, fu = grid.u_locate(u_post, top=level - 1)
    w_level = float(grid.w[level])
    for m in range(ws.arrival_weight.shape[0]):
        target = h_norm[:, ws.k + m, :]
        lam_post = ws.pre_jump[m][:, None] + p.delta10 + p.delta11 * fractions[None, :]
        i0, fl = grid.lam_locate(lam_post)
        lower = target[j0[None, :], i0] * (1 - fl) + target[j0[None, :], i0 + 1] * fl
        upper = target[j0[None, :] + 1, i0] * (1 - fl) + target[j0[None, :] + 1, i0 + 1] * fl
        h = lower * (1 - fu)[None, :] + upper * fu[None, :]
        inner = (h * ((1.0 - fractions) * fraction_weights)[None, :]).sum(axis=1)
        out += ws.arrival_weight[m] * inner * w_level
    return out


def _policy_iteration(
    rewards: np.ndarray,
    survive: np.ndarray,
    end_i0: np.ndarray,
    end_w: np.ndarray,
    feasible: np.ndarray,
    policy: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Solve V_i = max_a [rewards[i,a] + survive[i,a] * V(end[i,a])] on one level.

    ``V(end)`` is linear interpolation between nodes ``end_i0`` and ``end_i0 + 1`` with
    weight ``end_w``. Returns the value and the optimal policy.
    """
    n, _ = rewards.shape
    rows = np.arange(n)
    q_masked = np.where(feasible, 0.0, -np.inf)
    value = np.zeros(n)
    for _ in range(_MAX_POLICY_ITERATIONS):
        i0, wgt, surv = end_i0[rows, policy], end_w[rows, policy], survive[rows, policy]
        trans = sp.csr_matrix(
            (
                np.concatenate([surv * (1 - wgt), surv * wgt]),
                (np.concatenate([rows, rows]), np.concatenate([i0, i0 + 1])),
            ),
            shape=(n, n),
        )
        value = spla.spsolve((sp.identity(n, format="csr") - trans).tocsc(), rewards[rows, policy])
        q = rewards + survive * (value[end_i0] * (1 - end_w) + value[end_i0 + 1] * end_w)
        q += q_masked
        best = np.argmax(q, axis=1)
        # Switch only on a real improvement, so ties cannot make the iteration cycle.
        improve = q[rows, best] > q[rows, policy] + 1e-10 * (1.0 + np.abs(value))
        if not improve.any():
            return value, policy
        policy = np.where(improve, best, policy)
    raise CGWConvergenceError(
        f"policy iteration did not converge in {_MAX_POLICY_ITERATIONS} iterations; "
        "check that the parameters give a discount rho * dt > 0"
    )


def solve(params: CGWParams | None = None, spec: GridSpec | None = None) -> CGWSolution:
    """Solve the discrete-time CGW problem by level-by-level policy iteration."""
    started = time.perf_counter()
    params = params or CGWParams()
    spec = spec or GridSpec()
    grid = StateGrid.build(params, spec)
    lam, n_lam, n_sub = grid.lam, spec.n_lam, spec.n_sub
    amounts = np.asarray(params.actions)
    n_act = amounts.size

    ell = lam[:, None] + params.delta2 * amounts[None, :]
    feasible = ell <= spec.lam_max * (1 + 1e-12)
    feasible[:, 0] = True
    start_ell = params.lam0 + params.delta2 * amounts
    # k = 0 points: every (node, action) pair, then the exact start-state candidates.
    points0 = np.concatenate([np.minimum(ell, spec.lam_max).ravel(), start_ell])
    steps = [_WithinStep(grid, points0, 0)] + [
        _WithinStep(grid, lam, k) for k in range(1, n_sub + 1)
    ]
    n_grid_points = n_lam * n_act
    cost = params.c * amounts

    n_levels = spec.n_u + 1
    h_norm = np.zeros((n_levels, n_sub + 1, n_lam))
    value = np.zeros((n_levels, n_lam))
    policy_all = np.zeros((n_levels, n_lam), dtype=np.int64)
    policy = np.zeros(n_lam, dtype=np.int64)
    end_i0 = steps[0].end_loc[0][:n_grid_points].reshape(n_lam, n_act)
    end_w = steps[0].end_loc[1][:n_grid_points].reshape(n_lam, n_act)
    survive0 = steps[0].survive[:n_grid_points].reshape(n_lam, n_act)
    start_q = np.zeros(n_act)

    for j in range(n_levels):
        w_j = float(grid.w[j])
        fractions, fweights = _fraction_nodes(params, float(grid.u[j]), spec.n_fraction)
        arrival = [
            ws.payment * w_j + _continuation(grid, ws, h_norm, j, fractions, fweights)
            for ws in steps
        ]
        rewards = arrival[0][:n_grid_points].reshape(n_lam, n_act) - cost[None, :]
        v, policy = _policy_iteration(rewards, survive0, end_i0, end_w, feasible, policy)
        value[j], policy_all[j] = v, policy
        for k, ws in enumerate(steps):
            h = arrival[k] + ws.survive * interp_lam(v, *ws.end_loc)
            h_norm[j, k] = (h[:n_grid_points].reshape(n_lam, n_act)[:, 0] if k == 0 else h) / w_j
        if j == n_levels - 1:
            tail = slice(n_grid_points, None)
            start_q = (
                arrival[0][tail]
                - cost
                + steps[0].survive[tail]
                * interp_lam(v, steps[0].end_loc[0][tail], steps[0].end_loc[1][tail])
            )
            start_q[1:] = np.where(start_ell[1:] > spec.lam_max, -np.inf, start_q[1:])

    return CGWSolution(
        grid=grid,
        value=value,
        policy=policy_all,
        post_decision=h_norm[:, 0, :],
        start_value=float(np.max(start_q)),
        start_q=start_q,
        seconds=time.perf_counter() - started,
    )

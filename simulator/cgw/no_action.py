"""Value of never acting, by quadrature over the embedded repayment chain.

Without actions there are no decisions, so the discrete-time problem coincides with the
continuous-time one and the value only needs the chain of repayment epochs. Starting
from intensity ``l`` and balance ``w``, with T the first repayment time,

    V0(l, w) = E[ e^{-rho T} ( R w + 1{(1 - R) w >= w_min} V0(lam_l(T) + delta10 + delta11 R,
                                                              (1 - R) w) ) ].

Substituting ``y = I_l(T)`` (the integrated intensity, Exp(1)-distributed by the
time-change theorem) turns the T-expectation into a Gauss–Laguerre integral in y;
R ~ Uniform[r, 1] is integrated by Gauss–Legendre. Since every repayment cuts the balance
by at least 10 %, the recursion runs once through the log-balance levels from ``w_min``
upwards, with no fixed point to iterate. This shares no code with the period-by-period
solver in :mod:`simulator.cgw.solver`, so the two check each other.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from simulator.cgw.dynamics import first_arrival_time, intensity_after
from simulator.cgw.grid import GridSpec, StateGrid
from simulator.cgw.params import CGWParams


@dataclass(frozen=True)
class NoActionValue:
    """V0 on the grid and at the start state."""

    grid: StateGrid
    value: np.ndarray
    """V0(lam_i, w_j), shape (n_u + 1, n_lam)."""
    start_value: float
    """V0(lam0, w0), evaluated at the exact lam0."""


def no_action_value(
    params: CGWParams | None = None, spec: GridSpec | None = None, laguerre_nodes: int = 64
) -> NoActionValue:
    """Compute the never-act value V0 by quadrature (see module docstring)."""
    params = replace(params or CGWParams(), actions=(0.0,))
    spec = spec or GridSpec()
    grid = StateGrid.build(params, spec)
    y, wy = np.polynomial.laguerre.laggauss(laguerre_nodes)
    points = np.concatenate([grid.lam, [params.lam0]])
    # (point, y): arrival time, its discount and the pre-jump intensity.
    t = first_arrival_time(
        np.repeat(points[:, None], y.size, 1), np.broadcast_to(y, (points.size, y.size)), params
    )
    disc = np.exp(-params.rho * t) * wy[None, :]
    pre_jump = intensity_after(points[:, None], t, params)
    payment = params.mean_fraction * disc.sum(axis=1)

    x, wx = np.polynomial.legendre.leggauss(spec.n_fraction)
    ratio = np.zeros((spec.n_u + 1, spec.n_lam))  # V0 / w
    start = 0.0
    for j, u in enumerate(grid.u):
        upper = -math.expm1(-u)  # fractions leaving w >= w_min
        cont = np.zeros(points.size)
        if upper > params.r:
            half = 0.5 * (upper - params.r)
            frac = params.r + half * (x + 1.0)
            fw = wx * half / (1.0 - params.r)
            j0, fu = grid.u_locate(u + np.log1p(-frac), top=j - 1)
            lam_post = pre_jump[:, :, None] + params.delta10 + params.delta11 * frac
            i0, fl = grid.lam_locate(lam_post)
            rows0 = ratio[j0]  # (q, n_lam)
            rows1 = ratio[j0 + 1]
            q_idx = np.arange(frac.size)
            v0 = rows0[q_idx, i0] * (1 - fl) + rows0[q_idx, i0 + 1] * fl
            v1 = rows1[q_idx, i0] * (1 - fl) + rows1[q_idx, i0 + 1] * fl
            v = v0 * (1 - fu) + v1 * fu
            cont = np.einsum("py,pyq,q->p", disc, v, (1.0 - frac) * fw)
        level = payment + cont
        ratio[j] = level[:-1]
        start = float(level[-1]) * float(grid.w[j])
    return NoActionValue(grid=grid, value=ratio * grid.w[:, None], start_value=start)

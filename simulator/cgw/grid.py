"""State grids shared by the exact solvers: a (lam, log w) grid and interpolation on it.

The intensity grid is ``lam_inf + (lam_max - lam_inf) * x**power`` for x uniform on
[0, 1]: dense near the baseline, where the account spends most of its time and where the
act / don't-act boundary lies. The balance grid is uniform in ``u = log(w / w_min)`` with
the top node exactly at ``w0``, so the reference start balance is a grid node.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from simulator.cgw.errors import CGWParameterError
from simulator.cgw.params import CGWParams


@dataclass(frozen=True, slots=True)
class GridSpec:
    """Resolution of the solver grids."""

    n_lam: int = 200
    """Number of intensity nodes."""
    n_u: int = 128
    """Number of log-balance intervals between w_min and w0."""
    n_sub: int = 8
    """Sub-intervals of a decision period for the within-step (multi-arrival) recursion."""
    n_fraction: int = 16
    """Gauss–Legendre nodes for the expectation over the repaid fraction R."""
    lam_max: float = 8.0
    """Largest intensity on the grid; actions that would exceed it are not considered."""
    lam_power: float = 2.0
    """Grid spacing exponent (1 = uniform); > 1 concentrates nodes near lam_inf."""

    def __post_init__(self) -> None:
        if self.n_lam < 3 or self.n_u < 2 or self.n_sub < 1 or self.n_fraction < 2:
            raise CGWParameterError(
                f"GridSpec needs n_lam >= 3, n_u >= 2, n_sub >= 1, n_fraction >= 2; got {self}"
            )
        if self.lam_power < 1.0:
            raise CGWParameterError(f"GridSpec.lam_power must be >= 1, got {self.lam_power}")

    def refined(self, factor: int = 2) -> GridSpec:
        """The same spec with n_lam, n_u and n_sub multiplied by ``factor``."""
        from dataclasses import replace

        return replace(
            self, n_lam=self.n_lam * factor, n_u=self.n_u * factor, n_sub=self.n_sub * factor
        )


@dataclass(frozen=True)
class StateGrid:
    """Concrete (lam, u) nodes for one parameter set and one ``GridSpec``."""

    params: CGWParams
    spec: GridSpec
    lam: np.ndarray
    """Intensity nodes, shape (n_lam,)."""
    u: np.ndarray
    """Log-balance nodes u = log(w / w_min), shape (n_u + 1,); u[-1] = log(w0 / w_min)."""

    @classmethod
    def build(cls, params: CGWParams, spec: GridSpec) -> StateGrid:
        """Build the grid, checking that every repayment lands strictly below its level."""
        if spec.lam_max <= params.lam0 + params.delta2 * max(params.actions):
            raise CGWParameterError(
                f"GridSpec.lam_max={spec.lam_max} must exceed lam0 + delta2 * max action "
                f"= {params.lam0 + params.delta2 * max(params.actions)}; raise lam_max"
            )
        u_top = math.log(params.w0 / params.w_min)
        h = u_top / spec.n_u
        # Every repayment cuts log w by at least -log(1 - r); with h no larger than that the
        # post-repayment balance is interpolated only from levels already solved.
        if h > -math.log1p(-params.r) + 1e-12:
            need = math.ceil(u_top / -math.log1p(-params.r))
            raise CGWParameterError(
                f"GridSpec.n_u={spec.n_u} is too coarse: the log-balance step {h:.4f} exceeds "
                f"the smallest repayment cut {-math.log1p(-params.r):.4f}; use n_u >= {need}"
            )
        x = np.linspace(0.0, 1.0, spec.n_lam)
        lam = params.lam_inf + (spec.lam_max - params.lam_inf) * x**spec.lam_power
        return cls(params=params, spec=spec, lam=lam, u=np.linspace(0.0, u_top, spec.n_u + 1))

    @property
    def h(self) -> float:
        """Log-balance spacing."""
        return float(self.u[1] - self.u[0])

    @property
    def w(self) -> np.ndarray:
        """Balance at each u node."""
        return self.params.w_min * np.exp(self.u)

    def lam_locate(self, lam: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Left node index and weight of the right node for linear interpolation in lam.

        Intensities beyond ``lam_max`` are clamped to it (see GridSpec.lam_max).
        """
        span = self.spec.lam_max - self.params.lam_inf
        z = np.clip((lam - self.params.lam_inf) / span, 0.0, 1.0)
        x = z ** (1.0 / self.spec.lam_power) * (self.spec.n_lam - 1)
        i0 = np.minimum(np.floor(x).astype(np.int64), self.spec.n_lam - 2)
        left, right = self.lam[i0], self.lam[i0 + 1]
        # Weight from the actual node positions so that interpolation is linear in lam.
        weight = np.clip((np.clip(lam, self.lam[0], self.lam[-1]) - left) / (right - left), 0, 1)
        return i0, weight

    def u_locate(self, u: np.ndarray, top: int) -> tuple[np.ndarray, np.ndarray]:
        """Left level index and weight of the right level for u in [0, u[top]]."""
        x = np.clip(u / self.h, 0.0, top)
        j0 = np.minimum(np.floor(x).astype(np.int64), max(top - 1, 0))
        return j0, x - j0


def interp_lam(values: np.ndarray, i0: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Linear interpolation along the last axis (lam) of ``values``."""
    return values[..., i0] * (1.0 - weight) + values[..., i0 + 1] * weight

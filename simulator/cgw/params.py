"""Parameters of the Chehrazi–Glynn–Weber (CGW) credit-collections control problem.

Reference values follow Chehrazi, Glynn & Weber, "Dynamic Credit-Collections Optimization",
Management Science 65(6), 2019, as used in tact's known-optimum benchmark (docs/cgw.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from simulator.cgw.errors import CGWParameterError

#: The small action set of the benchmark (intensity boost per decision).
COARSE_ACTIONS: tuple[float, ...] = (0.0, 0.2, 0.5, 0.7, 1.0, 1.5)
#: The finer action set: 0 to 1.5 in steps of 0.1.
FINE_ACTIONS: tuple[float, ...] = tuple(round(0.1 * k, 10) for k in range(16))

ACTION_SETS: dict[str, tuple[float, ...]] = {"coarse": COARSE_ACTIONS, "fine": FINE_ACTIONS}


@dataclass(frozen=True, slots=True)
class CGWParams:
    """Model, discretisation and start-state parameters of the CGW problem.

    The account's repayment intensity ``lam`` decays towards ``lam_inf`` at rate ``kappa``;
    a repayment pays the fraction R ~ Uniform[r, 1] of the balance and raises the
    intensity by ``delta10 + delta11 * R``; an action of size a raises the intensity by
    ``delta2 * a`` at cost ``c * a``. Collections are discounted at rate ``rho``. The account
    is closed (episode terminates) once the balance falls below ``w_min``.
    """

    kappa: float = 0.7
    """Decay rate of the intensity towards ``lam_inf`` (1/time)."""
    lam_inf: float = 0.1
    """Long-run (baseline) repayment intensity; must be > 0."""
    delta10: float = 0.02
    """Fixed part of the intensity jump at a repayment."""
    delta11: float = 0.5
    """Part of the intensity jump proportional to the repaid fraction R."""
    delta2: float = 1.0
    """Intensity increase per unit of collection action."""
    r: float = 0.1
    """Lower end of the repaid fraction R ~ Uniform[r, 1]; must be in (0, 1)."""
    rho: float = 0.15
    """Continuous discount rate (1/time)."""
    c: float = 10.0
    """Cost per unit of collection action."""
    lam0: float = 0.11
    """Intensity at the start of an episode."""
    w0: float = 200.0
    """Balance at the start of an episode."""
    w_min: float = 1.0
    """The episode ends when the balance falls below this."""
    dt: float = 0.05
    """Decision period: the collector may act every ``dt`` time units."""
    actions: tuple[float, ...] = field(default=COARSE_ACTIONS)
    """Allowed action sizes; must start with 0.0 (no action) and be strictly increasing."""
    horizon_steps: int = 2000
    """Truncation: an episode is cut after this many steps. At the reference values the
    value left after 2000 steps (100 time units) is below w0 * exp(-rho * 100) ~ 6e-5."""

    def __post_init__(self) -> None:
        positive = {"kappa": self.kappa, "lam_inf": self.lam_inf, "rho": self.rho, "dt": self.dt}
        for name, value in positive.items():
            if not (value > 0 and math.isfinite(value)):
                raise CGWParameterError(f"CGWParams.{name} must be finite and > 0, got {value}")
        nonneg = {
            "delta10": self.delta10,
            "delta11": self.delta11,
            "delta2": self.delta2,
            "c": self.c,
        }
        for name, value in nonneg.items():
            if not (value >= 0 and math.isfinite(value)):
                raise CGWParameterError(f"CGWParams.{name} must be finite and >= 0, got {value}")
        if not 0.0 < self.r < 1.0:
            raise CGWParameterError(
                f"CGWParams.r must lie in (0, 1) so that every repayment cuts the balance "
                f"by a fraction in [r, 1]; got {self.r}"
            )
        if self.lam0 < self.lam_inf:
            raise CGWParameterError(
                f"CGWParams.lam0={self.lam0} is below lam_inf={self.lam_inf}; the intensity "
                f"never goes below its baseline, so start at lam0 >= lam_inf"
            )
        if not self.w0 >= self.w_min > 0:
            raise CGWParameterError(f"need w0 >= w_min > 0, got w0={self.w0}, w_min={self.w_min}")
        if len(self.actions) < 1 or self.actions[0] != 0.0:
            raise CGWParameterError(
                f"CGWParams.actions must start with 0.0 (the no-action choice), got {self.actions}"
            )
        if any(b <= a for a, b in zip(self.actions, self.actions[1:], strict=False)):
            raise CGWParameterError(
                f"CGWParams.actions must be strictly increasing, got {self.actions}"
            )
        if self.horizon_steps < 1:
            raise CGWParameterError(
                f"CGWParams.horizon_steps must be >= 1, got {self.horizon_steps}"
            )

    @property
    def gamma(self) -> float:
        """Per-step discount factor exp(-rho * dt) matching the continuous discounting."""
        return math.exp(-self.rho * self.dt)

    @property
    def mean_fraction(self) -> float:
        """E[R] for R ~ Uniform[r, 1]."""
        return 0.5 * (1.0 + self.r)


def params_with_actions(name: str, base: CGWParams | None = None) -> CGWParams:
    """Return ``base`` (default: reference parameters) with the named action set."""
    from dataclasses import replace

    if name not in ACTION_SETS:
        raise CGWParameterError(f"unknown action set {name!r}; choose one of {sorted(ACTION_SETS)}")
    return replace(base or CGWParams(), actions=ACTION_SETS[name])

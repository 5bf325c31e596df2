"""Tests that stay valid when checked continuously.

**Guardrails: a one-sided mixture sequential probability ratio test (mSPRT)** on the
difference of two proportions, as in Johari, Koomen, Pekelis & Walsh, "Always Valid
Inference: Continuous Monitoring of A/B Tests" (Operations Research 2022) — the test behind
Optimizely's stats engine. With ``θ̂ = p̂₁ − p̂₀`` (challenger minus champion), its variance
``V = p̂₁(1−p̂₁)/n₁ + p̂₀(1−p̂₀)/n₀`` and a normal mixture ``N(θ₀, τ²)`` over the effect, the
mixture likelihood ratio against ``H₀: θ = θ₀`` is

    Λ = sqrt(V / (V + τ²)) · exp(τ² (θ̂ − θ₀)² / (2 V (V + τ²)))

and ``H₀`` is rejected the first time ``Λ ≥ 1/α``. By Ville's inequality the chance of
*ever* rejecting a true ``H₀`` is at most ``α``, however often it is checked. We reject
only in the harmful direction (``θ̂ > θ₀``), which keeps the bound.

**Sample ratio mismatch:** Pearson's chi-square of the debtors per arm against the
configured shares, with the check-``k`` threshold ``α / (k (k + 1))``: those sum to ``α``
over all checks (a union bound), so continuous monitoring cannot inflate the false-alarm
rate beyond ``α``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True, slots=True)
class SequentialResult:
    statistic: float
    """The mixture likelihood ratio Λ (its log when very large is clipped at 1e300)."""
    threshold: float
    """1/α."""
    crossed: bool
    difference: float
    """θ̂ in the harmful direction (challenger worse by this much)."""


def _shrunk(x: int, n: int) -> float:
    """A rate for the variance only, kept off 0 and 1 (Agresti-style +½)."""
    return (x + 0.5) / (n + 1.0)


def msprt_harm(
    harm_events: tuple[int, int],
    harm_debtors: tuple[int, int],
    *,
    margin: float,
    alpha: float,
    tau: float,
) -> SequentialResult:
    """Is arm 1 worse than arm 0 by more than ``margin``? ``harm_events``: (arm 1, arm 0)
    debtors with the harmful outcome (e.g. a complaint; for a payment floor, debtors
    *without* a payment); ``harm_debtors``: debtors in each arm."""
    (x1, x0), (n1, n0) = harm_events, harm_debtors
    threshold = 1.0 / alpha
    if n1 == 0 or n0 == 0:
        return SequentialResult(0.0, threshold, False, 0.0)
    diff = x1 / n1 - x0 / n0
    q1, q0 = _shrunk(x1, n1), _shrunk(x0, n0)
    v = q1 * (1 - q1) / n1 + q0 * (1 - q0) / n0
    tau2 = tau * tau
    excess = diff - margin
    log_lr = 0.5 * math.log(v / (v + tau2)) + tau2 * excess * excess / (2 * v * (v + tau2))
    statistic = math.exp(min(log_lr, 690.0))
    return SequentialResult(statistic, threshold, excess > 0 and statistic >= threshold, diff)


@dataclass(frozen=True, slots=True)
class SrmResult:
    chi2: float
    p_value: float
    threshold: float
    alarm: bool
    check: int


def srm_check(
    counts: Sequence[int], shares: Sequence[float], *, alpha: float, check: int
) -> SrmResult:
    """Chi-square of ``counts`` against ``shares`` at check number ``check`` (1-based)."""
    assert check >= 1
    threshold = alpha / (check * (check + 1))
    total = sum(counts)
    live = [(c, s) for c, s in zip(counts, shares, strict=True) if s > 0]
    if total == 0 or len(live) < 2:
        return SrmResult(0.0, 1.0, threshold, False, check)
    chi2 = sum((c - total * s) ** 2 / (total * s) for c, s in live)
    chi2 += sum(c for c, s in zip(counts, shares, strict=True) if s <= 0) * 1e9
    p_value = float(stats.chi2.sf(chi2, len(live) - 1))
    return SrmResult(chi2, p_value, threshold, p_value < threshold, check)


__all__ = ["SequentialResult", "SrmResult", "msprt_harm", "srm_check"]

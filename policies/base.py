"""The policy interface: (observations, masks) → (treatment indices, propensities), batched.

This is the only thing the service and the simulator know about a policy. Masks follow
sb3-contrib's convention: ``True`` = allowed. A policy must never return a masked index;
:func:`check_decisions` enforces that for every policy in tests and in the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from engine.features import FEATURE_NAMES

FEATURE_INDEX: dict[str, int] = {name: i for i, name in enumerate(FEATURE_NAMES)}


@dataclass(frozen=True, slots=True)
class PolicyDecisions:
    """Chosen treatment index per row and the probability with which it was chosen: 1 for a
    deterministic choice (``rng=None``), the drawn index's probability when sampling. The
    service stores it as the logging propensity that off-policy evaluation divides by."""

    indices: np.ndarray  # int64 (n,)
    propensities: np.ndarray  # float64 (n,)


@runtime_checkable
class Policy(Protocol):
    """A decision rule over the shared catalogue."""

    name: str
    version: str

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Choose one allowed treatment per row.

        Args:
            observations: (n, N_FEATURES) float32 from :func:`engine.features.featurize`.
            masks: (n, len(CATALOGUE)) bool, True where the treatment is allowed.
            rng: source of randomness for stochastic policies; ``None`` = deterministic.
        """
        ...


class PolicyContractError(AssertionError):
    """A policy broke the interface (chose a blocked treatment, bad shapes)."""


def check_decisions(decisions: PolicyDecisions, masks: np.ndarray) -> None:
    """Raise if any chosen index is masked out or propensities are not probabilities."""
    n = masks.shape[0]
    if decisions.indices.shape != (n,) or decisions.propensities.shape != (n,):
        raise PolicyContractError(
            f"policy returned shapes {decisions.indices.shape}/{decisions.propensities.shape}, "
            f"expected ({n},)"
        )
    chosen_allowed = masks[np.arange(n), decisions.indices]
    if not chosen_allowed.all():
        bad = int(np.flatnonzero(~chosen_allowed)[0])
        raise PolicyContractError(
            f"policy chose blocked treatment {int(decisions.indices[bad])} for row {bad}"
        )
    p = decisions.propensities
    if not ((p > 0) & (p <= 1.0 + 1e-9)).all():
        raise PolicyContractError("propensities must lie in (0, 1]")


def first_allowed(preferences: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per row, the first index of ``preferences`` (n, k) that the mask allows, else WAIT (0).

    WAIT is always allowed by construction of the compliance mask (fail closed).
    """
    n = masks.shape[0]
    rows = np.arange(n)[:, None]
    allowed = masks[rows, preferences]  # (n, k)
    has_any = allowed.any(axis=1)
    first = np.argmax(allowed, axis=1)
    return np.where(has_any, preferences[np.arange(n), first], 0)

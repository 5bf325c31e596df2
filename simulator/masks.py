"""Where the simulator's action masks come from.

The batched engine never decides itself what is allowed: a :class:`MaskProvider` is
injected. The production provider is the compliance engine (``engine.compliance``,
the same rule files the service uses), through :func:`compliance_masks`. The only other
provider here, :class:`UnshieldedMasks`, allows everything and says so in its name: it
exists to test the behaviour dynamics in isolation and must never be used to produce
numbers that claim compliance (its runs report ``shielded=False``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from engine.catalogue import CATALOGUE
from engine.state import CaseBatch
from simulator.errors import MaskProviderError

if TYPE_CHECKING:
    from engine.compliance import ComplianceEngine


@runtime_checkable
class MaskProvider(Protocol):
    """Allowed treatments per row, for decisions at the start of each row's local day."""

    def mask_batch(self, batch: CaseBatch, local_dates: np.ndarray) -> np.ndarray:
        """(len(batch), len(CATALOGUE)) bool; ``local_dates`` is datetime64[D] per row."""
        ...


class UnshieldedMasks:
    """Allows every treatment. For dynamics tests only; not compliance."""

    shielded = False

    def mask_batch(self, batch: CaseBatch, local_dates: np.ndarray) -> np.ndarray:
        return np.ones((len(batch), len(CATALOGUE)), dtype=bool)


def compliance_masks() -> ComplianceEngine:
    """The compliance engine loaded from the repository's rule files (the shield).

    It is both the mask provider (numpy path) and the audit's verdict source
    (``durable_rules`` path)."""
    try:
        from engine.compliance import ComplianceEngine
    except ImportError as exc:
        raise MaskProviderError(
            "engine.compliance.ComplianceEngine is not available in this build "
            f"({exc}); the simulator cannot produce compliant masks without it. "
            "For dynamics-only experiments pass masks=UnshieldedMasks() explicitly."
        ) from exc
    return ComplianceEngine.load()


def is_shielded(provider: MaskProvider) -> bool:
    """False only for providers that declare ``shielded = False``."""
    return bool(getattr(provider, "shielded", True))


def checked_masks(provider: MaskProvider, batch: CaseBatch, local_dates: np.ndarray) -> np.ndarray:
    """Call the provider and check the contract the engine relies on."""
    masks = provider.mask_batch(batch, local_dates)
    expected = (len(batch), len(CATALOGUE))
    if masks.shape != expected or masks.dtype != np.bool_:
        raise MaskProviderError(
            f"{type(provider).__name__}.mask_batch returned {masks.dtype}{masks.shape}; "
            f"expected bool{expected}"
        )
    if len(batch) and not masks[:, CATALOGUE.WAIT_INDEX].all():
        raise MaskProviderError(
            f"{type(provider).__name__} blocked WAIT (index 0) for some rows; WAIT is the "
            "fail-closed default and must always be allowed"
        )
    return masks

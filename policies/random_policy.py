"""``random``: uniform over the treatments the compliance mask allows (WAIT included).

A floor for every comparison and a source of exploratory data with known propensities
(1 / number of allowed treatments), e.g. for off-policy evaluation.
"""

from __future__ import annotations

import numpy as np

from engine.features import feature_schema_hash
from policies.base import PolicyDecisions


class RandomPolicy:
    """Uniformly random among allowed treatments."""

    name = "random"
    version = f"1+{feature_schema_hash()}"

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Draw one allowed index per row; ``rng=None`` uses a fixed seed (reproducible)."""
        rng = rng if rng is not None else np.random.default_rng(0)
        allowed = masks.astype(bool)
        counts = allowed.sum(axis=1)
        if (counts == 0).any():
            raise ValueError("a mask row allows nothing; WAIT (index 0) must always be allowed")
        # The arg-max of i.i.d. uniforms over the allowed entries is uniform over them.
        scores = np.where(allowed, rng.random(allowed.shape), -1.0)
        indices = np.argmax(scores, axis=1).astype(np.int64)
        return PolicyDecisions(indices=indices, propensities=1.0 / counts.astype(np.float64))

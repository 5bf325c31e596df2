"""A trained MaskablePPO model as a batched CGW policy: (lam, w) arrays -> action indices."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from simulator.cgw.env import observe
from simulator.cgw.params import CGWParams

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO


class LearnedCGWPolicy:
    """Deterministic (greedy) actions of a trained model, on batches of raw states.

    The model sees exactly the env's observation (:func:`simulator.cgw.env.observe`) and
    an all-true action mask, as in training.
    """

    def __init__(self, model: MaskablePPO, params: CGWParams) -> None:
        self.model = model
        self.params = params

    def __call__(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Action indices for states (lam[i], w[i])."""
        obs = observe(lam, w, self.params)
        masks = np.ones((obs.shape[0], len(self.params.actions)), dtype=bool)
        actions, _ = self.model.predict(obs, deterministic=True, action_masks=masks)
        return np.asarray(actions, dtype=np.int64).reshape(-1)

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

    The model sees exactly the env's observation (:func:`simulator.cgw.env.observe`).
    With the all-true mask used in training, MaskablePPO's deterministic action is the
    argmax of the policy logits; we compute those directly because ``model.predict``
    adds ~1 ms of bookkeeping per call, and evaluation calls it once per step.
    """

    def __init__(self, model: MaskablePPO, params: CGWParams) -> None:
        self.model = model
        self.params = params

    def logits(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Policy logits (n, n_actions) for states (lam[i], w[i])."""
        import torch

        policy = self.model.policy
        policy.set_training_mode(False)
        obs = torch.as_tensor(observe(lam, w, self.params))
        with torch.no_grad():
            features = policy.extract_features(obs, policy.pi_features_extractor)
            # A tuple comes back only when actor and critic have separate feature extractors;
            # MlpPolicy shares one.
            assert not isinstance(features, tuple)
            latent = policy.mlp_extractor.forward_actor(features)
            return policy.action_net(latent).numpy()

    def __call__(self, lam: np.ndarray, w: np.ndarray) -> np.ndarray:
        """Action indices for states (lam[i], w[i])."""
        return np.argmax(self.logits(lam, w), axis=1).astype(np.int64)

"""Exploration over the allowed treatments only, with the exact propensity of the draw.

:class:`ExploringPolicy` wraps any policy. It asks the policy for its deterministic choice
(what the service would serve without exploration), builds a distribution over the
treatments the mask allows, draws from it and returns the draw's probability:

* ``epsilon``: ``(1-ε)`` on the policy's choice plus ``ε`` spread evenly over the allowed
  treatments — ``p(a) = (1-ε)·[a = choice] + ε / k`` with ``k`` allowed;
* ``softmax``: ``p(a) ∝ exp(s(a) / T)`` over the allowed treatments, where ``s`` is the
  policy's log-probability when it exposes ``probabilities(obs, masks)`` (a trained
  network), else 1 for its choice and 0 for the rest (a rule-based policy).

A blocked treatment always has probability 0, so exploration can never break a rule.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from policies.base import Policy, PolicyDecisions

ExplorationKind = Literal["none", "epsilon", "softmax"]


class ExploringPolicy:
    """``policy`` served with exploration (see the module docstring)."""

    def __init__(
        self,
        policy: Policy,
        kind: ExplorationKind,
        *,
        epsilon: float = 0.0,
        temperature: float = 1.0,
    ) -> None:
        if kind not in ("epsilon", "softmax"):
            raise ValueError(f"exploration kind {kind!r}: use 'epsilon' or 'softmax'")
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon {epsilon} must lie in [0, 1]")
        if temperature <= 0:
            raise ValueError(f"temperature {temperature} must be > 0")
        self.policy = policy
        self.kind = kind
        self.epsilon = epsilon
        self.temperature = temperature
        self.name = policy.name
        self.version = policy.version

    def distribution(self, observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """(n, len(CATALOGUE)) probabilities over the catalogue; 0 wherever masked."""
        masks = np.asarray(masks, dtype=bool)
        greedy = self.policy.act(observations, masks.copy(), None).indices
        n, k = masks.shape
        rows = np.arange(n)
        allowed = masks.sum(axis=1, keepdims=True).astype(np.float64)
        if self.kind == "epsilon":
            probs: np.ndarray = np.where(masks, self.epsilon / np.maximum(allowed, 1.0), 0.0)
            probs[rows, greedy] += 1.0 - self.epsilon
        else:
            scorer = getattr(self.policy, "probabilities", None)
            if callable(scorer):
                with np.errstate(divide="ignore"):
                    scores = np.log(np.asarray(scorer(observations, masks), dtype=np.float64))
            else:
                scores = np.zeros((n, k))
                scores[rows, greedy] = 1.0
            logits = np.where(masks, scores / self.temperature, -np.inf)
            logits -= logits.max(axis=1, keepdims=True)
            weights = np.where(masks, np.exp(logits), 0.0)
            probs = np.asarray(weights / weights.sum(axis=1, keepdims=True))
        return probs

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        probs = self.distribution(observations, masks)
        rng = rng if rng is not None else np.random.default_rng()
        cumulative = np.cumsum(probs, axis=1)
        u = np.asarray(rng.random(probs.shape[0]))[:, None] * cumulative[:, -1:]
        indices = np.minimum((cumulative <= u).sum(axis=1), probs.shape[1] - 1)
        # A draw can only land on a positive-probability (allowed) entry; guard rounding.
        zero = probs[np.arange(len(indices)), indices] <= 0
        if zero.any():
            indices[zero] = np.argmax(probs[zero], axis=1)
        propensities = probs[np.arange(len(indices)), indices]
        return PolicyDecisions(indices.astype(np.int64), propensities.astype(np.float64))


__all__ = ["ExplorationKind", "ExploringPolicy"]

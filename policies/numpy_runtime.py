"""A trained MaskablePPO actor evaluated in plain numpy: the torch-free serving runtime.

The service decides one case per call; importing torch (seconds, hundreds of MB) and
paying its per-call overhead for a 3-layer MLP is not worth it. This module re-implements
exactly the part of ``sb3_contrib``'s ``MaskableActorCriticPolicy`` that picks an action:

    features  = flatten(observation)                       (FlattenExtractor)
    latent    = act(W_k · … act(W_1 · features + b_1) … + b_k)   (mlp_extractor.policy_net)
    logits    = W_a · latent + b_a                          (action_net)
    masked    = where(mask, logits, -1e8)                   (MaskableCategorical.apply_masking)
    action    = argmax(masked)   or   sample(softmax(masked))

and is proven equal to SB3's ``predict`` / ``get_distribution`` by
``tests/policies/test_numpy_runtime.py``. Nothing here imports torch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from policies.base import PolicyDecisions

WEIGHTS_FILE = "policy_weights.npz"

MASKED_LOGIT = -1e8
"""What sb3-contrib's ``MaskableCategorical`` writes into a blocked action's logit
(``HUGE_NEG``). Using the same finite value, not ``-inf``, keeps the softmax identical:
exp(-1e8 - max) is exactly 0 in float32 and float64 alike."""


_BOOL = np.dtype(np.bool_)
_FLOAT32 = np.dtype(np.float32)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def _leaky_relu(x: np.ndarray) -> np.ndarray:
    return np.where(x >= 0.0, x, 0.01 * x)  # torch.nn.LeakyReLU default slope


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0.0, x, np.expm1(np.minimum(x, 0.0)))  # torch.nn.ELU, alpha = 1


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": _relu,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
}
"""Activations the runtime can evaluate, by the name recorded in the model card."""


@dataclass(frozen=True)
class ActorWeights:
    """The actor network's parameters, in torch's ``nn.Linear`` layout (out × in)."""

    hidden: tuple[tuple[np.ndarray, np.ndarray], ...]
    """(weight (out, in), bias (out,)) of each hidden layer, input side first."""
    action_weight: np.ndarray
    """(n_actions, last hidden width) weight of ``action_net``."""
    action_bias: np.ndarray
    """(n_actions,) bias of ``action_net``."""
    activation: str
    """Key of :data:`ACTIVATIONS` applied after every hidden layer."""

    def __post_init__(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation {self.activation!r} is not supported by the numpy runtime; "
                f"train with one of {sorted(ACTIVATIONS)} (policy_kwargs activation_fn)"
            )
        width = self.n_features
        for i, (weight, bias) in enumerate(self.hidden):
            if weight.ndim != 2 or weight.shape[1] != width or bias.shape != (weight.shape[0],):
                raise ValueError(
                    f"hidden layer {i} has weight {weight.shape} / bias {bias.shape}, "
                    f"expected (k, {width}) / (k,)"
                )
            width = weight.shape[0]
        if self.action_weight.ndim != 2 or self.action_weight.shape[1] != width:
            raise ValueError(
                f"action layer weight is {self.action_weight.shape}, expected (n_actions, {width})"
            )
        if self.action_bias.shape != (self.action_weight.shape[0],):
            raise ValueError(
                f"action layer bias is {self.action_bias.shape}, "
                f"expected ({self.action_weight.shape[0]},)"
            )

    @property
    def n_features(self) -> int:
        first = self.hidden[0][0] if self.hidden else self.action_weight
        return int(first.shape[1])

    @property
    def n_actions(self) -> int:
        return int(self.action_weight.shape[0])

    @property
    def net_arch(self) -> list[int]:
        return [int(weight.shape[0]) for weight, _ in self.hidden]

    def save(self, path: Path) -> None:
        """Write the weights as an uncompressed ``.npz`` (no pickles: safe to load)."""
        arrays: dict[str, np.ndarray] = {
            "activation": np.array(self.activation),
            "action_weight": self.action_weight.astype(np.float32),
            "action_bias": self.action_bias.astype(np.float32),
        }
        for i, (weight, bias) in enumerate(self.hidden):
            arrays[f"hidden_{i}_weight"] = weight.astype(np.float32)
            arrays[f"hidden_{i}_bias"] = bias.astype(np.float32)
        with path.open("wb") as f:
            np.savez(f, **arrays)  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: Path) -> ActorWeights:
        """Read weights written by :meth:`save` (raises OSError, KeyError, ValueError)."""
        with np.load(path, allow_pickle=False) as data:
            hidden: list[tuple[np.ndarray, np.ndarray]] = []
            while f"hidden_{len(hidden)}_weight" in data:
                i = len(hidden)
                hidden.append((data[f"hidden_{i}_weight"], data[f"hidden_{i}_bias"]))
            return cls(
                hidden=tuple(hidden),
                action_weight=data["action_weight"],
                action_bias=data["action_bias"],
                activation=str(data["activation"]),
            )

    def digest(self) -> str:
        """Short content hash of the parameters (identifies the exact network in audits)."""
        h = hashlib.sha256(self.activation.encode())
        for weight, bias in (*self.hidden, (self.action_weight, self.action_bias)):
            h.update(np.ascontiguousarray(weight, dtype=np.float32).tobytes())
            h.update(np.ascontiguousarray(bias, dtype=np.float32).tobytes())
        return h.hexdigest()[:12]


class NumpyPolicy:
    """A trained actor served without torch; implements :class:`policies.base.Policy`.

    Deterministic (``rng=None``): the allowed treatment with the highest logit, as SB3's
    ``predict(..., deterministic=True)``. With an ``rng``: a draw from the masked softmax.
    The propensity is the probability with which the choice was made, as the ledger stores
    it for off-policy evaluation: 1 for the deterministic argmax, the masked-softmax
    probability of the drawn index when sampling. The network's own confidence in its
    argmax is :meth:`probabilities`, not a propensity.
    """

    def __init__(self, weights: ActorWeights, *, name: str, version: str) -> None:
        self.name = name
        self.version = version
        self.weights = weights
        self.n_features = weights.n_features
        self.n_actions = weights.n_actions
        # Pre-transposed float64 copies: x @ W.T without a transpose per call, and float64
        # so that the runtime's own rounding stays far below torch's float32 rounding.
        self._hidden = tuple(
            (np.ascontiguousarray(w.T, dtype=np.float64), b.astype(np.float64))
            for w, b in weights.hidden
        )
        self._action_weight_t = np.ascontiguousarray(weights.action_weight.T, dtype=np.float64)
        self._action_bias = weights.action_bias.astype(np.float64)
        self._activation = ACTIVATIONS[weights.activation]
        self._one_observation_shape = (1, self.n_features)
        self._one_mask_shape = (1, self.n_actions)

    def logits(self, observations: np.ndarray) -> np.ndarray:
        """Unmasked action logits, shape (n, n_actions), float64."""
        # float32 first, as SB3 feeds the network float32: a float64 caller gets the same
        # rounding of its inputs as in training.
        h = np.asarray(observations, dtype=np.float32).astype(np.float64)
        for weight_t, bias in self._hidden:
            h = h @ weight_t
            h += bias
            h = self._activation(h)
        logits: np.ndarray = h @ self._action_weight_t
        logits += self._action_bias
        return logits

    def probabilities(self, observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Masked softmax, shape (n, n_actions); exactly 0 where the mask is False."""
        allowed = self._check_inputs(observations, masks)
        self._raise_for_empty_rows(allowed)
        masked = np.where(allowed, self.logits(observations), MASKED_LOGIT)
        z = np.exp(masked - masked.max(axis=1, keepdims=True))
        probs: np.ndarray = z / z.sum(axis=1, keepdims=True)
        return probs

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Choose one allowed treatment per row (see the class docstring)."""
        # The service decides one case per call: a well-formed single row (checked here in
        # plain Python) takes the one-row path, anything else the batch path, which also
        # converts and validates whatever it was given (lists, other dtypes, bad shapes).
        if (
            type(observations) is np.ndarray
            and type(masks) is np.ndarray
            and observations.shape == self._one_observation_shape
            and masks.shape == self._one_mask_shape
            and masks.dtype is _BOOL
        ):
            return self._act_one(observations, masks, rng)
        return self._act_batch(observations, masks, rng)

    def _act_one(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None
    ) -> PolicyDecisions:
        """:meth:`_act_batch` for one row, with fewer and cheaper numpy calls.

        It exists because at batch size 1 the cost is per numpy call (0.3 to 1.5 µs each),
        not per element, and the service pays it on every decision: this path works on 1-D
        vectors (``ndarray.dot`` of a vector dispatches faster than a 2-D ``@`` and runs the
        same BLAS kernel), writes in place, and needs no row-index arrays. It performs the
        same floating-point operations in the same order as :meth:`_act_batch` on that one
        row, and draws the same single number from ``rng``, so its decisions are
        bit-identical (``tests/policies/test_numpy_runtime.py`` checks it). ``act`` has
        already checked the shapes and the mask's dtype.
        """
        x = observations[0]
        if x.dtype is not _FLOAT32:
            x = x.astype(np.float32)  # the rounding a float64 caller gets on the batch path
        h = x.astype(np.float64)
        for weight_t, bias in self._hidden:
            h = h.dot(weight_t)
            h += bias
            h = self._activation(h)
        logits = h.dot(self._action_weight_t)
        logits += self._action_bias
        allowed = masks[0]
        masked: np.ndarray = np.where(allowed, logits, MASKED_LOGIT)
        if rng is None:
            chosen = int(masked.argmax())
            propensity = 1.0
        else:
            masked -= np.maximum.reduce(masked)
            np.exp(masked, out=masked)
            total = np.add.reduce(masked)
            # The batch path's inverse-CDF draw (``rng.random()`` is the same one draw as
            # ``rng.random(1)``). Counting, not a binary search, keeps a NaN u (NaN logits)
            # on index 0 as in the batch path.
            u = rng.random() * total
            steps = int(np.count_nonzero(np.less_equal(masked.cumsum(), u)))
            chosen = min(steps, self.n_actions - 1)
            propensity = masked[chosen] / total
        if not allowed[chosen]:  # as on the batch path: only an empty mask gets here
            self._raise_for_empty_rows(masks)
            raise AssertionError("numpy runtime chose a blocked treatment; this is a bug")
        return PolicyDecisions(
            indices=np.array([chosen], dtype=np.int64),
            propensities=np.array([propensity], dtype=np.float64),
        )

    def _act_batch(
        self, observations: np.ndarray, masks: np.ndarray, rng: np.random.Generator | None
    ) -> PolicyDecisions:
        """Any number of rows; what :meth:`act` runs for everything but a single row."""
        allowed = self._check_inputs(observations, masks)
        masked = np.where(allowed, self.logits(observations), MASKED_LOGIT)
        n = masked.shape[0]
        rows = np.arange(n)
        if rng is None:
            chosen = masked.argmax(axis=1)
            propensities = np.ones(n)
        else:
            masked -= masked.max(axis=1, keepdims=True)
            z = np.exp(masked, out=masked)
            total = z.sum(axis=1)
            # Inverse-CDF draw. A blocked action has z == 0, so its CDF step is flat and
            # "first index whose CDF exceeds u" can never land on it.
            cdf = np.cumsum(z, axis=1)
            u = rng.random(n) * total
            chosen = np.minimum((cdf <= u[:, None]).sum(axis=1), self.n_actions - 1)
            propensities = z[rows, chosen] / total
        # A masked index must never leave this function. The only way to get one is a row
        # with nothing allowed; it is diagnosed here, off the hot path.
        if not allowed[rows, chosen].all():
            self._raise_for_empty_rows(allowed)
            raise AssertionError("numpy runtime chose a blocked treatment; this is a bug")
        return PolicyDecisions(
            indices=chosen.astype(np.int64, copy=False), propensities=propensities
        )

    def _check_inputs(self, observations: np.ndarray, masks: np.ndarray) -> np.ndarray:
        observations = np.asarray(observations)
        if observations.ndim != 2 or observations.shape[1] != self.n_features:
            raise ValueError(
                f"observations have shape {observations.shape}; policy {self.name!r} expects "
                f"(n, {self.n_features}) from engine.features.featurize"
            )
        allowed = np.asarray(masks, dtype=bool)
        if allowed.shape != (observations.shape[0], self.n_actions):
            raise ValueError(
                f"masks have shape {allowed.shape}; expected "
                f"({observations.shape[0]}, {self.n_actions}), one column per catalogue entry"
            )
        return allowed

    @staticmethod
    def _raise_for_empty_rows(allowed: np.ndarray) -> None:
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            raise ValueError(
                f"mask row {int(empty[0])} allows no treatment; the compliance mask always "
                "allows WAIT (index 0), so this mask was not built by it"
            )


__all__ = ["ACTIVATIONS", "MASKED_LOGIT", "WEIGHTS_FILE", "ActorWeights", "NumpyPolicy"]

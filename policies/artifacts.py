"""Trained policy artifacts: export a MaskablePPO model, load it back for serving.

An artifact is a folder ``policies/models/<name>/`` holding

==================  ================================================================
file                what it is for
==================  ================================================================
model.zip           the full SB3 model (``MaskablePPO.save``): resume training, audit
policy_weights.npz  the actor network only, for the torch-free numpy runtime
model_card.json     provenance + the feature-schema and catalogue hashes
==================  ================================================================

Serving (:func:`load_rl_policy`) reads only the card and the ``.npz`` and never imports
torch or stable-baselines3; exporting (:func:`export_policy`) needs them and imports them
when called. The service refuses an artifact whose hashes differ from the running code:
a network trained on another feature vector or catalogue would read the wrong inputs or
choose a treatment that now means something else.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import ValidationError

from engine.catalogue import CATALOGUE
from engine.errors import PolicyLoadError
from engine.features import FEATURE_VERSION, N_FEATURES, feature_schema_hash
from policies.model_card import MODEL_CARD_FILE, ModelCard, current_code_revision
from policies.numpy_runtime import WEIGHTS_FILE, ActorWeights, NumpyPolicy

if TYPE_CHECKING:
    from sb3_contrib import MaskablePPO

MODELS_DIR = Path(__file__).resolve().parent / "models"
"""Where shipped and trained artifacts live; ``rl:<name>`` resolves to ``MODELS_DIR/<name>``."""
MODEL_FILE = "model.zip"


# --------------------------------------------------------------------------- export


def extract_actor_weights(model: MaskablePPO) -> ActorWeights:
    """Copy the actor network of a MaskablePPO model into numpy arrays.

    Raises ValueError (saying what to change in the training set-up) when the model uses
    something the numpy runtime does not reproduce: a features extractor other than
    flatten, observation normalisation, a non-discrete action space, an unknown activation.
    """
    # Imported here, not at module level: serving must not pay for torch.
    from gymnasium import spaces
    from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
    from stable_baselines3.common.torch_layers import FlattenExtractor
    from torch import nn

    policy = model.policy
    if not isinstance(policy, MaskableActorCriticPolicy):
        raise ValueError(
            f"expected a MaskablePPO actor-critic policy, got {type(policy).__name__}; "
            "train with sb3_contrib.MaskablePPO('MlpPolicy', ...)"
        )
    if not isinstance(policy.pi_features_extractor, FlattenExtractor):
        raise ValueError(
            f"the actor uses {type(policy.pi_features_extractor).__name__}; the numpy runtime "
            "only reproduces FlattenExtractor: remove features_extractor_class from policy_kwargs"
        )
    obs_space, action_space = policy.observation_space, policy.action_space
    if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
        raise ValueError(f"observation space must be a 1-D Box, got {obs_space}")
    if not isinstance(action_space, spaces.Discrete):
        raise ValueError(f"action space must be Discrete, got {action_space}")
    if model.get_vec_normalize_env() is not None:
        raise ValueError(
            "the model was trained behind VecNormalize; the numpy runtime feeds the raw "
            "featurizer output (already scaled to about [0, 4]): train without VecNormalize"
        )

    hidden: list[tuple[np.ndarray, np.ndarray]] = []
    activations: set[str] = set()
    for module in policy.mlp_extractor.policy_net:
        if isinstance(module, nn.Linear):
            hidden.append(_linear_arrays(module))
        else:
            activations.add(_activation_name(module))
    if len(activations) > 1:
        raise ValueError(f"the actor mixes activations {sorted(activations)}; use one")
    action_weight, action_bias = _linear_arrays(policy.action_net)
    return ActorWeights(
        hidden=tuple(hidden),
        action_weight=action_weight,
        action_bias=action_bias,
        activation=activations.pop() if activations else "tanh",  # no hidden layer: unused
    )


def _linear_arrays(layer: Any) -> tuple[np.ndarray, np.ndarray]:
    weight = layer.weight.detach().cpu().numpy().astype(np.float32)
    bias = layer.bias.detach().cpu().numpy().astype(np.float32)
    return weight, bias


def _activation_name(module: Any) -> str:
    from torch import nn

    if isinstance(module, nn.Tanh):
        return "tanh"
    if isinstance(module, nn.ReLU):
        return "relu"
    if isinstance(module, nn.LeakyReLU) and module.negative_slope == 0.01:
        return "leaky_relu"
    if isinstance(module, nn.ELU) and module.alpha == 1.0:
        return "elu"
    raise ValueError(
        f"activation {module!r} is not reproduced by the numpy runtime; use policy_kwargs "
        "activation_fn=torch.nn.Tanh, ReLU, LeakyReLU() or ELU() with default parameters"
    )


def build_model_card(
    model: MaskablePPO,
    *,
    name: str,
    scenario: str,
    seed: int,
    ruleset_version: str,
    training_wall_time_s: float,
    timesteps: int,
    run_config: dict[str, Any] | None = None,
    evaluation: dict[str, Any] | None = None,
) -> ModelCard:
    """A card for ``model`` with architecture, hashes and code revision filled in from the
    model and the running code; the caller supplies what only the trainer knows."""
    weights = extract_actor_weights(model)
    return ModelCard(
        name=name,
        algo=type(model).__name__,
        run_config=dict(run_config or {}),
        scenario=scenario,
        seed=seed,
        code_revision=current_code_revision(),
        ruleset_version=ruleset_version,
        feature_schema_hash=feature_schema_hash(),
        catalogue_hash=CATALOGUE.content_hash,
        n_features=weights.n_features,
        n_actions=weights.n_actions,
        net_arch=weights.net_arch,
        activation=weights.activation,
        training_wall_time_s=training_wall_time_s,
        timesteps=timesteps,
        evaluation=dict(evaluation or {}),
    )


def export_policy(model: MaskablePPO, out_dir: Path | str, card: ModelCard) -> Path:
    """Save ``model`` as an artifact folder (model.zip, policy_weights.npz, model_card.json).

    The card must describe this model on this code: its sizes, architecture and hashes are
    checked against the model and ``engine``; a mismatch raises ValueError before anything
    is written. The card is written last, so a folder with a card is a complete artifact.
    Returns the folder.
    """
    directory = Path(out_dir)
    weights = extract_actor_weights(model)
    problems = _card_vs_weights(card, weights) + _card_vs_code(card)
    if problems:
        raise ValueError(
            "model card does not describe this model on this code: "
            + "; ".join(problems)
            + " (build it with policies.artifacts.build_model_card)"
        )
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / MODEL_FILE)
    tmp = directory / (WEIGHTS_FILE + ".tmp")
    weights.save(tmp)
    os.replace(tmp, directory / WEIGHTS_FILE)
    card.write(directory)
    return directory


# --------------------------------------------------------------------------- load


def available_models(models_root: Path | None = None) -> list[str]:
    """Names of the artifact folders (those with a model card) under ``models_root``."""
    root = models_root or MODELS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_CARD_FILE).is_file())


def resolve_model_dir(name_or_path: str | Path, models_root: Path | None = None) -> Path:
    """The artifact folder for a model name (under ``models_root``) or an explicit path."""
    text = str(name_or_path).strip()
    if not text:
        raise PolicyLoadError(
            "empty model name; use rl:<name> with a folder name under "
            f"{models_root or MODELS_DIR}, or rl:<path to an artifact folder>"
        )
    path = Path(text).expanduser()
    # A bare name is a folder under the models root; anything path-like is taken as given.
    if path.is_absolute() or len(path.parts) > 1 or text.startswith("."):
        return path
    return (models_root or MODELS_DIR) / text


def read_model_card(name_or_path: str | Path, models_root: Path | None = None) -> ModelCard:
    """The card of an artifact, checked for presence and validity (not for compatibility)."""
    directory = resolve_model_dir(name_or_path, models_root)
    card_path = directory / MODEL_CARD_FILE
    if not directory.is_dir() or not card_path.is_file():
        root = models_root or MODELS_DIR
        names = available_models(root)
        listing = ", ".join(names) if names else "none (train one with `tact train`)"
        what = "no artifact folder" if not directory.is_dir() else f"no {MODEL_CARD_FILE} in"
        raise PolicyLoadError(
            f"cannot load policy {str(name_or_path)!r}: {what} {directory}; "
            f"models available under {root}: {listing}"
        )
    try:
        return ModelCard.read(directory)
    except (OSError, ValueError, ValidationError) as exc:
        raise PolicyLoadError(
            f"model card {card_path} is unreadable or invalid ({exc}); re-export the model "
            "with policies.artifacts.export_policy"
        ) from exc


def check_compatible(card: ModelCard, *, where: Path | str) -> None:
    """Raise PolicyLoadError unless the card's hashes and sizes match the running code."""
    problems = _card_vs_code(card)
    if problems:
        raise PolicyLoadError(
            f"refusing to serve policy {card.name!r} from {where}: "
            + "; ".join(problems)
            + f". Retrain it on this code with `tact train` (it was trained on scenario "
            f"{card.scenario!r}, seed {card.seed}, code revision {card.code_revision}), "
            "or serve a model trained on the running code."
        )


def load_rl_policy(name_or_path: str | Path, *, models_root: Path | None = None) -> NumpyPolicy:
    """Load a trained policy for serving, as a torch-free :class:`NumpyPolicy`.

    ``name_or_path`` is a folder name under ``policies/models/`` (or ``models_root``) or a
    path to an artifact folder. Raises PolicyLoadError when the folder or a file is
    missing, the card is invalid, or the model was trained on another feature schema or
    treatment catalogue than the running code.
    """
    directory = resolve_model_dir(name_or_path, models_root)
    card = read_model_card(name_or_path, models_root)
    check_compatible(card, where=directory)
    weights_path = directory / WEIGHTS_FILE
    if not weights_path.is_file():
        raise PolicyLoadError(
            f"policy {card.name!r} at {directory} has no {WEIGHTS_FILE}; re-export it with "
            "policies.artifacts.export_policy (model.zip alone cannot be served without torch)"
        )
    try:
        weights = ActorWeights.load(weights_path)
    except (OSError, KeyError, ValueError) as exc:
        raise PolicyLoadError(
            f"{weights_path} is unreadable or malformed ({exc}); re-export the model with "
            "policies.artifacts.export_policy"
        ) from exc
    problems = _card_vs_weights(card, weights)
    if problems:
        raise PolicyLoadError(
            f"{weights_path} does not match its model card: {'; '.join(problems)}; "
            "the folder mixes files of two exports: re-export the model"
        )
    return NumpyPolicy(
        weights, name=f"rl:{card.name}", version=f"{card.algo.lower()}-{weights.digest()}"
    )


def load_sb3_model(name_or_path: str | Path, *, models_root: Path | None = None) -> MaskablePPO:
    """The full SB3 model of an artifact (imports torch), e.g. to resume training or audit.

    Refuses incompatible artifacts like :func:`load_rl_policy`.
    """
    directory = resolve_model_dir(name_or_path, models_root)
    card = read_model_card(name_or_path, models_root)
    check_compatible(card, where=directory)
    if not (directory / MODEL_FILE).is_file():
        raise PolicyLoadError(f"policy {card.name!r} at {directory} has no {MODEL_FILE}")
    from sb3_contrib import MaskablePPO

    return MaskablePPO.load(directory / MODEL_FILE, device="cpu")


# --------------------------------------------------------------------------- checks


def _card_vs_code(card: ModelCard) -> list[str]:
    problems = []
    if card.feature_schema_hash != feature_schema_hash():
        problems.append(
            f"feature schema hash differs: the model was trained with {card.feature_schema_hash}"
            f", the running engine.features has {feature_schema_hash()} (FEATURE_VERSION "
            f"{FEATURE_VERSION}, {N_FEATURES} features), so the network would read the wrong "
            "inputs"
        )
    if card.catalogue_hash != CATALOGUE.content_hash:
        problems.append(
            f"catalogue hash differs: the model was trained with {card.catalogue_hash}, the "
            f"running engine.catalogue has {CATALOGUE.content_hash} ({len(CATALOGUE)} "
            "treatments), so its action indices would mean other treatments"
        )
    if not problems and (card.n_features, card.n_actions) != (N_FEATURES, len(CATALOGUE)):
        problems.append(
            f"the card says {card.n_features} features × {card.n_actions} actions, the running "
            f"code has {N_FEATURES} × {len(CATALOGUE)}"
        )
    return problems


def _card_vs_weights(card: ModelCard, weights: ActorWeights) -> list[str]:
    expected = (card.n_features, card.n_actions, list(card.net_arch), card.activation)
    actual = (weights.n_features, weights.n_actions, weights.net_arch, weights.activation)
    names = ("n_features", "n_actions", "net_arch", "activation")
    return [
        f"{field} is {want} in the card but {got} in the network"
        for field, want, got in zip(names, expected, actual, strict=True)
        if want != got
    ]


__all__ = [
    "MODELS_DIR",
    "MODEL_FILE",
    "available_models",
    "build_model_card",
    "check_compatible",
    "export_policy",
    "extract_actor_weights",
    "load_rl_policy",
    "load_sb3_model",
    "read_model_card",
    "resolve_model_dir",
]

"""The model card: what a trained policy artifact is, how it was made, and what it needs.

Every artifact under ``policies/models/<name>/`` carries a ``model_card.json``. The two
hashes in it (feature schema, treatment catalogue) are the train/serve parity check: the
service refuses to serve a network whose inputs or outputs would mean something else in
the running code. Everything else in the card is provenance for a reader or an auditor.

This module imports neither torch nor stable-baselines3: the service reads cards on the
serving path.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MODEL_CARD_FILE = "model_card.json"
CARD_VERSION = 1


class ModelCard(BaseModel):
    """Provenance and compatibility record of one trained policy artifact."""

    # Unknown keys are kept (not rejected) so that a card written by a newer tact still
    # loads in an older service; the hashes below are what decides compatibility.
    model_config = ConfigDict(extra="allow", frozen=True)

    card_version: int = CARD_VERSION
    """Format version of this card; bumped when a field changes meaning."""
    name: str
    """Artifact name: the folder name under ``policies/models/`` and the ``rl:<name>`` spec."""
    algo: str = "MaskablePPO"
    """Training algorithm (sb3-contrib class name)."""
    run_config: dict[str, Any] = Field(default_factory=dict)
    """Every hyperparameter of the training run, as logged by the trainer."""
    scenario: str
    """Simulator scenario the policy was trained on (e.g. ``nordic-telecom``)."""
    seed: int
    """Seed of the training run."""
    code_revision: str
    """``git rev-parse HEAD`` of the code that trained it, or ``unknown``."""
    ruleset_version: str
    """Version of the compliance rule files used as the shield during training."""
    feature_schema_hash: str
    """:func:`engine.features.feature_schema_hash` at training time."""
    catalogue_hash: str
    """``engine.catalogue.CATALOGUE.content_hash`` at training time."""
    n_features: int
    """Width of the observation vector the network reads."""
    n_actions: int
    """Number of logits the network outputs (the catalogue size)."""
    net_arch: list[int]
    """Hidden layer widths of the actor (policy) network, input side first."""
    activation: str
    """Activation between hidden layers: one of the numpy runtime's ``ACTIVATIONS``."""
    training_wall_time_s: float
    """Wall-clock seconds the training took."""
    timesteps: int
    """Environment steps the policy was trained for."""
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    """When the artifact was exported (UTC)."""
    evaluation: dict[str, Any] = Field(default_factory=dict)
    """Evaluation results (free form: scenario → metric → value / interval)."""

    def write(self, directory: Path) -> Path:
        """Write the card as ``<directory>/model_card.json`` and return its path."""
        path = directory / MODEL_CARD_FILE
        path.write_text(self.model_dump_json(indent=2) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, directory: Path) -> ModelCard:
        """Read ``<directory>/model_card.json`` (raises OSError / pydantic.ValidationError)."""
        return cls.model_validate_json((directory / MODEL_CARD_FILE).read_text(encoding="utf-8"))


def current_code_revision(repo_root: Path | None = None) -> str:
    """``git rev-parse HEAD`` of the tact checkout, with ``-dirty`` appended when tracked
    files differ from it (the commit alone would not reproduce the run); ``unknown``
    outside a git checkout."""
    root = repo_root or Path(__file__).resolve().parent.parent
    revision = _git(root, "rev-parse", "HEAD")
    if not revision:
        return "unknown"
    changes = _git(root, "status", "--porcelain", "--untracked-files=no")
    return f"{revision}-dirty" if changes else revision


def _git(root: Path, *args: str) -> str:
    """Stripped stdout of a git command, or "" when git is missing or fails."""
    try:
        result = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


__all__ = ["CARD_VERSION", "MODEL_CARD_FILE", "ModelCard", "current_code_revision"]

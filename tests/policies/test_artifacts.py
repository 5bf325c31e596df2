"""Artifacts: export → load round trip, the model card, and the refusals that protect serving."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

from engine.catalogue import CATALOGUE
from engine.errors import PolicyLoadError
from engine.features import N_FEATURES, feature_schema_hash
from policies.artifacts import (
    MODEL_FILE,
    available_models,
    build_model_card,
    export_policy,
    load_rl_policy,
    load_sb3_model,
)
from policies.model_card import MODEL_CARD_FILE, ModelCard
from policies.numpy_runtime import WEIGHTS_FILE
from policies.registry import load_policy
from policies.synthetic_env import SyntheticMaskedEnv, random_masks, random_observations

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks: torch's thread pool only spins against the other test worker."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model() -> MaskablePPO:
    return MaskablePPO("MlpPolicy", SyntheticMaskedEnv(), n_steps=64, seed=7, device="cpu")


@pytest.fixture(scope="module")
def card(model: MaskablePPO) -> ModelCard:
    return build_model_card(
        model,
        name="demo",
        scenario="synthetic",
        seed=7,
        ruleset_version="2025.1",
        training_wall_time_s=1.5,
        timesteps=0,
        run_config={"learning_rate": 3e-4, "n_steps": 64},
        evaluation={"synthetic": {"reward": 0.1}},
    )


@pytest.fixture(scope="module")
def models_root(
    model: MaskablePPO, card: ModelCard, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    root = tmp_path_factory.mktemp("models")
    export_policy(model, root / "demo", card)
    return root


@pytest.fixture
def artifact_copy(models_root: Path, tmp_path: Path) -> Path:
    """A private copy of the exported artifact that a test may damage."""
    return Path(shutil.copytree(models_root / "demo", tmp_path / "demo"))


def _edit_card(directory: Path, **changes: object) -> None:
    path = directory / MODEL_CARD_FILE
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def test_export_writes_the_three_files_and_a_complete_card(
    models_root: Path, card: ModelCard
) -> None:
    directory = models_root / "demo"
    assert {p.name for p in directory.iterdir()} == {MODEL_FILE, WEIGHTS_FILE, MODEL_CARD_FILE}
    stored = ModelCard.read(directory)
    assert stored == card
    assert stored.feature_schema_hash == feature_schema_hash()
    assert stored.catalogue_hash == CATALOGUE.content_hash
    assert (stored.n_features, stored.n_actions) == (N_FEATURES, len(CATALOGUE))
    assert (stored.net_arch, stored.activation) == ([64, 64], "tanh")
    assert stored.algo == "MaskablePPO"
    assert stored.code_revision  # a commit id, or "unknown" outside git
    assert stored.run_config["n_steps"] == 64
    assert stored.evaluation == {"synthetic": {"reward": 0.1}}
    assert available_models(models_root) == ["demo"]


def test_round_trip_gives_the_same_decisions(models_root: Path, model: MaskablePPO) -> None:
    rng = np.random.default_rng(0)
    obs, masks = random_observations(rng, 2_000), random_masks(rng, 2_000, 0.3)
    expected, _ = model.predict(obs, action_masks=masks, deterministic=True)
    by_name = load_rl_policy("demo", models_root=models_root)
    by_path = load_rl_policy(models_root / "demo")
    via_registry = load_policy(f"rl:{models_root / 'demo'}")
    for policy in (by_name, by_path, via_registry):
        assert policy.name == "rl:demo"
        np.testing.assert_array_equal(policy.act(obs, masks).indices, expected)
    assert by_name.version == by_path.version  # identifies the weights, not the path
    reloaded = load_sb3_model("demo", models_root=models_root)
    again, _ = reloaded.predict(obs, action_masks=masks, deterministic=True)
    np.testing.assert_array_equal(again, expected)


@pytest.mark.parametrize(
    ("field", "what"), [("feature_schema_hash", "feature schema"), ("catalogue_hash", "catalogue")]
)
def test_refuses_a_model_trained_on_another_schema(
    artifact_copy: Path, field: str, what: str
) -> None:
    _edit_card(artifact_copy, **{field: "0123456789abcdef"})
    with pytest.raises(PolicyLoadError) as info:
        load_rl_policy(artifact_copy)
    message = str(info.value)
    assert f"{what} hash differs" in message
    assert "0123456789abcdef" in message  # what the model was trained with
    current = feature_schema_hash() if field == "feature_schema_hash" else CATALOGUE.content_hash
    assert current in message  # what the running code has
    assert "tact train" in message  # what to do
    with pytest.raises(PolicyLoadError, match="hash differs"):
        load_sb3_model(artifact_copy)


def test_missing_model_names_the_path_and_lists_available_models(models_root: Path) -> None:
    with pytest.raises(PolicyLoadError) as info:
        load_rl_policy("no-such-model", models_root=models_root)
    message = str(info.value)
    assert str(models_root / "no-such-model") in message
    assert "demo" in message
    with pytest.raises(PolicyLoadError, match="none"):
        load_rl_policy("no-such-model", models_root=models_root / "empty")


def test_missing_or_damaged_files_are_reported(artifact_copy: Path) -> None:
    (artifact_copy / WEIGHTS_FILE).unlink()
    with pytest.raises(PolicyLoadError, match=f"no {WEIGHTS_FILE}.*re-export"):
        load_rl_policy(artifact_copy)
    (artifact_copy / MODEL_CARD_FILE).write_text("{not json")
    with pytest.raises(PolicyLoadError, match="invalid"):
        load_rl_policy(artifact_copy)
    (artifact_copy / MODEL_CARD_FILE).unlink()
    with pytest.raises(PolicyLoadError, match=f"no {MODEL_CARD_FILE}"):
        load_rl_policy(artifact_copy)


def test_weights_that_disagree_with_the_card_are_refused(artifact_copy: Path) -> None:
    _edit_card(artifact_copy, net_arch=[32, 32])
    with pytest.raises(PolicyLoadError, match="net_arch"):
        load_rl_policy(artifact_copy)


def test_export_refuses_a_card_that_does_not_describe_the_model(
    model: MaskablePPO, card: ModelCard, tmp_path: Path
) -> None:
    wrong = card.model_copy(update={"net_arch": [8], "feature_schema_hash": "stale"})
    with pytest.raises(ValueError, match=r"net_arch.*feature schema hash differs"):
        export_policy(model, tmp_path / "x", wrong)
    assert not (tmp_path / "x").exists()


def test_serving_path_does_not_import_torch(models_root: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import numpy as np
        from policies.artifacts import load_rl_policy
        from policies.registry import load_policy
        policy = load_rl_policy({str(models_root / "demo")!r})
        load_policy("rl:" + {str(models_root / "demo")!r})
        masks = np.ones((1, {len(CATALOGUE)}), dtype=bool)
        policy.act(np.zeros((1, {N_FEATURES}), dtype=np.float32), masks)
        heavy = sorted(m for m in ("torch", "stable_baselines3", "sb3_contrib") if m in sys.modules)
        assert not heavy, heavy
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr

"""The numpy runtime is the SB3 MaskablePPO actor: same argmax, same masked softmax.

Models have the production shape (N_FEATURES inputs, len(CATALOGUE) actions) and are
exported and loaded through the real artifact path before being compared with SB3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

from engine.catalogue import CATALOGUE
from engine.features import N_FEATURES
from policies.artifacts import build_model_card, export_policy, load_rl_policy
from policies.base import PolicyDecisions, check_decisions
from policies.numpy_runtime import NumpyPolicy
from policies.synthetic_env import SyntheticMaskedEnv, random_masks, random_observations

N_PARITY = 10_000


@pytest.fixture(scope="module", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny networks: torch's thread pool only spins against the other test worker."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _model(policy_kwargs: dict[str, object], train_steps: int, seed: int) -> MaskablePPO:
    model = MaskablePPO(
        "MlpPolicy",
        SyntheticMaskedEnv(),
        n_steps=128,
        batch_size=64,
        n_epochs=4,
        learning_rate=3e-3,
        policy_kwargs=policy_kwargs,
        seed=seed,
        device="cpu",
    )
    if train_steps:
        model.learn(train_steps)
    return model


def _export_and_load(model: MaskablePPO, directory: Path) -> NumpyPolicy:
    card = build_model_card(
        model,
        name=directory.name,
        scenario="synthetic",
        seed=0,
        ruleset_version="test",
        training_wall_time_s=0.0,
        timesteps=model.num_timesteps,
    )
    export_policy(model, directory, card)
    return load_rl_policy(directory)


# Default architecture (tanh 64-64) at random init and after a few hundred PPO steps, and
# a ReLU variant, so the parity does not hinge on one activation or on near-zero weights.
CASES = {
    "tanh-64-64-init": ({}, 0),
    "tanh-64-64-trained": ({}, 256),
    "relu-128-trained": ({"net_arch": [128], "activation_fn": torch.nn.ReLU}, 256),
}


@pytest.fixture(scope="module", params=sorted(CASES))
def model_and_policy(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[MaskablePPO, NumpyPolicy]:
    kwargs, steps = CASES[request.param]
    model = _model(kwargs, steps, seed=len(request.param))
    return model, _export_and_load(model, tmp_path_factory.mktemp("models") / request.param)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(20240607)
    obs = random_observations(rng, N_PARITY)
    # Mix sparse and dense masks: sparse ones put the argmax among few allowed actions.
    masks = np.concatenate(
        [random_masks(rng, N_PARITY // 2, 0.05), random_masks(rng, N_PARITY - N_PARITY // 2, 0.6)]
    )
    return obs, masks


def _sb3_probabilities(model: MaskablePPO, obs: np.ndarray, masks: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        obs_tensor, _ = model.policy.obs_to_tensor(obs)
        dist = model.policy.get_distribution(obs_tensor, action_masks=masks)
        probs: np.ndarray = dist.distribution.probs.cpu().numpy()  # type: ignore[union-attr]
    return probs


def test_deterministic_choice_equals_sb3_predict(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy], sample: tuple[np.ndarray, np.ndarray]
) -> None:
    model, policy = model_and_policy
    obs, masks = sample
    expected, _ = model.predict(obs, action_masks=masks, deterministic=True)
    decisions = policy.act(obs, masks)
    check_decisions(decisions, masks)
    assert decisions.indices.shape == (N_PARITY,)
    mismatches = np.flatnonzero(decisions.indices != expected)
    assert mismatches.size == 0, f"{mismatches.size}/{N_PARITY} differ, rows {mismatches[:5]}"


def test_probabilities_equal_sb3_distribution(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy], sample: tuple[np.ndarray, np.ndarray]
) -> None:
    model, policy = model_and_policy
    obs, masks = sample
    expected = _sb3_probabilities(model, obs, masks)
    actual = policy.probabilities(obs, masks)
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=0)
    assert (actual[~masks] == 0).all()
    # Served deterministically, the argmax is chosen with probability 1: that, not the
    # network's confidence, is the propensity the ledger stores for off-policy evaluation.
    decisions = policy.act(obs, masks)
    np.testing.assert_array_equal(decisions.propensities, 1.0)


def test_single_row_matches_sb3(model_and_policy: tuple[MaskablePPO, NumpyPolicy]) -> None:
    """The service decides one case per call: a batch of one must agree as well."""
    model, policy = model_and_policy
    rng = np.random.default_rng(3)
    for _ in range(50):
        obs, masks = random_observations(rng, 1), random_masks(rng, 1, 0.2)
        expected, _ = model.predict(obs, action_masks=masks, deterministic=True)
        assert policy.act(obs, masks).indices[0] == int(expected[0])


def test_sampling_follows_masked_softmax(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy],
) -> None:
    _, policy = model_and_policy
    rng = np.random.default_rng(11)
    n = 40_000
    obs = np.repeat(random_observations(rng, 1), n, axis=0)
    masks = np.repeat(random_masks(rng, 1, 0.1), n, axis=0)
    decisions = policy.act(obs, masks, rng=rng)
    check_decisions(decisions, masks)
    probs = policy.probabilities(obs[:1], masks[:1])[0]
    freq = np.bincount(decisions.indices, minlength=len(CATALOGUE)) / n
    # 5 standard errors of a binomial proportion: fails by chance about once in 10^6 runs.
    tolerance = 5 * np.sqrt(probs * (1 - probs) / n) + 1e-12
    assert (np.abs(freq - probs) <= tolerance).all()
    np.testing.assert_allclose(decisions.propensities, probs[decisions.indices])


def test_never_returns_a_masked_index_even_with_only_wait_allowed(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy],
) -> None:
    _, policy = model_and_policy
    rng = np.random.default_rng(5)
    obs = random_observations(rng, 500)
    masks = np.zeros((500, len(CATALOGUE)), dtype=bool)
    masks[:, CATALOGUE.WAIT_INDEX] = True
    for generator in (None, rng):
        decisions = policy.act(obs, masks, rng=generator)
        assert (decisions.indices == CATALOGUE.WAIT_INDEX).all()
        np.testing.assert_allclose(decisions.propensities, 1.0)


def test_rejects_malformed_inputs(model_and_policy: tuple[MaskablePPO, NumpyPolicy]) -> None:
    _, policy = model_and_policy
    obs = np.zeros((2, N_FEATURES), dtype=np.float32)
    masks = np.ones((2, len(CATALOGUE)), dtype=bool)
    with pytest.raises(ValueError, match="featurize"):
        policy.act(obs[:, :-1], masks)
    with pytest.raises(ValueError, match="one column per catalogue entry"):
        policy.act(obs, masks[:, :-1])
    empty = masks.copy()
    empty[1] = False
    with pytest.raises(ValueError, match="row 1 allows no treatment"):
        policy.act(obs, empty)


def _generator(seeded: bool) -> np.random.Generator | None:
    return np.random.default_rng(20240611) if seeded else None


@pytest.mark.parametrize("seeded", [False, True], ids=["deterministic", "sampled"])
def test_one_row_path_equals_batch_path(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy],
    sample: tuple[np.ndarray, np.ndarray],
    seeded: bool,
) -> None:
    """``act`` on one row (the service's call) runs its own path; it must decide as the batch.

    Against the batch path on the same single row: bit-identical, and the same state left
    in the generator. Against the whole batch's row i: the same index, and the propensity
    to 1e-12 (the batch's first layers are a BLAS matrix product, whose rows may differ
    from a vector product in the last bit). One generator serves the rows in order, and
    ``rng.random(n)`` is n single draws, so row i sees the same u in both.
    """
    _, policy = model_and_policy
    obs, masks = sample
    wait_only = np.zeros((500, len(CATALOGUE)), dtype=bool)
    wait_only[:, CATALOGUE.WAIT_INDEX] = True
    obs = np.concatenate([obs, obs[:500]])
    masks = np.concatenate([masks, wait_only])  # sparse, dense, then only WAIT allowed
    n = len(obs)
    batch = policy.act(obs, masks, rng=_generator(seeded))
    one_rng, batch_rng = _generator(seeded), _generator(seeded)
    indices = np.empty(n, dtype=np.int64)
    propensities = np.empty(n)
    for i in range(n):
        o, m = obs[i : i + 1], masks[i : i + 1]
        one = policy.act(o, m, rng=one_rng)
        reference = policy._act_batch(o, m, batch_rng)
        assert one.indices.dtype == np.int64 and one.indices.shape == (1,)
        assert one.propensities.dtype == np.float64 and one.propensities.shape == (1,)
        assert one.indices[0] == reference.indices[0], f"row {i}"
        assert one.propensities[0] == reference.propensities[0], f"row {i}"
        indices[i], propensities[i] = one.indices[0], one.propensities[0]
    if one_rng is not None and batch_rng is not None:
        assert one_rng.bit_generator.state == batch_rng.bit_generator.state
    check_decisions(PolicyDecisions(indices, propensities), masks)
    mismatches = np.flatnonzero(indices != batch.indices)
    assert mismatches.size == 0, f"{mismatches.size}/{n} differ, rows {mismatches[:5]}"
    np.testing.assert_allclose(propensities, batch.propensities, rtol=0, atol=1e-12)
    assert (indices[-500:] == CATALOGUE.WAIT_INDEX).all()
    np.testing.assert_allclose(propensities[-500:], 1.0)


def test_one_row_path_is_taken_and_converts_as_the_batch(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy],
    sample: tuple[np.ndarray, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, policy = model_and_policy
    obs, masks = sample
    o, m = obs[:1], masks[:1]
    expected = policy.act(o, m)
    # Lists and an int mask take the batch path, which converts them; they must agree.
    for other_o, other_m in ((o.tolist(), m), (o, m.astype(int)), (o, m.tolist())):
        other = policy.act(other_o, other_m)  # type: ignore[arg-type]
        assert other.indices[0] == expected.indices[0]
        assert other.propensities[0] == expected.propensities[0]

    # float64 observations are rounded to float32 first, as SB3 and the batch path do.
    o64 = o.astype(np.float64) * (1 + 1e-12)
    expected64 = policy._act_batch(o64, m, None)

    def no_batch(*args: object) -> PolicyDecisions:
        raise AssertionError("a single well-formed row must not take the batch path")

    monkeypatch.setattr(policy, "_act_batch", no_batch)
    for generator in (None, np.random.default_rng(1)):
        assert policy.act(o, m, rng=generator).indices.shape == (1,)
    one64 = policy.act(o64, m)
    assert one64.indices[0] == expected64.indices[0]
    assert one64.propensities[0] == expected64.propensities[0]


def test_one_row_with_nothing_allowed_raises_as_the_batch(
    model_and_policy: tuple[MaskablePPO, NumpyPolicy],
) -> None:
    _, policy = model_and_policy
    obs = random_observations(np.random.default_rng(9), 1)
    empty = np.zeros((1, len(CATALOGUE)), dtype=bool)
    for generator in (None, np.random.default_rng(2)):
        with pytest.raises(ValueError, match="row 0 allows no treatment"):
            policy.act(obs, empty, rng=generator)
        with pytest.raises(ValueError, match="row 0 allows no treatment"):
            policy._act_batch(obs, empty, generator)

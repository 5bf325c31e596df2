"""Every policy respects every mask: property tests over random observations and masks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.catalogue import CATALOGUE, Action, Channel, Tone
from engine.errors import PolicyLoadError
from policies.base import Policy, check_decisions
from policies.daily_calls import DailyCallsPolicy
from policies.ladder import LadderPolicy
from policies.numpy_runtime import ActorWeights, NumpyPolicy
from policies.segmented import SegmentedPolicy
from policies.simple import SimplePolicy, SimpleStrategy
from policies.synthetic_env import random_masks, random_observations


def _random_numpy_policy(seed: int) -> NumpyPolicy:
    """A NumpyPolicy with random weights of the production shape (no torch needed)."""
    rng = np.random.default_rng(seed)
    n_features = random_observations(rng, 1).shape[1]

    def layer(n_out: int, n_in: int) -> tuple[np.ndarray, np.ndarray]:
        return (
            rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)).astype(np.float32),
            rng.normal(0, 0.1, n_out).astype(np.float32),
        )

    weight, bias = layer(len(CATALOGUE), 64)
    weights = ActorWeights(
        hidden=(layer(64, n_features), layer(64, 64)),
        action_weight=weight * 5,  # peaked logits: the argmax is often a masked action
        action_bias=bias,
        activation="tanh",
    )
    return NumpyPolicy(weights, name="rl:random-weights", version="test")


POLICIES: dict[str, Policy] = {
    "ladder": LadderPolicy(),
    "segmented": SegmentedPolicy(),
    "simple": SimplePolicy(
        SimpleStrategy.parse("PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d")
    ),
    "numpy": _random_numpy_policy(0),
    "daily-calls": DailyCallsPolicy(),
}


def _decoded_observations(rng: np.random.Generator, n: int) -> np.ndarray:
    """Random observations whose flag and one-hot columns are 0/1, as the featurizer's are."""
    obs = random_observations(rng, n)
    binary = rng.random(obs.shape) < 0.15
    round_cols = rng.random(obs.shape[1]) < 0.5
    obs[:, round_cols] = binary[:, round_cols]
    return obs


@pytest.mark.parametrize("name", sorted(POLICIES))
@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 64),
    p_allowed=st.sampled_from([0.0, 0.02, 0.2, 0.5, 0.9, 1.0]),
    stochastic=st.booleans(),
)
def test_never_chooses_a_masked_treatment(
    name: str, seed: int, n: int, p_allowed: float, stochastic: bool
) -> None:
    rng = np.random.default_rng(seed)
    obs = _decoded_observations(rng, n)
    masks = random_masks(rng, n, p_allowed)
    decisions = POLICIES[name].act(obs, masks, rng if stochastic else None)
    check_decisions(decisions, masks)
    assert decisions.indices.dtype == np.int64


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_large_seeded_batch(name: str) -> None:
    rng = np.random.default_rng(42)
    obs = _decoded_observations(rng, 20_000)
    masks = random_masks(rng, 20_000, 0.3)
    check_decisions(POLICIES[name].act(obs, masks), masks)


def test_rule_based_policies_are_deterministic() -> None:
    rng = np.random.default_rng(1)
    obs, masks = _decoded_observations(rng, 500), random_masks(rng, 500, 0.5)
    for name in ("ladder", "segmented", "simple"):
        a = POLICIES[name].act(obs, masks, np.random.default_rng(1))
        b = POLICIES[name].act(obs, masks, np.random.default_rng(2))
        np.testing.assert_array_equal(a.indices, b.indices)
        np.testing.assert_array_equal(a.propensities, 1.0)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_a_deterministic_choice_has_propensity_one(name: str) -> None:
    # The service stores the propensity as the probability the served treatment had; a
    # policy run without a generator chooses with certainty, whatever its scores say.
    rng = np.random.default_rng(7)
    obs, masks = _decoded_observations(rng, 300), random_masks(rng, 300, 0.4)
    decisions = POLICIES[name].act(obs, masks, None)
    np.testing.assert_array_equal(decisions.propensities, 1.0)


def test_segmented_is_registered() -> None:
    from policies.registry import load_policy

    assert isinstance(load_policy("segmented"), SegmentedPolicy)


def test_daily_calls_calls_when_it_may_else_demands_by_sms_else_waits() -> None:
    policy = DailyCallsPolicy()
    calls = (CATALOGUE.actions == Action.AGENT_CALL) & (CATALOGUE.channels == Channel.PHONE)
    demand = (
        (CATALOGUE.actions == Action.DEMAND)
        & (CATALOGUE.channels == Channel.SMS)
        & (CATALOGUE.tones == Tone.FIRM)
    )
    masks = np.ones((3, len(CATALOGUE)), dtype=bool)
    masks[1, calls] = False
    masks[2, calls | demand] = False
    obs = random_observations(np.random.default_rng(0), 3)
    chosen = policy.act(obs, masks).indices
    assert calls[chosen[0]] and demand[chosen[1]] and chosen[2] == CATALOGUE.WAIT_INDEX


def test_a_rehearsal_only_policy_is_never_the_champion() -> None:
    from policies.registry import load_champion, load_policy

    assert load_policy("daily-calls").name == "daily-calls"  # a challenger may be it
    with pytest.raises(PolicyLoadError, match="deliberately harmful"):
        load_champion("daily-calls")
    assert load_champion("segmented").name == "segmented"

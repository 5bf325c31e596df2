"""``random``: uniform over the allowed treatments, with exact propensities."""

from __future__ import annotations

import numpy as np
import pytest

from engine.catalogue import CATALOGUE
from engine.features import N_FEATURES
from policies.base import check_decisions
from policies.random_policy import RandomPolicy


def test_uniform_over_allowed_with_propensities() -> None:
    n = 30_000
    masks = np.zeros((n, len(CATALOGUE)), dtype=bool)
    masks[:, [0, 5, 17]] = True
    masks[: n // 2, 40] = True
    d = RandomPolicy().act(np.zeros((n, N_FEATURES), np.float32), masks, np.random.default_rng(1))
    check_decisions(d, masks)
    first, second = d.indices[: n // 2], d.indices[n // 2 :]
    for idx in (0, 5, 17, 40):
        assert np.mean(first == idx) == pytest.approx(0.25, abs=0.015)
    for idx in (0, 5, 17):
        assert np.mean(second == idx) == pytest.approx(1 / 3, abs=0.015)
    assert np.allclose(d.propensities[: n // 2], 0.25)
    assert np.allclose(d.propensities[n // 2 :], 1 / 3)


def test_reproducible_without_rng_and_refuses_empty_masks() -> None:
    masks = np.ones((4, len(CATALOGUE)), dtype=bool)
    obs = np.zeros((4, N_FEATURES), np.float32)
    assert np.array_equal(
        RandomPolicy().act(obs, masks).indices, RandomPolicy().act(obs, masks).indices
    )
    masks[2] = False
    with pytest.raises(ValueError, match="WAIT"):
        RandomPolicy().act(obs, masks)

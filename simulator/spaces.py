"""The observation and action spaces shared by the single-debtor env and the VecEnv."""

from __future__ import annotations

import numpy as np
from gymnasium import spaces

from engine.catalogue import CATALOGUE
from engine.features import N_FEATURES

OBS_LOW = -1.0
"""engine.features.featurize keeps every feature in [-1, 4] (counts are capped at 4×)."""
OBS_HIGH = 4.0


def observation_space() -> spaces.Box:
    return spaces.Box(low=OBS_LOW, high=OBS_HIGH, shape=(N_FEATURES,), dtype=np.float32)


def action_space() -> spaces.Discrete:
    return spaces.Discrete(len(CATALOGUE))

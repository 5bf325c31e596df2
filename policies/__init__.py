"""Policies: the interface, baselines, RL training and evaluation, the serving runtime."""

import engine  # noqa: F401 - first: its import pins OpenBLAS to one thread before numpy loads

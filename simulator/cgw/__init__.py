"""Chehrazi–Glynn–Weber credit-collections benchmark: parameters, exact dynamics, env, solver."""

from simulator.cgw.params import ACTION_SETS, COARSE_ACTIONS, FINE_ACTIONS, CGWParams

__all__ = ["ACTION_SETS", "COARSE_ACTIONS", "FINE_ACTIONS", "CGWParams"]

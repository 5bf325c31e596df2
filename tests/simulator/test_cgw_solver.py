"""Exact solver and no-action quadrature of the CGW problem, checked against Monte Carlo."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from simulator.cgw.grid import GridSpec
from simulator.cgw.montecarlo import (
    constant_policy,
    evaluate,
    no_action_policy,
    threshold_policy,
)
from simulator.cgw.no_action import no_action_value
from simulator.cgw.params import CGWParams
from simulator.cgw.solver import CGWSolution, newton_cotes_weights, solve

# Coarse but converged to ~0.02 % at the start state (see docs/cgw.md): keeps tests fast.
TEST_GRID = GridSpec(n_lam=100, n_u=64, n_sub=4)
EPISODES = 20_000


@pytest.fixture(scope="module")
def solution() -> CGWSolution:
    return solve(CGWParams(), TEST_GRID)


def test_newton_cotes_weights_integrate_cubics_exactly() -> None:
    for n in range(1, 8):
        x = np.linspace(0.0, 0.3, n + 1)
        w = newton_cotes_weights(n, 0.3 / n)
        exact_degree = 1 if n == 1 else 3
        for degree in range(exact_degree + 1):
            assert w @ x**degree == pytest.approx(0.3 ** (degree + 1) / (degree + 1), rel=1e-12)
    assert newton_cotes_weights(0, 0.1).sum() == 0.0


def test_no_action_quadrature_matches_monte_carlo() -> None:
    params = CGWParams()
    quad = no_action_value(params, TEST_GRID).start_value
    mc = evaluate(no_action_policy, params, EPISODES, seed=1)
    assert mc.ci[0] <= quad <= mc.ci[1], (quad, mc)


def test_period_solver_without_actions_matches_the_independent_quadrature() -> None:
    """Two methods sharing no recursion code: the dt-period DP with a = 0 only, and the
    embedded-chain quadrature, must agree (no decisions => discretisation in time is exact)."""
    params = replace(CGWParams(), actions=(0.0,))
    period = solve(params, TEST_GRID).start_value
    chain = no_action_value(params, TEST_GRID).start_value
    assert period == pytest.approx(chain, rel=5e-4)


def test_optimal_value_dominates_no_action_and_simple_policies(solution: CGWSolution) -> None:
    params = solution.params
    optimum = solution.start_value
    assert optimum > no_action_value(params, TEST_GRID).start_value * 2.0
    rivals = {
        "always 0.2": constant_policy(1),
        "0.5 below lam 0.5 if w > 30": threshold_policy(2, lam_below=0.5, w_above=30.0),
        "1.5 below lam 1.5 if w > 60": threshold_policy(5, lam_below=1.5, w_above=60.0),
    }
    for seed, (name, policy) in enumerate(rivals.items()):
        mc = evaluate(policy, params, EPISODES // 2, seed=100 + seed)
        # Fails if a simple rule beats the "optimum" beyond Monte Carlo noise.
        assert optimum >= mc.ci[0], (name, mc, optimum)


def test_greedy_policy_of_the_solver_achieves_the_solver_value(solution: CGWSolution) -> None:
    mc = evaluate(solution.greedy_action, solution.params, EPISODES, seed=2)
    assert mc.ci[0] <= solution.start_value <= mc.ci[1], (solution.start_value, mc)


def test_policy_is_a_threshold_in_intensity_that_rises_with_balance(
    solution: CGWSolution,
) -> None:
    """Act when the intensity is low and the balance large; never act on small balances."""
    acting = solution.policy > 0
    assert not acting[0].any()
    assert acting[-1, 0]
    last_acting_lam = [int(np.flatnonzero(row).max()) if row.any() else -1 for row in acting]
    assert np.all(np.diff(last_acting_lam) >= -1)
    for row in acting:
        if row.any():  # acting set is an interval starting at lam_inf
            assert row[: np.flatnonzero(row).max() + 1].all()


def test_refining_the_grid_changes_the_value_by_less_than_a_tenth_percent(
    solution: CGWSolution,
) -> None:
    coarse = solve(CGWParams(), GridSpec(n_lam=50, n_u=64, n_sub=2)).start_value
    assert abs(solution.start_value - coarse) / solution.start_value < 1e-3
    assert solution.start_value == pytest.approx(np.max(solution.start_q))
    # The grid-interpolated value at the start agrees with the exact start computation.
    interp = solution.value_at(np.array([0.11]), np.array([200.0]))[0]
    assert interp == pytest.approx(solution.start_value, rel=1e-3)

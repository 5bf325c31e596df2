"""What an episode is worth: discounting, the expected value of a running plan, and churn
after a running plan.

Money is valued at the start of the episode: a payment received ``t`` days into collection
is worth ``(1 + r) ** (-t / 365)`` of its face value, ``r`` being the scenario's
``reward.annual_discount_rate``. The simulator, the reward and the KPIs all use these
functions, so the RL objective and the reported net value cannot drift apart.

A plan still running at the horizon is neither resolved nor worthless: each of its remaining
instalments is paid if the plan is still running when it falls due, so its expected value is
``Σ_j amount_j × p^(j+1) × discount(due_j)`` with ``p`` the debtor's chance of keeping one
instalment (zero once the debtor can no longer afford one: see :func:`keep_probability`), and
the plan completes with probability ``p^L`` for ``L`` remaining instalments.
"""

from __future__ import annotations

import numpy as np

DAYS_PER_YEAR = 365.0


def discount_factor(days: np.ndarray | int | float, annual_rate: float) -> np.ndarray:
    """Present value at day 0 of one unit received ``days`` into the episode."""
    return np.power(1.0 + annual_rate, -np.asarray(days, dtype=np.float64) / DAYS_PER_YEAR)


def keep_probability(
    instalment_keep: np.ndarray,
    by_agent: np.ndarray,
    agent_break_factor: float,
    instalment: np.ndarray,
    liquidity: np.ndarray,
    liquidity_later: np.ndarray,
) -> np.ndarray:
    """Chance that a debtor pays one more instalment of a running plan.

    Agent-set plans miss ``agent_break_factor`` times as often as self-service ones (the
    simulator's own rule, see ``BatchedCollectionsSim._daily_payments``). A debtor whose
    cash neither covers the instalment now nor will once their income has recovered cannot
    keep the plan going: probability 0.
    """
    p = np.where(by_agent, 1.0 - (1.0 - instalment_keep) * agent_break_factor, instalment_keep)
    affordable = np.maximum(liquidity, liquidity_later) >= instalment
    return np.where(affordable, np.clip(p, 0.0, 1.0), 0.0)


def running_plan_value(
    owed: np.ndarray,
    instalment: np.ndarray,
    instalments_left: np.ndarray,
    first_due_in_days: np.ndarray,
    interval_days: int,
    keep: np.ndarray,
    annual_rate: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Expected present value (minor units, at the episode start) of the remaining
    instalments of running plans, and the probability that each plan completes.

    Args:
        owed: balance still owed, minor units.
        instalment: the plan's instalment, minor units (the last one may be smaller).
        instalments_left: instalments not yet paid.
        first_due_in_days: days into the episode when the next instalment falls due.
        interval_days: days between instalments.
        keep: chance of paying each instalment (:func:`keep_probability`).
        annual_rate: the scenario's discount rate.
    """
    owed = np.asarray(owed, dtype=np.float64)
    left = np.asarray(instalments_left, dtype=np.int64)
    value = np.zeros(owed.shape)
    still_running = np.ones(owed.shape)
    remaining = owed.copy()
    for j in range(int(left.max(initial=0))):
        due = left > j
        still_running = np.where(due, still_running * keep, still_running)
        amount = np.where(due, np.minimum(instalment, remaining), 0.0)
        remaining -= amount
        when = first_due_in_days + j * interval_days
        value += amount * still_running * discount_factor(when, annual_rate)
    complete = np.where(left > 0, still_running, 1.0)
    return value, complete


def logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


__all__ = ["discount_factor", "keep_probability", "logistic", "running_plan_value"]

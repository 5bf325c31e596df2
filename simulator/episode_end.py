"""What a debtor's episode is worth when it ends: the day's money, expected legal recovery,
the expected value of a running plan, churn after collection, and the finished outcomes.

:class:`EpisodeEnd` is the accounting half of :class:`simulator.batched.BatchedCollectionsSim`
(which inherits it); the day's dynamics live there. The rules are described in
docs/simulator.md (valuation) and computed with :mod:`simulator.valuation`.
"""

from __future__ import annotations

import numpy as np

from engine.state import CaseBatch
from simulator.dynamics_state import DebtorDynamics
from simulator.outcomes import RESOLVED_OUTCOMES, CaseOutcomes, Outcome
from simulator.population import DebtorTraits
from simulator.scenario import Scenario
from simulator.valuation import discount_factor, keep_probability, logistic, running_plan_value

_CHURN_CLASS = np.zeros(max(Outcome) + 1, dtype=np.intp)  # 0 resolved, 1 unresolved, 2 legal
_CHURN_CLASS[Outcome.UNRESOLVED] = 1
_CHURN_CLASS[Outcome.PLAN_ACTIVE] = 1  # mixed with "resolved" by the plan's completion odds
_CHURN_CLASS[Outcome.LEGAL] = 2


class EpisodeEnd:
    """Rewards and outcomes of the rows whose episode ends (state set by the simulator)."""

    n: int
    clock: int
    scenario: Scenario
    batch: CaseBatch
    traits: DebtorTraits
    dyn: DebtorDynamics
    _annual_rate: float
    _money: np.ndarray
    _spent: np.ndarray
    _complained: np.ndarray
    _churn_today: np.ndarray
    _z: np.ndarray

    def _rewards(self, done: np.ndarray, outcome: np.ndarray) -> np.ndarray:
        """Today's money (present values at the episode start, see simulator.valuation),
        and at an episode's end what is still to come: expected legal recovery, the expected
        value of a running plan, and the expected cost of churn after collection."""
        sc, d, r = self.scenario, self.dyn, self.scenario.reward
        money = self._money - self._spent - r.complaint_price.value * self._complained
        money -= r.churn_price.value * self._churn_today
        rows = np.flatnonzero(done)
        self._p_churn_after = np.zeros(self.n)
        self._legal_expected = np.zeros(self.n)
        self._plan_expected = np.zeros(self.n)
        if rows.size:
            out = outcome[rows]
            resolved = np.isin(out, [int(o) for o in RESOLVED_OUTCOMES])
            d.experience[rows[resolved]] += self.traits.experience_resolved[rows[resolved]]
            legal_value = self._legal_value(rows, out == Outcome.LEGAL)
            plan_value, completes = self._plan_value(rows, out == Outcome.PLAN_ACTIVE)
            self._legal_expected[rows] = legal_value
            self._plan_expected[rows] = plan_value
            money[rows] += (legal_value + plan_value) / 100.0
            if sc.churn.enabled:
                p = self._churn_after(rows, out, completes)
                self._p_churn_after[rows] = p
                money[rows] -= r.churn_price.value * p
        rewards = np.where(d.active, money / r.scale, 0.0)
        d.reward += rewards
        return rewards

    def _legal_value(self, rows: np.ndarray, legal: np.ndarray) -> np.ndarray:
        """Expected net enforcement recovery (minor units, present value) of hand-overs."""
        lg = self.scenario.legal
        arrives = self.clock - self.dyn.born[rows] + lg.recovery_delay_days
        value = (
            lg.recovery_probability.value
            * lg.recovery_share.value
            * self.batch.outstanding_minor[rows]
            * discount_factor(arrives, self._annual_rate)
        )
        return np.where(legal, value, 0.0)

    def _plan_value(self, rows: np.ndarray, running: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Expected present value of the instalments still to come of plans running at the
        horizon (minor units), and the chance each completes (1 where none runs)."""
        d, tr = self.dyn, self.traits
        keep = keep_probability(
            tr.instalment_keep[rows],
            d.plan_by_agent[rows],
            self.scenario.plans.agent_break_factor.value,
            d.plan_amount[rows],
            d.liquidity[rows],
            tr.liquidity_later[rows],
        )
        value, completes = running_plan_value(
            owed=self.batch.outstanding_minor[rows],
            instalment=d.plan_amount[rows],
            instalments_left=np.where(running, d.plan_left[rows], 0),
            first_due_in_days=d.plan_next[rows] - d.born[rows],
            interval_days=self.scenario.plans.interval_days,
            keep=keep,
            annual_rate=self._annual_rate,
        )
        return value, np.where(running, completes, 1.0)

    def _churn_after(self, rows: np.ndarray, out: np.ndarray, completes: np.ndarray) -> np.ndarray:
        """P(churn within 90 days after the episode) of the debtors in ``rows``: by outcome
        and experience; a running plan is the completion-weighted mix of resolved and
        unresolved (no extra parameter). Debtors who already left cannot leave again."""
        tr, d = self.traits, self.dyn
        slope = self.scenario.churn.after.experience_slope.value
        shift = slope * d.experience[rows]
        by_class = logistic(tr.churn_after[rows, _CHURN_CLASS[out]] - shift)
        if_resolved = logistic(tr.churn_after[rows, 0] - shift)
        running = out == Outcome.PLAN_ACTIVE
        p = np.where(running, completes * if_resolved + (1.0 - completes) * by_class, by_class)
        return np.where(d.churned[rows], 0.0, p)

    def _finish(
        self, rows: np.ndarray, outcome: np.ndarray, churn_draws: np.ndarray
    ) -> CaseOutcomes:
        """The finished rows' outcomes; ``churn_draws`` decide who churns after collection."""
        sc, d, b, tr = self.scenario, self.dyn, self.batch, self.traits
        churned = d.churned[rows].copy()
        if sc.churn.enabled:
            churned |= churn_draws < self._p_churn_after[rows]
        nps = sc.nps
        score = (
            tr.nps_intercept[rows]
            + nps.slope.value * d.experience[rows]
            + nps.noise.value * self._z[rows, 1]
        )
        return CaseOutcomes(
            serial=d.serial[rows].copy(),
            segment=tr.segment[rows].copy(),
            country=b.country[rows].copy(),
            outcome=outcome.astype(np.int8),
            days=(self.clock - d.born[rows] + 1).astype(np.int32),
            original_minor=b.original_minor[rows].copy(),
            collected_minor=d.collected_minor[rows].copy(),
            legal_expected_minor=self._legal_expected[rows].copy(),
            plan_expected_minor=self._plan_expected[rows].copy(),
            collected_pv_minor=d.collected_pv[rows].copy(),
            collected_30_minor=d.collected_30[rows].copy(),
            collected_60_minor=d.collected_60[rows].copy(),
            first_payment_day=d.first_payment_at[rows].astype(np.int32),
            plans_agreed=d.plans_agreed[rows].astype(np.int32),
            plans_broken=d.plans_broken[rows].astype(np.int32),
            churn_expected=np.where(d.churned[rows], 1.0, self._p_churn_after[rows]),
            churn_price=np.full(
                rows.size, sc.reward.churn_price.value if sc.churn.enabled else 0.0
            ),
            cost=d.cost[rows].copy(),
            contacts=d.contacts[rows].copy(),
            complaints=d.complaints[rows].copy(),
            churned=churned,
            nps_score=np.clip(np.rint(score), 0, 10).astype(np.int8),
            reward=d.reward[rows].copy(),
        )


__all__ = ["EpisodeEnd"]

"""The batched debtor-behaviour engine: many debtors stepped one local day at a time in numpy.

This is the only implementation of the dynamics. The SB3 ``VecEnv``
(:mod:`simulator.vec_env`), the single-debtor gymnasium env (:mod:`simulator.envs.collections`,
n = 1) and evaluation roll-outs (:mod:`simulator.rollout`) all drive it.

The observable case state is kept as the columns of an :class:`engine.state.CaseBatch`
(snapshot columns set here, history columns folded by :class:`LedgerColumns` exactly like
the service's ledger summary), so observations are ``engine.features.featurize(batch)`` and
masks come from the injected :class:`~simulator.masks.MaskProvider` on the same batch.
The behaviour model is described in docs/simulator.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel
from engine.features import featurize
from engine.state import CaseBatch
from simulator import timeline as tl
from simulator.dynamics_state import DebtorDynamics
from simulator.episode_end import EpisodeEnd
from simulator.events import EventRecorder, RowContext
from simulator.ledger_columns import LedgerColumns
from simulator.masks import MaskProvider, checked_masks
from simulator.outcomes import CaseOutcomes, Outcome
from simulator.population import DebtorTraits, PopulationSampler
from simulator.reactions import CONTACT_DRAWS, respond
from simulator.scenario import Scenario, draw_world
from simulator.step_log import StepLog
from simulator.valuation import discount_factor

# Catalogue attribute columns as intp for fast gathers.
_ACTION = CATALOGUE.actions.astype(np.intp)
_CHANNEL = CATALOGUE.channels.astype(np.intp)
_SLOT = CATALOGUE.slots.astype(np.intp)

# Columns of the per-row uniforms drawn once per day (see BatchedCollectionsSim.step).
_U_LETTER = slice(0, CONTACT_DRAWS)
_U_CONTACT = slice(CONTACT_DRAWS, 2 * CONTACT_DRAWS)
_U_DAILY = slice(20, 23)
_U_BREATHING = 23
_U_CHURN = 24
_U_SHOCK = 25
_U_CHURN_AFTER = 26
_N_UNIFORM = 27
_POOL = 1024
"""Debtors drawn at a time to refill finished slots in auto-reset mode."""


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one simulated day produced for every row."""

    rewards: np.ndarray  # float32 (n,)
    done: np.ndarray  # bool (n,): the row's episode ended today
    blocked: np.ndarray  # bool (n,): the requested treatment was masked and WAIT ran
    finished: CaseOutcomes  # outcomes of the rows that ended today, in row order
    finished_rows: np.ndarray  # intp: rows that ended today


class BatchedCollectionsSim(EpisodeEnd):
    """``n`` debtor slots stepped together, one local day per :meth:`step`.

    With ``auto_reset`` a slot whose episode ends gets a new debtor at once (training);
    without, it stays inactive (only WAIT allowed, no dynamics) until :meth:`reset`
    (evaluation of exactly ``n`` debtors).
    """

    def __init__(
        self,
        scenario: Scenario,
        n: int,
        masks: MaskProvider,
        *,
        seed: int | None = None,
        randomise: bool = False,
        auto_reset: bool = True,
        record_events: bool = False,
        log_steps: bool = False,
        first_serial: int = 0,
    ) -> None:
        if n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        self.base_scenario = scenario
        self.scenario = scenario
        """The world being simulated: ``base_scenario``, or a draw from it when randomising."""
        self.randomise = randomise
        self.n = n
        self.mask_provider = masks
        self.auto_reset = auto_reset
        self.sampler = PopulationSampler(scenario, randomise=randomise)
        self.rng = np.random.default_rng(seed)
        self.record_events = record_events
        self.log_steps = log_steps
        self.first_serial = first_serial
        self._letter_ring = scenario.letters.delay_days + 1
        self._product = int(scenario.product_code)
        self._init_constants()
        self._allocate()

    # -- set-up ----------------------------------------------------------------------------

    def _init_constants(self) -> None:
        sc = self.scenario
        self._decision_at = (sc.decision_hour, 0)
        self._fatigue_decay = 0.5 ** (1.0 / sc.fatigue.half_life_days)
        self._churn_daily = sc.churn.base_monthly.value / 30.0 if sc.churn.enabled else 0.0
        self._annual_rate = sc.reward.annual_discount_rate

    def _allocate(self) -> None:
        n = self.n
        self.batch = CaseBatch.empty(n)
        self.traits: DebtorTraits = self.sampler.draw(n, np.random.default_rng(0))
        self.dyn = DebtorDynamics.zeros(n, self._letter_ring)
        self.recorder = EventRecorder() if self.record_events else None
        self.ledger = LedgerColumns(self.batch, self.recorder, self._context)
        self.step_log = (
            StepLog(zones=self.sampler.zones, decision_hour=self.scenario.decision_hour)
            if self.log_steps
            else None
        )
        self.clock = 0
        self._next_serial = self.first_serial
        self._pool: DebtorTraits | None = None
        self._pool_next = 0
        self._started = False
        self._obs: np.ndarray | None = None
        self._masks: np.ndarray | None = None
        self.terminal_observations: np.ndarray | None = None
        """Observations of the rows that ended in the last step (auto-reset mode only)."""

    def reset(self, seed: int | None = None) -> np.ndarray:
        """Fill every slot with a new debtor; returns the first observations."""
        if seed is not None:
            self.rng = np.random.default_rng(seed)
        if self.randomise:
            self.scenario = draw_world(self.base_scenario, self.rng)
            self._init_constants()
        self._allocate()
        self._spawn(np.arange(self.n))
        self._refresh()
        assert self._obs is not None
        return self._obs

    def _spawn(self, rows: np.ndarray) -> None:
        if rows.size == 0:
            return
        new = self._draw_debtors(rows.size)
        self.traits.put(rows, new)
        d, b = self.dyn, self.batch
        d.clear_rows(rows)
        d.active[rows] = True
        d.serial[rows] = np.arange(self._next_serial, self._next_serial + rows.size)
        self._next_serial += rows.size
        d.born[rows] = self.clock
        d.willingness[rows] = new.willingness
        d.liquidity[rows] = new.liquidity
        d.experience[rows] = new.initial_experience
        self.ledger.reset_rows(rows)
        b.country[rows] = new.country
        b.days_past_due[rows] = new.initial_days_past_due
        b.outstanding_minor[rows] = new.original_minor
        b.original_minor[rows] = new.original_minor
        b.product[rows] = self._product
        b.age_band[rows] = new.age_band
        b.tenure_months[rows] = new.tenure_months
        b.prior_on_time_ratio[rows] = new.prior_on_time_ratio
        b.risk_score[rows] = new.risk_score
        b.has_app[rows] = new.has_app
        b.consent[rows] = new.consent
        b.vulnerable[rows] = new.vulnerable
        b.bankruptcy[rows] = False
        b.deceased[rows] = False
        b.mental_health_crisis[rows] = new.mental_health_crisis
        b.time_barred[rows] = new.time_barred
        b.hardship[rows] = new.hardship_known

    def _draw_debtors(self, k: int) -> DebtorTraits:
        """``k`` new debtors. Refills after the first reset come from a pool drawn
        ``_POOL`` at a time, because one draw costs about the same for 1 or 1,000 debtors."""
        if not self._started:
            self._started = True
            return self.sampler.draw(k, self.rng)  # the initial population, exactly k
        out = []
        while k > 0:
            if self._pool is None or self._pool_next >= len(self._pool):
                self._pool = self.sampler.draw(max(_POOL, k), self.rng)
                self._pool_next = 0
            take = min(k, len(self._pool) - self._pool_next)
            rows = np.arange(self._pool_next, self._pool_next + take)
            out.append(self._pool.take(rows))
            self._pool_next += take
            k -= take
        return out[0] if len(out) == 1 else DebtorTraits.concat(out)

    # -- views -----------------------------------------------------------------------------

    @property
    def local_day(self) -> np.ndarray:
        """Each row's local date today, as days since 1970-01-01."""
        return self.traits.start_day + (self.clock - self.dyn.born)

    @property
    def local_dates(self) -> np.ndarray:
        return self.local_day.astype("datetime64[D]")

    def case_id(self, row: int) -> str:
        return f"sim-{int(self.dyn.serial[row]):07d}"

    def observe(self) -> np.ndarray:
        """Observations of the current decision, (n, N_FEATURES) float32."""
        assert self._obs is not None, "call reset() first"
        return self._obs

    def action_masks(self) -> np.ndarray:
        """Allowed treatments of the current decision, (n, len(CATALOGUE)) bool."""
        assert self._masks is not None, "call reset() first"
        return self._masks

    def _refresh(self) -> None:
        b = self.batch
        b.weekday[:] = (self.local_day + 3) % 7  # 1970-01-01 was a Thursday
        until = self.dyn.breathing_until
        b.breathing_space_days_left[:] = np.where(
            until >= 0, np.maximum(0, until - self.local_day + 1), 0
        )
        self._obs = featurize(b)
        active = self.dyn.active
        if active.all():
            masks = checked_masks(self.mask_provider, b, self.local_dates)
        else:
            # Finished slots (evaluation runs) can only wait; the rules see live cases only.
            masks = np.zeros((self.n, len(CATALOGUE)), dtype=bool)
            masks[:, CATALOGUE.WAIT_INDEX] = True
            live = np.flatnonzero(active)
            if live.size:
                masks[live] = checked_masks(
                    self.mask_provider, b.take(live), self.local_dates[live]
                )
        self._masks = masks

    def _context(self, rows: np.ndarray) -> RowContext:
        zones = self.sampler.zones
        ids = [self.case_id(int(r)) for r in rows]
        return RowContext(
            case_ids=ids,
            local_days=self.local_day[rows],
            zones=[zones[int(z)] for z in self.traits.zone[rows]],
            decision_ids=[
                f"{cid}/d{int(self.clock - self.dyn.born[r])}"
                for cid, r in zip(ids, rows, strict=True)
            ],
        )

    # -- the day -----------------------------------------------------------------------------

    def step(self, actions: np.ndarray) -> StepResult:
        """Apply one treatment per row (blocked ones run as WAIT) and simulate the day."""
        assert self._masks is not None, "call reset() first"
        requested = np.asarray(actions, dtype=np.intp).reshape(self.n)
        if requested.min() < 0 or requested.max() >= len(CATALOGUE):
            raise ValueError(f"treatment indices must lie in [0, {len(CATALOGUE)})")
        rows_all = np.arange(self.n)
        allowed = self._masks[rows_all, requested]
        chosen = np.where(allowed, requested, CATALOGUE.WAIT_INDEX)
        d = self.dyn
        if self.step_log is not None:
            self.step_log.append(
                d.serial,
                self.local_day,
                self.traits.zone,
                requested,
                chosen,
                self.batch,
                np.flatnonzero(d.active),
            )
        # Every row draws the same amount of randomness every day, whatever it is doing, so
        # two policies run on one seed face the same luck per debtor and day (common random
        # numbers for paired comparisons).
        self._u = self.rng.random((self.n, _N_UNIFORM))
        self._z = self.rng.standard_normal((self.n, 2))
        self._money = np.zeros(self.n)
        self._spent = np.zeros(self.n)
        self._complained = np.zeros(self.n)
        self._churn_today = np.zeros(self.n, dtype=bool)
        self._letters_arrive()
        self._contact(chosen)
        self._daily_payments()
        done, outcome = self._end_of_day()
        self._drift()
        rewards = self._rewards(done, outcome)
        finished_rows = np.flatnonzero(done)
        finished = self._finish(
            finished_rows, outcome[finished_rows], self._u[finished_rows, _U_CHURN_AFTER]
        )
        d.active[finished_rows] = False
        self._next_day()
        self.terminal_observations = None
        if self.auto_reset and finished_rows.size:
            # What the finished debtors looked like at the end: SB3 keeps it for bootstrapping.
            self.terminal_observations = featurize(self.batch.take(finished_rows))
            self._spawn(finished_rows)
        self._refresh()
        return StepResult(
            rewards=rewards.astype(np.float32),
            done=done,
            blocked=~allowed,
            finished=finished,
            finished_rows=finished_rows,
        )

    def _letters_arrive(self) -> None:
        ring = self.clock % self._letter_ring
        # A copy: the ring slot is cleared below, before the letters are read.
        pending = self.dyn.pending_letters[:, ring].copy()
        rows = np.flatnonzero(pending >= 0)
        self.dyn.pending_letters[:, ring] = -1
        rows = rows[self.dyn.active[rows]]
        if rows.size:
            treat = pending[rows].astype(np.intp)
            hour = np.full(rows.size, tl.LETTER_ARRIVAL_HOUR)
            respond(self, rows, treat, hour, self._u[rows, _U_LETTER])

    def _contact(self, chosen: np.ndarray) -> None:
        d, tr = self.dyn, self.traits
        rows = np.flatnonzero((chosen != CATALOGUE.WAIT_INDEX) & d.active)
        if rows.size == 0:
            return
        treat = chosen[rows]
        channel = _CHANNEL[treat]
        hour = tl.SLOT_HOUR[_SLOT[treat]]
        letter = channel == Channel.LETTER
        hour = np.where(letter, tl.LETTER_POSTED[0], hour)
        minute = np.where(letter, tl.LETTER_POSTED[1], tl.ATTEMPT)
        # Two calls because the letter's posting minute differs from the slot minute.
        for sel in (letter, ~letter):
            if sel.any():
                self.ledger.contact(
                    rows[sel],
                    channel[sel],
                    _ACTION[treat[sel]],
                    self._decision_at,
                    hour[sel],
                    int(minute[sel][0]),
                )
        d.contacts[rows] += 1
        cost = tr.cost[rows, channel]
        legal = _ACTION[treat] == Action.LEGAL_ESCALATION
        self.spend(rows, cost + np.where(legal, self.scenario.legal.cost.value, 0.0))
        # Letters travel and act on arrival. A legal escalation hands the case over to
        # enforcement: its notice period is collapsed into today (the debtor answers the
        # notice or not) because no collection decision is taken during it.
        post = letter & ~legal
        slot = (self.clock + self.scenario.letters.delay_days) % self._letter_ring
        d.pending_letters[rows[post], slot] = treat[post]
        d.legal_handover[rows[legal]] = self.clock
        now = ~post
        if now.any():
            hour = np.where(legal, tl.LETTER_ARRIVAL_HOUR, hour)
            respond(self, rows[now], treat[now], hour[now], self._u[rows[now], _U_CONTACT])

    # -- what reactions and payments change (simulator.reactions calls these) ---------------

    def pay(
        self, rows: np.ndarray, amount: np.ndarray, hour: np.ndarray | int, minute: int
    ) -> None:
        """The debtors in ``rows`` pay ``amount`` (minor units) today."""
        d, b = self.dyn, self.batch
        self.ledger.payment(rows, amount, hour, minute)
        b.outstanding_minor[rows] -= amount
        d.liquidity[rows] -= amount
        d.collected_minor[rows] += amount
        d.promise_due[rows] = -1  # a payment settles an open promise (ledger semantics)
        age = self.clock - d.born[rows]
        present = amount * discount_factor(age, self._annual_rate)
        d.collected_pv[rows] += present
        d.collected_30[rows] += np.where(age < 30, amount, 0)
        d.collected_60[rows] += np.where(age < 60, amount, 0)
        first = d.first_payment_at[rows] < 0
        d.first_payment_at[rows[first]] = age[first]
        self._money[rows] += present / 100.0

    def spend(self, rows: np.ndarray, cost: np.ndarray) -> None:
        """Contact, conversation and legal costs (major units) of ``rows`` today."""
        self._spent[rows] += cost
        self.dyn.cost[rows] += cost

    def complained(self, rows: np.ndarray) -> None:
        self._complained[rows] += 1

    def start_plans(
        self,
        rows: np.ndarray,
        hour: np.ndarray,
        instalments: np.ndarray,
        amount: np.ndarray,
        by_agent: np.ndarray,
    ) -> None:
        """Instalment plans agreed today; the first instalment is paid at once by the caller."""
        d, b = self.dyn, self.batch
        self.ledger.plan_agreed(rows, hour, tl.AGREEMENT)
        d.plan_left[rows] = instalments - 1
        d.plan_amount[rows] = amount
        d.plan_next[rows] = self.clock + self.scenario.plans.interval_days
        d.plan_by_agent[rows] = by_agent
        d.plans_agreed[rows] += 1
        first = d.first_plan_at[rows] < 0
        frows = rows[first]
        d.first_plan_at[frows] = self.clock - d.born[frows]
        d.first_plan_able[frows] = d.liquidity[frows] >= b.outstanding_minor[frows]
        d.first_plan_by_agent[frows] = by_agent[first]

    def _daily_payments(self) -> None:
        """Kept promises, plan instalments and unprompted payments (20:00)."""
        sc, tr, d, b = self.scenario, self.traits, self.dyn, self.batch
        hour, minute = tl.DAILY_PAYMENTS
        active = d.active & (b.outstanding_minor > 0)
        u = self._u[:, _U_DAILY]
        owed = b.outstanding_minor
        self._broken_promise = active & (d.promise_due == self.clock)
        keep = self._broken_promise & (d.liquidity >= owed) & (u[:, 0] < tr.promise_keep)
        self._broken_promise &= ~keep
        d.promise_due[self._broken_promise] = -1

        due = active & (d.plan_next == self.clock) & b.plan_active & ~keep
        amount = np.minimum(d.plan_amount, owed)
        p_keep = np.where(
            d.plan_by_agent,
            1.0 - (1.0 - tr.instalment_keep) * sc.plans.agent_break_factor.value,
            tr.instalment_keep,
        )
        paid = due & (d.liquidity >= amount) & (u[:, 1] < p_keep)
        self._broken_plan = due & ~paid
        d.plan_left[paid] -= 1
        d.plan_next[paid] += sc.plans.interval_days
        broken = self._broken_plan
        d.plan_left[broken] = 0
        d.plan_next[broken] = -1
        d.plans_broken[broken] += 1
        first_break = broken & (d.first_plan_broken_at < 0) & (d.plans_agreed == 1)
        d.first_plan_broken_at[first_break] = self.clock - d.born[first_break]

        day_of_month = (self.local_dates - self.local_dates.astype("datetime64[M]")).astype(int) + 1
        since_payday = (day_of_month - sc.dynamics.payday_day_of_month) % 31
        payday = since_payday <= sc.dynamics.payday_window_days
        p_spont = tr.spontaneous_pay * np.where(payday, sc.dynamics.payday_boost.value, 1.0)
        spont = active & ~keep & ~due & ~b.plan_active & (d.liquidity >= owed)
        spont &= u[:, 2] < p_spont

        full = keep | spont
        amount = np.where(full, owed, np.where(paid, amount, 0))
        rows = np.flatnonzero(amount > 0)
        self.pay(rows, amount[rows], hour, minute)

    def _end_of_day(self) -> tuple[np.ndarray, np.ndarray]:
        """Broken agreements, closures, protections and the end of episodes (23:00)."""
        sc, tr, d, b, led = self.scenario, self.traits, self.dyn, self.batch, self.ledger
        hour = tl.END_OF_DAY[0]
        active = d.active
        led.promise_broken(np.flatnonzero(self._broken_promise), hour, 0)
        led.plan_broken(np.flatnonzero(self._broken_plan), hour, 1)
        paid_off = active & (b.outstanding_minor <= 0)
        plan_done = paid_off & b.plan_active & ~d.settled  # settling the rest ends a plan too
        led.plan_completed(np.flatnonzero(plan_done), hour, 2)
        resolved_dispute = active & (d.dispute_until == self.clock)
        led.dispute_resolved(np.flatnonzero(resolved_dispute), hour, 3)
        d.dispute_until[resolved_dispute] = -1
        in_space = d.breathing_until >= self.local_day
        start = (
            active & ~paid_off & ~in_space & (self._u[:, _U_BREATHING] < tr.breathing_space_daily)
        )
        srows = np.flatnonzero(start)
        d.breathing_until[srows] = self.local_day[srows] + sc.population.breathing_space_days - 1
        led.breathing_space(srows, d.breathing_until[srows], hour, 4)
        led.closed(np.flatnonzero(paid_off), hour, 5)

        if self._churn_daily > 0:
            hazard = self._churn_daily * np.exp(
                sc.churn.collection_gain.value * np.maximum(0.0, -d.experience)
            )
            leave = active & ~d.churned & (self._u[:, _U_CHURN] < hazard)
            d.churned |= leave
            d.willingness[leave] *= sc.dynamics.churn_willingness_factor.value
            self._churn_today = leave

        age = self.clock - d.born
        handover = active & ~paid_off & (d.legal_handover >= 0) & (d.legal_handover <= self.clock)
        horizon = active & (age >= sc.horizon_days - 1)
        done = paid_off | handover | horizon
        outcome = np.zeros(self.n, dtype=np.int8)
        outcome[horizon] = np.where(b.plan_active[horizon], Outcome.PLAN_ACTIVE, Outcome.UNRESOLVED)
        outcome[handover] = Outcome.LEGAL
        outcome[paid_off] = Outcome.PAID
        outcome[paid_off & d.settled] = Outcome.SETTLED
        outcome[plan_done] = Outcome.PLAN_COMPLETED
        return done, outcome

    def _drift(self) -> None:
        """Hidden daily change: income recovers or shocks, willingness drifts, fatigue fades."""
        dyn, tr, d = self.scenario.dynamics, self.traits, self.dyn
        u = self._u[:, _U_SHOCK]
        gap = np.maximum(0.0, tr.liquidity_later - d.liquidity)
        d.liquidity += tr.recovery_rate * gap
        shock = u < dyn.income_shock_daily.value
        d.liquidity[shock] *= dyn.income_shock_ability_factor.value
        noise = dyn.willingness_noise_daily.value * self._z[:, 0]
        d.willingness = np.clip(
            d.willingness * (1.0 - dyn.willingness_decay_daily.value) + noise, 0.0, 1.0
        )
        d.fatigue *= self._fatigue_decay

    def _next_day(self) -> None:
        self.clock += 1
        self.ledger.next_day()
        self.batch.days_past_due[self.dyn.active] += 1

    # -- introspection for tests and audits -------------------------------------------------

    @property
    def all_done(self) -> bool:
        return not self.dyn.active.any()

    def events_for(self, row: int) -> list[object]:
        """Recorded ledger events of the debtor now in ``row`` (needs ``record_events``)."""
        if self.recorder is None:
            raise ValueError("construct the simulator with record_events=True to get events")
        return list(self.recorder.events_for(self.case_id(row)))

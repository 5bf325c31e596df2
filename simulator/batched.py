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

from engine.catalogue import (
    CATALOGUE,
    OFFER_DEFERRAL_DAYS,
    OFFER_DISCOUNT,
    OFFER_INSTALMENTS,
    Action,
    Channel,
    Offer,
    Slot,
)
from engine.features import featurize
from engine.state import N_CHANNEL_SLOTS, CaseBatch
from simulator import timeline as tl
from simulator.dynamics_state import DebtorDynamics
from simulator.events import EventRecorder, RowContext
from simulator.ledger_columns import LedgerColumns
from simulator.masks import MaskProvider, checked_masks
from simulator.outcomes import RESOLVED_OUTCOMES, CaseOutcomes, Outcome
from simulator.population import DebtorTraits, PopulationSampler
from simulator.scenario import Scenario, draw_world
from simulator.step_log import StepLog

# Catalogue attribute columns as intp for fast gathers.
_ACTION = CATALOGUE.actions.astype(np.intp)
_CHANNEL = CATALOGUE.channels.astype(np.intp)
_TONE = CATALOGUE.tones.astype(np.intp)
_OFFER = CATALOGUE.offers.astype(np.intp)
_SLOT = CATALOGUE.slots.astype(np.intp)
_N_OFFERS = max(Offer) + 1
_DISCOUNT = OFFER_DISCOUNT
_INSTALMENTS = OFFER_INSTALMENTS
_DEFERRAL = OFFER_DEFERRAL_DAYS
_SMALL_SETTLEMENT = np.zeros(_N_OFFERS, dtype=bool)
_SMALL_SETTLEMENT[Offer.SETTLE_20] = True
_OPENS_TRACKED = np.zeros(N_CHANNEL_SLOTS, dtype=bool)
_OPENS_TRACKED[[Channel.EMAIL, Channel.PUSH]] = True  # SMS reads and letters leave no trace
_DIGITAL = np.zeros(N_CHANNEL_SLOTS, dtype=bool)
_DIGITAL[[Channel.EMAIL, Channel.SMS, Channel.PUSH]] = True
_CHURN_CLASS = np.zeros(max(Outcome) + 1, dtype=np.intp)  # 0 resolved, 1 unresolved, 2 legal
_CHURN_CLASS[Outcome.UNRESOLVED] = 1
_CHURN_CLASS[Outcome.LEGAL] = 2

# Columns of the per-row uniforms drawn once per day (see BatchedCollectionsSim.step).
_CONTACT_DRAWS = 10
_U_LETTER = slice(0, _CONTACT_DRAWS)
_U_CONTACT = slice(_CONTACT_DRAWS, 2 * _CONTACT_DRAWS)
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


class BatchedCollectionsSim:
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
        self._discount_legal = (1.0 + sc.legal.annual_discount_rate.value) ** (
            -sc.legal.recovery_delay_days / 365.0
        )

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
        finished = self._finish(finished_rows, outcome[finished_rows])
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
        pending = self.dyn.pending_letters[:, ring]
        rows = np.flatnonzero(pending >= 0)
        self.dyn.pending_letters[:, ring] = -1
        rows = rows[self.dyn.active[rows]]
        if rows.size:
            treat = pending[rows].astype(np.intp)
            hour = np.full(rows.size, tl.LETTER_ARRIVAL_HOUR)
            self._respond(rows, treat, hour, self._u[rows, _U_LETTER])

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
        cost = cost + np.where(legal, self.scenario.legal.cost.value, 0.0)
        self._spent[rows] += cost
        d.cost[rows] += cost
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
            self._respond(rows[now], treat[now], hour[now], self._u[rows[now], _U_CONTACT])

    def _respond(
        self, rows: np.ndarray, treat: np.ndarray, hour: np.ndarray, u: np.ndarray
    ) -> None:
        """A contact reaches (or not) the debtors in ``rows`` and they react; ``u`` holds
        their uniforms for this contact (one row each, :data:`_CONTACT_DRAWS` columns)."""
        sc, tr, d, b, led = self.scenario, self.traits, self.dyn, self.batch, self.ledger
        ch, act, tone = _CHANNEL[treat], _ACTION[treat], _TONE[treat]
        offer, slot = _OFFER[treat], _SLOT[treat]
        phone = ch == Channel.PHONE
        delivered = u[:, 0] < tr.delivery[rows, ch]
        if phone.any():
            led.call_outcome(rows[phone], delivered[phone], hour[phone], tl.DELIVERY)
        sel = delivered & _DIGITAL[ch]
        led.delivered(rows[sel], ch[sel], hour[sel], tl.DELIVERY)

        d.fatigue[rows] += np.where(delivered, tr.fatigue_weight[rows, ch], 0.0)
        fatigue = d.fatigue[rows]
        damp = np.exp(-sc.fatigue.response_penalty.value * fatigue)
        preferred = slot == tr.preferred_slot[rows]
        timing = np.where(
            slot == Slot.POST, 1.0, np.where(preferred, tr.slot_match[rows], tr.slot_mismatch[rows])
        )
        legal = act == Action.LEGAL_ESCALATION
        attention = np.where(
            legal, self.scenario.legal.notice_attention.value, tr.attention[rows, ch] * timing
        )
        noticed = delivered & (u[:, 1] < attention * damp)
        sel = noticed & _OPENS_TRACKED[ch]
        led.opened(rows[sel], ch[sel], hour[sel], tl.NOTICED)
        talk = noticed & phone
        led.conversation(rows[talk], hour[talk], tl.NOTICED)
        trows = rows[talk]
        self._spent[trows] += tr.conversation_cost[trows]  # the agent's handling time
        d.cost[trows] += tr.conversation_cost[trows]

        # Experience: the tone of what was noticed, the weight of too much contact.
        delta = np.where(legal, tr.experience_legal[rows], tr.tone_experience[rows, tone])
        delta = np.where(noticed, delta, 0.0)
        delta += np.where(talk & ~preferred, tr.off_slot_experience[rows], 0.0)
        over = np.maximum(0.0, fatigue - sc.fatigue.tolerance.value)
        delta -= np.where(delivered, sc.fatigue.experience_penalty.value * over, 0.0)
        d.experience[rows] += delta

        # A debtor who disputes does not pay on that contact.
        dispute = noticed & ~d.disputed[rows] & (u[:, 2] < tr.dispute_propensity[rows])
        dispute &= ~b.dispute[rows]
        drows = rows[dispute]
        led.dispute_opened(drows, hour[dispute], tl.DISPUTE)
        d.disputed[drows] = True
        d.dispute_until[drows] = self.clock + sc.disputes.resolution_days
        d.experience[drows] += tr.experience_dispute[drows]

        motivation = (
            d.willingness[rows]
            * tr.tone_response[rows, tone]
            * tr.action_response[rows, act]
            * damp
        )
        p_act = np.minimum(tr.response[rows, ch] * motivation, 0.95)
        acts = noticed & ~dispute & (u[:, 3] < p_act) & (b.outstanding_minor[rows] > 0)
        sel = acts & _DIGITAL[ch]
        led.clicked(rows[sel], ch[sel], hour[sel], tl.CLICK)
        if talk.any():
            self._reveal_hardship(rows[talk], u[talk, 9])
        if acts.any():
            self._decide(rows[acts], ch[acts], offer[acts], hour[acts], u[acts])

        # Side effects of being contacted.
        # Complaints about what was said (noticed contacts, by tone) and about how often
        # (any delivered contact, growing with fatigue: "excessive contact").
        content = np.where(noticed, self._complaint_factor(rows, tone, legal), 0.0)
        frequency = np.where(delivered, sc.fatigue.complaint_gain.value * fatigue, 0.0)
        p_complaint = tr.complaint_propensity[rows] * tr.complaint[rows, ch] * (content + frequency)
        complain = u[:, 6] < p_complaint
        crows = rows[complain]
        led.complaint(crows, hour[complain], tl.COMPLAINT)
        d.complaints[crows] += 1
        d.experience[crows] += tr.experience_complaint[crows]
        self._complained[crows] += 1
        opt = delivered & _DIGITAL[ch] & (u[:, 7] < tr.opt_out[rows, ch] * (1.0 + fatigue))
        led.opt_out(rows[opt], ch[opt], hour[opt], tl.OPT_OUT)
        cease = noticed & (u[:, 8] < tr.cease_request[rows] * (1.0 + fatigue))
        cease &= ~b.cease_communication[rows]
        led.cease(rows[cease], hour[cease], tl.CEASE)

    def _complaint_factor(
        self, rows: np.ndarray, tone: np.ndarray, legal: np.ndarray
    ) -> np.ndarray:
        c = self.scenario.complaints
        factor = np.choose(
            np.clip(tone - 1, 0, 2),
            [c.tone.EMPATHETIC.value, c.tone.NEUTRAL.value, c.tone.FIRM.value],
        )
        factor = np.where(legal, c.legal_factor.value, factor)
        return factor * np.where(self.traits.vulnerable[rows], c.vulnerable_factor.value, 1.0)

    def _reveal_hardship(self, rows: np.ndarray, u: np.ndarray) -> None:
        """In a conversation a debtor who cannot pay may say so; the creditor flags it."""
        short = self.dyn.liquidity[rows] < self.batch.outstanding_minor[rows]
        tell = short & (u < self.scenario.dynamics.hardship_disclosure.value)
        self.batch.hardship[rows[tell]] = True

    def _decide(
        self, rows: np.ndarray, ch: np.ndarray, offer: np.ndarray, hour: np.ndarray, u: np.ndarray
    ) -> None:
        """Debtors who act on a contact: take the offer, pay, promise or agree a plan."""
        sc, tr, d, b, led = self.scenario, self.traits, self.dyn, self.batch, self.ledger
        owed = b.outstanding_minor[rows].astype(np.float64)
        cash = d.liquidity[rows]
        free = ~b.plan_active[rows]
        handled = np.zeros(rows.size, dtype=bool)

        discount = _DISCOUNT[offer]
        p_settle = tr.settlement_acceptance[rows] * np.where(
            _SMALL_SETTLEMENT[offer], sc.settlement.small_discount_factor.value, 1.0
        )
        settle = (discount > 0) & (cash >= (1 - discount) * owed) & (u[:, 4] < p_settle)
        handled |= settle

        k = _INSTALMENTS[offer]
        plan = (k > 0) & free & (cash * np.maximum(k, 1) >= owed)
        plan &= u[:, 4] < tr.plan_acceptance[rows]
        handled |= plan

        defer = (_DEFERRAL[offer] > 0) & free & (d.promise_due[rows] < 0)
        defer &= u[:, 4] < tr.deferral_acceptance[rows]
        handled |= defer

        rest = ~handled
        full = rest & (cash >= owed)
        phone = ch == Channel.PHONE
        promise_full = full & phone & (u[:, 5] < 0.5) & (d.promise_due[rows] < 0)
        pay_full = full & ~promise_full
        k_agent = sc.plans.agent_plan_instalments
        agent_plan = rest & ~full & phone & free & (cash * k_agent >= owed)
        agent_plan &= u[:, 4] < tr.plan_acceptance[rows]
        partial = rest & ~full & ~agent_plan & (u[:, 5] < sc.dynamics.partial_payment.value)
        partial &= cash >= 100  # nothing below one major unit

        accepted = settle | plan | defer | agent_plan
        d.experience[rows[accepted]] += tr.experience_offer[rows[accepted]]

        promised = defer | promise_full
        prows = rows[promised]
        led.promise(prows, hour[promised], tl.AGREEMENT)
        d.promise_due[prows] = self.clock + np.where(
            defer[promised], _DEFERRAL[offer[promised]], sc.dynamics.promise_due_days
        )
        planned = plan | agent_plan
        n_inst = np.where(plan, k, k_agent)[planned]
        lrows = rows[planned]
        led.plan_agreed(lrows, hour[planned], tl.AGREEMENT)
        instalment = np.ceil(owed[planned] / n_inst).astype(np.int64)
        d.plan_left[lrows] = n_inst - 1
        d.plan_amount[lrows] = instalment
        d.plan_next[lrows] = self.clock + sc.plans.interval_days
        d.plan_by_agent[lrows] = agent_plan[planned]

        amount = np.zeros(rows.size, dtype=np.int64)
        amount[settle] = np.ceil((1 - discount[settle]) * owed[settle]).astype(np.int64)
        amount[pay_full] = owed[pay_full].astype(np.int64)
        amount[planned] = np.minimum(instalment, owed[planned].astype(np.int64))
        amount[partial] = np.floor(np.minimum(cash[partial], owed[partial]) * 0.9).astype(np.int64)
        paying = amount > 0
        self._pay(rows[paying], amount[paying], hour[paying], tl.PAYMENT)
        srows = rows[settle]
        d.settled[srows] = True
        b.outstanding_minor[srows] = 0  # the discount is waived

    def _pay(
        self, rows: np.ndarray, amount: np.ndarray, hour: np.ndarray | int, minute: int
    ) -> None:
        d, b = self.dyn, self.batch
        self.ledger.payment(rows, amount, hour, minute)
        b.outstanding_minor[rows] -= amount
        d.liquidity[rows] -= amount
        d.collected_minor[rows] += amount
        d.promise_due[rows] = -1  # a payment settles an open promise (ledger semantics)
        self._money[rows] += amount / 100.0

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
        d.plan_left[self._broken_plan] = 0
        d.plan_next[self._broken_plan] = -1

        day_of_month = (self.local_dates - self.local_dates.astype("datetime64[M]")).astype(int) + 1
        since_payday = (day_of_month - sc.dynamics.payday_day_of_month) % 31
        payday = since_payday <= sc.dynamics.payday_window_days
        p_spont = tr.spontaneous_pay * np.where(payday, sc.dynamics.payday_boost.value, 1.0)
        spont = active & ~keep & ~due & ~b.plan_active & (d.liquidity >= owed)
        spont &= u[:, 2] < p_spont

        full = keep | spont
        amount = np.where(full, owed, np.where(paid, amount, 0))
        rows = np.flatnonzero(amount > 0)
        self._pay(rows, amount[rows], hour, minute)

    def _end_of_day(self) -> tuple[np.ndarray, np.ndarray]:
        """Broken agreements, closures, protections and the end of episodes (23:00)."""
        sc, tr, d, b, led = self.scenario, self.traits, self.dyn, self.batch, self.ledger
        hour = tl.END_OF_DAY[0]
        active = d.active
        led.promise_broken(np.flatnonzero(self._broken_promise), hour, 0)
        led.plan_broken(np.flatnonzero(self._broken_plan), hour, 1)
        paid_off = active & (b.outstanding_minor <= 0)
        plan_done = paid_off & b.plan_active
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

    def _rewards(self, done: np.ndarray, outcome: np.ndarray) -> np.ndarray:
        sc, d, b, tr = self.scenario, self.dyn, self.batch, self.traits
        r = sc.reward
        money = self._money - self._spent - r.complaint_price.value * self._complained
        money -= r.churn_price.value * self._churn_today
        rows = np.flatnonzero(done)
        self._p_churn_after = np.zeros(self.n)
        self._legal_expected = np.zeros(self.n)
        if rows.size:
            out = outcome[rows]
            resolved = np.isin(out, [int(o) for o in RESOLVED_OUTCOMES])
            d.experience[rows[resolved]] += tr.experience_resolved[rows[resolved]]
            legal = out == Outcome.LEGAL
            lg = sc.legal
            expected = np.where(
                legal,
                lg.recovery_probability.value
                * lg.recovery_share.value
                * b.outstanding_minor[rows]
                / 100.0
                * self._discount_legal,
                0.0,
            )
            self._legal_expected[rows] = expected
            money[rows] += expected
            if sc.churn.enabled:
                logit = tr.churn_after[rows, _CHURN_CLASS[out]]
                logit -= sc.churn.after.experience_slope.value * d.experience[rows]
                p = np.where(d.churned[rows], 0.0, 1.0 / (1.0 + np.exp(-logit)))
                self._p_churn_after[rows] = p
                money[rows] -= r.churn_price.value * p
        rewards = np.where(d.active, money / r.scale, 0.0)
        d.reward += rewards
        return rewards

    def _finish(self, rows: np.ndarray, outcome: np.ndarray) -> CaseOutcomes:
        sc, d, b, tr = self.scenario, self.dyn, self.batch, self.traits
        churned = d.churned[rows].copy()
        if sc.churn.enabled:
            churned |= self._u[rows, _U_CHURN_AFTER] < self._p_churn_after[rows]
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
            legal_expected_minor=self._legal_expected[rows] * 100.0,
            cost=d.cost[rows].copy(),
            contacts=d.contacts[rows].copy(),
            complaints=d.complaints[rows].copy(),
            churned=churned,
            nps_score=np.clip(np.rint(score), 0, 10).astype(np.int8),
            reward=d.reward[rows].copy(),
        )

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

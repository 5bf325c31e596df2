"""``oracle``: a reference policy that reads the simulator's hidden debtor state.

No real collector knows a debtor's willingness, cash at hand, preferred hour, or how they
react to each channel and tone; the simulator does. The oracle uses that knowledge to
pick, every day, the allowed treatment with the highest *expected one-day value* — money
it brings forward, minus its cost, minus the expected price of the complaints, churn and
worse experience it causes — and waits when nothing is worth its cost. It is an upper
**reference** for evaluation reports ("how much is there to gain from knowing the debtor
better?"), not a proven upper bound: it plans one day ahead, so a learned policy can beat
it where patience pays.

It is never served: :func:`policies.registry.load_policy` does not know it (it needs the
simulator), and its :meth:`OraclePolicy.act` refuses to run before
:meth:`OraclePolicy.observe_hidden` has handed it the simulator whose rows the
observations are. :mod:`policies.evaluate` does that before every decision.

The expected value mirrors the simulator's behaviour model (``simulator/reactions.py``:
``respond`` and ``decide``), with these deliberate simplifications: a letter is valued
as if it arrived today; a deferral or promise is valued at its keep rate; a plan at its
expected instalments (a plan still running at the horizon is valued at its expected
completion, as the simulator values it); money at today's discount factor; the value of
being paid today rather than later is the share of the debt the debtor would *not* pay on
their own within a week, times ``patience``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

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
from policies.base import PolicyDecisions
from simulator.valuation import discount_factor

if TYPE_CHECKING:
    from simulator.batched import BatchedCollectionsSim

_ACTION = CATALOGUE.actions.astype(np.intp)
_CHANNEL = CATALOGUE.channels.astype(np.intp)
_TONE = CATALOGUE.tones.astype(np.intp)
_OFFER = CATALOGUE.offers.astype(np.intp)
_SLOT = CATALOGUE.slots.astype(np.intp)
_DISCOUNT = OFFER_DISCOUNT  # the catalogue's offer terms, indexed by Offer value
_INSTALMENTS = OFFER_INSTALMENTS
_DEFERRAL = OFFER_DEFERRAL_DAYS
_IS_LEGAL = _ACTION == Action.LEGAL_ESCALATION
_IS_PHONE = _CHANNEL == Channel.PHONE
_IS_POST = _SLOT == Slot.POST
_IS_SMALL_SETTLEMENT = _OFFER == Offer.SETTLE_20
_CONTACT = _ACTION != Action.WAIT
_TONE_COLUMN = np.clip(_TONE - 1, 0, 2)  # EMPATHETIC, NEUTRAL, FIRM → 0, 1, 2


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


@runtime_checkable
class HiddenStateConsumer(Protocol):
    """A policy that must see the simulator before each decision (evaluation only)."""

    def observe_hidden(self, sim: BatchedCollectionsSim) -> None:
        """Called by the evaluator right before ``act`` with the simulator of those rows."""
        ...


@dataclass(frozen=True, slots=True)
class OracleSettings:
    """Knobs of the one-day look-ahead (documented in docs/policies.md)."""

    patience: float = 0.6
    """Share of a payment brought forward that counts as gained: the rest is assumed to come
    anyway through a later contact. 1 = myopic (every payment is new money)."""
    spontaneous_window_days: int = 7
    """A debtor who would pay unprompted within this many days is left alone: the chance
    that they do so scales the gain of contacting them."""
    min_gain: float = 0.05
    """Contact only when the expected gain exceeds this (major units); ties go to WAIT."""


class OraclePolicy:
    """Greedy expected-value policy over the hidden debtor state (see module docstring)."""

    name = "oracle"
    version = "1"

    def __init__(self, settings: OracleSettings | None = None) -> None:
        self.settings = settings or OracleSettings()
        self._sim: BatchedCollectionsSim | None = None

    def observe_hidden(self, sim: BatchedCollectionsSim) -> None:
        """Hand over the simulator whose current decision the next ``act`` call makes."""
        self._sim = sim

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """The allowed treatment of highest expected gain per row (WAIT if none pays)."""
        sim = self._sim
        if sim is None:
            raise RuntimeError(
                "the oracle reads the simulator's hidden state: call observe_hidden(sim) "
                "before act() (policies.evaluate does); it cannot be served"
            )
        n = observations.shape[0]
        if n != sim.n or masks.shape != (n, len(CATALOGUE)):
            raise ValueError(
                f"observations ({n} rows) and masks {masks.shape} do not match the simulator "
                f"the oracle observes ({sim.n} rows); pass the observations of that simulator"
            )
        gain = self.expected_gain(sim)
        gain = np.where(masks, gain, -np.inf)
        gain[:, CATALOGUE.WAIT_INDEX] = self.settings.min_gain
        chosen = np.argmax(gain, axis=1).astype(np.int64)
        return PolicyDecisions(indices=chosen, propensities=np.ones(n))

    # ----------------------------------------------------------------------------- model

    def expected_gain(self, sim: BatchedCollectionsSim) -> np.ndarray:
        """(n, len(CATALOGUE)) expected one-day gain of each treatment over WAIT, in major
        currency units (WAIT itself is 0; masks are not applied)."""
        sc, tr, d, b = sim.scenario, sim.traits, sim.dyn, sim.batch
        s = self.settings
        owed = np.maximum(b.outstanding_minor, 0).astype(np.float64)[:, None] / 100.0
        cash = d.liquidity[:, None] / 100.0
        free = ~b.plan_active[:, None]
        no_promise = d.promise_due[:, None] < 0

        # Reach: delivered, then noticed (attention × timing × fatigue damping).
        delivery = tr.delivery[:, _CHANNEL]
        fatigue = d.fatigue[:, None] + delivery * tr.fatigue_weight[:, _CHANNEL]
        damp = np.exp(-sc.fatigue.response_penalty.value * fatigue)
        preferred = _SLOT[None, :] == tr.preferred_slot[:, None]
        timing = np.where(
            _IS_POST[None, :],
            1.0,
            np.where(preferred, tr.slot_match[:, None], tr.slot_mismatch[:, None]),
        )
        attention = np.where(
            _IS_LEGAL[None, :], sc.legal.notice_attention.value, tr.attention[:, _CHANNEL] * timing
        )
        noticed = delivery * np.minimum(attention * damp, 1.0)
        can_dispute = ~(d.disputed | b.dispute)[:, None]
        p_dispute = np.where(can_dispute, tr.dispute_propensity[:, None], 0.0)
        drive = d.willingness[:, None] * tr.tone_response[:, _TONE] * damp
        drive = tr.response[:, _CHANNEL] * drive * (owed > 0)
        is_offer = (_OFFER != Offer.NONE)[None, :]
        reminder = tr.action_response[:, [int(Action.REMINDER)]]
        p_reminder = np.minimum(
            drive * np.where(is_offer, reminder, tr.action_response[:, _ACTION]), 0.95
        )
        p_offer = np.where(is_offer, np.minimum(drive * tr.action_response[:, _ACTION], 0.95), 0.0)
        reach = noticed * (1.0 - p_dispute)

        # What an acting debtor pays, by the offer attached (mirrors simulator.reactions.decide).
        resolved_bonus = self._resolution_bonus(sim)[:, None]
        discount = _DISCOUNT[_OFFER][None, :]
        full = cash >= owed
        need = np.where(full, sc.plans.able_to_pay_factor.value, 1.0)
        settle_ok = (discount > 0) & (cash >= (1 - discount) * owed)
        p_settle = tr.settlement_acceptance[:, None] * np.where(
            _IS_SMALL_SETTLEMENT[None, :], sc.settlement.small_discount_factor.value, 1.0
        )
        p_settle = np.where(settle_ok, p_settle, 0.0)
        value_settle = (1 - discount) * owed + resolved_bonus

        k = _INSTALMENTS[_OFFER][None, :]
        plan_ok = (k > 0) & free & (cash * np.maximum(k, 1) >= owed)
        p_plan = np.where(plan_ok, tr.plan_acceptance[:, None] * need, 0.0)
        value_plan = self._plan_value(owed, k, tr.instalment_keep[:, None], sc)
        value_plan = value_plan + resolved_bonus * tr.instalment_keep[:, None] ** np.maximum(
            k - 1, 0
        )

        defer_ok = (_DEFERRAL[_OFFER][None, :] > 0) & free & no_promise
        p_defer = np.where(defer_ok, tr.deferral_acceptance[:, None] * need, 0.0)
        later_cash = tr.liquidity_later[:, None] / 100.0
        keep = tr.promise_keep[:, None]
        value_defer = np.where(later_cash >= owed, keep * (owed + resolved_bonus), 0.0)

        takes = np.minimum(p_settle + p_plan + p_defer, 1.0)
        phone = _IS_PHONE[None, :]
        value_full = np.where(
            phone, 0.5 * (owed + resolved_bonus) * (1 + keep), owed + resolved_bonus
        )
        agent_plan = ~full & phone & free & (cash * sc.plans.agent_plan_instalments >= owed)
        value_agent_plan = tr.plan_acceptance[:, None] * (
            self._plan_value(
                owed,
                np.full_like(k, sc.plans.agent_plan_instalments),
                tr.instalment_keep[:, None],
                sc,
            )
            + resolved_bonus * 0.5
        )
        value_partial = sc.dynamics.partial_payment.value * 0.9 * np.minimum(cash, owed)
        value_partial = np.where(cash >= 1.0, value_partial, 0.0)
        value_rest = np.where(
            full, value_full, np.where(agent_plan, value_agent_plan, value_partial)
        )
        value_rest = np.where(free, value_rest, 0.0)  # plan holders pay on schedule only
        # An accepted offer also lifts the debtor's experience (less churn afterwards).
        offer_experience = self._churn_per_experience(sim)[:, None] * tr.experience_offer[:, None]
        value_offer = p_settle * value_settle + p_plan * value_plan + p_defer * value_defer
        value_offer = value_offer + takes * offer_experience
        # Considering the offer: take it, or fall back to the reminder's outcome if the
        # debtor would have acted on the reminder (p_reminder / p_offer of them).
        fallback = np.minimum(p_reminder, p_offer) * (1.0 - takes) * value_rest
        value_act = np.where(
            is_offer,
            p_offer * value_offer + fallback + np.maximum(p_reminder - p_offer, 0.0) * value_rest,
            p_reminder * value_rest,
        )
        acts = reach
        today = discount_factor(sim.clock - d.born, sc.reward.annual_discount_rate)[:, None]
        value_act = value_act * today

        # Gained, not merely brought forward: scale by patience and by the chance that the
        # debtor would not have paid unprompted within the window anyway.
        spontaneous = np.where(full[:, 0], tr.spontaneous_pay, 0.0) * (~b.plan_active)
        anyway = 1.0 - (1.0 - spontaneous) ** s.spontaneous_window_days
        gain = acts * value_act * s.patience * (1.0 - anyway)[:, None]

        # Legal escalation ends the episode: expected enforcement recovery instead.
        legal = sc.legal
        arrives = sim.clock - d.born + legal.recovery_delay_days
        legal_value = (
            legal.recovery_probability.value
            * legal.recovery_share.value
            * owed
            * discount_factor(arrives, sc.reward.annual_discount_rate)[:, None]
        )
        churn_logit_legal = tr.churn_after[:, 2] - sc.churn.after.experience_slope.value * (
            d.experience + tr.experience_legal
        )
        legal_churn = sc.reward.churn_price.value * (
            _sigmoid(churn_logit_legal) - self._p_churn(sim, resolved=False)
        )
        legal_gain = legal_value - legal_churn[:, None] - legal.cost.value
        gain = np.where(_IS_LEGAL[None, :], legal_gain, gain)

        # Costs and harms: contact cost, complaints, experience (through churn).
        gain -= tr.cost[:, _CHANNEL]
        marginal = self._churn_per_experience(sim)[:, None]
        tone_exp = np.where(
            _IS_LEGAL[None, :], tr.experience_legal[:, None], tr.tone_experience[:, _TONE]
        )
        over = np.maximum(0.0, fatigue - sc.fatigue.tolerance.value)
        exp_delta = noticed * tone_exp - delivery * sc.fatigue.experience_penalty.value * over
        gain += np.where(_IS_LEGAL[None, :], 0.0, marginal * exp_delta)
        c = sc.complaints
        tone_factor = np.array([c.tone.EMPATHETIC.value, c.tone.NEUTRAL.value, c.tone.FIRM.value])
        complaint_factor = np.where(_IS_LEGAL, c.legal_factor.value, tone_factor[_TONE_COLUMN])
        vulnerable = np.where(tr.vulnerable, c.vulnerable_factor.value, 1.0)  # type: ignore[attr-defined]
        p_complaint = (
            tr.complaint_propensity[:, None]
            * (1.0 + sc.fatigue.complaint_gain.value * fatigue)
            * complaint_factor[None, :]
            * vulnerable[:, None]
        )
        complaint_price = (
            sc.reward.complaint_price.value - marginal * tr.experience_complaint[:, None]
        )
        gain -= noticed * p_complaint * complaint_price
        gain[:, ~_CONTACT] = 0.0
        return np.asarray(gain)

    @staticmethod
    def _plan_value(owed: np.ndarray, k: np.ndarray, keep: np.ndarray, sc: object) -> np.ndarray:
        """Expected instalments of a plan (first one today); one still running at the
        horizon is valued at its expected completion, as the simulator values it."""
        k_safe = np.maximum(k, 1)
        # Σ_{i<k} keep^i: the first instalment is paid on acceptance, each later one is kept
        # with probability ``keep`` given the previous ones were.
        paid = np.where(
            np.isclose(keep, 1.0), k_safe, (1 - keep**k_safe) / np.maximum(1 - keep, 1e-9)
        )
        return np.asarray(np.where(k > 0, owed / k_safe * paid, 0.0))

    @staticmethod
    def _p_churn(sim: BatchedCollectionsSim, *, resolved: bool) -> np.ndarray:
        sc, tr, d = sim.scenario, sim.traits, sim.dyn
        slope = sc.churn.after.experience_slope.value
        if resolved:
            logit = tr.churn_after[:, 0] - slope * (d.experience + tr.experience_resolved)
        else:
            logit = tr.churn_after[:, 1] - slope * d.experience
        return np.where(d.churned | ~sc.churn.enabled, 0.0, _sigmoid(logit))

    def _resolution_bonus(self, sim: BatchedCollectionsSim) -> np.ndarray:
        """Churn price saved when the case ends resolved rather than unresolved."""
        price = sim.scenario.reward.churn_price.value
        saved = self._p_churn(sim, resolved=False) - self._p_churn(sim, resolved=True)
        return np.asarray(price * saved)

    def _churn_per_experience(self, sim: BatchedCollectionsSim) -> np.ndarray:
        """Churn price per unit of experience: the slope of the churn-after logistic."""
        sc = sim.scenario
        p = self._p_churn(sim, resolved=False)
        return np.asarray(
            sc.reward.churn_price.value * sc.churn.after.experience_slope.value * p * (1 - p)
        )


__all__ = ["HiddenStateConsumer", "OraclePolicy", "OracleSettings"]

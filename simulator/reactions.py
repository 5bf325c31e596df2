"""How a debtor receives a contact and what they do about it.

A contact is *delivered* (receipts; a call connects), *noticed* (read, opened; a call
becomes a conversation with the right party), and then perhaps *acted on*. Acting is drawn
once per contact, against two thresholds on the same uniform number:

* ``p_reminder`` — the chance of acting on a reminder of the same channel and tone:
  ``response(channel) × willingness × tone effect × reminder effect × fatigue damping``;
* ``p_offer`` — the same with the offer's effect instead of the reminder's (plan, deferral
  and settlement steps only). The offer's effect relative to the reminder's is its
  *uplift*; the scenario gives it with its source and a range that includes "no effect".

So the debtors who would act on a reminder are (if the uplift ≥ 1) a subset of those who
act on the offer, and:

* a debtor who considers the offer takes it if it fits what they can and want to pay
  (:func:`decide`), else
* does exactly what the reminder would have led them to do — pay in full if able, promise
  or agree a plan with an agent on the phone, pay part — *if* they would have acted on the
  reminder. A rejected offer is never better than no offer.

Plan holders pay on the plan's schedule only: a contact can still make them settle the rest
at a discount, but not pay early in full (they do not do that unprompted either).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

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
from engine.state import N_CHANNEL_SLOTS
from simulator import timeline as tl

if TYPE_CHECKING:
    from simulator.batched import BatchedCollectionsSim

_ACTION = CATALOGUE.actions.astype(np.intp)
_CHANNEL = CATALOGUE.channels.astype(np.intp)
_TONE = CATALOGUE.tones.astype(np.intp)
_OFFER = CATALOGUE.offers.astype(np.intp)
_SLOT = CATALOGUE.slots.astype(np.intp)
_SMALL_SETTLEMENT = np.zeros(max(Offer) + 1, dtype=bool)
_SMALL_SETTLEMENT[Offer.SETTLE_20] = True
_OPENS_TRACKED = np.zeros(N_CHANNEL_SLOTS, dtype=bool)
_OPENS_TRACKED[[Channel.EMAIL, Channel.PUSH]] = True  # SMS reads and letters leave no trace
DIGITAL = np.zeros(N_CHANNEL_SLOTS, dtype=bool)
DIGITAL[[Channel.EMAIL, Channel.SMS, Channel.PUSH]] = True
_P_ACT_CAP = 0.95

CONTACT_DRAWS = 10
"""Uniform numbers each contact consumes (one row of ``u``); see :func:`respond`."""


def respond(
    sim: BatchedCollectionsSim, rows: np.ndarray, treat: np.ndarray, hour: np.ndarray, u: np.ndarray
) -> None:
    """A contact reaches (or not) the debtors in ``rows`` and they react; ``u`` holds their
    uniforms for this contact (one row each, :data:`CONTACT_DRAWS` columns)."""
    sc, tr, d, b, led = sim.scenario, sim.traits, sim.dyn, sim.batch, sim.ledger
    ch, act, tone = _CHANNEL[treat], _ACTION[treat], _TONE[treat]
    offer, slot = _OFFER[treat], _SLOT[treat]
    phone = ch == Channel.PHONE
    delivered = u[:, 0] < tr.delivery[rows, ch]
    if phone.any():
        led.call_outcome(rows[phone], delivered[phone], hour[phone], tl.DELIVERY)
    sel = delivered & DIGITAL[ch]
    led.delivered(rows[sel], ch[sel], hour[sel], tl.DELIVERY)

    d.fatigue[rows] += np.where(delivered, tr.fatigue_weight[rows, ch], 0.0)
    fatigue = d.fatigue[rows]
    damp = np.exp(-sc.fatigue.response_penalty.value * fatigue)
    preferred = slot == tr.preferred_slot[rows]
    timing = np.where(
        slot == Slot.POST, 1.0, np.where(preferred, tr.slot_match[rows], tr.slot_mismatch[rows])
    )
    legal = act == Action.LEGAL_ESCALATION
    attention = np.where(legal, sc.legal.notice_attention.value, tr.attention[rows, ch] * timing)
    noticed = delivered & (u[:, 1] < attention * damp)
    sel = noticed & _OPENS_TRACKED[ch]
    led.opened(rows[sel], ch[sel], hour[sel], tl.NOTICED)
    talk = noticed & phone
    led.conversation(rows[talk], hour[talk], tl.NOTICED)
    trows = rows[talk]
    sim.spend(trows, tr.conversation_cost[trows])  # the agent's handling time
    d.noticed[rows[noticed]] += 1
    is_offer = offer != Offer.NONE
    d.offers_noticed[rows[noticed & is_offer]] += 1

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
    d.dispute_until[drows] = sim.clock + sc.disputes.resolution_days
    d.experience[drows] += tr.experience_dispute[drows]

    # Acting: one uniform against the reminder's and the offer's chance (module docs).
    drive = tr.response[rows, ch] * d.willingness[rows] * tr.tone_response[rows, tone] * damp
    reminder_effect = tr.action_response[rows, Action.REMINDER]
    p_reminder = np.minimum(
        drive * np.where(is_offer, reminder_effect, tr.action_response[rows, act]), _P_ACT_CAP
    )
    p_offer = np.minimum(drive * tr.action_response[rows, act], _P_ACT_CAP)
    can_act = noticed & ~dispute & (b.outstanding_minor[rows] > 0)
    engaged = can_act & (u[:, 3] < p_reminder)
    considers = can_act & is_offer & (u[:, 3] < p_offer)
    acts = engaged | considers
    d.acted[rows[acts]] += 1
    sel = acts & DIGITAL[ch]
    led.clicked(rows[sel], ch[sel], hour[sel], tl.CLICK)
    if talk.any():
        _reveal_hardship(sim, rows[talk], u[talk, 9])
    if acts.any():
        decide(
            sim,
            rows[acts],
            ch[acts],
            offer[acts],
            hour[acts],
            u[acts],
            considers[acts],
            engaged[acts],
        )

    # Side effects of being contacted.
    # Complaints about what was said (noticed contacts, by tone) and about how often
    # (any delivered contact, growing with fatigue: "excessive contact").
    content = np.where(noticed, _complaint_factor(sim, rows, tone, legal), 0.0)
    frequency = np.where(delivered, sc.fatigue.complaint_gain.value * fatigue, 0.0)
    p_complaint = tr.complaint_propensity[rows] * tr.complaint[rows, ch] * (content + frequency)
    complain = u[:, 6] < p_complaint
    crows = rows[complain]
    led.complaint(crows, hour[complain], tl.COMPLAINT)
    d.complaints[crows] += 1
    d.experience[crows] += tr.experience_complaint[crows]
    sim.complained(crows)
    opt = delivered & DIGITAL[ch] & (u[:, 7] < tr.opt_out[rows, ch] * (1.0 + fatigue))
    led.opt_out(rows[opt], ch[opt], hour[opt], tl.OPT_OUT)
    cease = noticed & (u[:, 8] < tr.cease_request[rows] * (1.0 + fatigue))
    cease &= ~b.cease_communication[rows]
    led.cease(rows[cease], hour[cease], tl.CEASE)


def _complaint_factor(
    sim: BatchedCollectionsSim, rows: np.ndarray, tone: np.ndarray, legal: np.ndarray
) -> np.ndarray:
    c = sim.scenario.complaints
    factor = np.choose(
        np.clip(tone - 1, 0, 2),
        [c.tone.EMPATHETIC.value, c.tone.NEUTRAL.value, c.tone.FIRM.value],
    )
    factor = np.where(legal, c.legal_factor.value, factor)
    return factor * np.where(sim.traits.vulnerable[rows], c.vulnerable_factor.value, 1.0)


def _reveal_hardship(sim: BatchedCollectionsSim, rows: np.ndarray, u: np.ndarray) -> None:
    """In a conversation a debtor who cannot pay may say so; the creditor flags it."""
    short = sim.dyn.liquidity[rows] < sim.batch.outstanding_minor[rows]
    tell = short & (u < sim.scenario.dynamics.hardship_disclosure.value)
    sim.batch.hardship[rows[tell]] = True


def decide(
    sim: BatchedCollectionsSim,
    rows: np.ndarray,
    ch: np.ndarray,
    offer: np.ndarray,
    hour: np.ndarray,
    u: np.ndarray,
    considers: np.ndarray,
    engaged: np.ndarray,
) -> None:
    """Debtors who act on a contact: take the offer if they consider it (``considers``) and
    it fits, else do what a reminder would have led them to do if they would have acted on
    it (``engaged``)."""
    sc, tr, d, b, led = sim.scenario, sim.traits, sim.dyn, sim.batch, sim.ledger
    owed = b.outstanding_minor[rows].astype(np.float64)
    cash = d.liquidity[rows]
    free = ~b.plan_active[rows]
    able = cash >= owed
    # Debtors who could pay in full take a plan or a deferral less often than those who
    # need it (scenario: plans.able_to_pay_factor, with its source).
    need = np.where(able, sc.plans.able_to_pay_factor.value, 1.0)

    discount = OFFER_DISCOUNT[offer]
    p_settle = tr.settlement_acceptance[rows] * np.where(
        _SMALL_SETTLEMENT[offer], sc.settlement.small_discount_factor.value, 1.0
    )
    settle = considers & (discount > 0) & (cash >= (1 - discount) * owed)
    settle &= u[:, 4] < p_settle

    # A plan is agreed by a debtor who can pay the first instalment now and expects to
    # afford the next ones (income at its recovered level covers an instalment).
    k = OFFER_INSTALMENTS[offer]
    instalment = np.ceil(owed / np.maximum(k, 1))
    affordable = (cash >= instalment) & (tr.liquidity_later[rows] >= instalment)
    plan = considers & (k > 0) & free & affordable
    plan &= u[:, 4] < tr.plan_acceptance[rows] * need

    defer = considers & (OFFER_DEFERRAL_DAYS[offer] > 0) & free & (d.promise_due[rows] < 0)
    defer &= u[:, 4] < tr.deferral_acceptance[rows] * need
    took = settle | plan | defer
    d.offers_taken[rows[took]] += 1

    # What the reminder would have led to (plan holders pay on schedule only).
    rest = engaged & ~took & free
    full = rest & able
    phone = ch == Channel.PHONE
    promise_full = full & phone & (u[:, 5] < 0.5) & (d.promise_due[rows] < 0)
    pay_full = full & ~promise_full
    k_agent = sc.plans.agent_plan_instalments
    agent_instalment = np.ceil(owed / k_agent)
    agent_plan = rest & ~full & phone & (cash >= agent_instalment)
    agent_plan &= tr.liquidity_later[rows] >= agent_instalment
    agent_plan &= u[:, 4] < tr.plan_acceptance[rows]
    partial = rest & ~full & ~agent_plan & (u[:, 5] < sc.dynamics.partial_payment.value)
    partial &= cash >= 100  # nothing below one major unit

    accepted = took | agent_plan
    d.experience[rows[accepted]] += tr.experience_offer[rows[accepted]]

    promised = defer | promise_full
    prows = rows[promised]
    led.promise(prows, hour[promised], tl.AGREEMENT)
    d.promise_due[prows] = sim.clock + np.where(
        defer[promised], OFFER_DEFERRAL_DAYS[offer[promised]], sc.dynamics.promise_due_days
    )
    planned = plan | agent_plan
    n_inst = np.where(plan, k, k_agent)[planned]
    instalment = np.ceil(owed[planned] / n_inst).astype(np.int64)
    sim.start_plans(rows[planned], hour[planned], n_inst, instalment, agent_plan[planned])

    amount = np.zeros(rows.size, dtype=np.int64)
    amount[settle] = np.ceil((1 - discount[settle]) * owed[settle]).astype(np.int64)
    amount[pay_full] = owed[pay_full].astype(np.int64)
    amount[planned] = np.minimum(instalment, owed[planned].astype(np.int64))
    amount[partial] = np.floor(np.minimum(cash[partial], owed[partial]) * 0.9).astype(np.int64)
    paying = amount > 0
    sim.pay(rows[paying], amount[paying], hour[paying], tl.PAYMENT)
    srows = rows[settle]
    d.settled[srows] = True
    b.outstanding_minor[srows] = 0  # the discount is waived


__all__ = ["CONTACT_DRAWS", "DIGITAL", "decide", "respond"]

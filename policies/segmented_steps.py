"""The steps of ``segmented`` in catalogue terms: what each step is, where it may fall back
to, and its catalogue index for every (channel, slot) a route may pick.

Split from :mod:`policies.segmented`, which decides *which* step a case gets; this module
says what that step *is*.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from engine.catalogue import CATALOGUE, Action, Channel, Offer, Slot, Tone, Treatment
from engine.state import N_CHANNEL_SLOTS

NOT_IN_CATALOGUE = len(CATALOGUE)
"""Column index past the mask's end: the target of (channel, slot) combinations a step
does not exist in (e.g. legal escalation by SMS), so ``first_allowed`` skips them."""


class Step(IntEnum):
    """What the strategy wants to do for a case, before channel, slot and mask."""

    WAIT = 0
    REMIND_EMPATHETIC = 1
    REMIND_NEUTRAL = 2
    REMIND_FIRM = 3
    DEMAND_NEUTRAL = 4
    DEMAND_FIRM = 5
    PLAN_3 = 6
    PLAN_6 = 7
    DEFER_30 = 8
    SETTLE_20 = 9
    SETTLE_40 = 10
    CALL_EMPATHETIC = 11
    CALL_NEUTRAL = 12
    CALL_FIRM = 13
    LEGAL = 14


class Route(IntEnum):
    PERSONAL = 0  # the debtor's channel order
    FORMAL = 1  # letter first, then the debtor's order
    PHONE = 2


@dataclass(frozen=True, slots=True)
class StepSpec:
    action: Action
    tone: Tone
    offer: Offer
    route: Route
    fallbacks: tuple[Step, ...]


STEP_SPECS: dict[Step, StepSpec] = {
    Step.REMIND_EMPATHETIC: StepSpec(
        Action.REMINDER, Tone.EMPATHETIC, Offer.NONE, Route.PERSONAL, ()
    ),
    Step.REMIND_NEUTRAL: StepSpec(Action.REMINDER, Tone.NEUTRAL, Offer.NONE, Route.PERSONAL, ()),
    Step.REMIND_FIRM: StepSpec(Action.REMINDER, Tone.FIRM, Offer.NONE, Route.PERSONAL, ()),
    Step.DEMAND_NEUTRAL: StepSpec(
        Action.DEMAND, Tone.NEUTRAL, Offer.NONE, Route.FORMAL, (Step.REMIND_NEUTRAL,)
    ),
    Step.DEMAND_FIRM: StepSpec(
        Action.DEMAND, Tone.FIRM, Offer.NONE, Route.FORMAL, (Step.REMIND_FIRM,)
    ),
    Step.PLAN_3: StepSpec(
        Action.INSTALMENT_PLAN,
        Tone.EMPATHETIC,
        Offer.PLAN_3,
        Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_EMPATHETIC),
    ),
    Step.PLAN_6: StepSpec(
        Action.INSTALMENT_PLAN,
        Tone.EMPATHETIC,
        Offer.PLAN_6,
        Route.PERSONAL,
        (Step.PLAN_3, Step.REMIND_EMPATHETIC),
    ),
    Step.DEFER_30: StepSpec(
        Action.DEFERRAL,
        Tone.EMPATHETIC,
        Offer.DEFER_30,
        Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_EMPATHETIC),
    ),
    Step.SETTLE_20: StepSpec(
        Action.SETTLEMENT,
        Tone.NEUTRAL,
        Offer.SETTLE_20,
        Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_NEUTRAL),
    ),
    Step.SETTLE_40: StepSpec(
        Action.SETTLEMENT,
        Tone.NEUTRAL,
        Offer.SETTLE_40,
        Route.PERSONAL,
        (Step.SETTLE_20, Step.PLAN_6, Step.REMIND_NEUTRAL),
    ),
    Step.CALL_EMPATHETIC: StepSpec(
        Action.AGENT_CALL, Tone.EMPATHETIC, Offer.NONE, Route.PHONE, (Step.PLAN_6,)
    ),
    Step.CALL_NEUTRAL: StepSpec(
        Action.AGENT_CALL, Tone.NEUTRAL, Offer.NONE, Route.PHONE, (Step.REMIND_NEUTRAL,)
    ),
    Step.CALL_FIRM: StepSpec(
        Action.AGENT_CALL, Tone.FIRM, Offer.NONE, Route.PHONE, (Step.REMIND_FIRM,)
    ),
    Step.LEGAL: StepSpec(
        Action.LEGAL_ESCALATION,
        Tone.FIRM,
        Offer.NONE,
        Route.FORMAL,
        (Step.REMIND_FIRM,),  # not a call: calls only where they pay (_Signals.calls_pay)
    ),
}

# Someone who complained is never addressed firmly again: firm steps map to these.
SOFTER: dict[Step, Step] = {
    Step.REMIND_FIRM: Step.REMIND_NEUTRAL,
    Step.DEMAND_FIRM: Step.DEMAND_NEUTRAL,
    Step.CALL_FIRM: Step.CALL_NEUTRAL,
}


def _treatment_table(spec: StepSpec) -> np.ndarray:
    """Catalogue index of ``spec`` per (channel, slot) value, or ``NOT_IN_CATALOGUE``."""
    table = np.full((N_CHANNEL_SLOTS, len(Slot)), NOT_IN_CATALOGUE, dtype=np.int64)
    for channel in Channel:
        for slot in Slot:
            # A letter has one slot (POST); any timed slot preference maps to it.
            real_slot = Slot.POST if channel is Channel.LETTER else slot
            treatment = Treatment(spec.action, channel, spec.tone, spec.offer, real_slot)
            try:
                table[channel, slot] = CATALOGUE.index_of(treatment)
            except ValueError:
                continue
    return table


STEP_TABLES: dict[Step, np.ndarray] = {
    step: _treatment_table(spec) for step, spec in STEP_SPECS.items()
}


__all__ = ["NOT_IN_CATALOGUE", "SOFTER", "STEP_SPECS", "STEP_TABLES", "Route", "Step", "StepSpec"]

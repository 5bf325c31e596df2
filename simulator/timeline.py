"""When, in the debtor's local day, each simulated thing happens.

A simulated day is a fixed sequence of phases. The order matters because the ledger fold
(:func:`engine.history.summarise_history`) is order-sensitive for a few counters (a payment
clears open promises, a later broken promise does not reopen one): the batched engine
updates its case columns in exactly this order and the recorded events carry times that
sort the same way. Every phase lies after the decision hour (at most 07:00), so nothing of
day ``d`` is visible to the decision of day ``d``.
"""

from __future__ import annotations

import numpy as np

from engine.catalogue import Slot

LETTER_POSTED = (7, 30)
"""A letter chosen today is handed to the postal service."""
LETTER_ARRIVAL_HOUR = 8
"""Letters posted ``letters.delay_days`` ago arrive (before the first send slot)."""

SLOT_HOUR = np.zeros(max(Slot) + 1, dtype=np.int64)
"""Local hour at which a contact in each send slot is placed (the slot's first hours)."""
SLOT_HOUR[Slot.MORNING] = 9
SLOT_HOUR[Slot.MIDDAY] = 12
SLOT_HOUR[Slot.AFTERNOON] = 15
SLOT_HOUR[Slot.EVENING] = 18
SLOT_HOUR[Slot.POST] = LETTER_ARRIVAL_HOUR

# Minutes after the contact's hour at which its consequences are recorded.
ATTEMPT = 0
DELIVERY = 1
NOTICED = 2
CLICK = 3
DISPUTE = 4
AGREEMENT = 5
PAYMENT = 6
COMPLAINT = 7
OPT_OUT = 8
CEASE = 9

DAILY_PAYMENTS = (20, 0)
"""Unprompted payments, kept promises and plan instalments."""
END_OF_DAY = (23, 0)
"""Broken promises and plans, completed plans, resolved disputes, closures, breathing space."""

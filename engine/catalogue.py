"""The treatment catalogue: the finite list of steps a policy chooses from.

Index ``i`` means the same treatment in the simulator, in training and in the service
(train/serve parity). The catalogue is generated from a few explicit design choices
below, and its content hash is recorded in every model card so that a policy trained on
one catalogue is never served on another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from enum import IntEnum
from functools import cached_property

import numpy as np


class Action(IntEnum):
    """What the step does. Values match ``tact.v1.Action``."""

    WAIT = 1
    REMINDER = 2
    DEMAND = 3
    INSTALMENT_PLAN = 4
    DEFERRAL = 5
    SETTLEMENT = 6
    AGENT_CALL = 7
    LEGAL_ESCALATION = 8


class Channel(IntEnum):
    """How the step reaches the debtor. Values match ``tact.v1.Channel``; NONE is for WAIT."""

    NONE = 0
    EMAIL = 1
    SMS = 2
    LETTER = 3
    PHONE = 4
    PUSH = 5


class Tone(IntEnum):
    """Framing of the message. Values match ``tact.v1.Tone``; NONE is for WAIT."""

    NONE = 0
    EMPATHETIC = 1
    NEUTRAL = 2
    FIRM = 3


class Offer(IntEnum):
    """Offer attached to plan / deferral / settlement steps. Values match ``tact.v1.OfferKind``."""

    NONE = 0
    PLAN_3 = 1
    PLAN_6 = 2
    DEFER_30 = 3
    SETTLE_20 = 4
    SETTLE_40 = 5


class Slot(IntEnum):
    """Send slot within the debtor's local day. Values match ``tact.v1.SendSlot``.

    ``POST`` is the single slot of a letter: letters are handed to the postal service and
    reach the debtor on a later day, so an hour of the day has no meaning for them.
    """

    NONE = 0
    MORNING = 1
    MIDDAY = 2
    AFTERNOON = 3
    EVENING = 4
    POST = 5


# Local-time bounds [start, end) of each timed slot, in hours.
SLOT_HOURS: dict[Slot, tuple[int, int]] = {
    Slot.MORNING: (8, 11),
    Slot.MIDDAY: (11, 14),
    Slot.AFTERNOON: (14, 17),
    Slot.EVENING: (17, 21),
}
TIMED_SLOTS: tuple[Slot, ...] = (Slot.MORNING, Slot.MIDDAY, Slot.AFTERNOON, Slot.EVENING)
DIGITAL_CHANNELS: tuple[Channel, ...] = (Channel.EMAIL, Channel.SMS, Channel.PUSH)
CONTACT_CHANNELS: tuple[Channel, ...] = (
    Channel.EMAIL,
    Channel.SMS,
    Channel.LETTER,
    Channel.PHONE,
    Channel.PUSH,
)

# Settlement discount (fraction of the outstanding balance waived) and plan lengths.
SETTLEMENT_DISCOUNT: dict[Offer, float] = {Offer.SETTLE_20: 0.20, Offer.SETTLE_40: 0.40}
PLAN_INSTALMENTS: dict[Offer, int] = {Offer.PLAN_3: 3, Offer.PLAN_6: 6}
DEFERRAL_DAYS: dict[Offer, int] = {Offer.DEFER_30: 30}


def _by_offer(values: dict[Offer, float] | dict[Offer, int], dtype: type) -> np.ndarray:
    table: np.ndarray = np.zeros(max(Offer) + 1, dtype=dtype)
    for offer, value in values.items():
        table[offer] = value
    return table


# The same terms as arrays indexed by Offer value, for vectorised code (0 = not that kind).
OFFER_DISCOUNT = _by_offer(SETTLEMENT_DISCOUNT, np.float64)
OFFER_INSTALMENTS = _by_offer(PLAN_INSTALMENTS, np.int64)
OFFER_DEFERRAL_DAYS = _by_offer(DEFERRAL_DAYS, np.int64)


@dataclass(frozen=True, slots=True)
class Treatment:
    """One step: action × channel × tone × offer × send slot."""

    action: Action
    channel: Channel
    tone: Tone
    offer: Offer
    slot: Slot

    @property
    def is_contact(self) -> bool:
        return self.action is not Action.WAIT

    @property
    def label(self) -> str:
        if self.action is Action.WAIT:
            return "WAIT"
        parts = [self.action.name, self.channel.name, self.tone.name]
        if self.offer is not Offer.NONE:
            parts.append(self.offer.name)
        parts.append(self.slot.name)
        return "/".join(parts)


def _slots_for(channel: Channel) -> tuple[Slot, ...]:
    return (Slot.POST,) if channel is Channel.LETTER else TIMED_SLOTS


def _build_treatments() -> tuple[Treatment, ...]:
    """Enumerate the catalogue. The order is part of the contract: append, never reorder."""
    out: list[Treatment] = [Treatment(Action.WAIT, Channel.NONE, Tone.NONE, Offer.NONE, Slot.NONE)]
    messaging = (*DIGITAL_CHANNELS, Channel.LETTER)

    def add(action: Action, tones: tuple[Tone, ...], offers: tuple[Offer, ...]) -> None:
        for channel in messaging:
            for tone in tones:
                for offer in offers:
                    for slot in _slots_for(channel):
                        out.append(Treatment(action, channel, tone, offer, slot))

    add(Action.REMINDER, (Tone.EMPATHETIC, Tone.NEUTRAL, Tone.FIRM), (Offer.NONE,))
    add(Action.DEMAND, (Tone.NEUTRAL, Tone.FIRM), (Offer.NONE,))
    # Offers are framed empathetically: the offer itself is the message.
    add(Action.INSTALMENT_PLAN, (Tone.EMPATHETIC,), (Offer.PLAN_3, Offer.PLAN_6))
    add(Action.DEFERRAL, (Tone.EMPATHETIC,), (Offer.DEFER_30,))
    add(Action.SETTLEMENT, (Tone.NEUTRAL,), (Offer.SETTLE_20, Offer.SETTLE_40))
    for tone in (Tone.EMPATHETIC, Tone.NEUTRAL, Tone.FIRM):
        for slot in TIMED_SLOTS:
            out.append(Treatment(Action.AGENT_CALL, Channel.PHONE, tone, Offer.NONE, slot))
    out.append(Treatment(Action.LEGAL_ESCALATION, Channel.LETTER, Tone.FIRM, Offer.NONE, Slot.POST))
    return tuple(out)


class TreatmentCatalogue:
    """Indexable, hashable catalogue with vectorised attribute columns for masking."""

    def __init__(self, treatments: tuple[Treatment, ...]) -> None:
        if len(set(treatments)) != len(treatments):
            raise ValueError("treatment catalogue has duplicate entries")
        if not treatments or treatments[0].action is not Action.WAIT:
            raise ValueError("treatment 0 must be WAIT: it is the fail-closed default")
        self.treatments = treatments
        self._index = {t: i for i, t in enumerate(treatments)}
        self.actions = np.array([t.action for t in treatments], dtype=np.int8)
        self.channels = np.array([t.channel for t in treatments], dtype=np.int8)
        self.tones = np.array([t.tone for t in treatments], dtype=np.int8)
        self.offers = np.array([t.offer for t in treatments], dtype=np.int8)
        self.slots = np.array([t.slot for t in treatments], dtype=np.int8)
        self.labels: tuple[str, ...] = tuple(t.label for t in treatments)
        """``labels[i] == treatments[i].label``, computed once (a label is built per call)."""

    WAIT_INDEX = 0

    def __len__(self) -> int:
        return len(self.treatments)

    def __getitem__(self, index: int) -> Treatment:
        return self.treatments[index]

    def index_of(self, treatment: Treatment) -> int:
        try:
            return self._index[treatment]
        except KeyError:
            raise ValueError(
                f"{treatment.label} is not in the treatment catalogue; "
                "see engine.catalogue.CATALOGUE for the allowed combinations"
            ) from None

    def find(self, **fields: object) -> np.ndarray:
        """Indices of treatments whose attributes equal all given values (``action=...``)."""
        selected = np.ones(len(self), dtype=bool)
        for name, value in fields.items():
            selected &= getattr(self, name + "s") == int(value)  # type: ignore[call-overload]
        return np.flatnonzero(selected)

    @cached_property
    def content_hash(self) -> str:
        payload = json.dumps(
            [
                [t.action.name, t.channel.name, t.tone.name, t.offer.name, t.slot.name]
                for t in self.treatments
            ]
        )
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


CATALOGUE = TreatmentCatalogue(_build_treatments())

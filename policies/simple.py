"""Simple fixed strategies: one treatment at a fixed cadence — the bar a champion must clear.

A member of the family sends one step (e.g. an empathetic 6-instalment plan offer) through
the first channel of its order that the rules allow, in its send slot (or the nearest
allowed one), every *k* days, and otherwise waits. It waits, too, while an instalment plan
runs or a promise to pay is open (a deferral is a promise due in 30 days), while a
protection flag is set (dispute, cease request, bankruptcy or death, breathing space,
mental-health crisis, time-barred debt: the mask blocks most contact then anyway), and
before the debt is overdue. A strategy this plain is what a collections team could run
without any model; an expert strategy or a trained policy that does not beat the best of
these has not shown that its complexity is worth anything.

Spec grammar (case-insensitive; :attr:`SimpleStrategy.spec` writes the canonical form,
and ``parse(spec) == strategy`` round-trips)::

    STEP/TONE/CHANNEL[>CHANNEL...]/SLOT/every-<k>d

    STEP     REMINDER | DEMAND | PLAN_3 | PLAN_6 | DEFER_30 | SETTLE_20 | SETTLE_40
    TONE     EMPATHETIC | NEUTRAL | FIRM  — as the catalogue offers the step: reminders in
             all three, demands NEUTRAL or FIRM, plans and deferrals EMPATHETIC,
             settlements NEUTRAL
    CHANNEL  SMS | EMAIL | LETTER | PUSH, each at most once, most preferred first; push
             only when named (it reaches app users only and is noticed ~10 % of the time)
    SLOT     MORNING | MIDDAY | AFTERNOON | EVENING (letters are posted: no slot)
    k        1–35: days since the last contact before the next one (the observation
             sees the contacts of the last 35 days, ``engine.state.HISTORY_DAYS``)

e.g. ``PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d``; as a policy name
``simple:PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d`` (quoted in a shell, where
``>`` redirects).

**Cadence** counts days since the last contact (any channel, as the ledger records it),
not days past due: a contact the rules held back one day goes out the next allowed day
and the rhythm restarts from there, rather than skipping a whole cycle. The first contact
goes out on the first day the case is overdue and allowed. ``k ≥ 1`` means never two
contacts on one local day.

**Fallbacks**: for each channel in order, the slot first, then the other timed slots by
distance from it (a letter has the one POST slot); the first treatment the mask allows is
sent; if none is allowed the strategy waits. Agent calls and legal escalation are not in
the family: at ~5 per conversation a call at a fixed cadence is not a "simple rule" anyone
would run, and legal escalation ends the case.

**The grid** (:data:`SIMPLE_GRID`, 420 members): every step × tone the catalogue offers
(reminder empathetic / neutral / firm, demand neutral / firm, plan 3, plan 6, deferral 30,
settlement 20 % / 40 %: 10 treatments) × channel order {SMS>EMAIL>LETTER,
EMAIL>SMS>LETTER, LETTER>SMS>EMAIL} × cadence {1, 2, 3, 5, 7, 10, 14} days × slot
{MORNING, EVENING}. :mod:`policies.simple_search` finds its best member.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from itertools import product
from typing import TypeVar

import numpy as np

from engine.catalogue import CATALOGUE, TIMED_SLOTS, Action, Channel, Offer, Slot, Tone, Treatment
from engine.errors import PolicyLoadError
from engine.features import feature_schema_hash
from engine.state import HISTORY_DAYS
from policies.base import PolicyDecisions, first_allowed
from policies.observed import Observed

SPEC_PREFIX = "simple:"
MAX_EVERY_DAYS = HISTORY_DAYS
"""Longest cadence: an older contact drops out of the ledger summary the policy sees."""
GRAMMAR = "STEP/TONE/CHANNEL[>CHANNEL...]/SLOT/every-<k>d"
EXAMPLE = "PLAN_6/EMPATHETIC/SMS>EMAIL>LETTER/MORNING/every-3d"


class StrategySpecError(PolicyLoadError):
    """A ``simple:`` spec that does not parse or names a treatment the catalogue lacks."""


class SimpleStep(Enum):
    """The step a simple strategy repeats: (action, offer) of the catalogue."""

    REMINDER = (Action.REMINDER, Offer.NONE)
    DEMAND = (Action.DEMAND, Offer.NONE)
    PLAN_3 = (Action.INSTALMENT_PLAN, Offer.PLAN_3)
    PLAN_6 = (Action.INSTALMENT_PLAN, Offer.PLAN_6)
    DEFER_30 = (Action.DEFERRAL, Offer.DEFER_30)
    SETTLE_20 = (Action.SETTLEMENT, Offer.SETTLE_20)
    SETTLE_40 = (Action.SETTLEMENT, Offer.SETTLE_40)

    @property
    def action(self) -> Action:
        return self.value[0]

    @property
    def offer(self) -> Offer:
        return self.value[1]


MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.PUSH)
_EVERY = re.compile(r"every-(\d+)d")


def _tones_of(step: SimpleStep) -> tuple[Tone, ...]:
    """The tones the catalogue offers ``step`` in (on the message channels)."""
    rows = CATALOGUE.find(action=step.action, offer=step.offer)
    return tuple(Tone(t) for t in sorted(set(CATALOGUE.tones[rows].tolist())))


def slot_order(slot: Slot) -> tuple[Slot, ...]:
    """The timed slots, ``slot`` first, then the others by distance from it (earlier first
    on a tie): where a send goes when the rules hold back the preferred hour."""
    return tuple(sorted(TIMED_SLOTS, key=lambda s: (abs(int(s) - int(slot)), int(s))))


@dataclass(frozen=True, slots=True)
class SimpleStrategy:
    """One member of the family (see the module docstring for its behaviour)."""

    step: SimpleStep
    tone: Tone
    channels: tuple[Channel, ...]
    slot: Slot
    every_days: int

    def __post_init__(self) -> None:
        problems = []
        tones = _tones_of(self.step)
        if self.tone not in tones:
            allowed = " or ".join(t.name for t in tones)
            problems.append(f"{self.step.name} comes in tone {allowed}, not {self.tone.name}")
        if not self.channels:
            problems.append("name at least one channel")
        bad = [c.name for c in self.channels if c not in MESSAGE_CHANNELS]
        if bad:
            problems.append(f"channels {bad} carry no messages; use SMS, EMAIL, LETTER, PUSH")
        if len(set(self.channels)) != len(self.channels):
            problems.append("a channel appears twice in the order")
        if self.slot not in TIMED_SLOTS:
            problems.append(f"slot is one of {', '.join(s.name for s in TIMED_SLOTS)}")
        if not 1 <= self.every_days <= MAX_EVERY_DAYS:
            problems.append(f"every-<k>d needs 1 ≤ k ≤ {MAX_EVERY_DAYS}, got {self.every_days}")
        if problems:
            raise StrategySpecError(f"simple strategy {self.spec!r}: " + "; ".join(problems))

    @property
    def spec(self) -> str:
        """The canonical text of this member (``parse(spec) == self``)."""
        channels = ">".join(c.name for c in self.channels)
        every = f"every-{self.every_days}d"
        return "/".join((self.step.name, self.tone.name, channels, self.slot.name, every))

    @classmethod
    def parse(cls, text: str) -> SimpleStrategy:
        """Read ``STEP/TONE/CHANNEL>.../SLOT/every-<k>d`` (case-insensitive, ``simple:``
        prefix optional); raises :class:`StrategySpecError` saying what to fix."""
        spec = text.strip()
        if spec.lower().startswith(SPEC_PREFIX):
            spec = spec[len(SPEC_PREFIX) :]
        parts = [p.strip() for p in spec.split("/")]
        if len(parts) != 5:
            raise StrategySpecError(
                f"simple strategy {text!r} has {len(parts)} part(s); expected 5: {GRAMMAR}, "
                f"e.g. {EXAMPLE}"
            )
        step_text, tone_text, channels_text, slot_text, every_text = parts
        step = _member(SimpleStep, step_text, "step", text)
        tone = _member(Tone, tone_text, "tone", text, exclude=("NONE",))
        channels = tuple(
            _member(Channel, c.strip(), "channel", text, allowed=MESSAGE_CHANNELS)
            for c in channels_text.split(">")
        )
        slot = _member(Slot, slot_text, "slot", text, allowed=TIMED_SLOTS)
        match = _EVERY.fullmatch(every_text.lower())
        if match is None:
            raise StrategySpecError(
                f"simple strategy {text!r}: cadence {every_text!r} is not every-<k>d "
                "(e.g. every-3d)"
            )
        return cls(step, tone, channels, slot, int(match.group(1)))

    def preferences(self) -> np.ndarray:
        """Catalogue indices in the order they are tried (channel order, then slots)."""
        out: list[int] = []
        for channel in self.channels:
            slots = (Slot.POST,) if channel is Channel.LETTER else slot_order(self.slot)
            for slot in slots:
                treatment = Treatment(self.step.action, channel, self.tone, self.step.offer, slot)
                out.append(CATALOGUE.index_of(treatment))
        return np.asarray(out, dtype=np.int64)


_E = TypeVar("_E", bound=Enum)


def _member(
    enum: type[_E],
    text: str,
    what: str,
    spec: str,
    *,
    allowed: tuple[_E, ...] | None = None,
    exclude: tuple[str, ...] = (),
) -> _E:
    choices = allowed if allowed is not None else tuple(m for m in enum if m.name not in exclude)
    for member in choices:
        if member.name == text.upper():
            return member
    raise StrategySpecError(
        f"simple strategy {spec!r}: unknown {what} {text!r}; choose one of "
        f"{', '.join(m.name for m in choices)} ({GRAMMAR})"
    )


class SimplePolicy:
    """A :class:`SimpleStrategy` as a policy: deterministic, propensity 1, reads only the
    shared observation vector."""

    def __init__(self, strategy: SimpleStrategy, *, name: str | None = None) -> None:
        self.strategy = strategy
        self.name = name or f"{SPEC_PREFIX}{strategy.spec}"
        self.version = f"{strategy.spec}+{feature_schema_hash()}"
        self._preferences = strategy.preferences()

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Contact the rows whose cadence is due, by the first allowed treatment; ``rng``
        is ignored (deterministic)."""
        o = Observed(observations)
        due = (
            (o.dpd >= 1)
            & ~o.protected()
            & ~o.arranged()
            & (o.days_since("last_contact") >= self.strategy.every_days)
        )
        chosen = np.zeros(o.n, dtype=np.int64)
        rows = np.flatnonzero(due)
        if rows.size:
            prefs = np.broadcast_to(self._preferences, (rows.size, self._preferences.size))
            chosen[rows] = first_allowed(prefs, masks[rows])
        return PolicyDecisions(indices=chosen, propensities=np.ones(o.n))


GRID_TREATMENTS: tuple[tuple[SimpleStep, Tone], ...] = tuple(
    (step, tone) for step in SimpleStep for tone in _tones_of(step)
)
"""Every step in every tone the catalogue offers it in (10)."""
GRID_CHANNEL_ORDERS: tuple[tuple[Channel, ...], ...] = (
    (Channel.SMS, Channel.EMAIL, Channel.LETTER),
    (Channel.EMAIL, Channel.SMS, Channel.LETTER),
    (Channel.LETTER, Channel.SMS, Channel.EMAIL),
)
GRID_EVERY_DAYS: tuple[int, ...] = (1, 2, 3, 5, 7, 10, 14)
GRID_SLOTS: tuple[Slot, ...] = (Slot.MORNING, Slot.EVENING)

SIMPLE_GRID: tuple[SimpleStrategy, ...] = tuple(
    SimpleStrategy(step, tone, channels, slot, every)
    for (step, tone), channels, every, slot in product(
        GRID_TREATMENTS, GRID_CHANNEL_ORDERS, GRID_EVERY_DAYS, GRID_SLOTS
    )
)
"""The documented search grid (module docstring), in a fixed order."""


__all__ = [
    "SIMPLE_GRID",
    "SPEC_PREFIX",
    "SimplePolicy",
    "SimpleStep",
    "SimpleStrategy",
    "StrategySpecError",
    "slot_order",
]

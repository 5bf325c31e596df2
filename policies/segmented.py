"""``segmented``: a hand-written expert strategy — behaviour and risk segments → step.

What the better collection teams describe (segment, predict, act): contact each debtor on
a cheap channel they read, in a tone that fits why they have not paid, with an offer that
fits what they can pay, no more often than needed; call only where a conversation is
worth its price, and escalate only when everything gentler has failed. It reads only the
shared observation vector (like ``ladder``), is deterministic, and gives every choice
propensity 1.

Segments (dpd = days past due; "silent" = no open, click, conversation or payment in 30
days; "broken" = promises broken + plans broken; "good record" = prior on-time ratio
≥ 0.7):

=====================  =====================================================================
segment                who (first match wins)
=====================  =====================================================================
1 protected            dispute, cease request, bankruptcy or deceased, breathing space,
                       mental-health crisis, time-barred, or a complaint in the last 30 days
2 arranged             instalment plan active, or a promise to pay open (a deferral is one)
3 hardship             hardship or vulnerable flag
4 won't pay            broken ≥ 2
5 long overdue         dpd ≥ 90, silent, risk ≥ 0.5
6 self-cure            good record, risk < 0.4, dpd < 30, nothing broken
7 can't pay in full    dpd < 90 and (paid something, or one broken promise, or not silent
                       — opened, clicked, talked or paid — but unpaid at dpd ≥ 14)
8 high risk            risk ≥ 0.6
9 standard             everyone else
=====================  =====================================================================

=================  ========================================================  ============
segment            step (first that applies)                                 cadence
=================  ========================================================  ============
protected          WAIT                                                      —
arranged           WAIT: let the arrangement run                             —
hardship           deferral 30 if the record is good and nothing broke       weekly,
                   (income likely to recover); deferral 30 if a plan broke   ≤ 3 in 30 d
                   and nothing was paid for 30 days; empathetic agent call
                   if calls pay, dpd ≥ 30 and no call for 30 days; else
                   instalment plan 6 (empathetic). Never firm, no demand,
                   no legal
won't pay          legal if ready; firm demand (letter) if none was sent;    2nd day,
                   firm agent call if calls pay; firm reminder               ≤ 3 in 7 d,
                                                                             ≤ 8 in 30 d
long overdue       legal if ready; neutral demand (letter) if none was       weekly,
                   sent; settlement 20 % (40 % from dpd 180)                 ≤ 3 in 30 d
self-cure          nothing before dpd 3; empathetic reminder, morning        weekly,
                   (never a call)                                            ≤ 3 in 30 d
can't pay in full  nothing within 7 days of a payment; instalment plan 3     3rd day,
                   (plan 6 when risk ≥ 0.6), empathetic                      ≤ 2 in 7 d,
                                                                             ≤ 6 in 30 d
high risk          legal if ready; settlement 20 % (40 % from dpd 180) at    3rd day,
                   dpd ≥ 90 after a demand; neutral demand from dpd 30;      ≤ 3 in 7 d,
                   neutral agent call from dpd 7 if calls pay; neutral       ≤ 8 in 30 d
                   reminder
standard           legal if ready; settlement 20 % from dpd 120 after a      3rd day,
                   demand; neutral demand from dpd 45; neutral agent call    ≤ 2 in 7 d,
                   from dpd 21 if calls pay; reminder (firm once a demand    ≤ 6 in 30 d
                   was sent, else neutral)
=================  ========================================================  ============

**Calls pay** only when all hold: balance ≥ 200 (major units: a conversation costs ~5 and
moves money a fraction of the time, see ``_CALL_MIN_BALANCE``), silent after at least 3
cheap contacts (SMS, e-mail, push, letter) in the last 30 days, no call in the last 7 days
and fewer than 2 in 30 days. A blocked legal step falls back to a firm reminder, never to
a call.

**Legal escalation is ready** only when all hold: dpd ≥ 90, a demand was sent ≥ 30 days
ago, no conversation for 30 days, no payment for 60 days, no earlier escalation, balance
≥ 250 (major units), no hardship or vulnerability flag.

**Channel** (messages): cheap channels first, and the one that is read first: SMS for
everyone (~98 % read, C; a first SMS draws 20–30 % response, C; court-fine SMS 23–33 %, A),
then by age band — under 45 and unknown: e-mail, push, letter; 45–64: e-mail, letter,
push; 65+: letter, e-mail, push (older debtors prefer paper, A qualitative). Push costs
least but is noticed ~10 % of the time (finance apps 9–11 %, B/C): never first. Demands
and legal steps go by letter first (formal notice). No push without the app, nothing on
an opted-out channel.

**Rotation** — only on evidence the channel can give. E-mail and push opens are tracked:
two sends in 7 days with no open move them behind the others. SMS reads and letters leave
no trace, so an unanswered SMS proves nothing: SMS and letters (and e-mail and push) move
behind the others only after 3 sends in 30 days that drew nothing observable — no click,
payment or conversation (nor, for e-mail and push, an open) in those 30 days.

**Send slot**: morning for messages (bill payments peak around 11:00), evening for
18–29-year-olds' digital messages; agent calls in the afternoon (65+: morning); letters
by post. Blocked slots fall back to the others.

**Cadence** (column above: rhythm, cap in 7 days, cap in 30 days): nothing before dpd 1;
never two contacts on one day; a contact only on the segment's rhythm day (dpd ≡ 1 mod 2,
3 or 7) or after a full week without contact, and within the segment's caps. Anyone who
ever complained gets at most one contact a week and no firm tone.

**Mask**: each step has a fallback chain (other channels and slots, then a gentler or
neighbouring step, e.g. plan 6 → plan 3 → empathetic reminder; agent call → reminder of
the same tone); when nothing in it is allowed the policy waits.

Thresholds are in the major units of the case's currency: the observation carries no
currency, so a 200 SEK balance counts as a 200 EUR one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from engine.catalogue import (
    CATALOGUE,
    CONTACT_CHANNELS,
    TIMED_SLOTS,
    Channel,
    Slot,
)
from engine.features import feature_schema_hash
from engine.state import AgeBand
from policies.base import PolicyDecisions, first_allowed
from policies.observed import Observed
from policies.segmented_steps import (
    SOFTER,
    STEP_SPECS,
    STEP_TABLES,
    Route,
    Step,
)

_MESSAGE_CHANNELS = (Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER)
_LEGAL_MIN_BALANCE = 250.0  # major units; below it court costs exceed what can be recovered
# A call attempt costs ~1 + 4 × 0.26 ≈ 2 (1 per attempt, 4 per conversation, right-party
# contact ~26 %, MaxContact, C). If a conversation moves money half the time and a third of
# that would not have come anyway, an attempt brings ≈ 0.26 × 0.5 / 3 ≈ 4 % of the balance:
# break-even near 50 major units; four times that leaves room for the complaints (calls are
# the most intrusive contact) and the doubt in every figure of this estimate.
_CALL_MIN_BALANCE = 200.0
_GOOD_RECORD = 0.7  # prior on-time ratio of a habitual payer
_CALLS_PER_30D = 2
_CHEAP_CONTACTS_BEFORE_A_CALL = 3
# Channels whose sends leave no read receipt (SMS reads, letters) are rotated away from
# only after this many sends in 30 days with nothing back (no click, payment, conversation).
_UNANSWERED_SENDS = 3


class Segment(IntEnum):
    """Behaviour / risk segments, in the order they are tested (first match wins)."""

    PROTECTED = 1
    ARRANGED = 2
    HARDSHIP = 3
    WONT_PAY = 4
    LONG_OVERDUE = 5
    SELF_CURE = 6
    CANT_PAY_IN_FULL = 7
    HIGH_RISK = 8
    STANDARD = 9


@dataclass(frozen=True, slots=True)
class _Cadence:
    rhythm_days: int  # contact only when dpd % rhythm == 1, or after a week of silence
    weekly_cap: int  # contacts in any 7 days
    monthly_cap: int  # contacts in any 30 days


_CADENCE: dict[Segment, _Cadence] = {
    Segment.HARDSHIP: _Cadence(7, 1, 3),
    Segment.WONT_PAY: _Cadence(2, 3, 8),
    Segment.LONG_OVERDUE: _Cadence(7, 1, 3),
    Segment.SELF_CURE: _Cadence(7, 1, 3),
    Segment.CANT_PAY_IN_FULL: _Cadence(3, 2, 6),
    Segment.HIGH_RISK: _Cadence(3, 3, 8),
    Segment.STANDARD: _Cadence(3, 2, 6),
}


# Message channel order by age band, before rotation. Cheap channels first, and among them
# the one that is read: SMS (~98 % read, ~45 % respond, C; court-fine SMS 23–33 %
# response, A) before e-mail (opens 21–44 %, B) for everyone. Push is nearly free but
# noticed ~10 % of the time (finance apps 9–11 %, B/C): after e-mail, for app users only.
# Letters cost 50× an SMS: the fallback when the digital channels are blocked or worn,
# except that 65+ prefer paper (German study, A qualitative) and rarely use the app.
_AGE_CHANNEL_ORDER: dict[AgeBand, tuple[Channel, ...]] = {
    AgeBand.UNSPECIFIED: (Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER),
    AgeBand.AGE_18_29: (Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER),
    AgeBand.AGE_30_44: (Channel.SMS, Channel.EMAIL, Channel.PUSH, Channel.LETTER),
    AgeBand.AGE_45_64: (Channel.SMS, Channel.EMAIL, Channel.LETTER, Channel.PUSH),
    AgeBand.AGE_65_PLUS: (Channel.SMS, Channel.LETTER, Channel.EMAIL, Channel.PUSH),
}
_MORNING_FIRST = (Slot.MORNING, Slot.MIDDAY, Slot.AFTERNOON, Slot.EVENING)
_EVENING_FIRST = (Slot.EVENING, Slot.AFTERNOON, Slot.MIDDAY, Slot.MORNING)
_CALL_AFTERNOON_FIRST = (Slot.AFTERNOON, Slot.EVENING, Slot.MIDDAY, Slot.MORNING)
assert set(_MORNING_FIRST) == set(TIMED_SLOTS)
assert all(set(order) == set(_MESSAGE_CHANNELS) for order in _AGE_CHANNEL_ORDER.values())


def _first_match(
    cases: list[tuple[np.ndarray, int | np.ndarray]], default: int | np.ndarray
) -> np.ndarray:
    """Per row, the value of the first case whose condition holds, else ``default``.

    ``np.select`` does the same but costs ~20× more per call at batch size 1.
    """
    out = np.asarray(default)
    for condition, value in reversed(cases):
        out = np.where(condition, value, out)
    return np.broadcast_to(out, cases[0][0].shape) if cases else out


def _channel_rank_table() -> np.ndarray:
    """Rank of each message channel (lower = preferred) by age band."""
    table = np.zeros((len(AgeBand), len(_MESSAGE_CHANNELS)))
    for band, preferred in _AGE_CHANNEL_ORDER.items():
        for position, channel in enumerate(preferred):
            table[band, _MESSAGE_CHANNELS.index(channel)] = position
    return table


_CHANNEL_RANK = _channel_rank_table()
_MESSAGE_CHANNEL_VALUES = np.array(_MESSAGE_CHANNELS, dtype=np.int64)
_MESSAGE_CHANNEL_POSITIONS = [CONTACT_CHANNELS.index(c) for c in _MESSAGE_CHANNELS]
_LETTER_POSITION = _MESSAGE_CHANNELS.index(Channel.LETTER)
# Channels whose opens are tracked (e-mail, push): an unopened send is evidence there.
_OPENS_TRACKED = np.array([c in (Channel.EMAIL, Channel.PUSH) for c in _MESSAGE_CHANNELS])
# (rhythm, weekly cap, monthly cap) by segment value; WAIT-only segments get no budget.
_CADENCE_TABLE = np.zeros((max(Segment) + 1, 3), dtype=np.int64)
_CADENCE_TABLE[:, 0] = 1
for _segment, _cadence in _CADENCE.items():
    _CADENCE_TABLE[_segment] = (_cadence.rhythm_days, _cadence.weekly_cap, _cadence.monthly_cap)


@dataclass(slots=True)
class _Signals:
    """Behaviour signals derived once per call and shared by the segment rules."""

    dpd: np.ndarray
    hardship: np.ndarray
    good_record: np.ndarray
    promises_broken: np.ndarray
    plans_broken: np.ndarray
    since_conversation: np.ndarray
    since_payment: np.ndarray
    demanded: np.ndarray
    silent: np.ndarray
    """No open, click, conversation or payment in 30 days."""
    answered_30d: np.ndarray
    """A click, a conversation or a payment in 30 days: evidence every channel can show."""
    calls_pay: np.ndarray
    """An agent call is worth its ~5 per conversation (see ``_CALL_MIN_BALANCE``)."""
    calls_30d: np.ndarray
    legal_ready: np.ndarray
    settle: np.ndarray

    @classmethod
    def of(cls, o: Observed) -> _Signals:
        dpd = o.dpd
        hardship = o.flag("hardship") | o.flag("vulnerable")
        since_conversation = o.days_since("conversation")
        since_payment = o.days_since("last_payment")
        since_demand = o.days_since("first_demand")
        answered_30d = (
            (o.count("clicks_30d") > 0) | (o.count("conversations_30d") > 0) | (since_payment < 30)
        )
        silent = ~answered_30d & (o.count("opens_30d") == 0)
        calls_30d = o.contacts(Channel.PHONE, 30)
        cheap_contacts_30d = o.contacts_total(30) - calls_30d
        calls_pay = (
            (o.balance >= _CALL_MIN_BALANCE)
            & silent
            & (cheap_contacts_30d >= _CHEAP_CONTACTS_BEFORE_A_CALL)
            & (o.contacts(Channel.PHONE, 7) == 0)
            & (calls_30d < _CALLS_PER_30D)
        )
        legal_ready = (
            (dpd >= 90)
            & (since_demand >= 30)
            & (since_conversation >= 30)
            & (since_payment >= 60)
            & (o.balance >= _LEGAL_MIN_BALANCE)
            & ~hardship
            # A case is escalated once; after that the court process runs its course.
            & ~np.isfinite(o.days_since("legal_escalation"))
        )
        return cls(
            dpd=dpd,
            hardship=hardship,
            good_record=o.on_time >= _GOOD_RECORD,
            promises_broken=o.count("promises_broken"),
            plans_broken=o.count("plans_broken"),
            since_conversation=since_conversation,
            since_payment=since_payment,
            demanded=np.isfinite(since_demand),
            silent=silent,
            answered_30d=answered_30d,
            calls_pay=calls_pay,
            calls_30d=calls_30d,
            legal_ready=legal_ready,
            settle=np.where(dpd >= 180, Step.SETTLE_40, Step.SETTLE_20),
        )


@dataclass(frozen=True, slots=True)
class _Orders:
    """Per-row preference orders of one route."""

    channels: np.ndarray  # (n, k) Channel values, most preferred first
    slots: np.ndarray  # (n, 4) Slot values, most preferred first


class SegmentedPolicy:
    """Deterministic expert strategy over behaviour and risk segments (see module docs)."""

    name = "segmented"
    version = f"2+{feature_schema_hash()}"

    def segments(self, observations: np.ndarray) -> np.ndarray:
        """The :class:`Segment` value of each row (for reports and tests)."""
        o = Observed(observations)
        return self._segment(o, _Signals.of(o))

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Choose one allowed treatment per row; ``rng`` is ignored (deterministic)."""
        o = Observed(observations)
        sig = _Signals.of(o)
        segment = self._segment(o, sig)
        steps = self._steps(o, sig, segment)
        chosen = np.zeros(o.n, dtype=np.int64)
        to_contact = np.flatnonzero(steps != Step.WAIT)
        if to_contact.size == 0:
            return PolicyDecisions(indices=chosen, propensities=np.ones(o.n))
        # One extra, never-allowed column: the target of (channel, slot) combinations a
        # step does not exist in (e.g. legal escalation by SMS), so first_allowed skips them.
        usable = np.zeros((o.n, len(CATALOGUE) + 1), dtype=bool)
        usable[:, :-1] = masks & self._usable_channels(o)[:, CATALOGUE.channels]
        orders = self._orders(o, sig, segment)
        for step in np.unique(steps[to_contact]):
            rows = np.flatnonzero(steps == step)
            prefs = self._preferences(Step(int(step)), orders, rows)
            chosen[rows] = first_allowed(prefs, usable[rows])
        return PolicyDecisions(indices=chosen, propensities=np.ones(o.n))

    # ------------------------------------------------------------------ segment → step

    @staticmethod
    def _segment(o: Observed, sig: _Signals) -> np.ndarray:
        dpd = sig.dpd
        broken = sig.promises_broken + sig.plans_broken
        protected = o.protected() | (o.count("complaints_30d") > 0)
        paid_or_engaged = (
            (o.count("payments_total") > 0)
            | (sig.promises_broken == 1)
            | (~sig.silent & (dpd >= 14))
        )
        return _first_match(
            [
                (protected, Segment.PROTECTED),
                (o.arranged(), Segment.ARRANGED),
                (sig.hardship, Segment.HARDSHIP),
                (broken >= 2, Segment.WONT_PAY),
                ((dpd >= 90) & sig.silent & (o.risk >= 0.5), Segment.LONG_OVERDUE),
                (
                    sig.good_record & (o.risk < 0.4) & (dpd < 30) & (broken == 0),
                    Segment.SELF_CURE,
                ),
                ((dpd < 90) & paid_or_engaged, Segment.CANT_PAY_IN_FULL),
                (o.risk >= 0.6, Segment.HIGH_RISK),
            ],
            Segment.STANDARD,
        )

    @staticmethod
    def _segment_steps(segment: Segment, o: Observed, sig: _Signals) -> np.ndarray:
        """The step each row would get if it were in ``segment`` (before cadence)."""
        dpd, demanded, legal = sig.dpd, sig.demanded, sig.legal_ready
        broken = sig.promises_broken + sig.plans_broken
        if segment is Segment.HARDSHIP:
            return _first_match(
                [
                    # A good payer hit by a shock: income is likely to come back.
                    (sig.good_record & (broken == 0), Step.DEFER_30),
                    ((sig.plans_broken >= 1) & (sig.since_payment > 30), Step.DEFER_30),
                    (sig.calls_pay & (dpd >= 30) & (sig.calls_30d == 0), Step.CALL_EMPATHETIC),
                ],
                Step.PLAN_6,
            )
        if segment is Segment.WONT_PAY:
            return _first_match(
                [
                    (legal, Step.LEGAL),
                    (~demanded, Step.DEMAND_FIRM),
                    (sig.calls_pay, Step.CALL_FIRM),
                ],
                Step.REMIND_FIRM,
            )
        if segment is Segment.LONG_OVERDUE:
            return _first_match([(legal, Step.LEGAL), (~demanded, Step.DEMAND_NEUTRAL)], sig.settle)
        if segment is Segment.SELF_CURE:
            return _first_match([(dpd < 3, Step.WAIT)], Step.REMIND_EMPATHETIC)
        if segment is Segment.CANT_PAY_IN_FULL:
            return _first_match(
                [(sig.since_payment < 7, Step.WAIT), (o.risk >= 0.6, Step.PLAN_6)], Step.PLAN_3
            )
        if segment is Segment.HIGH_RISK:
            return _first_match(
                [
                    (legal, Step.LEGAL),
                    ((dpd >= 90) & demanded, sig.settle),
                    ((dpd >= 30) & ~demanded, Step.DEMAND_NEUTRAL),
                    ((dpd >= 7) & sig.calls_pay, Step.CALL_NEUTRAL),
                ],
                Step.REMIND_NEUTRAL,
            )
        if segment is Segment.STANDARD:
            return _first_match(
                [
                    (legal, Step.LEGAL),
                    ((dpd >= 120) & demanded, Step.SETTLE_20),
                    ((dpd >= 45) & ~demanded, Step.DEMAND_NEUTRAL),
                    ((dpd >= 21) & sig.calls_pay, Step.CALL_NEUTRAL),
                    (demanded, Step.REMIND_FIRM),
                ],
                Step.REMIND_NEUTRAL,
            )
        return np.full(o.n, Step.WAIT, dtype=np.int64)  # PROTECTED, ARRANGED

    def _steps(self, o: Observed, sig: _Signals, segment: np.ndarray) -> np.ndarray:
        steps = np.zeros(o.n, dtype=np.int64)
        # Only the segments present are evaluated: one per call when serving.
        for value in np.unique(segment):
            rows = segment == value
            steps[rows] = self._segment_steps(Segment(int(value)), o, sig)[rows]

        # Complained before (not in the last 30 days: that is PROTECTED): never firm, and
        # at most one contact a week.
        complained = o.count("complaints_total") > 0
        if complained.any():
            for firm, softer in SOFTER.items():
                steps[complained & (steps == firm)] = softer

        rhythm, weekly_cap, monthly_cap = _CADENCE_TABLE[segment].T
        weekly_cap = np.where(complained, np.minimum(weekly_cap, 1), weekly_cap)
        week_quiet = o.contacts_total(7) == 0
        on_rhythm = (sig.dpd % rhythm == 1 % rhythm) | week_quiet
        within_caps = (
            (o.contacts_total(1) == 0)
            & (o.contacts_total(7) < weekly_cap)
            & (o.contacts_total(30) < monthly_cap)
        )
        # Not delinquent (yet): nothing to collect.
        steps[~(on_rhythm & within_caps) | (sig.dpd < 1)] = Step.WAIT
        return steps

    # ------------------------------------------------------------------ step → treatments

    @staticmethod
    def _usable_channels(o: Observed) -> np.ndarray:
        """(n, N_CHANNEL_SLOTS) channels worth using: not opted out; push only with the app."""
        usable = ~o.opted_out
        usable[:, Channel.PUSH] &= o.has_app
        usable[:, Channel.NONE] = True  # WAIT
        return usable

    @staticmethod
    def _orders(o: Observed, sig: _Signals, segment: np.ndarray) -> dict[Route, _Orders]:
        """Channel and slot preference orders of every row, per route."""
        # Rotate away from a channel only on evidence that channel can give: e-mail and
        # push opens are tracked, so two unopened sends in 7 days wear them; SMS reads and
        # letters leave no trace, so they wear only after _UNANSWERED_SENDS sends in 30
        # days that drew nothing any channel shows (click, payment, conversation), or for
        # e-mail and push, an open. A worn channel moves behind the others.
        sends_7d = o.contacts_by_position(_MESSAGE_CHANNEL_POSITIONS, 7)
        sends_30d = o.contacts_by_position(_MESSAGE_CHANNEL_POSITIONS, 30)
        opened_7d = (o.count("opens_7d") > 0)[:, None]
        answered = sig.answered_30d[:, None] | (_OPENS_TRACKED & ~sig.silent[:, None])
        worn = (sends_30d >= _UNANSWERED_SENDS) & ~answered
        worn |= _OPENS_TRACKED & (sends_7d >= 2) & ~opened_7d
        rank = _CHANNEL_RANK[o.age_band] + 10.0 * worn
        personal = _MESSAGE_CHANNEL_VALUES[np.argsort(rank, axis=1, kind="stable")]
        rank[:, _LETTER_POSITION] = -1.0  # formal notice: by letter first
        formal = _MESSAGE_CHANNEL_VALUES[np.argsort(rank, axis=1, kind="stable")]

        # Habitual payers pay in the morning whatever their age: remind them then.
        evening = (o.age_band == AgeBand.AGE_18_29) & (segment != Segment.SELF_CURE)
        message_slots = np.where(evening[:, None], _EVENING_FIRST, _MORNING_FIRST)
        seniors = o.age_band == AgeBand.AGE_65_PLUS
        call_slots = np.where(seniors[:, None], _MORNING_FIRST, _CALL_AFTERNOON_FIRST)
        phone = np.full((o.n, 1), int(Channel.PHONE))
        return {
            Route.PERSONAL: _Orders(personal, message_slots),
            Route.FORMAL: _Orders(formal, message_slots),
            Route.PHONE: _Orders(phone, call_slots),
        }

    @staticmethod
    def _preferences(step: Step, orders: dict[Route, _Orders], rows: np.ndarray) -> np.ndarray:
        """(len(rows), k) catalogue indices: the step and its fallbacks, best first."""
        blocks = []
        for s in (step, *STEP_SPECS[step].fallbacks):
            order = orders[STEP_SPECS[s].route]
            channels, slots = order.channels[rows], order.slots[rows]
            block = STEP_TABLES[s][channels[:, :, None], slots[:, None, :]]
            blocks.append(block.reshape(rows.size, -1))
        return np.concatenate(blocks, axis=1)


__all__ = ["Segment", "SegmentedPolicy", "Step"]

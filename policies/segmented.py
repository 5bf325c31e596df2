"""``segmented``: a hand-written expert strategy — behaviour and risk segments → step.

What the better collection teams describe (segment, predict, act): contact each debtor on
the channel they use, in a tone that fits why they have not paid, with an offer that fits
what they can pay, no more often than needed, and escalate only when everything gentler
has failed. It reads only the shared observation vector (like ``ladder``), is
deterministic, and gives every choice propensity 1.

Segments (dpd = days past due; "silent" = no open, click or conversation in 30 days;
"broken" = promises broken + plans broken):

=====================  =====================================================================
segment                who (first match wins)
=====================  =====================================================================
1 protected            dispute, cease request, bankruptcy or deceased, breathing space,
                       mental-health crisis, time-barred, or a complaint in the last 30 days
2 arranged             instalment plan active, or a promise to pay open
3 hardship             hardship or vulnerable flag
4 won't pay            broken ≥ 2
5 long overdue         dpd ≥ 90, silent, risk ≥ 0.5
6 self-cure            prior on-time ratio ≥ 0.7, risk < 0.4, dpd < 30, nothing broken
7 can't pay in full    dpd < 90 and (paid something, or one broken promise, or not silent
                       — opened, clicked or talked — but unpaid at dpd ≥ 14)
8 high risk            risk ≥ 0.6
9 standard             everyone else
=====================  =====================================================================

=================  ========================================================  ============
segment            step (first that applies)                                 cadence
=================  ========================================================  ============
protected          WAIT                                                      —
arranged           WAIT: let the arrangement run                             —
hardship           deferral 30 if a plan broke before and nothing was paid   weekly,
                   for 30 days; empathetic agent call if silent at dpd ≥ 30  ≤ 3 in 30 d
                   and not called for 30 days; else instalment plan 6
                   (empathetic). Never firm, no demand, no legal
won't pay          legal if ready; firm demand (letter) if none was sent;    2nd day,
                   firm agent call if none in 7 days; firm reminder          ≤ 3 in 7 d,
                                                                             ≤ 8 in 30 d
long overdue       legal if ready; neutral demand (letter) if none was       weekly,
                   sent; settlement 20 % (40 % from dpd 180)                 ≤ 3 in 30 d
self-cure          nothing before dpd 3; empathetic reminder, morning        weekly,
                                                                             ≤ 3 in 30 d
can't pay in full  nothing within 7 days of a payment; instalment plan 3     3rd day,
                   (plan 6 when risk ≥ 0.6), empathetic                      ≤ 2 in 7 d,
                                                                             ≤ 6 in 30 d
high risk          legal if ready; settlement 20 % (40 % from dpd 180) at    3rd day,
                   dpd ≥ 90 after a demand; neutral demand from dpd 30;      ≤ 3 in 7 d,
                   neutral agent call from dpd 7 if no response and no       ≤ 8 in 30 d
                   call in 7 days; neutral reminder
standard           legal if ready; settlement 20 % from dpd 120 after a      3rd day,
                   demand; neutral demand from dpd 45; neutral agent call    ≤ 2 in 7 d,
                   from dpd 21 if silent and no call in 7 days;              ≤ 6 in 30 d
                   reminder (firm once a demand was sent, else neutral)
=================  ========================================================  ============

**Legal escalation is ready** only when all hold: dpd ≥ 90, a demand was sent ≥ 30 days
ago, no conversation for 30 days, no payment for 60 days, no letter sent for 30 days (the
observation does not record a past escalation; this keeps it to one a month), balance
≥ 250 (major units), no hardship or vulnerability flag.

**Channel** (messages): app users get push first (the app is the strongest revealed
preference, and the self-service portal is where plans get set up); then by age band —
18–44: SMS, e-mail, letter; 45–64: e-mail, SMS, letter; 65+: letter, e-mail, SMS;
unknown: e-mail, SMS, letter. Demands and legal steps go by letter first (formal notice).
No push without the app, nothing on an opted-out channel. A channel used in the last
7 days without any response (no open, no conversation) moves behind the others, so an
unanswered channel is rotated away from.

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
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from engine.catalogue import (
    CATALOGUE,
    CONTACT_CHANNELS,
    TIMED_SLOTS,
    Action,
    Channel,
    Offer,
    Slot,
    Tone,
    Treatment,
)
from engine.features import feature_schema_hash
from engine.state import N_CHANNEL_SLOTS, AgeBand
from policies.base import FEATURE_INDEX, PolicyDecisions, first_allowed

# Scales of engine.features (feature = raw / scale); decoded back to days and counts here
# so that thresholds read in domain units.
_DPD_SCALE = 120.0
_DAY_SCALE = 90.0
_CONTACT_SCALE = 5.0
_COUNT_SCALES: dict[str, float] = {
    "opens_7d": 3.0,
    "opens_30d": 10.0,
    "clicks_30d": 5.0,
    "conversations_30d": 3.0,
    "payments_total": 3.0,
    "promises_open": 1.0,
    "promises_broken": 2.0,
    "plans_broken": 1.0,
    "complaints_total": 2.0,
    "complaints_30d": 1.0,
}
_CONTACT_CHANNELS = CONTACT_CHANNELS  # the featurizer's channel order
_MESSAGE_CHANNELS = (Channel.PUSH, Channel.SMS, Channel.EMAIL, Channel.LETTER)
_NOT_IN_CATALOGUE = len(CATALOGUE)  # column index past the mask's end; see act()
_LEGAL_MIN_BALANCE = 250.0  # major units; below it court costs exceed what can be recovered


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


class _Route(IntEnum):
    PERSONAL = 0  # the debtor's channel order
    FORMAL = 1  # letter first, then the debtor's order
    PHONE = 2


@dataclass(frozen=True, slots=True)
class _StepSpec:
    action: Action
    tone: Tone
    offer: Offer
    route: _Route
    fallbacks: tuple[Step, ...]


_SPECS: dict[Step, _StepSpec] = {
    Step.REMIND_EMPATHETIC: _StepSpec(
        Action.REMINDER, Tone.EMPATHETIC, Offer.NONE, _Route.PERSONAL, ()
    ),
    Step.REMIND_NEUTRAL: _StepSpec(Action.REMINDER, Tone.NEUTRAL, Offer.NONE, _Route.PERSONAL, ()),
    Step.REMIND_FIRM: _StepSpec(Action.REMINDER, Tone.FIRM, Offer.NONE, _Route.PERSONAL, ()),
    Step.DEMAND_NEUTRAL: _StepSpec(
        Action.DEMAND, Tone.NEUTRAL, Offer.NONE, _Route.FORMAL, (Step.REMIND_NEUTRAL,)
    ),
    Step.DEMAND_FIRM: _StepSpec(
        Action.DEMAND, Tone.FIRM, Offer.NONE, _Route.FORMAL, (Step.REMIND_FIRM,)
    ),
    Step.PLAN_3: _StepSpec(
        Action.INSTALMENT_PLAN,
        Tone.EMPATHETIC,
        Offer.PLAN_3,
        _Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_EMPATHETIC),
    ),
    Step.PLAN_6: _StepSpec(
        Action.INSTALMENT_PLAN,
        Tone.EMPATHETIC,
        Offer.PLAN_6,
        _Route.PERSONAL,
        (Step.PLAN_3, Step.REMIND_EMPATHETIC),
    ),
    Step.DEFER_30: _StepSpec(
        Action.DEFERRAL,
        Tone.EMPATHETIC,
        Offer.DEFER_30,
        _Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_EMPATHETIC),
    ),
    Step.SETTLE_20: _StepSpec(
        Action.SETTLEMENT,
        Tone.NEUTRAL,
        Offer.SETTLE_20,
        _Route.PERSONAL,
        (Step.PLAN_6, Step.REMIND_NEUTRAL),
    ),
    Step.SETTLE_40: _StepSpec(
        Action.SETTLEMENT,
        Tone.NEUTRAL,
        Offer.SETTLE_40,
        _Route.PERSONAL,
        (Step.SETTLE_20, Step.PLAN_6, Step.REMIND_NEUTRAL),
    ),
    Step.CALL_EMPATHETIC: _StepSpec(
        Action.AGENT_CALL, Tone.EMPATHETIC, Offer.NONE, _Route.PHONE, (Step.PLAN_6,)
    ),
    Step.CALL_NEUTRAL: _StepSpec(
        Action.AGENT_CALL, Tone.NEUTRAL, Offer.NONE, _Route.PHONE, (Step.REMIND_NEUTRAL,)
    ),
    Step.CALL_FIRM: _StepSpec(
        Action.AGENT_CALL, Tone.FIRM, Offer.NONE, _Route.PHONE, (Step.REMIND_FIRM,)
    ),
    Step.LEGAL: _StepSpec(
        Action.LEGAL_ESCALATION,
        Tone.FIRM,
        Offer.NONE,
        _Route.FORMAL,
        (Step.CALL_FIRM, Step.REMIND_FIRM),
    ),
}

# Someone who complained is never addressed firmly again: firm steps map to these.
_SOFTER: dict[Step, Step] = {
    Step.REMIND_FIRM: Step.REMIND_NEUTRAL,
    Step.DEMAND_FIRM: Step.DEMAND_NEUTRAL,
    Step.CALL_FIRM: Step.CALL_NEUTRAL,
}


def _treatment_table(spec: _StepSpec) -> np.ndarray:
    """Catalogue index of ``spec`` per (channel, slot) value, or ``_NOT_IN_CATALOGUE``."""
    table = np.full((N_CHANNEL_SLOTS, len(Slot)), _NOT_IN_CATALOGUE, dtype=np.int64)
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


_TABLES: dict[Step, np.ndarray] = {step: _treatment_table(spec) for step, spec in _SPECS.items()}

# Message channel order by age band (index = AgeBand value), before the app and rotation.
_AGE_CHANNEL_ORDER: dict[AgeBand, tuple[Channel, ...]] = {
    AgeBand.UNSPECIFIED: (Channel.EMAIL, Channel.SMS, Channel.LETTER),
    AgeBand.AGE_18_29: (Channel.SMS, Channel.EMAIL, Channel.LETTER),
    AgeBand.AGE_30_44: (Channel.SMS, Channel.EMAIL, Channel.LETTER),
    AgeBand.AGE_45_64: (Channel.EMAIL, Channel.SMS, Channel.LETTER),
    AgeBand.AGE_65_PLUS: (Channel.LETTER, Channel.EMAIL, Channel.SMS),
}
_MORNING_FIRST = (Slot.MORNING, Slot.MIDDAY, Slot.AFTERNOON, Slot.EVENING)
_EVENING_FIRST = (Slot.EVENING, Slot.AFTERNOON, Slot.MIDDAY, Slot.MORNING)
_CALL_AFTERNOON_FIRST = (Slot.AFTERNOON, Slot.EVENING, Slot.MIDDAY, Slot.MORNING)
assert set(_MORNING_FIRST) == set(TIMED_SLOTS)


_WINDOWS = (1, 7, 30)
_CONTACT_COLUMNS = [
    FEATURE_INDEX[f"contacts_{c.name.lower()}_{w}d"] for c in _CONTACT_CHANNELS for w in _WINDOWS
]
_AGE_COLUMNS = [FEATURE_INDEX[f"age_{a.name.lower()}"] for a in AgeBand]
_OPTED_OUT_COLUMNS = [FEATURE_INDEX[f"opted_out_{c.name.lower()}"] for c in _CONTACT_CHANNELS]


def _block(columns: list[int]) -> slice:
    """The columns as one slice; the featurizer lays them out contiguously (checked here)."""
    if columns != list(range(columns[0], columns[0] + len(columns))):
        raise ImportError("engine.features changed its column layout; update policies.segmented")
    return slice(columns[0], columns[0] + len(columns))


_CONTACT_BLOCK = _block(_CONTACT_COLUMNS)  # (channel in _CONTACT_CHANNELS order) × window
_AGE_BLOCK = _block(_AGE_COLUMNS)


class _Observed:
    """The observation matrix decoded into domain units (days, counts, flags).

    Runs once per decision on the serving path: it slices whole feature blocks instead of
    decoding column by column, because every numpy call costs about a microsecond at
    batch size 1.
    """

    def __init__(self, obs: np.ndarray) -> None:
        x = np.asarray(obs, dtype=np.float64)
        self._x = x
        n = x.shape[0]
        self.n = n
        self.dpd = np.rint(self.col("days_past_due") * _DPD_SCALE).astype(np.int64)
        self.risk = self.col("risk_score")
        self.on_time = self.col("prior_on_time_ratio")
        self.has_app = self.flag("has_app")
        self.balance = 10.0 ** (self.col("log_outstanding") * 5.0) - 1.0  # major units
        self.age_band = np.argmax(x[:, _AGE_BLOCK], axis=1)  # one-hot → AgeBand value
        self.opted_out = np.zeros((n, N_CHANNEL_SLOTS), dtype=bool)
        self.opted_out[:, list(_CONTACT_CHANNELS)] = x[:, _OPTED_OUT_COLUMNS] > 0.5
        self._contacts = np.rint(x[:, _CONTACT_BLOCK] * _CONTACT_SCALE).reshape(
            n, len(_CONTACT_CHANNELS), len(_WINDOWS)
        )
        self._contacts_total = self._contacts.sum(axis=1)

    def col(self, name: str) -> np.ndarray:
        return self._x[:, FEATURE_INDEX[name]]

    def flag(self, name: str) -> np.ndarray:
        return self._x[:, FEATURE_INDEX[name]] > 0.5

    def count(self, name: str) -> np.ndarray:
        return np.rint(self.col(name) * _COUNT_SCALES[name])

    def days_since(self, event: str) -> np.ndarray:
        """Days since ``event``; +inf when it never happened (capped at 90 otherwise)."""
        never = self.flag(f"never_{event}")
        return np.where(never, np.inf, np.rint(self.col(f"days_since_{event}") * _DAY_SCALE))

    def contacts(self, channel: Channel, window: int) -> np.ndarray:
        """Contacts placed on ``channel`` in the last ``window`` days (today included)."""
        return self._contacts[:, _CONTACT_CHANNELS.index(channel), _WINDOWS.index(window)]

    def contacts_by_position(self, positions: list[int], window: int) -> np.ndarray:
        """(n, len(positions)) contacts in ``window`` days on channels at ``positions`` of
        the featurizer's channel order."""
        return self._contacts[:, positions, _WINDOWS.index(window)]

    def contacts_total(self, window: int) -> np.ndarray:
        """Contacts placed on any channel in the last ``window`` days (today included)."""
        return self._contacts_total[:, _WINDOWS.index(window)]


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
    """Rank of each message channel (lower = preferred) by [age band, has app]."""
    table = np.full((len(AgeBand), 2, len(_MESSAGE_CHANNELS)), 9.0)
    for band, preferred in _AGE_CHANNEL_ORDER.items():
        for position, channel in enumerate(preferred):
            table[band, :, _MESSAGE_CHANNELS.index(channel)] = position + 1
    table[:, 1, _MESSAGE_CHANNELS.index(Channel.PUSH)] = 0  # digital-first: the app
    return table


_CHANNEL_RANK = _channel_rank_table()
_MESSAGE_CHANNEL_VALUES = np.array(_MESSAGE_CHANNELS, dtype=np.int64)
_MESSAGE_CHANNEL_POSITIONS = [_CONTACT_CHANNELS.index(c) for c in _MESSAGE_CHANNELS]
_LETTER_POSITION = _MESSAGE_CHANNELS.index(Channel.LETTER)
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
    promises_broken: np.ndarray
    plans_broken: np.ndarray
    since_conversation: np.ndarray
    since_payment: np.ndarray
    demanded: np.ndarray
    silent: np.ndarray
    responded_7d: np.ndarray
    no_call_7d: np.ndarray
    calls_30d: np.ndarray
    legal_ready: np.ndarray
    settle: np.ndarray

    @classmethod
    def of(cls, o: _Observed) -> _Signals:
        dpd = o.dpd
        hardship = o.flag("hardship") | o.flag("vulnerable")
        since_conversation = o.days_since("conversation")
        since_payment = o.days_since("last_payment")
        since_demand = o.days_since("first_demand")
        silent = (
            (o.count("opens_30d") == 0)
            & (o.count("clicks_30d") == 0)
            & (o.count("conversations_30d") == 0)
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
            promises_broken=o.count("promises_broken"),
            plans_broken=o.count("plans_broken"),
            since_conversation=since_conversation,
            since_payment=since_payment,
            demanded=np.isfinite(since_demand),
            silent=silent,
            responded_7d=(o.count("opens_7d") > 0) | (since_conversation < 7),
            no_call_7d=o.contacts(Channel.PHONE, 7) == 0,
            calls_30d=o.contacts(Channel.PHONE, 30),
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
    version = f"1+{feature_schema_hash()}"

    def segments(self, observations: np.ndarray) -> np.ndarray:
        """The :class:`Segment` value of each row (for reports and tests)."""
        o = _Observed(observations)
        return self._segment(o, _Signals.of(o))

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Choose one allowed treatment per row; ``rng`` is ignored (deterministic)."""
        o = _Observed(observations)
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
    def _segment(o: _Observed, sig: _Signals) -> np.ndarray:
        dpd = sig.dpd
        broken = sig.promises_broken + sig.plans_broken
        protected = (
            o.flag("dispute")
            | o.flag("cease_communication")
            | o.flag("bankruptcy_or_deceased")
            | o.flag("breathing_space")
            | o.flag("mental_health_crisis")
            | o.flag("time_barred")
            | (o.count("complaints_30d") > 0)
        )
        arranged = o.flag("plan_active") | (o.count("promises_open") > 0)
        paid_or_engaged = (
            (o.count("payments_total") > 0)
            | (sig.promises_broken == 1)
            | (~sig.silent & (dpd >= 14))
        )
        return _first_match(
            [
                (protected, Segment.PROTECTED),
                (arranged, Segment.ARRANGED),
                (sig.hardship, Segment.HARDSHIP),
                (broken >= 2, Segment.WONT_PAY),
                ((dpd >= 90) & sig.silent & (o.risk >= 0.5), Segment.LONG_OVERDUE),
                (
                    (o.on_time >= 0.7) & (o.risk < 0.4) & (dpd < 30) & (broken == 0),
                    Segment.SELF_CURE,
                ),
                ((dpd < 90) & paid_or_engaged, Segment.CANT_PAY_IN_FULL),
                (o.risk >= 0.6, Segment.HIGH_RISK),
            ],
            Segment.STANDARD,
        )

    @staticmethod
    def _segment_steps(segment: Segment, o: _Observed, sig: _Signals) -> np.ndarray:
        """The step each row would get if it were in ``segment`` (before cadence)."""
        dpd, demanded, legal = sig.dpd, sig.demanded, sig.legal_ready
        if segment is Segment.HARDSHIP:
            return _first_match(
                [
                    ((sig.plans_broken >= 1) & (sig.since_payment > 30), Step.DEFER_30),
                    (sig.silent & (dpd >= 30) & (sig.calls_30d == 0), Step.CALL_EMPATHETIC),
                ],
                Step.PLAN_6,
            )
        if segment is Segment.WONT_PAY:
            return _first_match(
                [
                    (legal, Step.LEGAL),
                    (~demanded, Step.DEMAND_FIRM),
                    (sig.no_call_7d & (sig.calls_30d < 4), Step.CALL_FIRM),
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
                    ((dpd >= 7) & ~sig.responded_7d & sig.no_call_7d, Step.CALL_NEUTRAL),
                ],
                Step.REMIND_NEUTRAL,
            )
        if segment is Segment.STANDARD:
            silent_no_call = sig.silent & sig.no_call_7d & (sig.calls_30d < 3)
            return _first_match(
                [
                    (legal, Step.LEGAL),
                    ((dpd >= 120) & demanded, Step.SETTLE_20),
                    ((dpd >= 45) & ~demanded, Step.DEMAND_NEUTRAL),
                    ((dpd >= 21) & silent_no_call, Step.CALL_NEUTRAL),
                    (demanded, Step.REMIND_FIRM),
                ],
                Step.REMIND_NEUTRAL,
            )
        return np.full(o.n, Step.WAIT, dtype=np.int64)  # PROTECTED, ARRANGED

    def _steps(self, o: _Observed, sig: _Signals, segment: np.ndarray) -> np.ndarray:
        steps = np.zeros(o.n, dtype=np.int64)
        # Only the segments present are evaluated: one per call when serving.
        for value in np.unique(segment):
            rows = segment == value
            steps[rows] = self._segment_steps(Segment(int(value)), o, sig)[rows]

        # Complained before (not in the last 30 days: that is PROTECTED): never firm, and
        # at most one contact a week.
        complained = o.count("complaints_total") > 0
        if complained.any():
            for firm, softer in _SOFTER.items():
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
    def _usable_channels(o: _Observed) -> np.ndarray:
        """(n, N_CHANNEL_SLOTS) channels worth using: not opted out; push only with the app."""
        usable = ~o.opted_out
        usable[:, Channel.PUSH] &= o.has_app
        usable[:, Channel.NONE] = True  # WAIT
        return usable

    @staticmethod
    def _orders(o: _Observed, sig: _Signals, segment: np.ndarray) -> dict[_Route, _Orders]:
        """Channel and slot preference orders of every row, per route."""
        rank = _CHANNEL_RANK[o.age_band, o.has_app.astype(np.intp)]
        # Rotate away from a channel used this week that drew no response.
        used_7d = o.contacts_by_position(_MESSAGE_CHANNEL_POSITIONS, 7) > 0
        rank = rank + 10.0 * (used_7d & ~sig.responded_7d[:, None])
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
            _Route.PERSONAL: _Orders(personal, message_slots),
            _Route.FORMAL: _Orders(formal, message_slots),
            _Route.PHONE: _Orders(phone, call_slots),
        }

    @staticmethod
    def _preferences(step: Step, orders: dict[_Route, _Orders], rows: np.ndarray) -> np.ndarray:
        """(len(rows), k) catalogue indices: the step and its fallbacks, best first."""
        blocks = []
        for s in (step, *_SPECS[step].fallbacks):
            order = orders[_SPECS[s].route]
            channels, slots = order.channels[rows], order.slots[rows]
            block = _TABLES[s][channels[:, :, None], slots[:, None, :]]
            blocks.append(block.reshape(rows.size, -1))
        return np.concatenate(blocks, axis=1)


__all__ = ["Segment", "SegmentedPolicy", "Step"]

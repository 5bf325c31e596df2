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
_CONTACT_CHANNELS = (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
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


class _Observed:
    """The observation matrix decoded into domain units (days, counts, flags)."""

    def __init__(self, obs: np.ndarray) -> None:
        self._obs = obs
        n = obs.shape[0]
        self.n = n
        self.dpd = np.rint(self.col("days_past_due") * _DPD_SCALE).astype(np.int64)
        self.risk = self.col("risk_score")
        self.on_time = self.col("prior_on_time_ratio")
        self.has_app = self.flag("has_app")
        self.balance = 10.0 ** (self.col("log_outstanding") * 5.0) - 1.0  # major units
        ages = np.stack([self.col(f"age_{a.name.lower()}") for a in AgeBand], axis=1)
        self.age_band = np.argmax(ages, axis=1)  # one-hot → AgeBand value
        self.opted_out = np.zeros((n, N_CHANNEL_SLOTS), dtype=bool)
        for channel in _CONTACT_CHANNELS:
            self.opted_out[:, channel] = self.flag(f"opted_out_{channel.name.lower()}")
        self.contacts = {
            (channel, window): np.rint(
                self.col(f"contacts_{channel.name.lower()}_{window}d") * _CONTACT_SCALE
            )
            for channel in _CONTACT_CHANNELS
            for window in (1, 7, 30)
        }
        self.contacts_total = {
            window: sum(self.contacts[(c, window)] for c in _CONTACT_CHANNELS)
            for window in (1, 7, 30)
        }

    def col(self, name: str) -> np.ndarray:
        return self._obs[:, FEATURE_INDEX[name]].astype(np.float64)

    def flag(self, name: str) -> np.ndarray:
        return self._obs[:, FEATURE_INDEX[name]] > 0.5

    def count(self, name: str) -> np.ndarray:
        return np.rint(self.col(name) * _COUNT_SCALES[name])

    def days_since(self, event: str) -> np.ndarray:
        """Days since ``event``; +inf when it never happened (capped at 90 otherwise)."""
        never = self.flag(f"never_{event}")
        return np.where(never, np.inf, np.rint(self.col(f"days_since_{event}") * _DAY_SCALE))


class SegmentedPolicy:
    """Deterministic expert strategy over behaviour and risk segments (see module docs)."""

    name = "segmented"
    version = f"1+{feature_schema_hash()}"

    def segments(self, observations: np.ndarray) -> np.ndarray:
        """The :class:`Segment` value of each row (for reports and tests)."""
        return self._plan(_Observed(observations))[0]

    def act(
        self,
        observations: np.ndarray,
        masks: np.ndarray,
        rng: np.random.Generator | None = None,
    ) -> PolicyDecisions:
        """Choose one allowed treatment per row; ``rng`` is ignored (deterministic)."""
        o = _Observed(observations)
        segment, steps = self._plan(o)
        # One extra, never-allowed column: the target of (channel, slot) combinations a
        # step does not exist in (e.g. legal escalation by SMS), so first_allowed skips them.
        usable = np.zeros((o.n, len(CATALOGUE) + 1), dtype=bool)
        usable[:, :-1] = masks & self._usable_channels(o)[:, CATALOGUE.channels]
        chosen = np.zeros(o.n, dtype=np.int64)
        for step in np.unique(steps):
            if step == Step.WAIT:
                continue
            rows = np.flatnonzero(steps == step)
            prefs = self._preferences(Step(int(step)), o, rows, segment[rows])
            chosen[rows] = first_allowed(prefs, usable[rows])
        return PolicyDecisions(indices=chosen, propensities=np.ones(o.n))

    # ------------------------------------------------------------------ segment → step

    def _plan(self, o: _Observed) -> tuple[np.ndarray, np.ndarray]:
        hardship = o.flag("hardship") | o.flag("vulnerable")
        promises_broken = o.count("promises_broken")
        plans_broken = o.count("plans_broken")
        broken = promises_broken + plans_broken
        since_conversation = o.days_since("conversation")
        since_payment = o.days_since("last_payment")
        since_demand = o.days_since("first_demand")
        demanded = np.isfinite(since_demand)
        silent = (
            (o.count("opens_30d") == 0)
            & (o.count("clicks_30d") == 0)
            & (o.count("conversations_30d") == 0)
        )
        responded_7d = (o.count("opens_7d") > 0) | (since_conversation < 7)
        calls_7d = o.contacts[(Channel.PHONE, 7)]
        calls_30d = o.contacts[(Channel.PHONE, 30)]
        dpd = o.dpd

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
        engaged_unpaid = ~silent & (dpd >= 14)
        segment = np.select(
            [
                protected,
                arranged,
                hardship,
                broken >= 2,
                (dpd >= 90) & silent & (o.risk >= 0.5),
                (o.on_time >= 0.7) & (o.risk < 0.4) & (dpd < 30) & (broken == 0),
                (dpd < 90)
                & ((o.count("payments_total") > 0) | (promises_broken == 1) | engaged_unpaid),
                o.risk >= 0.6,
            ],
            [
                Segment.PROTECTED,
                Segment.ARRANGED,
                Segment.HARDSHIP,
                Segment.WONT_PAY,
                Segment.LONG_OVERDUE,
                Segment.SELF_CURE,
                Segment.CANT_PAY_IN_FULL,
                Segment.HIGH_RISK,
            ],
            default=Segment.STANDARD,
        )

        legal_ready = (
            (dpd >= 90)
            & (since_demand >= 30)
            & (since_conversation >= 30)
            & (since_payment >= 60)
            & (o.balance >= _LEGAL_MIN_BALANCE)
            & ~hardship
            # The observation records no past escalation: "no letter in 30 days" keeps a
            # filed case from being escalated again at every rhythm day.
            & (o.contacts[(Channel.LETTER, 30)] == 0)
        )
        settle = np.where(dpd >= 180, Step.SETTLE_40, Step.SETTLE_20)
        no_call_7d = calls_7d == 0

        def pick(
            cases: list[tuple[np.ndarray, int | np.ndarray]], default: int | np.ndarray
        ) -> np.ndarray:
            return np.select([c for c, _ in cases], [s for _, s in cases], default=default)

        by_segment: dict[Segment, np.ndarray] = {
            Segment.HARDSHIP: pick(
                [
                    (dpd < 1, Step.WAIT),
                    ((plans_broken >= 1) & (since_payment > 30), Step.DEFER_30),
                    (silent & (dpd >= 30) & (calls_30d == 0), Step.CALL_EMPATHETIC),
                ],
                Step.PLAN_6,
            ),
            Segment.WONT_PAY: pick(
                [
                    (legal_ready, Step.LEGAL),
                    (~demanded, Step.DEMAND_FIRM),
                    (no_call_7d & (calls_30d < 4), Step.CALL_FIRM),
                ],
                Step.REMIND_FIRM,
            ),
            Segment.LONG_OVERDUE: pick(
                [(legal_ready, Step.LEGAL), (~demanded, Step.DEMAND_NEUTRAL)], settle
            ),
            Segment.SELF_CURE: pick([(dpd < 3, Step.WAIT)], Step.REMIND_EMPATHETIC),
            Segment.CANT_PAY_IN_FULL: pick(
                [(since_payment < 7, Step.WAIT), (o.risk >= 0.6, Step.PLAN_6)], Step.PLAN_3
            ),
            Segment.HIGH_RISK: pick(
                [
                    (dpd < 1, Step.WAIT),
                    (legal_ready, Step.LEGAL),
                    ((dpd >= 90) & demanded, settle),
                    ((dpd >= 30) & ~demanded, Step.DEMAND_NEUTRAL),
                    ((dpd >= 7) & ~responded_7d & no_call_7d, Step.CALL_NEUTRAL),
                ],
                Step.REMIND_NEUTRAL,
            ),
            Segment.STANDARD: pick(
                [
                    (dpd < 1, Step.WAIT),
                    (legal_ready, Step.LEGAL),
                    ((dpd >= 120) & demanded, Step.SETTLE_20),
                    ((dpd >= 45) & ~demanded, Step.DEMAND_NEUTRAL),
                    ((dpd >= 21) & silent & no_call_7d & (calls_30d < 3), Step.CALL_NEUTRAL),
                    (demanded, Step.REMIND_FIRM),
                ],
                Step.REMIND_NEUTRAL,
            ),
        }
        steps = np.full(o.n, Step.WAIT, dtype=np.int64)
        for seg, seg_steps in by_segment.items():
            rows = segment == seg
            steps[rows] = seg_steps[rows]

        # Complained before (not in the last 30 days: that is PROTECTED): never firm, and
        # at most one contact a week.
        complained = o.count("complaints_total") > 0
        for firm, softer in _SOFTER.items():
            steps[complained & (steps == firm)] = softer

        rhythm = np.ones(o.n, dtype=np.int64)
        weekly_cap = np.zeros(o.n, dtype=np.float64)
        monthly_cap = np.zeros(o.n, dtype=np.float64)
        for seg, cadence in _CADENCE.items():
            rows = segment == seg
            rhythm[rows] = cadence.rhythm_days
            weekly_cap[rows] = cadence.weekly_cap
            monthly_cap[rows] = cadence.monthly_cap
        weekly_cap = np.where(complained, np.minimum(weekly_cap, 1), weekly_cap)
        week_quiet = o.contacts_total[7] == 0
        on_rhythm = (dpd % rhythm == 1 % rhythm) | week_quiet
        within_caps = (
            (o.contacts_total[1] == 0)
            & (o.contacts_total[7] < weekly_cap)
            & (o.contacts_total[30] < monthly_cap)
        )
        # Not delinquent (yet): nothing to collect.
        steps[~(on_rhythm & within_caps) | (dpd < 1)] = Step.WAIT
        return segment, steps

    # ------------------------------------------------------------------ step → treatments

    @staticmethod
    def _usable_channels(o: _Observed) -> np.ndarray:
        """(n, N_CHANNEL_SLOTS) channels worth using: not opted out; push only with the app."""
        usable = ~o.opted_out
        usable[:, Channel.PUSH] &= o.has_app
        usable[:, Channel.NONE] = True  # WAIT
        return usable

    @staticmethod
    def _channel_order(o: _Observed, rows: np.ndarray, route: _Route) -> np.ndarray:
        """(len(rows), 4) message channels, most preferred first."""
        channels = np.array(_MESSAGE_CHANNELS)
        rank = np.full((rows.size, channels.size), 9.0)
        ages = o.age_band[rows]
        for band, preferred in _AGE_CHANNEL_ORDER.items():
            for position, channel in enumerate(preferred):
                rank[ages == band, _MESSAGE_CHANNELS.index(channel)] = position + 1
        push = _MESSAGE_CHANNELS.index(Channel.PUSH)
        rank[o.has_app[rows], push] = 0  # digital-first: the app
        # Rotate away from a channel used this week that drew no response.
        responded = (o.count("opens_7d") > 0)[rows] | (o.days_since("conversation") < 7)[rows]
        for i, channel in enumerate(_MESSAGE_CHANNELS):
            unanswered = (o.contacts[(channel, 7)][rows] > 0) & ~responded
            rank[unanswered, i] += 10
        if route is _Route.FORMAL:
            rank[:, _MESSAGE_CHANNELS.index(Channel.LETTER)] = -1
        order: np.ndarray = channels[np.argsort(rank, axis=1, kind="stable")]
        return order

    @staticmethod
    def _slot_order(
        o: _Observed, rows: np.ndarray, route: _Route, segment: np.ndarray
    ) -> np.ndarray:
        """(len(rows), 4) timed slots, most preferred first."""
        ages = o.age_band[rows]
        if route is _Route.PHONE:
            seniors = ages == AgeBand.AGE_65_PLUS
            return np.where(seniors[:, None], _MORNING_FIRST, _CALL_AFTERNOON_FIRST)
        # Habitual payers pay in the morning whatever their age: remind them then.
        evening = (ages == AgeBand.AGE_18_29) & (segment != Segment.SELF_CURE)
        return np.where(evening[:, None], _EVENING_FIRST, _MORNING_FIRST)

    def _preferences(
        self, step: Step, o: _Observed, rows: np.ndarray, segment: np.ndarray
    ) -> np.ndarray:
        """(len(rows), k) catalogue indices: the step and its fallbacks, best first."""
        blocks = []
        for s in (step, *_SPECS[step].fallbacks):
            spec = _SPECS[s]
            if spec.route is _Route.PHONE:
                channels = np.full((rows.size, 1), Channel.PHONE)
            else:
                channels = self._channel_order(o, rows, spec.route)
            slots = self._slot_order(o, rows, spec.route, segment)
            table = _TABLES[s]
            block = table[channels[:, :, None], slots[:, None, :]].reshape(rows.size, -1)
            blocks.append(block)
        return np.concatenate(blocks, axis=1)


__all__ = ["Segment", "SegmentedPolicy", "Step"]

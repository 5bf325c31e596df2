"""Draw debtors from a scenario: observable case facts and hidden behaviour traits.

Every behaviour parameter is materialised per debtor, so that scenario randomisation
(``randomise=True``: each :class:`~simulator.scenario.Param` drawn from its range) is a
per-episode draw of the world at no extra cost in the batched engine.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date
from functools import reduce

import numpy as np

from engine.catalogue import Action, Channel, Slot, Tone
from engine.state import N_CHANNEL_SLOTS, AgeBand, ConsentStatus
from simulator.scenario import Param, Scenario, SegmentSpec

_EPOCH = date(1970, 1, 1)
_CONTACT = (Channel.EMAIL, Channel.SMS, Channel.LETTER, Channel.PHONE, Channel.PUSH)
_TONES = (Tone.EMPATHETIC, Tone.NEUTRAL, Tone.FIRM)
_TIMED = (Slot.MORNING, Slot.MIDDAY, Slot.AFTERNOON, Slot.EVENING)
N_ACTIONS = max(Action) + 1
N_TONES = max(Tone) + 1
N_SLOTS = max(Slot) + 1


def day_number(d: date) -> int:
    """Days since 1970-01-01 (numpy's datetime64[D] epoch)."""
    return (d - _EPOCH).days


@dataclass(slots=True)
class DebtorTraits:
    """Per-debtor arrays drawn at the start of an episode. Row i is one debtor."""

    # Observable facts (the creditor's snapshot).
    country: np.ndarray  # <U2
    zone: np.ndarray  # int16 index into PopulationSampler.zones
    start_day: np.ndarray  # int64 days since epoch of the first local date
    age_band: np.ndarray  # int8
    tenure_months: np.ndarray  # int32
    prior_on_time_ratio: np.ndarray  # float32
    risk_score: np.ndarray  # float32
    has_app: np.ndarray  # bool
    consent: np.ndarray  # int8 (n, N_CHANNEL_SLOTS)
    vulnerable: np.ndarray  # bool
    mental_health_crisis: np.ndarray  # bool
    time_barred: np.ndarray  # bool
    hardship_known: np.ndarray  # bool
    original_minor: np.ndarray  # int64
    initial_days_past_due: np.ndarray  # int32
    # Hidden behaviour.
    segment: np.ndarray  # int8 index into scenario.segment_names
    willingness: np.ndarray
    liquidity: np.ndarray  # minor units the debtor can pay now
    liquidity_later: np.ndarray  # level liquidity returns to
    recovery_rate: np.ndarray  # per-day share of the gap to liquidity_later closed
    engagement: np.ndarray
    spontaneous_pay: np.ndarray
    preferred_slot: np.ndarray  # int8 Slot
    delivery: np.ndarray  # (n, N_CHANNEL_SLOTS)
    attention: np.ndarray  # (n, N_CHANNEL_SLOTS), includes age preference and engagement
    response: np.ndarray  # (n, N_CHANNEL_SLOTS)
    fatigue_weight: np.ndarray  # (n, N_CHANNEL_SLOTS)
    opt_out: np.ndarray  # (n, N_CHANNEL_SLOTS)
    complaint: np.ndarray  # (n, N_CHANNEL_SLOTS) complaint multiplier of the channel
    cost: np.ndarray  # (n, N_CHANNEL_SLOTS) major units per attempt
    conversation_cost: np.ndarray
    tone_response: np.ndarray  # (n, N_TONES)
    tone_experience: np.ndarray  # (n, N_TONES)
    action_response: np.ndarray  # (n, N_ACTIONS)
    plan_acceptance: np.ndarray
    deferral_acceptance: np.ndarray
    settlement_acceptance: np.ndarray
    promise_keep: np.ndarray
    instalment_keep: np.ndarray
    complaint_propensity: np.ndarray
    dispute_propensity: np.ndarray
    cease_request: np.ndarray
    breathing_space_daily: np.ndarray
    initial_experience: np.ndarray
    slot_match: np.ndarray
    slot_mismatch: np.ndarray
    off_slot_experience: np.ndarray
    nps_intercept: np.ndarray
    churn_after: np.ndarray  # (n, 3): resolved, unresolved, legal logit intercepts
    experience_complaint: np.ndarray
    experience_legal: np.ndarray
    experience_offer: np.ndarray
    experience_resolved: np.ndarray
    experience_dispute: np.ndarray

    def __len__(self) -> int:
        return int(self.segment.shape[0])

    def take(self, rows: np.ndarray) -> DebtorTraits:
        return DebtorTraits(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    @classmethod
    def concat(cls, parts: list[DebtorTraits]) -> DebtorTraits:
        return cls(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)}
        )

    def put(self, rows: np.ndarray, other: DebtorTraits) -> None:
        """Overwrite ``rows`` with the debtors of ``other`` (same length as ``rows``)."""
        for f in fields(self):
            getattr(self, f.name)[rows] = getattr(other, f.name)


class PopulationSampler:
    """Draws :class:`DebtorTraits` from one scenario."""

    def __init__(self, scenario: Scenario, *, randomise: bool = False) -> None:
        self.scenario = scenario
        self.randomise = randomise
        pop = scenario.population
        self.zones: tuple[str, ...] = tuple(zone for c in pop.countries for zone in c.timezones)
        self._zone_country = np.array(
            [c.country for c in pop.countries for _ in c.timezones], dtype="<U2"
        )
        self._zone_p = np.array(
            [c.share * s for c in pop.countries for s in c.timezones.values()], dtype=np.float64
        )
        self._zone_p /= self._zone_p.sum()
        self._bands = [AgeBand[name] for name in pop.age_bands]
        self._band_p = np.array([b.share for b in pop.age_bands.values()])
        self._segments = list(scenario.segments.values())
        self._segment_p = np.array([s.share for s in self._segments])
        self._first_day = day_number(pop.start_dates[0])
        self._last_day = day_number(pop.start_dates[1])

    def draw(self, n: int, rng: np.random.Generator) -> DebtorTraits:
        """Draw ``n`` debtors."""
        sc, pop, rand = self.scenario, self.scenario.population, self.randomise
        zone = rng.choice(len(self.zones), size=n, p=self._zone_p).astype(np.int16)
        band_i = rng.choice(len(self._bands), size=n, p=self._band_p)
        band_specs = list(pop.age_bands.values())
        age_band = np.array([int(b) for b in self._bands], dtype=np.int8)[band_i]
        segment = rng.choice(len(self._segments), size=n, p=self._segment_p).astype(np.int8)

        def seg(*path: str) -> np.ndarray:
            """Per-debtor draw of the segment parameter at ``path`` ("tone_response", "FIRM")."""
            out = np.empty(n)
            for s, spec in enumerate(self._segments):
                rows = segment == s
                param: Param = reduce(getattr, path, spec)  # type: ignore[arg-type,assignment]
                out[rows] = param.draw(rng, int(rows.sum()), rand)
            return out

        def glob(param: Param) -> np.ndarray:
            return param.draw(rng, n, rand)

        has_app = rng.random(n) < np.array([b.has_app.value for b in band_specs])[band_i]
        balance = np.exp(np.log(pop.balance.median) + pop.balance.sigma * rng.standard_normal(n))
        original = np.round(np.clip(balance, pop.balance.min, pop.balance.max) * 100)

        consent = np.zeros((n, N_CHANNEL_SLOTS), dtype=np.int8)
        for ch in _CONTACT:
            granted = rng.random(n) < getattr(pop.consent_granted, ch.name)
            if ch is Channel.PUSH:
                granted &= has_app
            consent[granted, ch] = ConsentStatus.GRANTED

        # Willingness: Beta around the segment mean; ability: log-normal around its median.
        conc = sc.dynamics.willingness_concentration
        w_mean = np.clip(seg("willingness"), 1e-3, 1 - 1e-3)
        willingness = rng.beta(w_mean * conc, (1 - w_mean) * conc)
        spread = np.exp(glob(sc.dynamics.ability_sigma) * rng.standard_normal(n))
        liquidity = seg("ability") * spread * original
        liquidity_later = seg("ability_later") * spread * original
        recovery_days = seg("recovery_days")
        recovery_rate = np.where(recovery_days > 0, 1.0 / np.maximum(recovery_days, 1.0), 1.0)

        engagement = seg("engagement")
        preference = np.ones((n, N_CHANNEL_SLOTS))
        slot_shares = np.array(
            [[getattr(b.preferred_slot, s.name) for s in _TIMED] for b in band_specs]
        )
        preferred_slot = np.empty(n, dtype=np.int8)
        for b, spec in enumerate(band_specs):
            rows = band_i == b
            k = int(rows.sum())
            for ch in _CONTACT:
                preference[rows, ch] = getattr(spec.channel_preference, ch.name).draw(rng, k, rand)
            preferred_slot[rows] = np.array([int(s) for s in _TIMED])[
                rng.choice(len(_TIMED), size=k, p=slot_shares[b])
            ]

        channel_cols: dict[str, np.ndarray] = {
            name: np.zeros((n, N_CHANNEL_SLOTS))
            for name in (
                "delivery",
                "attention",
                "response",
                "fatigue_weight",
                "opt_out",
                "complaint",
                "cost",
            )
        }
        for ch in _CONTACT:
            spec = getattr(sc.channels, ch.name)
            for name, col in channel_cols.items():
                col[:, ch] = glob(getattr(spec, name))
        channel_cols["attention"] *= preference * engagement[:, None]
        channel_cols["delivery"][:, Channel.PUSH] *= has_app  # no app, no push

        tone_response = np.zeros((n, N_TONES))
        tone_experience = np.zeros((n, N_TONES))
        for tone in _TONES:
            tone_response[:, tone] = seg("tone_response", tone.name)
            tone_experience[:, tone] = seg("tone_experience", tone.name)
        action_response = np.ones((n, N_ACTIONS))
        for action, key in (
            (Action.REMINDER, "REMINDER"),
            (Action.DEMAND, "DEMAND"),
            (Action.INSTALMENT_PLAN, "OFFER"),
            (Action.DEFERRAL, "OFFER"),
            (Action.SETTLEMENT, "OFFER"),
            (Action.AGENT_CALL, "AGENT_CALL"),
            (Action.LEGAL_ESCALATION, "LEGAL_ESCALATION"),
        ):
            action_response[:, action] = seg("action_response", key)

        country = self._zone_country[zone]
        by_country = {c.country: c for c in pop.countries}
        cease = np.zeros(n)
        breathing = np.zeros(n)
        for code, country_spec in by_country.items():
            rows = country == code
            k = int(rows.sum())
            cease[rows] = country_spec.cease_request.draw(rng, k, rand)
            breathing[rows] = country_spec.breathing_space_daily.draw(rng, k, rand)

        seg_hardship = np.array([s.hardship for s in self._segments])[segment]
        after = sc.churn.after
        return DebtorTraits(
            country=country,
            zone=zone,
            start_day=rng.integers(self._first_day, self._last_day + 1, size=n),
            age_band=age_band,
            tenure_months=np.round(pop.tenure_months.draw(rng, n)).astype(np.int32),
            prior_on_time_ratio=np.clip(
                seg_between(self._segments, segment, rng, "prior_on_time_ratio"), 0, 1
            ).astype(np.float32),
            risk_score=np.clip(
                seg_between(self._segments, segment, rng, "risk_score"), 0, 1
            ).astype(np.float32),
            has_app=has_app,
            consent=consent,
            vulnerable=rng.random(n) < pop.vulnerable.value,
            mental_health_crisis=rng.random(n) < pop.mental_health_crisis.value,
            time_barred=rng.random(n) < pop.time_barred.value,
            hardship_known=seg_hardship & (rng.random(n) < pop.hardship_known.value),
            original_minor=original.astype(np.int64),
            initial_days_past_due=np.round(pop.initial_days_past_due.draw(rng, n)).astype(np.int32),
            segment=segment,
            willingness=willingness,
            liquidity=liquidity,
            liquidity_later=liquidity_later,
            recovery_rate=recovery_rate,
            engagement=engagement,
            spontaneous_pay=seg("spontaneous_pay_daily"),
            preferred_slot=preferred_slot,
            conversation_cost=glob(sc.channels.PHONE.conversation_cost),
            tone_response=tone_response,
            tone_experience=tone_experience,
            action_response=action_response,
            plan_acceptance=seg("plan_acceptance"),
            deferral_acceptance=seg("deferral_acceptance"),
            settlement_acceptance=seg("settlement_acceptance"),
            promise_keep=seg("promise_keep"),
            instalment_keep=seg("instalment_keep"),
            complaint_propensity=seg("complaint_propensity"),
            dispute_propensity=seg("dispute_propensity"),
            cease_request=cease,
            breathing_space_daily=breathing,
            initial_experience=seg("initial_experience"),
            slot_match=glob(sc.slots.match),
            slot_mismatch=glob(sc.slots.mismatch),
            off_slot_experience=glob(sc.slots.off_slot_experience),
            nps_intercept=glob(sc.nps.intercept),
            churn_after=np.stack(
                [glob(after.resolved), glob(after.unresolved), glob(after.legal)], axis=1
            ),
            experience_complaint=glob(sc.experience.complaint),
            experience_legal=glob(sc.experience.legal_notice),
            experience_offer=glob(sc.experience.accepted_offer),
            experience_resolved=glob(sc.experience.resolved),
            experience_dispute=glob(sc.experience.dispute),
            **channel_cols,
        )


def seg_between(
    segments: list[SegmentSpec], segment: np.ndarray, rng: np.random.Generator, name: str
) -> np.ndarray:
    """Per-debtor uniform draw from the segment's ``Between`` spread named ``name``."""
    out = np.empty(segment.shape[0])
    for s, spec in enumerate(segments):
        rows = segment == s
        out[rows] = getattr(spec, name).draw(rng, int(rows.sum()))
    return out

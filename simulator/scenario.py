"""Typed scenario models: everything the debtor-behaviour model needs, with its sources in
the YAML comments (``simulator/scenarios/*.yaml``).

A behaviour parameter is a :class:`Param`: a nominal ``value`` and, optionally, the
``range`` that scenario randomisation draws it from (uniformly, per debtor, i.e. per
episode). Observable traits that differ between debtors of one segment (payment record,
risk score, tenure, days past due) are :class:`Between` spreads: every debtor draws its own
value, with or without randomisation. Loading and the error messages live in
:mod:`simulator.scenario_loader`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.state import AgeBand, Product

Share = Annotated[float, Field(ge=0.0, le=1.0)]
_SHARE_TOLERANCE = 1e-6


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Model):
    """A behaviour parameter: ``value`` (nominal) and an optional randomisation ``range``.

    In YAML either a bare number (``0.26``) or ``{value: 0.26, range: [0.18, 0.30]}``.
    """

    lower: ClassVar[float] = -np.inf
    upper: ClassVar[float] = np.inf

    value: float
    range: tuple[float, float] | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_number(cls, data: Any) -> Any:
        if isinstance(data, int | float) and not isinstance(data, bool):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _check_bounds(self) -> Param:
        lo, hi = type(self).lower, type(self).upper
        values = [self.value, *(self.range or ())]
        if any(not (lo <= v <= hi) for v in values):
            raise ValueError(f"every value must lie in [{lo}, {hi}]; got {values}")
        if self.range is not None:
            low, high = self.range
            if not low <= self.value <= high:
                raise ValueError(
                    f"value {self.value} lies outside range [{low}, {high}]; "
                    "move the value or widen the range"
                )
        return self

    def draw(self, rng: np.random.Generator, n: int, randomise: bool) -> np.ndarray:
        """``n`` values: the nominal one, or uniform draws from ``range`` when randomising."""
        if not randomise or self.range is None:
            return np.full(n, self.value, dtype=np.float64)
        return rng.uniform(self.range[0], self.range[1], n)


class Prob(Param):
    """A probability, in [0, 1]."""

    lower: ClassVar[float] = 0.0
    upper: ClassVar[float] = 1.0


class NonNeg(Param):
    """A non-negative quantity (a cost, a weight, a rate)."""

    lower: ClassVar[float] = 0.0


class Between(_Model):
    """A spread between debtors: each debtor draws uniformly from [low, high]."""

    low: float
    high: float

    @model_validator(mode="after")
    def _ordered(self) -> Between:
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}; swap them")
        return self

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, n)


class ToneResponse(_Model):
    """Response multiplier per tone of the catalogue (engine.catalogue.Tone)."""

    EMPATHETIC: NonNeg
    NEUTRAL: NonNeg
    FIRM: NonNeg


class ToneExperience(_Model):
    """Experience change per tone of the catalogue (may be negative)."""

    EMPATHETIC: Param
    NEUTRAL: Param
    FIRM: Param


class ActionResponse(_Model):
    """Response multiplier per kind of step. OFFER covers plan, deferral and settlement."""

    REMINDER: NonNeg
    DEMAND: NonNeg
    OFFER: NonNeg
    AGENT_CALL: NonNeg
    LEGAL_ESCALATION: NonNeg


class SegmentSpec(_Model):
    """A behaviour segment: hidden willingness and ability to pay, and how it reacts."""

    share: Share
    description: str
    hardship: bool = False
    """Debtors of this segment are in financial hardship (the creditor may know it)."""
    willingness: Prob
    """Mean willingness to pay (per-debtor Beta around it, see ``dynamics``)."""
    ability: NonNeg
    """Median share of the balance the debtor can pay now (≥ 1 = can pay in full)."""
    ability_later: NonNeg
    """Level that ability returns to (income recovers), same unit as ``ability``."""
    recovery_days: NonNeg
    """Time constant (days) of the return of ability towards ``ability_later``."""
    engagement: Prob
    """Attention multiplier on every channel (how likely messages are noticed at all)."""
    spontaneous_pay_daily: Prob
    """Chance per day of paying in full unprompted (remembering), when able."""
    tone_response: ToneResponse
    """Response multiplier per tone."""
    tone_experience: ToneExperience
    """Change of the debtor's experience score per noticed message of that tone."""
    action_response: ActionResponse
    plan_acceptance: Prob
    deferral_acceptance: Prob
    settlement_acceptance: Prob
    """Acceptance of the deeper (40 %) settlement; the 20 % one scales by ``settlement``."""
    promise_keep: Prob
    instalment_keep: Prob
    """Chance of paying each instalment of a self-service plan on time."""
    complaint_propensity: Prob
    """Chance of complaining about one noticed contact before tone and fatigue effects."""
    dispute_propensity: Prob
    """Chance of disputing the debt on first noticing a contact."""
    initial_experience: Param
    prior_on_time_ratio: Between
    """Observable: share of past bills paid on time (the creditor's record)."""
    risk_score: Between
    """Observable: the creditor's risk score (higher = riskier)."""


class ChannelSpec(_Model):
    """Reach, cost and side effects of one contact channel."""

    cost: NonNeg
    """Cost per contact attempt, major currency units."""
    delivery: Prob
    """Chance the message reaches the device / mailbox (phone: the call connects)."""
    attention: Prob
    """Chance a delivered message is noticed (phone: right party talks, given connected)."""
    response: Prob
    """Chance a noticed message leads to action, before debtor and tone multipliers."""
    fatigue_weight: NonNeg
    """Fatigue added by one delivered contact."""
    opt_out: Prob
    """Chance per delivered contact that the debtor opts out of this channel (× fatigue)."""
    complaint: NonNeg
    """Complaint multiplier of the channel (how intrusive it is)."""


class PhoneSpec(ChannelSpec):
    conversation_cost: NonNeg
    """Agent cost added when the call becomes a conversation."""


class ChannelTable(_Model):
    EMAIL: ChannelSpec
    SMS: ChannelSpec
    LETTER: ChannelSpec
    PHONE: PhoneSpec
    PUSH: ChannelSpec


class ChannelPreference(_Model):
    EMAIL: NonNeg
    SMS: NonNeg
    LETTER: NonNeg
    PHONE: NonNeg
    PUSH: NonNeg


class SlotShares(_Model):
    MORNING: Share
    MIDDAY: Share
    AFTERNOON: Share
    EVENING: Share

    @model_validator(mode="after")
    def _sums_to_one(self) -> SlotShares:
        _check_shares("preferred_slot", self.model_dump())
        return self


class AgeBandSpec(_Model):
    share: Share
    has_app: Prob
    channel_preference: ChannelPreference
    preferred_slot: SlotShares


class CountrySpec(_Model):
    country: str = Field(pattern=r"^[A-Z]{2}$")
    share: Share
    timezones: dict[str, Share]
    """IANA time zones of the country's debtors with their shares (every debtor has one)."""
    cease_request: Prob = Prob(value=0.0)
    """Chance per noticed contact of a written request to stop contact (where law grants)."""
    breathing_space_daily: Prob = Prob(value=0.0)
    """Chance per day of entering a statutory breathing space (GB Debt Respite Scheme)."""

    @field_validator("timezones")
    @classmethod
    def _known_zones(cls, zones: dict[str, float]) -> dict[str, float]:
        for name in zones:
            try:
                ZoneInfo(name)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"{name!r} is not an IANA time zone; use a name like 'Europe/Stockholm'"
                ) from None
        _check_shares("timezones", zones)
        return zones


class Balance(_Model):
    """Log-normal balance in major currency units, clipped to [min, max]."""

    median: Annotated[float, Field(gt=0)]
    sigma: Annotated[float, Field(ge=0)]
    min: Annotated[float, Field(gt=0)]
    max: Annotated[float, Field(gt=0)]


class ConsentShares(_Model):
    """Share of debtors who granted consent per channel (the rest: UNKNOWN)."""

    EMAIL: Share
    SMS: Share
    LETTER: Share
    PHONE: Share
    PUSH: Share
    """Applies to debtors with the app only."""


class Population(_Model):
    countries: list[CountrySpec] = Field(min_length=1)
    age_bands: dict[str, AgeBandSpec]
    balance: Balance
    initial_days_past_due: Between
    tenure_months: Between
    start_dates: tuple[date, date]
    """First local date of an episode is drawn uniformly from this inclusive range."""
    vulnerable: Prob
    mental_health_crisis: Prob
    time_barred: Prob
    hardship_known: Prob
    """Share of debtors in hardship whom the creditor already flags as such."""
    consent_granted: ConsentShares
    breathing_space_days: Annotated[int, Field(ge=1, le=365)] = 60
    """Length of a standard breathing space (GB: 60 days, SI 2020/1311)."""

    @field_validator("countries")
    @classmethod
    def _country_shares(cls, countries: list[CountrySpec]) -> list[CountrySpec]:
        _check_shares("countries", {c.country: c.share for c in countries})
        return countries

    @field_validator("age_bands")
    @classmethod
    def _age_bands(cls, bands: dict[str, AgeBandSpec]) -> dict[str, AgeBandSpec]:
        allowed = [a.name for a in AgeBand if a is not AgeBand.UNSPECIFIED]
        for name in bands:
            if name not in allowed:
                raise ValueError(f"unknown age band {name!r}; use {', '.join(allowed)}")
        _check_shares("age_bands", {k: v.share for k, v in bands.items()})
        return bands

    @model_validator(mode="after")
    def _dates(self) -> Population:
        if self.start_dates[0] > self.start_dates[1]:
            raise ValueError("start_dates: the first date is after the second; swap them")
        return self


class SlotEffect(_Model):
    match: NonNeg
    """Attention multiplier when the send slot is the debtor's preferred one."""
    mismatch: NonNeg
    """Attention multiplier for the other timed slots."""
    off_slot_experience: Param
    """Experience change for a noticed call outside the preferred slot (intrusion)."""


class Fatigue(_Model):
    half_life_days: Annotated[float, Field(gt=0)]
    response_penalty: NonNeg
    """Attention and response fall as exp(-penalty × fatigue)."""
    complaint_gain: NonNeg
    """Complaints about contact frequency: propensity × gain × fatigue per delivered contact."""
    tolerance: NonNeg
    """Fatigue above this costs experience on every further contact."""
    experience_penalty: NonNeg


class Dynamics(_Model):
    willingness_concentration: Annotated[float, Field(gt=0)]
    """Beta concentration of willingness around the segment mean (higher = tighter)."""
    ability_sigma: NonNeg
    """Log-normal spread of ability around the segment median."""
    willingness_decay_daily: Prob
    """Collectability falls with the age of the debt."""
    willingness_noise_daily: NonNeg
    income_shock_daily: Prob
    income_shock_ability_factor: Prob
    payday_day_of_month: Annotated[int, Field(ge=1, le=28)]
    payday_window_days: Annotated[int, Field(ge=0, le=10)]
    payday_boost: NonNeg
    partial_payment: Prob
    """Chance that a willing debtor who cannot pay in full pays what they can."""
    promise_due_days: Annotated[int, Field(ge=1, le=30)]
    hardship_disclosure: Prob
    """Chance that a debtor who cannot pay says so in a conversation (creditor flags hardship)."""
    churn_willingness_factor: Prob
    """Willingness multiplier once a customer has left the creditor."""


class Letters(_Model):
    delay_days: Annotated[int, Field(ge=1, le=7)]


class Plans(_Model):
    interval_days: Annotated[int, Field(ge=7, le=31)]
    agent_break_factor: NonNeg
    """Break chance per instalment of an agent-set plan relative to a self-service plan."""
    agent_plan_instalments: Literal[3, 6]
    able_to_pay_factor: Prob
    """Acceptance of a plan or deferral offer by a debtor who could pay in full, relative to
    one who cannot (sets the share of plans taken by debtors who did not need one)."""


class Settlement(_Model):
    small_discount_factor: Prob
    """Acceptance of the 20 % settlement relative to the 40 % one."""


class Legal(_Model):
    cost: NonNeg
    notice_attention: Prob
    """Chance that a delivered legal notice is read (replaces the letter's attention)."""
    notice_days: Annotated[int, Field(ge=1, le=60)]
    recovery_probability: Prob
    recovery_share: Prob
    """Share of the balance a successful enforcement recovers, net of its own fees."""
    recovery_delay_days: Annotated[int, Field(ge=0)]


class Complaints(_Model):
    tone: ToneResponse
    """Complaint multiplier per tone."""
    legal_factor: NonNeg
    """Complaint multiplier of a legal notice (replaces the tone's)."""
    vulnerable_factor: NonNeg


class Disputes(_Model):
    resolution_days: Annotated[int, Field(ge=1, le=120)]


class Experience(_Model):
    complaint: Param
    legal_notice: Param
    accepted_offer: Param
    resolved: Param
    dispute: Param


class ChurnAfter(_Model):
    """Logit intercepts of churn within 90 days after the collection episode, by outcome."""

    resolved: Param
    unresolved: Param
    legal: Param
    experience_slope: NonNeg


class Churn(_Model):
    enabled: bool
    base_monthly: Prob
    collection_gain: NonNeg
    """Daily churn hazard during collection grows as exp(gain × max(0, -experience))."""
    after: ChurnAfter


class NPS(_Model):
    intercept: Param
    """Mean 0–10 likelihood-to-recommend at experience 0."""
    slope: NonNeg
    noise: NonNeg


class Reward(_Model):
    complaint_price: NonNeg
    churn_price: NonNeg
    annual_discount_rate: Annotated[float, Field(ge=0.0, le=1.0)]
    """Money received t days into the episode is worth (1 + rate) ** (-t / 365) of its face
    value: payments, legal recoveries and a running plan's instalments alike."""
    scale: Annotated[float, Field(gt=0)]
    """Rewards are money / scale (keeps PPO's value targets near 1)."""


class Target(_Model):
    value: float
    tolerance: Annotated[float, Field(gt=0)]
    source: str
    grade: Literal["A", "B", "C", "R"] = "B"


class Targets(_Model):
    """Published figures the ladder baseline should reproduce (percent / NPS points)."""

    resolution_rate: Target | None = None
    churn_90d: Target | None = None
    nps: Target | None = None


class Fact(_Model):
    """A stylised fact the simulator must reproduce: ``value ± tolerance`` (percent), its
    source and the source's grade (A, B, C; R = our rationale, no source)."""

    value: float
    tolerance: Annotated[float, Field(gt=0)]
    source: str = Field(min_length=1)
    grade: Literal["A", "B", "C", "R"]


class FirstResponse(_Model):
    """Share of first contacts on each channel that the debtor acts on (%), as the cited
    figures measure it: phone = right-party conversations per attempt, push = opens."""

    EMAIL: Fact | None = None
    SMS: Fact | None = None
    LETTER: Fact | None = None
    PHONE: Fact | None = None
    PUSH: Fact | None = None


class Validation(_Model):
    """The stylised facts ``tact simulate --validate`` checks (simulator.validation)."""

    plan_break_6m_self_service: Fact | None = None
    """% of self-service plans broken within 6 months of agreement."""
    plan_break_6m_agent: Fact | None = None
    """% of agent-set plans broken within 6 months of agreement."""
    plans_taken_by_able: Fact | None = None
    """% of plans agreed by debtors who could have paid in full."""
    settlement_acceptance: Fact | None = None
    """% of noticed settlement offers (40 % discount) that are accepted."""
    first_response: FirstResponse = FirstResponse()


class Scenario(_Model):
    """A complete, validated scenario."""

    name: str
    description: str
    product: str
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    horizon_days: Annotated[int, Field(ge=7, le=365)]
    decision_hour: Annotated[int, Field(ge=0, le=7)]
    """Local hour of the daily decision; before the first send slot (08:00)."""
    population: Population
    segments: dict[str, SegmentSpec] = Field(min_length=1)
    channels: ChannelTable
    slots: SlotEffect
    fatigue: Fatigue
    dynamics: Dynamics
    letters: Letters
    plans: Plans
    settlement: Settlement
    legal: Legal
    complaints: Complaints
    disputes: Disputes
    experience: Experience
    churn: Churn
    nps: NPS
    reward: Reward
    targets: Targets = Targets()
    validation: Validation = Validation()

    @field_validator("product")
    @classmethod
    def _product(cls, value: str) -> str:
        allowed = [p.name for p in Product if p is not Product.UNSPECIFIED]
        if value not in allowed:
            raise ValueError(f"unknown product {value!r}; use one of {', '.join(allowed)}")
        return value

    @field_validator("segments")
    @classmethod
    def _segment_shares(cls, segments: dict[str, SegmentSpec]) -> dict[str, SegmentSpec]:
        _check_shares("segments", {k: v.share for k, v in segments.items()})
        return segments

    @property
    def segment_names(self) -> tuple[str, ...]:
        return tuple(self.segments)

    @property
    def product_code(self) -> Product:
        return Product[self.product]


WORLD_BLOCKS = ("fatigue", "dynamics", "plans", "settlement", "legal", "complaints", "churn", "nps")
"""Blocks whose ranged parameters randomisation draws once per world (per reset of a
simulator); segment, channel, country, age-band, slot and experience parameters are drawn
per debtor instead (see simulator.population). Reward prices are never randomised: they
define the objective, not the world."""


def draw_world(scenario: Scenario, rng: np.random.Generator) -> Scenario:
    """A copy of ``scenario`` with every ranged parameter of :data:`WORLD_BLOCKS` drawn
    uniformly from its range (the range is kept, so the copy still validates)."""

    def drawn(model: BaseModel) -> BaseModel:
        updates: dict[str, object] = {}
        for name in type(model).model_fields:
            value = getattr(model, name)
            if isinstance(value, Param):
                if value.range is not None:
                    low, high = value.range
                    updates[name] = type(value)(
                        value=float(rng.uniform(low, high)), range=value.range
                    )
            elif isinstance(value, BaseModel):
                updates[name] = drawn(value)
        return model.model_copy(update=updates)

    return scenario.model_copy(
        update={block: drawn(getattr(scenario, block)) for block in WORLD_BLOCKS}
    )


def _check_shares(what: str, shares: dict[str, float]) -> None:
    total = sum(shares.values())
    if abs(total - 1.0) > _SHARE_TOLERANCE:
        raise ValueError(
            f"{what} shares sum to {total:.6g}, they must sum to 1; adjust "
            + ", ".join(f"{k}={v:g}" for k, v in shares.items())
        )

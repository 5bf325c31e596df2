"""The rule-file format: pydantic models that validate ``rules/*.yaml`` and generate
``rules/schema.json`` (and ``rules/tests/schema.json`` for the officers' test cases).

The models are the single source of truth for the format: the loader validates with
them and the JSON Schema that editors use is ``model_json_schema()`` of the same
classes, so the two cannot drift (a test regenerates the schema and compares).
"""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from engine.catalogue import Action, Channel, Offer, Slot, Tone
from engine.state import ConsentStatus, EventKind, Product

# --- names of catalogue dimensions, as officers write them ----------------------------
# Explicit str enums (not generated) so that mypy and the JSON Schema both see them; the
# assertions below keep them equal to the catalogue's enums.


class ActionName(StrEnum):
    REMINDER = "REMINDER"
    DEMAND = "DEMAND"
    INSTALMENT_PLAN = "INSTALMENT_PLAN"
    DEFERRAL = "DEFERRAL"
    SETTLEMENT = "SETTLEMENT"
    AGENT_CALL = "AGENT_CALL"
    LEGAL_ESCALATION = "LEGAL_ESCALATION"


class ChannelName(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    LETTER = "LETTER"
    PHONE = "PHONE"
    PUSH = "PUSH"


class ToneName(StrEnum):
    EMPATHETIC = "EMPATHETIC"
    NEUTRAL = "NEUTRAL"
    FIRM = "FIRM"


class OfferName(StrEnum):
    NONE = "NONE"
    PLAN_3 = "PLAN_3"
    PLAN_6 = "PLAN_6"
    DEFER_30 = "DEFER_30"
    SETTLE_20 = "SETTLE_20"
    SETTLE_40 = "SETTLE_40"


class SlotName(StrEnum):
    MORNING = "MORNING"
    MIDDAY = "MIDDAY"
    AFTERNOON = "AFTERNOON"
    EVENING = "EVENING"
    POST = "POST"


assert {a.name for a in ActionName} == {a.name for a in Action} - {"WAIT"}
assert {c.name for c in ChannelName} == {c.name for c in Channel} - {"NONE"}
assert {t.name for t in ToneName} == {t.name for t in Tone} - {"NONE"}
assert {o.name for o in OfferName} == {o.name for o in Offer}
assert {s.name for s in SlotName} == {s.name for s in Slot} - {"NONE"}


_STRICT = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)

_WINDOW_RE = re.compile(r"^(?P<h1>[0-2]\d):(?P<m1>[0-5]\d)-(?P<h2>[0-2]\d):(?P<m2>[0-5]\d)$")

Window = Annotated[
    str | None,
    Field(
        description=(
            'Allowed local send time "HH:MM-HH:MM" (end exclusive, "24:00" = midnight at '
            "the end of the day), or null for no sending at all on that kind of day."
        ),
        json_schema_extra={"pattern": _WINDOW_RE.pattern},
    ),
]


class FormatError(ValueError):
    """A rule-file value is wrong; ``fix`` says what to write instead (shown by ``check``)."""

    def __init__(self, problem: str, fix: str) -> None:
        super().__init__(problem)
        self.fix = fix


def parse_window(text: str) -> tuple[int, int]:
    """``"08:00-21:00"`` → minutes since local midnight ``(480, 1260)``; raises ValueError."""
    match = _WINDOW_RE.match(text)
    if not match:
        raise FormatError(f"send window {text!r} is not HH:MM-HH:MM", 'write e.g. "08:00-21:00"')
    start = int(match["h1"]) * 60 + int(match["m1"])
    end = int(match["h2"]) * 60 + int(match["m2"])
    if start >= 24 * 60 or end > 24 * 60:
        raise FormatError(f"send window {text!r} has a time past 24:00", "use 00:00-24:00 at most")
    if start >= end:
        raise FormatError(
            f"send window {text!r} ends before it starts (a window cannot cross midnight)",
            "write the start first, e.g. 08:00-21:00; for a night window use two rules",
        )
    return start, end


# --- effects ---------------------------------------------------------------------------


class Selector(BaseModel):
    """Which treatments an effect blocks: every listed dimension must match (omitted = any)."""

    model_config = _STRICT
    actions: list[ActionName] | None = Field(None, description="Actions, e.g. [DEMAND].")
    channels: list[ChannelName] | None = Field(None, description="Channels, e.g. [SMS, PHONE].")
    tones: list[ToneName] | None = Field(None, description="Tones, e.g. [FIRM].")
    offers: list[OfferName] | None = Field(None, description="Offers, e.g. [SETTLE_40].")
    slots: list[SlotName] | None = Field(None, description="Send slots, e.g. [EVENING].")

    @model_validator(mode="after")
    def _not_empty(self) -> Selector:
        dims = (self.actions, self.channels, self.tones, self.offers, self.slots)
        if all(d is None for d in dims):
            raise FormatError(
                "a block needs at least one of actions, channels, tones, offers, slots",
                "list what to block, e.g. `actions: [DEMAND]`; to stop all contact use `hold: {}`",
            )
        if any(d is not None and not d for d in dims):
            raise FormatError("an empty list selects nothing", "remove the key or list a value")
        return self


class HoldEffect(BaseModel):
    """Stop all contact (every treatment but WAIT) and mark the verdict as a hold."""

    model_config = _STRICT


class HumanOnlyEffect(BaseModel):
    """Only a trained human agent may contact the debtor, without pressure.

    Blocks every treatment except ``AGENT_CALL`` in one of ``tones``.
    """

    model_config = _STRICT
    tones: list[ToneName] = Field(
        default_factory=lambda: [ToneName.EMPATHETIC, ToneName.NEUTRAL],
        min_length=1,
        description="Tones a human agent may use (default EMPATHETIC, NEUTRAL).",
    )


class SendWindowEffect(BaseModel):
    """Allowed local send times of channels, by kind of day.

    A public holiday uses ``holiday`` whatever its weekday. Letters are posted on days
    whose window is not null (``POST`` slot = the whole allowed window of the day).
    Several windows for one channel intersect.
    """

    model_config = _STRICT
    channels: list[ChannelName] = Field(min_length=1)
    weekday: Window
    saturday: Window
    sunday: Window
    holiday: Window

    @field_validator("weekday", "saturday", "sunday", "holiday")
    @classmethod
    def _valid_window(cls, value: str | None) -> str | None:
        if value is not None:
            parse_window(value)
        return value


class ExclusionName(StrEnum):
    calls_not_connected = "calls_not_connected"
    calls_with_consent = "calls_with_consent"


class PeriodName(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class ContactLimitEffect(BaseModel):
    """Block ``blocks`` (default: ``channels``) once ``max`` contacts through ``channels``
    have been placed in the window (today's already reserved contacts included).

    Window: ``within_days: N`` = today and the N-1 days before (rolling); or ``per`` =
    the local calendar day, ISO week (Monday to today) or month (1st to today).
    """

    model_config = _STRICT
    channels: list[ChannelName] | None = Field(
        None, description="Channels counted (omitted = all contact channels)."
    )
    max: int = Field(ge=0, description="Contacts allowed in the window.")
    within_days: int | None = Field(None, ge=1, le=35, description="Rolling window in days.")
    per: PeriodName | None = Field(None, description="Calendar period instead of a rolling one.")
    exclude: list[ExclusionName] = Field(
        default_factory=list, description="Phone calls not counted (Reg F §1006.14(b)(3))."
    )
    blocks: list[ChannelName] | None = Field(
        None, description="Channels blocked when the limit is reached (default: channels)."
    )

    @model_validator(mode="after")
    def _one_window(self) -> ContactLimitEffect:
        if (self.within_days is None) == (self.per is None):
            raise FormatError(
                "a contact limit needs exactly one window",
                "give `within_days: N` (rolling) or `per: day|week|month` (calendar), not both",
            )
        return self


class ConversationCoolDown(StrEnum):
    conversation = "conversation"


class CoolDownEffect(BaseModel):
    """Block ``channels`` for ``days`` days after the event; the event's day is day 1."""

    model_config = _STRICT
    after: ConversationCoolDown = ConversationCoolDown.conversation
    days: int = Field(ge=1, le=365)
    channels: list[ChannelName] = Field(min_length=1)


class ConsentRequirement(StrEnum):
    granted = "granted"
    not_opted_out = "not_opted_out"


class ChannelConsentEffect(BaseModel):
    """Per-channel permission: block a channel the debtor opted out of (``not_opted_out``)
    or has not explicitly consented to (``granted``)."""

    model_config = _STRICT
    channels: list[ChannelName] = Field(min_length=1)
    require: ConsentRequirement


class NoticeEvent(StrEnum):
    first_reminder = "first_reminder"
    first_written_reminder = "first_written_reminder"
    first_demand = "first_demand"


class MinNoticeEffect(BaseModel):
    """Block ``blocks`` until the period a notice gave has run out, and while no such notice
    has been sent.

    The period starts the day after the notice is received — the day it is sent, or
    ``received_after_bank_days`` bank days later — and lasts ``days`` days or ``bank_days``
    bank days (Monday to Friday but bank holidays); it ends at the end of its last day, and
    the blocked steps are allowed from 00:00 local the next day. An inkassokrav sent on
    2 March with ``days: 8`` gives 3–10 March: legal action from 11 March."""

    model_config = _STRICT
    after: NoticeEvent
    days: int | None = Field(
        None, ge=1, le=365, description="Length of the period in days (or give bank_days)."
    )
    bank_days: int | None = Field(
        None, ge=1, le=250, description="Length of the period in bank days (or give days)."
    )
    received_after_bank_days: int = Field(
        0,
        ge=0,
        le=30,
        description="The notice counts as received this many bank days after it is sent "
        "(0: the day it is sent); the period starts the day after receipt.",
    )
    blocks: Selector

    @model_validator(mode="after")
    def _one_length(self) -> MinNoticeEffect:
        if (self.days is None) == (self.bank_days is None):
            raise FormatError(
                "a notice period needs exactly one length",
                "give `days: N` (calendar days) or `bank_days: N` (bank days), not both",
            )
        return self


EFFECT_KEYS: tuple[str, ...] = (
    "block",
    "hold",
    "human_only",
    "send_window",
    "contact_limit",
    "cool_down",
    "channel_consent",
    "min_notice",
)


class Rule(BaseModel):
    """One rule: an id, where it comes from, when it applies and exactly one effect."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"oneOf": [{"required": [k]} for k in EFFECT_KEYS]},
    )
    id: str = Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$",
        description="Unique id, shown in every verdict (e.g. US.calls.7-in-7).",
    )
    title: str = Field(min_length=1, description="One line a compliance officer understands.")
    citation: str = Field(
        min_length=1,
        description="Law and section; write UNCONFIRMED where not confirmed from a primary "
        "source, or 'firm policy' where the number is the firm's own choice.",
    )
    message: str | None = Field(
        None, description="Text shown when the rule blocks something (default: the title)."
    )
    when: str | None = Field(
        None,
        description="Condition on case facts (see docs/rules.md), e.g. "
        "'dispute or days_past_due < 30'. Omitted = always.",
    )
    block: Selector | None = None
    hold: HoldEffect | None = None
    human_only: HumanOnlyEffect | None = None
    send_window: SendWindowEffect | None = None
    contact_limit: ContactLimitEffect | None = None
    cool_down: CoolDownEffect | None = None
    channel_consent: ChannelConsentEffect | None = None
    min_notice: MinNoticeEffect | None = None

    @model_validator(mode="after")
    def _exactly_one_effect(self) -> Rule:
        present = [k for k in EFFECT_KEYS if getattr(self, k) is not None]
        if len(present) != 1:
            found = ", ".join(present) if present else "none"
            raise FormatError(
                f"a rule has exactly one effect (found: {found})",
                f"keep one of {', '.join(EFFECT_KEYS)}; split the rule in two if you need more",
            )
        return self

    @property
    def effect_kind(self) -> str:
        return next(k for k in EFFECT_KEYS if getattr(self, k) is not None)


class HolidayCalendar(BaseModel):
    """Which public holidays apply (the ``holidays`` package)."""

    model_config = _STRICT
    country: str | None = Field(None, description="Country code for `holidays` (default: file).")
    subdivision: str | None = Field(None, description="Optional subdivision (state, region).")
    categories: list[str] = Field(
        default_factory=lambda: ["public"], description="holidays categories, default [public]."
    )
    bank_categories: list[str] | None = Field(
        None,
        description="holidays categories that are not bank days (for min_notice bank days), "
        "default: categories.",
    )


class RuleFile(BaseModel):
    """One jurisdiction's rules (``rules/<CC>.yaml``) or a shared base (``defaults``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="tact compliance rule file")
    jurisdiction: str = Field(
        pattern=r"^([A-Z]{2}(-[A-Z0-9]{1,3})?|defaults)$",
        description="ISO 3166-1 alpha-2 country code (US), ISO 3166-2 subdivision code "
        "(US-MA; the file extends its country's), or 'defaults' for a shared base file.",
    )
    title: str = Field(min_length=1)
    extends: str | None = Field(
        None,
        description="Stem of the file whose rules this one inherits (e.g. defaults); "
        "a rule with the same id here replaces the inherited one.",
    )
    timezones: list[str] | None = Field(
        None,
        description="IANA time zones of the country, most populous first (default: the "
        "shipped table). A case without a time zone is allowed only what every zone allows.",
    )
    holidays: HolidayCalendar | None = Field(
        None,
        description="Which public holidays apply (default: the country's public holidays; "
        "a subdivision: its country's, with its own where the holidays package knows them).",
    )
    disable: list[str] = Field(
        default_factory=list, description="Ids of inherited rules that do not apply here."
    )
    rules: list[Rule] = Field(default_factory=list)


# --- officers' test cases (rules/tests/*.yaml) -------------------------------------------


class FlagsSpec(BaseModel):
    model_config = _STRICT
    dispute: bool = False
    cease_communication: bool = False
    vulnerable: bool = False
    bankruptcy: bool = False
    deceased: bool = False
    breathing_space_until: date | None = None
    mental_health_crisis: bool = False
    time_barred: bool = False
    hardship: bool = False


ProductName = Literal[tuple(p.name for p in Product)]  # type: ignore[valid-type]
ConsentName = Literal[tuple(c.name for c in ConsentStatus)]  # type: ignore[valid-type]
EventName = Literal[tuple(e.name for e in EventKind)]  # type: ignore[valid-type]


class CaseFactsSpec(BaseModel):
    """The case as the core system sends it (only what the rules need; rest defaults)."""

    model_config = _STRICT
    days_past_due: int = 30
    outstanding_minor: int = 50_000
    original_minor: int = 50_000
    product: ProductName = "CONSUMER_CREDIT"  # type: ignore[valid-type]
    has_app: bool = False
    consents: dict[ChannelName, ConsentName] = Field(default_factory=dict)  # type: ignore[valid-type]
    flags: FlagsSpec = Field(default_factory=FlagsSpec)


class EventSpec(BaseModel):
    """A ledger event, placed ``days_ago`` local days before the decision."""

    model_config = _STRICT
    kind: EventName  # type: ignore[valid-type]
    days_ago: int = Field(ge=0, le=400)
    time: str = Field("09:00", pattern=r"^[0-2]\d:[0-5]\d$", description="Local time HH:MM.")
    channel: ChannelName | None = None
    action: ActionName | None = None
    count: int = Field(1, ge=1, le=100, description="How many identical events.")
    until: date | None = Field(None, description="End date, for BREATHING_SPACE_STARTED.")
    not_connected: bool = Field(
        False, description="For a PHONE contact: also record CALL_NOT_CONNECTED for it."
    )
    external: bool = Field(
        False,
        description="Placed outside tact: no decision id; a CALL_NOT_CONNECTED (not_connected) "
        "names its attempt by attempt_event_id instead.",
    )


class StepSpec(BaseModel):
    """The proposed step; omitted dimensions match every catalogue entry."""

    model_config = _STRICT
    action: ActionName | None = None
    channel: ChannelName | None = None
    tone: ToneName | None = None
    offer: OfferName | None = None
    slot: SlotName | None = None


class RuleTestCase(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    at: str = Field(
        description="Local date and time of the decision, ISO 8601 without offset "
        "(e.g. 2024-03-11T09:30), in `timezone`.",
        pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?)?$",
    )
    timezone: str | None = Field(
        None,
        description="IANA zone of the debtor; omitted = the country's first zone; "
        "'unknown' = the case has no time zone.",
    )
    case: CaseFactsSpec = Field(default_factory=CaseFactsSpec)
    history: list[EventSpec] = Field(default_factory=list)
    step: str | StepSpec = Field(
        description="Catalogue label (e.g. AGENT_CALL/PHONE/NEUTRAL/MIDDAY) or the "
        "dimensions to match; every matching treatment must meet the expectation."
    )
    expect: Literal["allowed", "blocked"]
    rules: list[str] = Field(
        default_factory=list,
        description="Rule ids that must be among the reasons the step is blocked.",
    )
    shaping: list[str] = Field(
        default_factory=list,
        description="Rule ids that must have restricted something in the verdict (e.g. a "
        "send window that shortened the slot) even if the step itself is allowed.",
    )
    window: str | None = Field(
        None,
        description='Expected allowed local send time of the step, "HH:MM-HH:MM" (clipped '
        "to `at`); only for an allowed step.",
        pattern=r"^\d{2}:\d{2}-\d{2}:\d{2}$",
    )
    hold: bool | None = Field(None, description="Expected verdict.hold, if given.")
    human_only: bool | None = Field(None, description="Expected verdict.human_only, if given.")

    @model_validator(mode="after")
    def _rules_only_when_blocked(self) -> RuleTestCase:
        if self.expect == "allowed" and self.rules:
            raise FormatError("an allowed step has no blocking rules", "remove `rules`")
        if self.expect == "blocked" and self.window is not None:
            raise FormatError("a blocked step has no send window", "remove `window`")
        return self


class RuleTestFile(BaseModel):
    """Test cases for one country's rules (``rules/tests/<name>.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="tact compliance rule tests")
    country: str = Field(
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="The jurisdiction the cases are for: a country (US) or a subdivision "
        "(US-MA: the case's country is US and its subdivision US-MA).",
    )
    cases: list[RuleTestCase] = Field(min_length=1)


def json_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The JSON Schema editors use for ``model``'s files (draft 2020-12)."""
    schema = model.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_WAIT: _ClassVar[Action]
    ACTION_REMINDER: _ClassVar[Action]
    ACTION_DEMAND: _ClassVar[Action]
    ACTION_INSTALMENT_PLAN: _ClassVar[Action]
    ACTION_DEFERRAL: _ClassVar[Action]
    ACTION_SETTLEMENT: _ClassVar[Action]
    ACTION_AGENT_CALL: _ClassVar[Action]
    ACTION_LEGAL_ESCALATION: _ClassVar[Action]

class Channel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHANNEL_UNSPECIFIED: _ClassVar[Channel]
    CHANNEL_EMAIL: _ClassVar[Channel]
    CHANNEL_SMS: _ClassVar[Channel]
    CHANNEL_LETTER: _ClassVar[Channel]
    CHANNEL_PHONE: _ClassVar[Channel]
    CHANNEL_PUSH: _ClassVar[Channel]

class Tone(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TONE_UNSPECIFIED: _ClassVar[Tone]
    TONE_EMPATHETIC: _ClassVar[Tone]
    TONE_NEUTRAL: _ClassVar[Tone]
    TONE_FIRM: _ClassVar[Tone]

class OfferKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OFFER_KIND_UNSPECIFIED: _ClassVar[OfferKind]
    OFFER_KIND_PLAN_3: _ClassVar[OfferKind]
    OFFER_KIND_PLAN_6: _ClassVar[OfferKind]
    OFFER_KIND_DEFER_30: _ClassVar[OfferKind]
    OFFER_KIND_SETTLE_20: _ClassVar[OfferKind]
    OFFER_KIND_SETTLE_40: _ClassVar[OfferKind]

class SendSlot(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEND_SLOT_UNSPECIFIED: _ClassVar[SendSlot]
    SEND_SLOT_MORNING: _ClassVar[SendSlot]
    SEND_SLOT_MIDDAY: _ClassVar[SendSlot]
    SEND_SLOT_AFTERNOON: _ClassVar[SendSlot]
    SEND_SLOT_EVENING: _ClassVar[SendSlot]
    SEND_SLOT_POST: _ClassVar[SendSlot]
ACTION_UNSPECIFIED: Action
ACTION_WAIT: Action
ACTION_REMINDER: Action
ACTION_DEMAND: Action
ACTION_INSTALMENT_PLAN: Action
ACTION_DEFERRAL: Action
ACTION_SETTLEMENT: Action
ACTION_AGENT_CALL: Action
ACTION_LEGAL_ESCALATION: Action
CHANNEL_UNSPECIFIED: Channel
CHANNEL_EMAIL: Channel
CHANNEL_SMS: Channel
CHANNEL_LETTER: Channel
CHANNEL_PHONE: Channel
CHANNEL_PUSH: Channel
TONE_UNSPECIFIED: Tone
TONE_EMPATHETIC: Tone
TONE_NEUTRAL: Tone
TONE_FIRM: Tone
OFFER_KIND_UNSPECIFIED: OfferKind
OFFER_KIND_PLAN_3: OfferKind
OFFER_KIND_PLAN_6: OfferKind
OFFER_KIND_DEFER_30: OfferKind
OFFER_KIND_SETTLE_20: OfferKind
OFFER_KIND_SETTLE_40: OfferKind
SEND_SLOT_UNSPECIFIED: SendSlot
SEND_SLOT_MORNING: SendSlot
SEND_SLOT_MIDDAY: SendSlot
SEND_SLOT_AFTERNOON: SendSlot
SEND_SLOT_EVENING: SendSlot
SEND_SLOT_POST: SendSlot

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Offer(_message.Message):
    __slots__ = ("kind", "instalments", "instalment_amount", "deferral_days", "discount", "settlement_amount")
    KIND_FIELD_NUMBER: _ClassVar[int]
    INSTALMENTS_FIELD_NUMBER: _ClassVar[int]
    INSTALMENT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    DEFERRAL_DAYS_FIELD_NUMBER: _ClassVar[int]
    DISCOUNT_FIELD_NUMBER: _ClassVar[int]
    SETTLEMENT_AMOUNT_FIELD_NUMBER: _ClassVar[int]
    kind: OfferKind
    instalments: int
    instalment_amount: Money
    deferral_days: int
    discount: float
    settlement_amount: Money
    def __init__(self, kind: _Optional[_Union[OfferKind, str]] = ..., instalments: _Optional[int] = ..., instalment_amount: _Optional[_Union[Money, _Mapping]] = ..., deferral_days: _Optional[int] = ..., discount: _Optional[float] = ..., settlement_amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Treatment(_message.Message):
    __slots__ = ("action", "channel", "tone", "offer", "slot", "catalogue_index")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    TONE_FIELD_NUMBER: _ClassVar[int]
    OFFER_FIELD_NUMBER: _ClassVar[int]
    SLOT_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_INDEX_FIELD_NUMBER: _ClassVar[int]
    action: Action
    channel: Channel
    tone: Tone
    offer: Offer
    slot: SendSlot
    catalogue_index: int
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., channel: _Optional[_Union[Channel, str]] = ..., tone: _Optional[_Union[Tone, str]] = ..., offer: _Optional[_Union[Offer, _Mapping]] = ..., slot: _Optional[_Union[SendSlot, str]] = ..., catalogue_index: _Optional[int] = ...) -> None: ...

class RuleHit(_message.Message):
    __slots__ = ("rule_id", "message", "citation")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CITATION_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    message: str
    citation: str
    def __init__(self, rule_id: _Optional[str] = ..., message: _Optional[str] = ..., citation: _Optional[str] = ...) -> None: ...

class TimeWindow(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

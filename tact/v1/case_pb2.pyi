import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tact.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgeBand(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGE_BAND_UNSPECIFIED: _ClassVar[AgeBand]
    AGE_BAND_18_29: _ClassVar[AgeBand]
    AGE_BAND_30_44: _ClassVar[AgeBand]
    AGE_BAND_45_64: _ClassVar[AgeBand]
    AGE_BAND_65_PLUS: _ClassVar[AgeBand]

class Product(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PRODUCT_UNSPECIFIED: _ClassVar[Product]
    PRODUCT_TELECOM: _ClassVar[Product]
    PRODUCT_CONSUMER_CREDIT: _ClassVar[Product]
    PRODUCT_CREDIT_CARD: _ClassVar[Product]
    PRODUCT_UTILITY: _ClassVar[Product]
    PRODUCT_BNPL: _ClassVar[Product]

class ConsentStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CONSENT_STATUS_UNSPECIFIED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_GRANTED: _ClassVar[ConsentStatus]
    CONSENT_STATUS_OPTED_OUT: _ClassVar[ConsentStatus]

class EventType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_TYPE_UNSPECIFIED: _ClassVar[EventType]
    EVENT_TYPE_CONTACT_ATTEMPTED: _ClassVar[EventType]
    EVENT_TYPE_CONTACT_DELIVERED: _ClassVar[EventType]
    EVENT_TYPE_CONTACT_OPENED: _ClassVar[EventType]
    EVENT_TYPE_CONTACT_CLICKED: _ClassVar[EventType]
    EVENT_TYPE_CALL_CONNECTED: _ClassVar[EventType]
    EVENT_TYPE_CALL_NOT_CONNECTED: _ClassVar[EventType]
    EVENT_TYPE_CONVERSATION: _ClassVar[EventType]
    EVENT_TYPE_PROMISE_TO_PAY: _ClassVar[EventType]
    EVENT_TYPE_PAYMENT: _ClassVar[EventType]
    EVENT_TYPE_PLAN_AGREED: _ClassVar[EventType]
    EVENT_TYPE_PLAN_BROKEN: _ClassVar[EventType]
    EVENT_TYPE_COMPLAINT: _ClassVar[EventType]
    EVENT_TYPE_OPT_OUT: _ClassVar[EventType]
    EVENT_TYPE_CONSENT_GRANTED: _ClassVar[EventType]
    EVENT_TYPE_DISPUTE_OPENED: _ClassVar[EventType]
    EVENT_TYPE_DISPUTE_RESOLVED: _ClassVar[EventType]
    EVENT_TYPE_CEASE_REQUEST: _ClassVar[EventType]
    EVENT_TYPE_BREATHING_SPACE_STARTED: _ClassVar[EventType]
    EVENT_TYPE_BREATHING_SPACE_ENDED: _ClassVar[EventType]
    EVENT_TYPE_BANKRUPTCY: _ClassVar[EventType]
    EVENT_TYPE_DECEASED: _ClassVar[EventType]
    EVENT_TYPE_CASE_CLOSED: _ClassVar[EventType]
    EVENT_TYPE_CALL_CONSENT: _ClassVar[EventType]
    EVENT_TYPE_PROMISE_BROKEN: _ClassVar[EventType]
    EVENT_TYPE_PLAN_COMPLETED: _ClassVar[EventType]
    EVENT_TYPE_CONTACT_PLANNED: _ClassVar[EventType]
AGE_BAND_UNSPECIFIED: AgeBand
AGE_BAND_18_29: AgeBand
AGE_BAND_30_44: AgeBand
AGE_BAND_45_64: AgeBand
AGE_BAND_65_PLUS: AgeBand
PRODUCT_UNSPECIFIED: Product
PRODUCT_TELECOM: Product
PRODUCT_CONSUMER_CREDIT: Product
PRODUCT_CREDIT_CARD: Product
PRODUCT_UTILITY: Product
PRODUCT_BNPL: Product
CONSENT_STATUS_UNSPECIFIED: ConsentStatus
CONSENT_STATUS_GRANTED: ConsentStatus
CONSENT_STATUS_OPTED_OUT: ConsentStatus
EVENT_TYPE_UNSPECIFIED: EventType
EVENT_TYPE_CONTACT_ATTEMPTED: EventType
EVENT_TYPE_CONTACT_DELIVERED: EventType
EVENT_TYPE_CONTACT_OPENED: EventType
EVENT_TYPE_CONTACT_CLICKED: EventType
EVENT_TYPE_CALL_CONNECTED: EventType
EVENT_TYPE_CALL_NOT_CONNECTED: EventType
EVENT_TYPE_CONVERSATION: EventType
EVENT_TYPE_PROMISE_TO_PAY: EventType
EVENT_TYPE_PAYMENT: EventType
EVENT_TYPE_PLAN_AGREED: EventType
EVENT_TYPE_PLAN_BROKEN: EventType
EVENT_TYPE_COMPLAINT: EventType
EVENT_TYPE_OPT_OUT: EventType
EVENT_TYPE_CONSENT_GRANTED: EventType
EVENT_TYPE_DISPUTE_OPENED: EventType
EVENT_TYPE_DISPUTE_RESOLVED: EventType
EVENT_TYPE_CEASE_REQUEST: EventType
EVENT_TYPE_BREATHING_SPACE_STARTED: EventType
EVENT_TYPE_BREATHING_SPACE_ENDED: EventType
EVENT_TYPE_BANKRUPTCY: EventType
EVENT_TYPE_DECEASED: EventType
EVENT_TYPE_CASE_CLOSED: EventType
EVENT_TYPE_CALL_CONSENT: EventType
EVENT_TYPE_PROMISE_BROKEN: EventType
EVENT_TYPE_PLAN_COMPLETED: EventType
EVENT_TYPE_CONTACT_PLANNED: EventType

class DebtorProfile(_message.Message):
    __slots__ = ("age_band", "language", "tenure_months", "prior_on_time_ratio", "risk_score", "has_app")
    AGE_BAND_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TENURE_MONTHS_FIELD_NUMBER: _ClassVar[int]
    PRIOR_ON_TIME_RATIO_FIELD_NUMBER: _ClassVar[int]
    RISK_SCORE_FIELD_NUMBER: _ClassVar[int]
    HAS_APP_FIELD_NUMBER: _ClassVar[int]
    age_band: AgeBand
    language: str
    tenure_months: int
    prior_on_time_ratio: float
    risk_score: float
    has_app: bool
    def __init__(self, age_band: _Optional[_Union[AgeBand, str]] = ..., language: _Optional[str] = ..., tenure_months: _Optional[int] = ..., prior_on_time_ratio: _Optional[float] = ..., risk_score: _Optional[float] = ..., has_app: _Optional[bool] = ...) -> None: ...

class ChannelConsent(_message.Message):
    __slots__ = ("channel", "status")
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    channel: _types_pb2.Channel
    status: ConsentStatus
    def __init__(self, channel: _Optional[_Union[_types_pb2.Channel, str]] = ..., status: _Optional[_Union[ConsentStatus, str]] = ...) -> None: ...

class CaseFlags(_message.Message):
    __slots__ = ("dispute", "cease_communication", "vulnerable", "bankruptcy", "deceased", "breathing_space_until", "mental_health_crisis", "time_barred", "hardship")
    DISPUTE_FIELD_NUMBER: _ClassVar[int]
    CEASE_COMMUNICATION_FIELD_NUMBER: _ClassVar[int]
    VULNERABLE_FIELD_NUMBER: _ClassVar[int]
    BANKRUPTCY_FIELD_NUMBER: _ClassVar[int]
    DECEASED_FIELD_NUMBER: _ClassVar[int]
    BREATHING_SPACE_UNTIL_FIELD_NUMBER: _ClassVar[int]
    MENTAL_HEALTH_CRISIS_FIELD_NUMBER: _ClassVar[int]
    TIME_BARRED_FIELD_NUMBER: _ClassVar[int]
    HARDSHIP_FIELD_NUMBER: _ClassVar[int]
    dispute: bool
    cease_communication: bool
    vulnerable: bool
    bankruptcy: bool
    deceased: bool
    breathing_space_until: _timestamp_pb2.Timestamp
    mental_health_crisis: bool
    time_barred: bool
    hardship: bool
    def __init__(self, dispute: _Optional[bool] = ..., cease_communication: _Optional[bool] = ..., vulnerable: _Optional[bool] = ..., bankruptcy: _Optional[bool] = ..., deceased: _Optional[bool] = ..., breathing_space_until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., mental_health_crisis: _Optional[bool] = ..., time_barred: _Optional[bool] = ..., hardship: _Optional[bool] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("event_id", "case_id", "debtor_id", "type", "occurred_at", "channel", "action", "amount", "until", "decision_id", "attempt_event_id")
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    CHANNEL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    UNTIL_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    case_id: str
    debtor_id: str
    type: EventType
    occurred_at: _timestamp_pb2.Timestamp
    channel: _types_pb2.Channel
    action: _types_pb2.Action
    amount: _types_pb2.Money
    until: _timestamp_pb2.Timestamp
    decision_id: str
    attempt_event_id: str
    def __init__(self, event_id: _Optional[str] = ..., case_id: _Optional[str] = ..., debtor_id: _Optional[str] = ..., type: _Optional[_Union[EventType, str]] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., channel: _Optional[_Union[_types_pb2.Channel, str]] = ..., action: _Optional[_Union[_types_pb2.Action, str]] = ..., amount: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., until: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decision_id: _Optional[str] = ..., attempt_event_id: _Optional[str] = ...) -> None: ...

class Case(_message.Message):
    __slots__ = ("case_id", "debtor_id", "country", "timezone", "outstanding", "original", "days_past_due", "product", "debtor", "consents", "flags", "recent_events", "subdivision")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_ID_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    OUTSTANDING_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_FIELD_NUMBER: _ClassVar[int]
    DAYS_PAST_DUE_FIELD_NUMBER: _ClassVar[int]
    PRODUCT_FIELD_NUMBER: _ClassVar[int]
    DEBTOR_FIELD_NUMBER: _ClassVar[int]
    CONSENTS_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    RECENT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    SUBDIVISION_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    debtor_id: str
    country: str
    timezone: str
    outstanding: _types_pb2.Money
    original: _types_pb2.Money
    days_past_due: int
    product: Product
    debtor: DebtorProfile
    consents: _containers.RepeatedCompositeFieldContainer[ChannelConsent]
    flags: CaseFlags
    recent_events: _containers.RepeatedCompositeFieldContainer[Event]
    subdivision: str
    def __init__(self, case_id: _Optional[str] = ..., debtor_id: _Optional[str] = ..., country: _Optional[str] = ..., timezone: _Optional[str] = ..., outstanding: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., original: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., days_past_due: _Optional[int] = ..., product: _Optional[_Union[Product, str]] = ..., debtor: _Optional[_Union[DebtorProfile, _Mapping]] = ..., consents: _Optional[_Iterable[_Union[ChannelConsent, _Mapping]]] = ..., flags: _Optional[_Union[CaseFlags, _Mapping]] = ..., recent_events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., subdivision: _Optional[str] = ...) -> None: ...

import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from tact.v1 import case_pb2 as _case_pb2
from tact.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class EventStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    EVENT_STATUS_UNSPECIFIED: _ClassVar[EventStatus]
    EVENT_STATUS_STORED: _ClassVar[EventStatus]
    EVENT_STATUS_DUPLICATE: _ClassVar[EventStatus]
    EVENT_STATUS_CONFLICT: _ClassVar[EventStatus]
EVENT_STATUS_UNSPECIFIED: EventStatus
EVENT_STATUS_STORED: EventStatus
EVENT_STATUS_DUPLICATE: EventStatus
EVENT_STATUS_CONFLICT: EventStatus

class DecideRequest(_message.Message):
    __slots__ = ("case", "now", "dry_run", "include_inputs")
    CASE_FIELD_NUMBER: _ClassVar[int]
    NOW_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INPUTS_FIELD_NUMBER: _ClassVar[int]
    case: _case_pb2.Case
    now: _timestamp_pb2.Timestamp
    dry_run: bool
    include_inputs: bool
    def __init__(self, case: _Optional[_Union[_case_pb2.Case, _Mapping]] = ..., now: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dry_run: _Optional[bool] = ..., include_inputs: _Optional[bool] = ...) -> None: ...

class DecisionInputs(_message.Message):
    __slots__ = ("observation", "allowed_indices", "feature_schema_hash", "catalogue_hash")
    OBSERVATION_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_INDICES_FIELD_NUMBER: _ClassVar[int]
    FEATURE_SCHEMA_HASH_FIELD_NUMBER: _ClassVar[int]
    CATALOGUE_HASH_FIELD_NUMBER: _ClassVar[int]
    observation: _containers.RepeatedScalarFieldContainer[float]
    allowed_indices: _containers.RepeatedScalarFieldContainer[int]
    feature_schema_hash: str
    catalogue_hash: str
    def __init__(self, observation: _Optional[_Iterable[float]] = ..., allowed_indices: _Optional[_Iterable[int]] = ..., feature_schema_hash: _Optional[str] = ..., catalogue_hash: _Optional[str] = ...) -> None: ...

class PolicyInfo(_message.Message):
    __slots__ = ("name", "version", "arm", "propensity", "sampled")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ARM_FIELD_NUMBER: _ClassVar[int]
    PROPENSITY_FIELD_NUMBER: _ClassVar[int]
    SAMPLED_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    arm: str
    propensity: float
    sampled: bool
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., arm: _Optional[str] = ..., propensity: _Optional[float] = ..., sampled: _Optional[bool] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("decision_id", "case_id", "treatment", "send_at", "send_at_local", "next_review_at", "policy", "ruleset_version", "rule_hits", "explanation", "decided_at", "dry_run", "error", "timezone", "inputs", "replayed")
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    TREATMENT_FIELD_NUMBER: _ClassVar[int]
    SEND_AT_FIELD_NUMBER: _ClassVar[int]
    SEND_AT_LOCAL_FIELD_NUMBER: _ClassVar[int]
    NEXT_REVIEW_AT_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    RULE_HITS_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    decision_id: str
    case_id: str
    treatment: _types_pb2.Treatment
    send_at: _timestamp_pb2.Timestamp
    send_at_local: str
    next_review_at: _timestamp_pb2.Timestamp
    policy: PolicyInfo
    ruleset_version: str
    rule_hits: _containers.RepeatedCompositeFieldContainer[_types_pb2.RuleHit]
    explanation: str
    decided_at: _timestamp_pb2.Timestamp
    dry_run: bool
    error: _status_pb2.Status
    timezone: str
    inputs: DecisionInputs
    replayed: bool
    def __init__(self, decision_id: _Optional[str] = ..., case_id: _Optional[str] = ..., treatment: _Optional[_Union[_types_pb2.Treatment, _Mapping]] = ..., send_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., send_at_local: _Optional[str] = ..., next_review_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., policy: _Optional[_Union[PolicyInfo, _Mapping]] = ..., ruleset_version: _Optional[str] = ..., rule_hits: _Optional[_Iterable[_Union[_types_pb2.RuleHit, _Mapping]]] = ..., explanation: _Optional[str] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dry_run: _Optional[bool] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., timezone: _Optional[str] = ..., inputs: _Optional[_Union[DecisionInputs, _Mapping]] = ..., replayed: _Optional[bool] = ...) -> None: ...

class RecordEventsRequest(_message.Message):
    __slots__ = ("events",)
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[_case_pb2.Event]
    def __init__(self, events: _Optional[_Iterable[_Union[_case_pb2.Event, _Mapping]]] = ...) -> None: ...

class RecordEventsResponse(_message.Message):
    __slots__ = ("stored", "duplicates", "conflicts", "results")
    STORED_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    CONFLICTS_FIELD_NUMBER: _ClassVar[int]
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    stored: int
    duplicates: int
    conflicts: int
    results: _containers.RepeatedCompositeFieldContainer[EventResult]
    def __init__(self, stored: _Optional[int] = ..., duplicates: _Optional[int] = ..., conflicts: _Optional[int] = ..., results: _Optional[_Iterable[_Union[EventResult, _Mapping]]] = ...) -> None: ...

class EventResult(_message.Message):
    __slots__ = ("case_id", "event_id", "status", "detail")
    CASE_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    case_id: str
    event_id: str
    status: EventStatus
    detail: str
    def __init__(self, case_id: _Optional[str] = ..., event_id: _Optional[str] = ..., status: _Optional[_Union[EventStatus, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class CheckActionRequest(_message.Message):
    __slots__ = ("case", "proposed", "at")
    CASE_FIELD_NUMBER: _ClassVar[int]
    PROPOSED_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    case: _case_pb2.Case
    proposed: _types_pb2.Treatment
    at: _timestamp_pb2.Timestamp
    def __init__(self, case: _Optional[_Union[_case_pb2.Case, _Mapping]] = ..., proposed: _Optional[_Union[_types_pb2.Treatment, _Mapping]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CheckActionResponse(_message.Message):
    __slots__ = ("allowed", "violations", "next_allowed_at", "ruleset_version")
    ALLOWED_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_ALLOWED_AT_FIELD_NUMBER: _ClassVar[int]
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    allowed: bool
    violations: _containers.RepeatedCompositeFieldContainer[_types_pb2.RuleHit]
    next_allowed_at: _timestamp_pb2.Timestamp
    ruleset_version: str
    def __init__(self, allowed: _Optional[bool] = ..., violations: _Optional[_Iterable[_Union[_types_pb2.RuleHit, _Mapping]]] = ..., next_allowed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ruleset_version: _Optional[str] = ...) -> None: ...

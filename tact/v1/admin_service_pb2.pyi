import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from tact.v1 import decision_service_pb2 as _decision_service_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReloadRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RuleFileIssue(_message.Message):
    __slots__ = ("file", "line", "column", "rule_id", "message", "fix")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    column: int
    rule_id: str
    message: str
    fix: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ..., rule_id: _Optional[str] = ..., message: _Optional[str] = ..., fix: _Optional[str] = ...) -> None: ...

class ReloadRulesResponse(_message.Message):
    __slots__ = ("ok", "changed", "ruleset_version", "previous_version", "tests_run", "issues")
    OK_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VERSION_FIELD_NUMBER: _ClassVar[int]
    TESTS_RUN_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    changed: bool
    ruleset_version: str
    previous_version: str
    tests_run: int
    issues: _containers.RepeatedCompositeFieldContainer[RuleFileIssue]
    def __init__(self, ok: _Optional[bool] = ..., changed: _Optional[bool] = ..., ruleset_version: _Optional[str] = ..., previous_version: _Optional[str] = ..., tests_run: _Optional[int] = ..., issues: _Optional[_Iterable[_Union[RuleFileIssue, _Mapping]]] = ...) -> None: ...

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EraseDebtorRequest(_message.Message):
    __slots__ = ("debtor_id", "reference")
    DEBTOR_ID_FIELD_NUMBER: _ClassVar[int]
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    debtor_id: str
    reference: str
    def __init__(self, debtor_id: _Optional[str] = ..., reference: _Optional[str] = ...) -> None: ...

class EraseDebtorResponse(_message.Message):
    __slots__ = ("rows_deleted", "cases", "audit_id", "erased_at")
    ROWS_DELETED_FIELD_NUMBER: _ClassVar[int]
    CASES_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ID_FIELD_NUMBER: _ClassVar[int]
    ERASED_AT_FIELD_NUMBER: _ClassVar[int]
    rows_deleted: int
    cases: int
    audit_id: str
    erased_at: _timestamp_pb2.Timestamp
    def __init__(self, rows_deleted: _Optional[int] = ..., cases: _Optional[int] = ..., audit_id: _Optional[str] = ..., erased_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RulesStatus(_message.Message):
    __slots__ = ("ruleset_version", "last_reload_ok", "last_error", "last_reload_at", "reloads_ok", "reload_failures")
    RULESET_VERSION_FIELD_NUMBER: _ClassVar[int]
    LAST_RELOAD_OK_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    LAST_RELOAD_AT_FIELD_NUMBER: _ClassVar[int]
    RELOADS_OK_FIELD_NUMBER: _ClassVar[int]
    RELOAD_FAILURES_FIELD_NUMBER: _ClassVar[int]
    ruleset_version: str
    last_reload_ok: bool
    last_error: str
    last_reload_at: _timestamp_pb2.Timestamp
    reloads_ok: int
    reload_failures: int
    def __init__(self, ruleset_version: _Optional[str] = ..., last_reload_ok: _Optional[bool] = ..., last_error: _Optional[str] = ..., last_reload_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reloads_ok: _Optional[int] = ..., reload_failures: _Optional[int] = ...) -> None: ...

class ServiceStatus(_message.Message):
    __slots__ = ("rules", "champion", "challenger", "challenger_share", "ledger_ok", "started_at", "decisions_by_action", "failures_by_code", "experiment")
    class DecisionsByActionEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class FailuresByCodeEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    RULES_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_FIELD_NUMBER: _ClassVar[int]
    CHALLENGER_SHARE_FIELD_NUMBER: _ClassVar[int]
    LEDGER_OK_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISIONS_BY_ACTION_FIELD_NUMBER: _ClassVar[int]
    FAILURES_BY_CODE_FIELD_NUMBER: _ClassVar[int]
    EXPERIMENT_FIELD_NUMBER: _ClassVar[int]
    rules: RulesStatus
    champion: _decision_service_pb2.PolicyInfo
    challenger: _decision_service_pb2.PolicyInfo
    challenger_share: float
    ledger_ok: bool
    started_at: _timestamp_pb2.Timestamp
    decisions_by_action: _containers.ScalarMap[str, int]
    failures_by_code: _containers.ScalarMap[str, int]
    experiment: ExperimentStatus
    def __init__(self, rules: _Optional[_Union[RulesStatus, _Mapping]] = ..., champion: _Optional[_Union[_decision_service_pb2.PolicyInfo, _Mapping]] = ..., challenger: _Optional[_Union[_decision_service_pb2.PolicyInfo, _Mapping]] = ..., challenger_share: _Optional[float] = ..., ledger_ok: _Optional[bool] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decisions_by_action: _Optional[_Mapping[str, int]] = ..., failures_by_code: _Optional[_Mapping[str, int]] = ..., experiment: _Optional[_Union[ExperimentStatus, _Mapping]] = ...) -> None: ...

class GetExperimentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadExperimentRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExperimentIssue(_message.Message):
    __slots__ = ("file", "line", "column", "field", "message", "fix")
    FILE_FIELD_NUMBER: _ClassVar[int]
    LINE_FIELD_NUMBER: _ClassVar[int]
    COLUMN_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIX_FIELD_NUMBER: _ClassVar[int]
    file: str
    line: int
    column: int
    field: str
    message: str
    fix: str
    def __init__(self, file: _Optional[str] = ..., line: _Optional[int] = ..., column: _Optional[int] = ..., field: _Optional[str] = ..., message: _Optional[str] = ..., fix: _Optional[str] = ...) -> None: ...

class ExperimentArm(_message.Message):
    __slots__ = ("name", "policy", "policy_version", "configured_share", "share", "rolled_back", "rollback_reason", "rolled_back_at", "debtors")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIGURED_SHARE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_FIELD_NUMBER: _ClassVar[int]
    ROLLBACK_REASON_FIELD_NUMBER: _ClassVar[int]
    ROLLED_BACK_AT_FIELD_NUMBER: _ClassVar[int]
    DEBTORS_FIELD_NUMBER: _ClassVar[int]
    name: str
    policy: str
    policy_version: str
    configured_share: float
    share: float
    rolled_back: bool
    rollback_reason: str
    rolled_back_at: _timestamp_pb2.Timestamp
    debtors: int
    def __init__(self, name: _Optional[str] = ..., policy: _Optional[str] = ..., policy_version: _Optional[str] = ..., configured_share: _Optional[float] = ..., share: _Optional[float] = ..., rolled_back: _Optional[bool] = ..., rollback_reason: _Optional[str] = ..., rolled_back_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., debtors: _Optional[int] = ...) -> None: ...

class GuardrailTest(_message.Message):
    __slots__ = ("arm", "guardrail", "arm_rate", "champion_rate", "arm_debtors", "champion_debtors", "statistic", "threshold", "crossed")
    ARM_FIELD_NUMBER: _ClassVar[int]
    GUARDRAIL_FIELD_NUMBER: _ClassVar[int]
    ARM_RATE_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_RATE_FIELD_NUMBER: _ClassVar[int]
    ARM_DEBTORS_FIELD_NUMBER: _ClassVar[int]
    CHAMPION_DEBTORS_FIELD_NUMBER: _ClassVar[int]
    STATISTIC_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    CROSSED_FIELD_NUMBER: _ClassVar[int]
    arm: str
    guardrail: str
    arm_rate: float
    champion_rate: float
    arm_debtors: int
    champion_debtors: int
    statistic: float
    threshold: float
    crossed: bool
    def __init__(self, arm: _Optional[str] = ..., guardrail: _Optional[str] = ..., arm_rate: _Optional[float] = ..., champion_rate: _Optional[float] = ..., arm_debtors: _Optional[int] = ..., champion_debtors: _Optional[int] = ..., statistic: _Optional[float] = ..., threshold: _Optional[float] = ..., crossed: _Optional[bool] = ...) -> None: ...

class SampleRatioCheck(_message.Message):
    __slots__ = ("chi2", "p_value", "threshold", "alarm", "checks")
    CHI2_FIELD_NUMBER: _ClassVar[int]
    P_VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    ALARM_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    chi2: float
    p_value: float
    threshold: float
    alarm: bool
    checks: int
    def __init__(self, chi2: _Optional[float] = ..., p_value: _Optional[float] = ..., threshold: _Optional[float] = ..., alarm: _Optional[bool] = ..., checks: _Optional[int] = ...) -> None: ...

class ExperimentShadow(_message.Message):
    __slots__ = ("name", "policy")
    NAME_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    name: str
    policy: str
    def __init__(self, name: _Optional[str] = ..., policy: _Optional[str] = ...) -> None: ...

class CaseExplorationPolicy(_message.Message):
    __slots__ = ("policy", "share")
    POLICY_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    policy: str
    share: float
    def __init__(self, policy: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class ExperimentStatus(_message.Message):
    __slots__ = ("experiment_id", "version", "file", "last_load_ok", "issues", "arms", "shadows", "exploration", "guardrails", "srm", "text", "case_exploration_share", "case_exploration")
    EXPERIMENT_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    LAST_LOAD_OK_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    ARMS_FIELD_NUMBER: _ClassVar[int]
    SHADOWS_FIELD_NUMBER: _ClassVar[int]
    EXPLORATION_FIELD_NUMBER: _ClassVar[int]
    GUARDRAILS_FIELD_NUMBER: _ClassVar[int]
    SRM_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    CASE_EXPLORATION_SHARE_FIELD_NUMBER: _ClassVar[int]
    CASE_EXPLORATION_FIELD_NUMBER: _ClassVar[int]
    experiment_id: str
    version: str
    file: str
    last_load_ok: bool
    issues: _containers.RepeatedCompositeFieldContainer[ExperimentIssue]
    arms: _containers.RepeatedCompositeFieldContainer[ExperimentArm]
    shadows: _containers.RepeatedCompositeFieldContainer[ExperimentShadow]
    exploration: str
    guardrails: _containers.RepeatedCompositeFieldContainer[GuardrailTest]
    srm: SampleRatioCheck
    text: str
    case_exploration_share: float
    case_exploration: _containers.RepeatedCompositeFieldContainer[CaseExplorationPolicy]
    def __init__(self, experiment_id: _Optional[str] = ..., version: _Optional[str] = ..., file: _Optional[str] = ..., last_load_ok: _Optional[bool] = ..., issues: _Optional[_Iterable[_Union[ExperimentIssue, _Mapping]]] = ..., arms: _Optional[_Iterable[_Union[ExperimentArm, _Mapping]]] = ..., shadows: _Optional[_Iterable[_Union[ExperimentShadow, _Mapping]]] = ..., exploration: _Optional[str] = ..., guardrails: _Optional[_Iterable[_Union[GuardrailTest, _Mapping]]] = ..., srm: _Optional[_Union[SampleRatioCheck, _Mapping]] = ..., text: _Optional[str] = ..., case_exploration_share: _Optional[float] = ..., case_exploration: _Optional[_Iterable[_Union[CaseExplorationPolicy, _Mapping]]] = ...) -> None: ...

"""``tact.v1.AdminService``: rule reloads and the replica's status, for operators."""

from __future__ import annotations

import grpc

from engine import telemetry
from engine.app import ServiceComponents
from engine.auth import CURRENT_DOOR, CURRENT_PRINCIPAL
from engine.convert import datetime_to_timestamp
from engine.errors import FailedPreconditionError, FieldViolation, InvalidRequestError
from engine.experiments.status_proto import experiment_status
from engine.ledger.erasure import erase_debtor_audited
from engine.limits import check_id
from engine.metrics import ServiceMetrics
from engine.outcomes import PolicyArm
from tact.v1 import admin_service_pb2, admin_service_pb2_grpc, decision_service_pb2


def _policy_info(arm: PolicyArm | None) -> decision_service_pb2.PolicyInfo | None:
    if arm is None:
        return None
    return decision_service_pb2.PolicyInfo(
        name=arm.policy.name, version=arm.policy.version, arm=arm.name
    )


class AdminServicer(admin_service_pb2_grpc.AdminServiceServicer):
    def __init__(self, components: ServiceComponents, metrics: ServiceMetrics) -> None:
        self.components = components
        self.metrics = metrics

    def ReloadRules(
        self, request: admin_service_pb2.ReloadRulesRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ReloadRulesResponse:
        result = self.components.rules.reload(trigger="admin")
        return admin_service_pb2.ReloadRulesResponse(
            ok=result.ok,
            changed=result.changed,
            ruleset_version=result.version or "",
            previous_version=result.previous_version or "",
            tests_run=result.tests_run,
            issues=[
                admin_service_pb2.RuleFileIssue(
                    file=str(i.file),
                    line=i.line,
                    column=i.column,
                    rule_id=i.rule_id,
                    message=i.message,
                    fix=i.fix,
                )
                for i in result.issues
            ],
        )

    def GetStatus(
        self, request: admin_service_pb2.GetStatusRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ServiceStatus:
        health = self.components.rules.health()
        rules = admin_service_pb2.RulesStatus(
            ruleset_version=health.version or "",
            last_reload_ok=health.last_reload_ok,
            last_error=health.last_error or "",
            reloads_ok=health.reloads_ok,
            reload_failures=health.reload_failures,
        )
        if health.last_reload_at is not None:
            rules.last_reload_at.CopyFrom(datetime_to_timestamp(health.last_reload_at))
        pipeline = self.components.pipeline
        decisions, failures = self.metrics.snapshot()
        experiment = self.components.experiment
        if experiment is not None:
            return admin_service_pb2.ServiceStatus(
                rules=rules,
                champion=_policy_info(experiment.current.champion),
                ledger_ok=self.components.healthy(),
                started_at=datetime_to_timestamp(self.metrics.started_at),
                decisions_by_action=decisions,
                failures_by_code=failures,
                experiment=experiment_status(experiment),
            )
        return admin_service_pb2.ServiceStatus(
            rules=rules,
            champion=_policy_info(pipeline.champion),
            challenger=_policy_info(pipeline.challenger),
            challenger_share=pipeline.challenger_share,
            ledger_ok=self.components.healthy(),
            started_at=datetime_to_timestamp(self.metrics.started_at),
            decisions_by_action=decisions,
            failures_by_code=failures,
        )

    def EraseDebtor(
        self, request: admin_service_pb2.EraseDebtorRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.EraseDebtorResponse:
        problems: list[FieldViolation] = []
        check_id(problems, request.debtor_id, "debtor_id")
        check_id(problems, request.reference, "reference")
        if problems:
            raise InvalidRequestError(problems)
        door = CURRENT_DOOR.get()
        receipt = erase_debtor_audited(
            self.components.ledger,
            debtor_id=request.debtor_id,
            requested_by=CURRENT_PRINCIPAL.get().name,
            via=door,
            reference=request.reference,
        )
        telemetry.ERASURES.labels(door).inc()
        return admin_service_pb2.EraseDebtorResponse(
            rows_deleted=receipt.rows_deleted,
            cases=receipt.cases,
            audit_id=receipt.audit_id,
            erased_at=datetime_to_timestamp(receipt.erased_at),
        )

    def GetExperiment(
        self, request: admin_service_pb2.GetExperimentRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ExperimentStatus:
        experiment = self.components.experiment
        if experiment is None:
            raise _no_experiment()
        return experiment_status(experiment)

    def ReloadExperiment(
        self, request: admin_service_pb2.ReloadExperimentRequest, context: grpc.ServicerContext
    ) -> admin_service_pb2.ExperimentStatus:
        experiment = self.components.experiment
        if experiment is None:
            raise _no_experiment()
        experiment.reload(trigger="admin")
        return experiment_status(experiment)


def _no_experiment() -> FailedPreconditionError:
    return FailedPreconditionError(
        "this service runs no experiment: start it with TACT_EXPERIMENT_FILE=<file>"
    )

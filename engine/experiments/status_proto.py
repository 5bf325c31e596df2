"""``tact.v1.ExperimentStatus`` from an :class:`ExperimentHolder` (AdminService)."""

from __future__ import annotations

from engine.convert import datetime_to_timestamp
from engine.experiments.holder import ExperimentHolder
from engine.experiments.runtime import challenger_arm
from engine.experiments.spec import CHAMPION_ARM
from tact.v1 import admin_service_pb2 as pb


def experiment_status(holder: ExperimentHolder) -> pb.ExperimentStatus:
    health = holder.health
    runtime = health.runtime
    spec = runtime.spec
    configured = {CHAMPION_ARM: 1.0 - sum(c.share for c in spec.challengers)}
    configured |= {challenger_arm(c.name): c.share for c in spec.challengers}
    policies = {CHAMPION_ARM: spec.champion}
    policies |= {challenger_arm(c.name): c.policy for c in spec.challengers}
    shares = runtime.effective_shares()
    arms = []
    for name, arm in runtime.arms.items():
        message = pb.ExperimentArm(
            name=name,
            policy=policies[name],
            policy_version=arm.policy.version,
            configured_share=configured[name],
            share=shares[name],
            debtors=health.debtors.get(name, 0),
        )
        rollback = runtime.rollbacks.get(name)
        if rollback is not None:
            message.rolled_back = True
            message.rollback_reason = f"{rollback.guardrail}: {rollback.reason}"
            message.rolled_back_at.CopyFrom(datetime_to_timestamp(rollback.rolled_back_at))
        arms.append(message)
    status = pb.ExperimentStatus(
        experiment_id=spec.id,
        version=runtime.version,
        file=str(runtime.file),
        last_load_ok=health.last_load_ok,
        issues=[
            pb.ExperimentIssue(
                file=str(i.file),
                line=i.line,
                column=i.column,
                field=i.field,
                message=i.message,
                fix=i.fix,
            )
            for i in health.issues
        ],
        arms=arms,
        shadows=[pb.ExperimentShadow(name=s.name, policy=s.spec) for s in runtime.shadows],
        exploration=spec.exploration.label(),
        guardrails=[
            pb.GuardrailTest(
                arm=g.arm,
                guardrail=g.guardrail,
                arm_rate=g.arm_rate,
                champion_rate=g.champion_rate,
                arm_debtors=g.arm_debtors,
                champion_debtors=g.champion_debtors,
                statistic=g.statistic,
                threshold=g.threshold,
                crossed=g.crossed,
            )
            for g in health.guardrails
        ],
        text=runtime.text,
    )
    if spec.case_exploration is not None:
        status.case_exploration_share = spec.case_exploration.total
        status.case_exploration.extend(
            pb.CaseExplorationPolicy(policy=policy, share=share)
            for policy, share in spec.case_exploration.pool_shares()
        )
    if health.srm is not None:
        status.srm.CopyFrom(
            pb.SampleRatioCheck(
                chi2=health.srm.chi2,
                p_value=health.srm.p_value,
                threshold=health.srm.threshold,
                alarm=health.srm.alarm,
                checks=health.srm.checks,
            )
        )
    return status

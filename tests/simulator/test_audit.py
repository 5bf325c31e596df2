"""The audit re-derives every executed contact's verdict through durable_rules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.catalogue import CATALOGUE
from policies.ladder import LadderPolicy
from policies.random_policy import RandomPolicy
from simulator.audit import audit_log, inject_violation, main
from simulator.batched import BatchedCollectionsSim
from simulator.rollout import simulate
from simulator.step_log import StepLog


def test_simulated_steps_pass_the_audit(nordic_telecom, compliance_engine) -> None:  # type: ignore[no-untyped-def]
    result = simulate(nordic_telecom, RandomPolicy(), 30, compliance_engine, seed=4)
    (log,) = result.step_logs
    report = audit_log(log, compliance_engine)
    assert report.contacts_checked == log.n_contacts > 50
    assert report.reconstruction_errors == 0
    assert report.n_violations == 0 and report.passed


def test_audit_catches_an_injected_violation(
    nordic_telecom, compliance_engine, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    result = simulate(nordic_telecom, LadderPolicy(), 20, compliance_engine, seed=5)
    (log,) = result.step_logs
    row = inject_violation(log, compliance_engine)
    path = tmp_path / "steps.npz"
    log.save(path)
    report = audit_log(StepLog.load(path), compliance_engine)  # an independent re-read
    assert not report.passed
    assert report.n_violations == 1
    cols, _ = log.contacts()
    violation = report.violations[0]
    assert violation.serial == int(cols["serial"][row])
    assert violation.treatment == CATALOGUE[int(cols["chosen"][row])].label
    assert violation.rule_ids  # the rules say why
    assert main([str(path)]) == 1  # python -m simulator.audit fails the saved log


def test_blocked_requests_run_as_wait_and_are_not_violations(
    nordic_telecom, compliance_engine
) -> None:  # type: ignore[no-untyped-def]
    sim = BatchedCollectionsSim(
        nordic_telecom, 30, compliance_engine, seed=1, auto_reset=False, log_steps=True
    )
    sim.reset()
    for _ in range(20):
        blocked = np.argmin(sim.action_masks(), axis=1)  # a blocked index where there is one
        sim.step(blocked)
    assert sim.step_log is not None
    report = audit_log(sim.step_log, compliance_engine)
    assert report.blocked_requests > 0 and report.waits_ok
    assert report.n_violations == 0


def test_sampled_audit_checks_the_sample_size(nordic_telecom, compliance_engine) -> None:  # type: ignore[no-untyped-def]
    result = simulate(nordic_telecom, LadderPolicy(), 20, compliance_engine, seed=6)
    report = audit_log(result.step_logs[0], compliance_engine, max_contacts=25)
    assert report.contacts_checked == 25 < report.contacts_logged

"""In-process counters of one replica, read by ``AdminService.GetStatus``, and the same
events counted for Prometheus (:mod:`engine.telemetry`)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine import telemetry

if TYPE_CHECKING:
    from engine.compliance.reload import ReloadResult
    from engine.outcomes import DecisionOutcome


class ServiceMetrics:
    """Thread-safe counters: decisions returned by action, failures by status code."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._lock = threading.Lock()
        self._decisions: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()

    def decided(self, outcome: DecisionOutcome) -> None:
        action = f"ACTION_{outcome.treatment.action.name}"
        channel = outcome.treatment.channel
        telemetry.DECISIONS.labels(
            action, f"CHANNEL_{channel.name}" if channel else "CHANNEL_NONE", outcome.arm
        ).inc()
        for hit in outcome.rule_hits:
            telemetry.BLOCKED_STEPS.labels(hit.rule_id).inc()
        if outcome.replayed:
            telemetry.REPLAYED.inc()
        with self._lock:
            self._decisions[action] += 1

    def failed(self, code_name: str, exc: BaseException | None = None) -> None:
        telemetry.FAILURES.labels(code_name).inc()
        if exc is not None and _is_ledger_error(exc):
            telemetry.LEDGER_ERRORS.labels("rpc").inc()
        with self._lock:
            self._failures[code_name] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self._decisions), dict(self._failures)


def _is_ledger_error(exc: BaseException) -> bool:
    from engine.ledger.errors import LedgerError

    return isinstance(exc, LedgerError)


def count_reload(result: ReloadResult) -> None:
    """``RulesHolder.on_reload`` hook: reloads by trigger and outcome."""
    outcome = "rejected" if not result.ok else "changed" if result.changed else "unchanged"
    telemetry.RULE_RELOADS.labels(result.trigger, outcome).inc()

"""In-process counters of one replica, read by ``AdminService.GetStatus``, and the same
events counted for Prometheus (:mod:`engine.telemetry`)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from engine import telemetry
from engine.catalogue import Action, Channel

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

    def decided(self, outcomes: Sequence[DecisionOutcome]) -> None:
        """Count decisions returned: a group's at once, one increment per series."""
        series: dict[tuple[str, str, str], int] = {}
        hits: dict[str, int] = {}
        replayed = 0
        for outcome in outcomes:
            replayed += outcome.replayed
            treatment = outcome.treatment
            key = (_ACTIONS[treatment.action], _CHANNELS[treatment.channel], outcome.arm)
            series[key] = series.get(key, 0) + 1
            for hit in outcome.rule_hits:
                hits[hit.rule_id] = hits.get(hit.rule_id, 0) + 1
        for key, count in series.items():
            telemetry.DECISIONS_BY(*key).inc(count)
        for rule_id, count in hits.items():
            telemetry.BLOCKED_STEPS_BY(rule_id).inc(count)
        if replayed:
            telemetry.REPLAYED.inc(replayed)
        with self._lock:
            for (action, _, _), count in series.items():
                self._decisions[action] += count

    def failed(self, code_name: str, exc: BaseException | None = None) -> None:
        telemetry.FAILURES.labels(code_name).inc()
        if exc is not None and _is_ledger_error(exc):
            telemetry.LEDGER_ERRORS.labels("rpc").inc()
        with self._lock:
            self._failures[code_name] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self._decisions), dict(self._failures)


_ACTIONS = {action: f"ACTION_{action.name}" for action in Action}
_CHANNELS = {channel: f"CHANNEL_{channel.name}" for channel in Channel}
"""Label values by enum member (``Channel.NONE`` is ``CHANNEL_NONE``, as a WAIT's)."""


def _is_ledger_error(exc: BaseException) -> bool:
    from engine.ledger.errors import LedgerError

    return isinstance(exc, LedgerError)


def count_reload(result: ReloadResult) -> None:
    """``RulesHolder.on_reload`` hook: reloads by trigger and outcome."""
    outcome = "rejected" if not result.ok else "changed" if result.changed else "unchanged"
    telemetry.RULE_RELOADS.labels(result.trigger, outcome).inc()

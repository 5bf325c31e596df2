"""In-process counters of one replica, read by ``AdminService.GetStatus``."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime


class ServiceMetrics:
    """Thread-safe counters: decisions returned by action, failures by status code."""

    def __init__(self) -> None:
        self.started_at = datetime.now(UTC)
        self._lock = threading.Lock()
        self._decisions: Counter[str] = Counter()
        self._failures: Counter[str] = Counter()

    def decided(self, action_name: str) -> None:
        with self._lock:
            self._decisions[action_name] += 1

    def failed(self, code_name: str) -> None:
        with self._lock:
            self._failures[code_name] += 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self._decisions), dict(self._failures)

"""Local-time text of UTC instants, remembered: a service formats the same few send and
review times (slot starts, whole minutes) over and over, and converting to a ``ZoneInfo``
zone and formatting costs microseconds each time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo


class LocalTimeText:
    """``render(at.astimezone(zone))``, remembered for UTC instants in a bounded table
    (cleared when full; thread-safe under the GIL: a racing miss stores equal text).

    Only instants whose ``tzinfo`` is ``UTC`` are remembered: two equal wall-clock times
    of another zone can be different instants (``fold``), so they would be unsafe keys.
    """

    def __init__(self, render: Callable[[datetime], str], max_entries: int = 4096) -> None:
        self._render = render
        self._max_entries = max_entries
        self._texts: dict[tuple[datetime, ZoneInfo], str] = {}

    def __call__(self, at: datetime, zone: ZoneInfo) -> str:
        if at.tzinfo is not UTC:
            return self._render(at.astimezone(zone))
        key = (at, zone)
        text = self._texts.get(key)
        if text is None:
            text = self._render(at.astimezone(zone))
            if len(self._texts) >= self._max_entries:
                self._texts.clear()
            self._texts[key] = text
        return text

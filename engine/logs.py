"""Log set-up of ``tact serve``: plain text, or one JSON object per line (``TACT_LOG_FORMAT``).

A JSON record has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``, and
the call's fields where the record has them (the access log, :mod:`engine.telemetry`):
``rpc``, ``status``, ``duration_ms``, ``caller`` (the token's name), ``decision_id``,
``trace_id``. Messages carry pseudonymous ids at most: the service never logs names,
contact details or case contents, and the access log logs no request data at all.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

CALL_FIELDS = ("rpc", "status", "duration_ms", "caller", "decision_id", "trace_id", "responses")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonLogFormatter(logging.Formatter):
    """One JSON object per record, one line each (a traceback goes in ``exception``)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CALL_FIELDS:
            value = getattr(record, name, None)
            if value not in (None, ""):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure_logging(level: str, log_format: str) -> None:
    """Root logging for ``tact serve``: ``log_format`` 'json' or 'text'."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        JsonLogFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)

"""Structured logs: one JSON object per line on stdout.

Every line has ``time``, ``level``, ``logger``, ``message``, ``service``,
``trace_id`` and ``span_id`` (null outside a traced call), plus the ``extra``
fields of the call (``log.info("serving", extra={"port": 50051})``) and, for
errors, ``exception`` with the traceback.  Launchers read lines with an
``event`` field (``"event": "serving"``) as machine-readable signals.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from opentelemetry import trace

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName"}
)

_configured = False


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object, with the current trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        traced = span_context.is_valid
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self._service,
            "trace_id": format(span_context.trace_id, "032x") if traced else None,
            "span_id": format(span_context.span_id, "016x") if traced else None,
        }
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        # default=str: an odd extra (a Path, an enum) must not turn a log call into a crash.
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(service: str, level: str = "INFO", *, stream: TextIO | None = None) -> bool:
    """Send every log record of the process to ``stream`` (stdout) as JSON lines.

    Only the first call in a process has an effect (and returns True): the
    root logger is process-wide, and a library or a second server in the same
    process must not re-route it.
    """
    global _configured
    if _configured:
        return False
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _configured = True
    return True

"""JSON log lines: the fixed fields, extras, exceptions and the current trace."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider

from services.runtime.logging import JsonFormatter


def _record(message: str, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("services.models", logging.INFO, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_a_line_has_the_fixed_fields_and_the_extras() -> None:
    entry = json.loads(JsonFormatter("models").format(_record("serving", event="serving", port=50051)))

    assert entry["level"] == "INFO"
    assert entry["logger"] == "services.models"
    assert entry["message"] == "serving"
    assert entry["service"] == "models"
    assert entry["time"].endswith("+00:00")
    assert (entry["trace_id"], entry["span_id"]) == (None, None)
    assert (entry["event"], entry["port"]) == ("serving", 50051)


def test_a_line_written_inside_a_span_names_it() -> None:
    tracer = TracerProvider().get_tracer(__name__)
    with tracer.start_as_current_span("call") as span:
        entry = json.loads(JsonFormatter("models").format(_record("inside")))
    context = span.get_span_context()
    assert entry["trace_id"] == format(context.trace_id, "032x")
    assert entry["span_id"] == format(context.span_id, "016x")


def test_exceptions_carry_their_traceback() -> None:
    try:
        raise KeyError("models/x")
    except KeyError:
        record = _record("failed")
        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter("models").format(record))
    assert "Traceback" in entry["exception"]
    assert "KeyError: 'models/x'" in entry["exception"]


def test_odd_extras_do_not_break_the_line() -> None:
    entry = json.loads(JsonFormatter("models").format(_record("odd", path=object())))
    assert entry["path"].startswith("<object object")

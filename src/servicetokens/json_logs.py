"""`--log-format json`: every log record as one JSON object on one line.

Fields: `time` (UTC, ISO 8601 with milliseconds), `level`, `logger`, `message`, the
exception's text under `exception` when there is one, and whatever the record carries in
`extra={"fields": {...}}` (the request logs put `request_id`, `method`, `route`, `status`,
`duration_ms`, `client` there). `use_json_logs()` installs it on the root logger and on
uvicorn's, so the server's own lines come out the same way.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

__all__ = ["REQUEST_LOGGER", "JsonFormatter", "use_json_logs"]

REQUEST_LOGGER = "servicetokens.requests"
"""The logger of the one-line-per-request records."""

_UVICORN = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """A record → one line of JSON."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"))


def use_json_logs(level: int = logging.INFO) -> None:
    """Log JSON lines to stderr: the root logger's one handler, and uvicorn's loggers
    passing their records to it."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _UVICORN:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = True

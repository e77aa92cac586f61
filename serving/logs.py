"""Structured JSON logs. Only whitelisted fields are written, so no request body, path parameter or patient
identifier can reach a log line by accident; exceptions are logged by type, not by message."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

LOGGER = "carealloc.serving"
FIELDS = ("request_id", "method", "route", "status", "duration_ms", "key_id", "role", "model_version", "source",
          "error_type", "event")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"ts": datetime.fromtimestamp(record.created, UTC).isoformat(), "level": record.levelname,
                "logger": record.name, "message": record.getMessage()}
        line.update({f: getattr(record, f) for f in FIELDS if hasattr(record, f)})
        return json.dumps(line, default=str)


def configure_logging(level: str = "INFO") -> None:
    """Called by the process entry point (serving.run), never at import."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    for name in (LOGGER, "uvicorn.error"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def logger() -> logging.Logger:
    return logging.getLogger(LOGGER)

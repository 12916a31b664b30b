"""Logging for the API, the workers and the CLI: text, or JSON lines with ``LOG_FORMAT=json``.

Every record may carry ``task_id``/``task_name`` (set by the worker's filter in ``tasks.app``)
and ``event_id``/``delivery_id`` (passed as ``extra=`` by the pipeline and the deliveries);
the JSON formatter emits whichever are present. Secrets are never passed to a log call.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from alertworker.core.settings import Settings

CONTEXT_KEYS = ("task_id", "task_name", "event_id", "event_ids", "delivery_id")
# Celery's own line per task received and per task succeeded: the pipeline and the deliveries
# log what happened to each batch and delivery instead, at a fraction of the cost per task.
QUIET = ("celery.worker.strategy", "celery.app.trace")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "process": record.process,
            "message": record.getMessage(),
        }
        for key in CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value not in (None, "", "-"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}"
            for key in CONTEXT_KEYS
            if getattr(record, key, None) not in (None, "", "-")
        )
        return f"{line} [{context}]" if context else line


def configure(
    settings: Settings, level: int | str = logging.INFO, *filters: logging.Filter
) -> None:
    """Replace the root logger's handlers with one stream handler in the configured format."""
    handler = logging.StreamHandler(sys.stderr)
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for f in filters:
        handler.addFilter(f)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))

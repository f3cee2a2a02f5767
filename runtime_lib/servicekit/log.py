"""Logging set-up for a service: one call at start-up, JSON lines or plain text.

:func:`configure_logging` replaces the root logger's handlers with one handler on
stderr. Every record it writes carries the ids that tie it to its cause:

* ``request_id``: the HTTP request being served, as set by asgi-correlation-id's
  middleware (from an incoming ``X-Request-ID``, or a new one it echoes back);
* ``correlation_id`` and ``causation_id``: inside a stream consumer's handler, those of
  the event being handled (:mod:`servicekit.streams.correlation`).

Each is ``None`` outside its scope. JSON lines are written with python-json-logger's
orjson formatter: one object per line with ``level``, ``logger``, ``message``, any
``extra=`` fields, the ids, ``exc_info`` for an exception, and ``time`` (ISO 8601, UTC).
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Literal

from asgi_correlation_id import correlation_id
from pythonjsonlogger.orjson import OrjsonFormatter

from servicekit.errors import ConfigurationError
from servicekit.streams.correlation import get_causation_id, get_correlation_id

__all__ = ["ContextFilter", "LogFormat", "configure_logging"]

LogFormat = Literal["json", "text"]

_LEVELS = ("CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG")
# uvicorn's loggers write through handlers of their own (and do not propagate): they are
# routed through ours instead, so its start-up and access lines are JSON too.
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_TEXT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class ContextFilter(logging.Filter):
    """Adds ``request_id``, ``correlation_id`` and ``causation_id`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = correlation_id.get()
        record.correlation_id = get_correlation_id()
        record.causation_id = get_causation_id()
        return True


def configure_logging(
    level: str = "INFO", log_format: LogFormat | None = None, *, stream: IO[str] | None = None
) -> logging.Handler:
    """Log ``level`` and above to ``stream`` (default: stderr) as ``log_format``.

    Without a format, JSON unless ``stream`` is a terminal (a person reading). Calling it
    again replaces the handler it installed, so tests and reloads do not double the
    output; uvicorn's own loggers are sent through the same handler. A level or format it
    does not know is a :class:`ConfigurationError` naming what it accepts, so a typo in
    ``LOG_LEVEL`` stops the service at start-up.
    """
    name = level.upper()
    if name not in _LEVELS:
        raise ConfigurationError(f"LOG_LEVEL {level!r} is not one of {', '.join(_LEVELS)}")
    target = stream if stream is not None else sys.stderr
    chosen = log_format or ("text" if target.isatty() else "json")
    if chosen not in ("json", "text"):
        raise ConfigurationError(f"LOG_FORMAT {log_format!r} is not json or text")
    handler = logging.StreamHandler(target)
    handler.addFilter(ContextFilter())
    handler.setFormatter(
        OrjsonFormatter(
            "%(levelname)s %(name)s %(message)s",
            rename_fields={"levelname": "level", "name": "logger"},
            timestamp="time",  # ISO 8601 in UTC, to the microsecond
        )
        if chosen == "json"
        else logging.Formatter(_TEXT)
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_servicekit", False)]:
        root.removeHandler(old)
        old.close()
    handler._servicekit = True  # type: ignore[attr-defined]  # ours to replace next time
    root.addHandler(handler)
    root.setLevel(name)
    for server in _SERVER_LOGGERS:  # one format for the whole process
        logger = logging.getLogger(server)
        for own in list(logger.handlers):
            logger.removeHandler(own)
        logger.propagate = True
    return handler

"""structlog set-up: JSON lines under systemd (or when asked), readable on a terminal."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import structlog

from acd.settings import LogSettings

# Keys whose values must never reach a log line.
_SECRET_KEYS = frozenset({"secret", "password", "token", "key", "authorization"})


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


def configure_logging(settings: LogSettings, stream: Any = None) -> None:
    """Configure structlog and the stdlib bridge once, from the settings."""
    stream = stream or sys.stderr
    fmt = settings.format
    if fmt == "auto":
        under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
        fmt = "json" if under_systemd or not stream.isatty() else "console"
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    level = getattr(logging, settings.level.upper())
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
        structlog.processors.format_exc_info,
        renderer,
    ]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=stream),
        cache_logger_on_first_use=False,
    )
    # Libraries (panoramisk, aiohttp, alembic) log through the stdlib: keep
    # only their warnings, in the same stream.
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)

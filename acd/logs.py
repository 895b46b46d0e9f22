"""structlog set-up: JSON lines under systemd (or when asked), readable on a terminal."""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

from acd.settings import LogSettings

# Keys whose values must never reach a log line.
_SECRET_KEYS = frozenset(
    {"secret", "sip_secret", "password", "token", "key", "authorization", "digest"}
)


def _redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "***"
    return event


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    """Configure structlog and the stdlib bridge once, from the settings."""
    stream = stream or sys.stderr
    fmt = settings.format
    if fmt == "auto":
        under_systemd = "JOURNAL_STREAM" in os.environ or "INVOCATION_ID" in os.environ
        fmt = "json" if under_systemd or not stream.isatty() else "console"
    renderer: Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    level: int = getattr(logging, settings.level.upper())
    processors: list[Processor] = [
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

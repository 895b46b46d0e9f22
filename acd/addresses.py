"""Engines' HTTP addresses as configured (``[standby] address`` and ``peers``)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

ORIGIN = re.compile(r"^https?://[^/\s?#@]+$", re.IGNORECASE)


def _origin(value: str) -> str:
    if len(value) > 200 or not ORIGIN.match(value.rstrip("/")):
        raise ValueError(
            f"{value!r} is not an engine's address: write scheme, host and port, "
            "such as http://10.0.0.2:8080 (no path)"
        )
    return value.rstrip("/")


HttpOrigin = Annotated[str, AfterValidator(_origin)]
# Or "" (not set: a default applies).
OptionalHttpOrigin = Annotated[str, AfterValidator(lambda v: _origin(v) if v else v)]


def origin_of(address: str) -> str:
    """``http://host:port`` of an engine's address (its scheme and host, lower case)."""
    parts = urlsplit(address)
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"

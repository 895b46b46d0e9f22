"""Engines' HTTP addresses as configured (``[standby] address`` and ``peers``)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator

ORIGIN = re.compile(r"^https?://[^/\s?#@]+$", re.IGNORECASE)
DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(value: str) -> str:
    value = value.rstrip("/")
    problem = len(value) > 200 or not ORIGIN.match(value)
    if not problem:
        try:
            urlsplit(value).port  # noqa: B018  (a port that is not a number 0-65535 raises)
        except ValueError:
            problem = True
    if problem:
        raise ValueError(
            f"{value!r} is not an engine's address: write scheme, host and port, "
            "such as http://10.0.0.2:8080 (no path)"
        )
    return value


HttpOrigin = Annotated[str, AfterValidator(_origin)]
# Or "" (not set: a default applies).
OptionalHttpOrigin = Annotated[str, AfterValidator(lambda v: _origin(v) if v else v)]


def origin_of(address: str) -> str:
    """An engine's address as a browser writes its origin: scheme and host in lower case,
    the port left out when it is the scheme's own (``https://a:443`` is ``https://a``)."""
    parts = urlsplit(address)
    scheme, host, port = parts.scheme.lower(), (parts.hostname or "").lower(), parts.port
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"

"""``acd run`` and ``acd check-config``. Exit codes: 0 ok, 1 cannot start, 2 bad config."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

import structlog

from acd.app import StartupError, acd_rules, load_call_flow, serve
from acd.logs import configure_logging
from acd.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_START_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description="Call-centre engine for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("run", "run the engine (foreground; systemd Type=notify aware)"),
        ("check-config", "validate the configuration and exit"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--config", "-c", type=Path, default=Path("/etc/acd/acd.toml"))
    return parser


def _load(path: Path) -> Settings | None:
    try:
        settings = load_settings(path)
        load_call_flow(settings)
        acd_rules(settings)
        return settings
    except ConfigError as exc:
        print(f"acd: configuration error:\n{exc}", file=sys.stderr)
        return None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = _load(args.config)
    if settings is None:
        return EXIT_BAD_CONFIG
    if args.command == "check-config":
        print(f"acd: {args.config}: configuration OK")
        return EXIT_OK
    configure_logging(settings.log)
    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        structlog.get_logger("acd").error("acd_start_failed", error=str(exc))
        print(f"acd: cannot start: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

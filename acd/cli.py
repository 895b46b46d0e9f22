"""``acd run`` and ``acd check-config``. Exit codes: 0 ok, 1 cannot start, 2 bad config."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

import structlog

from acd.app import StartupError, load_call_flow, serve
from acd.auth import hash_password
from acd.logs import configure_logging
from acd.settings import ConfigError, Settings, load_settings
from acd.storage.db import create_engine, migrate
from acd.storage.users import UserStore
from acd.wiring import acd_rules

EXIT_OK, EXIT_START_FAILED, EXIT_BAD_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description="Call-centre engine for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {}
    for name, text in (
        ("run", "run the engine (foreground; systemd Type=notify aware)"),
        ("check-config", "validate the configuration and exit"),
        ("user", "create a user or set their password (read from standard input)"),
    ):
        cmd = commands[name] = sub.add_parser(name, help=text)
        cmd.add_argument("--config", "-c", type=Path, default=Path("/etc/acd/acd.toml"))
    user = commands["user"]
    user.add_argument("job_number", help="the user's job number, e.g. 1001")
    user.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    user.add_argument("--name", default="")
    return parser


async def _set_user(
    settings: Settings, job_number: str, role: str, name: str, password: str
) -> None:
    engine = create_engine(settings.database.url)
    try:
        await migrate(engine)
        hashed = await asyncio.to_thread(hash_password, password)
        await UserStore(engine).put(job_number, name, role, hashed)
    finally:
        await engine.dispose()


def _user_command(settings: Settings, args: argparse.Namespace) -> int:
    password = os.environ.get("ACD_USER_PASSWORD")
    if password is None:
        password = (
            getpass.getpass(f"password for {args.job_number}: ")
            if sys.stdin.isatty()
            else sys.stdin.readline().rstrip("\n")
        )
    if len(password) < 8:
        print("acd: the password must have at least 8 characters", file=sys.stderr)
        return EXIT_BAD_CONFIG
    asyncio.run(_set_user(settings, args.job_number, args.role, args.name, password))
    print(f"acd: user {args.job_number} ({args.role}) saved")
    return EXIT_OK


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
    if args.command == "user":
        return _user_command(settings, args)
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

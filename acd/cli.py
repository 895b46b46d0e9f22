"""The `acd` command: run, check-config, user, phone. Exit 0 ok, 1 cannot start, 2 bad input."""

from __future__ import annotations

import argparse
import asyncio
import gc
import getpass
import os
import re
import secrets
import sys
import time
from pathlib import Path

import structlog

from acd.app import StartupError, load_call_flow, serve
from acd.auth import hash_password
from acd.leadership import LeadershipLost
from acd.logs import configure_logging
from acd.phones import PhoneDirectoryUnavailable, PhoneNotKept
from acd.settings import ConfigError, Settings, load_settings
from acd.storage.db import engine_for, migrate
from acd.storage.users import UserStore
from acd.wiring import acd_rules, phone_book

EXIT_OK, EXIT_START_FAILED, EXIT_BAD_CONFIG = 0, 1, 2
EXIT_LEAD_LOST = 75  # EX_TEMPFAIL: this engine stopped leading a standby pair
GENERATED_PASSWORD_BYTES = 12  # 16 characters of URL-safe base64


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="acd", description="Call-centre engine for Asterisk")
    sub = parser.add_subparsers(dest="command", required=True)
    commands = {}
    for name, text in (
        ("run", "run the engine (foreground; systemd Type=notify aware)"),
        ("check-config", "validate the configuration and exit"),
        ("user", "create a user or set their password (read from standard input)"),
        ("phone", "give agents' own SIP phones a new secret (printed once)"),
        ("first-run", "create an admin (and with --demo the configured agents) if missing"),
    ):
        cmd = commands[name] = sub.add_parser(name, help=text)
        cmd.add_argument("--config", "-c", type=Path, default=Path("/etc/acd/acd.toml"))
    user = commands["user"]
    user.add_argument("job_number", help="the user's job number, e.g. 1001")
    user.add_argument("--role", choices=["agent", "supervisor", "admin"], default="agent")
    user.add_argument("--name", default="")
    phone = commands["phone"]
    phone.add_argument("job_numbers", nargs="*", help="agents or supervisors (default: all)")
    phone.add_argument(
        "--missing-only", action="store_true", help="only phones that have no secret yet"
    )
    first = commands["first-run"]
    first.add_argument("--admin", default="9000", help="the admin's job number (9000)")
    first.add_argument(
        "--demo", action="store_true", help="also a user for every [[agents]] entry without one"
    )
    return parser


class FirstRunRefused(Exception):
    """first-run cannot make the admin it was asked for."""


async def _first_run(settings: Settings, admin: str, demo: bool) -> list[tuple[str, str, str]]:
    """Users that were missing, each with a generated password: (job number, role, password)."""
    engine = engine_for(settings.database)
    try:
        await migrate(engine)
        users = UserStore(engine)
        existing = {u.job_number: u.role for u in await users.all()}
        wanted: list[tuple[str, str, str]] = []
        if "admin" not in existing.values():
            configured = {a.job_number for a in settings.agents}
            if admin in existing or admin in configured:  # never someone else's account
                whose = "an agent's in [[agents]]"
                if admin in existing:
                    whose = f"a {existing[admin]}'s"
                raise FirstRunRefused(
                    f"there is no admin, and job number {admin} is {whose}: "
                    "choose the admin's job number with --admin"
                )
            wanted.append((admin, "Administrator", "admin"))
        if demo:
            wanted += [
                (a.job_number, a.name, a.role)
                for a in settings.agents
                if a.job_number not in existing
            ]
        created = []
        for job_number, name, role in wanted:
            password = secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
            await users.put(
                job_number, name, role, await asyncio.to_thread(hash_password, password)
            )
            created.append((job_number, role, password))
        return created
    finally:
        await engine.dispose()


def _first_run_command(settings: Settings, args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9]{2,16}", args.admin):
        print(f"acd: a job number is 2-16 digits, not {args.admin!r}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        created = asyncio.run(_first_run(settings, args.admin, args.demo))
    except FirstRunRefused as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    for job_number, role, password in created:
        # Shown this once: acd keeps only a hash. Log in at the desktop with it.
        print(f"{role} {job_number} password: {password}")
    return EXIT_OK


async def _set_user(
    settings: Settings, job_number: str, role: str, name: str, password: str
) -> str | None:
    """Save the user; an agent or supervisor without a phone gets one: its secret, once."""
    engine = engine_for(settings.database)
    try:
        await migrate(engine)
        hashed = await asyncio.to_thread(hash_password, password)
        await UserStore(engine).put(job_number, name, role, hashed)
        phones = phone_book(settings, engine, time.time)
        if role == "admin":
            await phones.remove(job_number)
            return None
        await phones.end_web_phones(job_number)  # a new password: the pages' phones end too
        if not phones.keeps_phone_of(job_number) or await phones.has_phone(job_number):
            return None  # acd keeps no phones here, or this one has its secret already
        return await phones.issue_secret(job_number)
    finally:
        await engine.dispose()


async def _phone_secrets(
    settings: Settings, job_numbers: list[str], missing_only: bool
) -> dict[str, str]:
    engine = engine_for(settings.database)
    try:
        await migrate(engine)
        roles = {u.job_number: u.role for u in await UserStore(engine).all()}
        roles |= {a.job_number: a.role for a in settings.agents}
        phones = phone_book(settings, engine, time.time)
        everyone = sorted(j for j, r in roles.items() if r != "admin" and phones.keeps_phone_of(j))
        wanted = job_numbers or everyone
        unknown = [j for j in wanted if roles.get(j, "admin") == "admin"]
        if unknown:
            raise ValueError(f"not an agent or supervisor: {', '.join(unknown)}")
        issued = {}
        for job_number in wanted:
            if missing_only and await phones.has_phone(job_number):
                continue
            issued[job_number] = await phones.issue_secret(job_number)
        return issued
    finally:
        await engine.dispose()


def _phone_command(settings: Settings, args: argparse.Namespace) -> int:
    try:
        issued = asyncio.run(_phone_secrets(settings, args.job_numbers, args.missing_only))
    except (ValueError, PhoneNotKept) as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except PhoneDirectoryUnavailable as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    for job_number, secret in issued.items():
        # Shown this once: acd keeps only its digest.
        print(f"phone secret for {job_number} (PJSIP/{job_number}): {secret}")
    return EXIT_OK


def _user_command(settings: Settings, args: argparse.Namespace) -> int:
    if not re.fullmatch(r"[0-9]{2,16}", args.job_number):
        print(f"acd: a job number is 2-16 digits, not {args.job_number!r}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    if len(args.name) > 100:  # as the users' table and the API take it
        print("acd: --name has at most 100 characters", file=sys.stderr)
        return EXIT_BAD_CONFIG
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
    try:
        secret = asyncio.run(_set_user(settings, args.job_number, args.role, args.name, password))
    except PhoneDirectoryUnavailable as exc:
        print(f"acd: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    print(f"acd: user {args.job_number} ({args.role}) saved")
    if secret is not None:  # shown this once: acd keeps only its digest
        print(f"phone secret for {args.job_number} (PJSIP/{args.job_number}): {secret}")
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
    configure_logging(settings.log)  # on standard error: standard output is for secrets
    if args.command == "user":
        return _user_command(settings, args)
    if args.command == "phone":
        return _phone_command(settings, args)
    if args.command == "first-run":
        return _first_run_command(settings, args)
    if args.command == "check-config":
        print(f"acd: {args.config}: configuration OK")
        return EXIT_OK
    # What the imports built lives as long as the process: out of the garbage
    # collector's sight, a full collection no longer walks it (each one stops
    # the engine for as long as it takes).
    gc.collect()
    gc.freeze()
    try:
        asyncio.run(serve(settings))
    except StartupError as exc:
        structlog.get_logger("acd").error("acd_start_failed", error=str(exc))
        print(f"acd: cannot start: {exc}", file=sys.stderr)
        return EXIT_START_FAILED
    except LeadershipLost as exc:  # systemd starts it again: as the standby
        structlog.get_logger("acd").error("acd_lead_lost", error=str(exc))
        print(f"acd: {exc}", file=sys.stderr)
        return EXIT_LEAD_LOST
    except KeyboardInterrupt:
        pass
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

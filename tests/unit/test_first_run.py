"""`acd first-run` (what `make run` calls): an admin, and demo agents, with passwords shown once."""

from __future__ import annotations

import asyncio
import re

from acd.auth import verify_password
from acd.storage.db import create_engine
from acd.storage.users import UserStore
from tests import database
from tests.unit.test_phones import acd


async def stored_hashes(tmp_path) -> dict[str, tuple[str, str]]:
    engine = create_engine(database.url_for(tmp_path))
    try:
        return {u.job_number: (u.role, u.password_hash) for u in await UserStore(engine).all()}
    finally:
        await engine.dispose()


async def test_the_first_run_creates_an_admin_and_demo_agents_once_with_passwords_shown_once(
    tmp_path,
):
    first = await asyncio.to_thread(acd, tmp_path, "first-run", "--demo")
    assert first.returncode == 0, first.stderr
    shown = dict(re.findall(r"^(?:admin|agent) (\d+) password: (\S+)$", first.stdout, re.M))
    assert set(shown) == {"9000", "1001"}, first.stdout
    assert all(len(p) >= 16 for p in shown.values())
    users = await stored_hashes(tmp_path)
    assert users["9000"][0] == "admin" and users["1001"][0] == "agent"
    # Each can log in with what was shown; only a hash is kept.
    for job, password in shown.items():
        assert verify_password(password, users[job][1])
        assert password not in users[job][1]
        assert password not in first.stderr  # never in the log

    # The next run changes nobody and shows no password again.
    again = await asyncio.to_thread(acd, tmp_path, "first-run", "--demo")
    assert again.returncode == 0 and "password" not in again.stdout, again.stdout
    assert await stored_hashes(tmp_path) == users

    bad = await asyncio.to_thread(acd, tmp_path, "first-run", "--admin", "root")
    assert bad.returncode == 2 and "'root'" in bad.stderr


async def test_the_first_run_never_makes_someones_account_the_admins(tmp_path):
    # An agent has job number 9000 and nobody is admin yet.
    made = await asyncio.to_thread(acd, tmp_path, "user", "9000", password="agent-9000-pass")
    assert made.returncode == 0, made.stderr
    refused = await asyncio.to_thread(acd, tmp_path, "first-run")
    assert refused.returncode == 2 and "9000" in refused.stderr and "--admin" in refused.stderr
    assert "password" not in refused.stdout
    users = await stored_hashes(tmp_path)
    assert users["9000"][0] == "agent" and verify_password("agent-9000-pass", users["9000"][1])
    # Given another job number, the admin is made.
    done = await asyncio.to_thread(acd, tmp_path, "first-run", "--admin", "9999")
    assert done.returncode == 0 and re.search(r"^admin 9999 password: \S+$", done.stdout, re.M)

"""`acd user` creates the first admin (and others) from the command line."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from acd.auth import verify_password
from acd.storage.db import create_engine
from acd.storage.users import UserStore
from tests import database

ACD = str(Path(sys.executable).parent / "acd")


def run_user(tmp_path: Path, *args: str, password: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "acd.toml"
    config.write_text(f'[ami]\nsecret = "x"\n[database]\nurl = "{database.url_for(tmp_path)}"\n')
    env = {**os.environ, "ACD_USER_PASSWORD": password}
    return subprocess.run(
        [ACD, "user", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_acd_user_saves_a_hashed_password_and_refuses_short_ones(tmp_path):
    done = await asyncio.to_thread(
        run_user, tmp_path, "9000", "--role", "admin", password="correct horse"
    )
    assert done.returncode == 0, done.stderr
    assert "user 9000 (admin) saved" in done.stdout
    engine = create_engine(database.url_for(tmp_path))
    try:
        row = await UserStore(engine).get("9000")
    finally:
        await engine.dispose()
    assert row is not None and row.role == "admin"
    assert "correct horse" not in row.password_hash
    assert verify_password("correct horse", row.password_hash)
    short = await asyncio.to_thread(run_user, tmp_path, "9001", password="short")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr


def test_check_config_names_an_ivr_tree_that_is_not_utf8_and_exits_2(tmp_path):
    tree = tmp_path / "tree.toml"
    tree.write_bytes(b'[menus.main]\nprompt = "caf\xe9"\n')  # Latin-1, not UTF-8
    config = tmp_path / "acd.toml"
    config.write_text(f'[ami]\nsecret = "x"\n[ivr]\ntree = "{tree}"\n')
    done = subprocess.run(
        [ACD, "check-config", "--config", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert f"{tree}: not UTF-8 text" in done.stderr
    assert "Traceback" not in done.stderr

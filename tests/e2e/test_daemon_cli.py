"""`acd run` / `acd check-config` as ops run them: exit codes, messages, ports, systemd."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import socket
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.asterisk import Asterisk
from tests.e2e.centre import ACD, acd_command, centre_config, clean_environ
from tests.e2e.pbx import REPO, Pbx, free_tcp_port
from tests.e2e.tomlfile import write_toml

UNIT = REPO / "deploy" / "acd.service"


def write_config(pbx: Pbx, tmp_path: Path, **overrides: Any) -> tuple[Path, int]:
    config = centre_config(pbx, tmp_path, **overrides)
    return write_toml(tmp_path / "acd.toml", config), int(config["http"]["port"])


async def _accepts(port: int) -> bool:
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 1)
    except (OSError, TimeoutError):
        return False
    writer.close()
    return True


async def run_watching(config: Path, port: int, timeout: float = 40) -> tuple[int, str, bool]:
    """`acd run` until it exits by itself: (exit code, stderr, whether ``port`` ever accepted
    a connection while it ran)."""
    proc = await asyncio.create_subprocess_exec(
        ACD,
        "run",
        "--config",
        str(config),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_environ(),
    )
    output = asyncio.ensure_future(proc.communicate())
    served = False
    deadline = time.monotonic() + timeout
    try:
        while not output.done():
            served = served or await _accepts(port)
            if time.monotonic() > deadline:
                raise AssertionError(f"acd run did not exit within {timeout} s")
            await asyncio.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
        _, err = await output
    assert proc.returncode is not None
    return proc.returncode, err.decode(errors="replace"), served


async def test_check_config_accepts_a_good_file(pbx: Pbx, tmp_path):
    path, _ = write_config(pbx, tmp_path)
    code, out, err = await acd_command("check-config", "--config", str(path))
    assert (code, err) == (0, "")
    assert f"{path}: configuration OK" in out


async def test_a_malformed_config_names_each_key_and_exits_2(tmp_path):
    path = tmp_path / "acd.toml"
    path.write_text('[ami]\nsecret = "x"\nport = "five"\n[http]\nhost = 12\n')
    for command in ("check-config", "run"):
        code, _, err = await acd_command(command, "--config", str(path))
        assert code == 2, command
        assert "ami.port: Input should be a valid integer" in err
        assert "http.host: Input should be a valid string" in err
    assert not (tmp_path / "acd.db").exists()  # nothing was started or written


async def test_a_bad_ivr_tree_is_refused_by_check_config_with_the_menu_and_key(pbx: Pbx, tmp_path):
    tree = tmp_path / "bad-tree.toml"
    text = (REPO / "ivr" / "default_tree.toml").read_text(encoding="utf-8")
    # Key 3 of the main menu now leads to a menu nobody wrote.
    tree.write_text(text.replace('"3" = { goto = "free_travel" }', '"3" = { goto = "ski" }'))
    path, _ = write_config(pbx, tmp_path, ivr={"tree": str(tree)})
    for command in ("check-config", "run"):
        code, out, err = await acd_command(command, "--config", str(path))
        assert code == 2, (command, out, err)
        assert f"{tree}: menus.main.keys.3.goto: 'ski' is not a menu" in err, err
        assert "configuration OK" not in out
    assert not (tmp_path / "acd.db").exists()


async def test_a_wrong_ami_secret_exits_1_without_ever_serving_http(pbx: Pbx, tmp_path):
    path, http_port = write_config(
        pbx, tmp_path, ami={"secret": "notTheSecret", "startup_timeout": 3}
    )
    code, err, served = await run_watching(path, http_port)
    assert code == 1
    assert "refused AMI login for user 'acd'" in err
    assert "notTheSecret" not in err
    assert not served  # the API never came up half-started


async def test_an_unreachable_asterisk_exits_1_with_a_clear_message(pbx: Pbx, tmp_path):
    dead = free_tcp_port()
    path, http_port = write_config(pbx, tmp_path, ami={"port": dead, "startup_timeout": 3})
    code, err, served = await run_watching(path, http_port)
    assert code == 1
    assert f"cannot reach Asterisk AMI at 127.0.0.1:{dead}" in err
    assert not served


async def test_a_busy_http_port_exits_1_naming_the_address(pbx: Pbx, asterisk: Asterisk, tmp_path):
    path, http_port = write_config(pbx, tmp_path)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", http_port))
        squatter.listen()
        code, out, err = await acd_command("run", "--config", str(path))
    assert code == 1, (out, err)
    assert f"cannot listen for HTTP on 127.0.0.1:{http_port}" in err
    assert "in use" in err


async def test_a_busy_fastagi_port_exits_1_naming_the_address(
    pbx: Pbx, asterisk: Asterisk, tmp_path
):
    path, http_port = write_config(pbx, tmp_path)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", pbx.agi_port))
        squatter.listen()
        code, err, served = await run_watching(path, http_port)
    assert code == 1
    assert f"cannot listen for FastAGI on 127.0.0.1:{pbx.agi_port}" in err
    assert not served


class NotifySocket:
    """What systemd sees of a Type=notify service: the datagrams on NOTIFY_SOCKET."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setblocking(False)
        self.seen: list[str] = []

    async def next(self, timeout: float) -> str:
        data = await asyncio.wait_for(
            asyncio.get_running_loop().sock_recv(self.sock, 4096), timeout
        )
        self.seen.append(data.decode())
        return self.seen[-1]

    def drain(self) -> list[str]:
        with contextlib.suppress(BlockingIOError):
            while True:
                self.seen.append(self.sock.recv(4096).decode())
        return self.seen

    def close(self) -> None:
        self.sock.close()


def unit_settings(unit: Path) -> dict[str, str]:
    """The [Service] settings of a unit file (last one wins, as in systemd)."""
    settings: dict[str, str] = {}
    for line in unit.read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not line.startswith(("#", ";", "[")):
            settings[key.strip()] = value.strip()
    return settings


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert match, f"cannot read the duration {value!r}"
    number, unit = float(match[1]), match[2] or "s"
    return number * {"ms": 0.001, "s": 1, "min": 60}[unit]


async def test_the_systemd_unit_verifies_and_its_command_line_starts_acd_as_a_notify_service(
    pbx: Pbx, asterisk: Asterisk, tmp_path
):
    unit = unit_settings(UNIT)
    assert unit["Type"] == "notify"
    assert unit["RestartPreventExitStatus"] == "2"  # bad config: no restart loop
    # systemd itself accepts the unit (with our acd binary where it would be installed).
    copy = tmp_path / "acd.service"
    copy.write_text(UNIT.read_text().replace("/usr/local/bin/acd", ACD), encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        "systemd-analyze",
        "verify",
        str(copy),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and not (out + err).strip(), (out + err).decode()

    # Run the unit's own ExecStart (its config path pointed at a test file) the way
    # systemd would: notify socket, watchdog, journal, then SIGTERM (KillSignal).
    path, http_port = write_config(pbx, tmp_path)
    argv = shlex.split(unit["ExecStart"])
    assert argv[0] == "/usr/local/bin/acd" and "/etc/acd/acd.toml" in argv
    argv = [ACD if a == argv[0] else str(path) if a == "/etc/acd/acd.toml" else a for a in argv]
    watchdog = seconds(unit["WatchdogSec"])
    notify = NotifySocket(tmp_path / "notify")
    env = {
        **clean_environ(),
        "NOTIFY_SOCKET": notify.path,
        "WATCHDOG_USEC": str(int(watchdog * 1_000_000)),
        "JOURNAL_STREAM": "8:1",  # as under systemd: JSON logs
    }
    started = time.monotonic()
    journal = tmp_path / "journal.log"  # what journald would keep (a file: never a full pipe)
    with journal.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=out, stderr=out)
    try:
        ready = await notify.next(seconds(unit["TimeoutStartSec"]))
        assert ready.startswith("READY=1")
        # READY means AMI logged in and the channels in sync: /healthz already says so.
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{http_port}/healthz") as resp:
                health = await resp.json()
                assert resp.status == 200, health
        assert health["ami"]["connected"] and health["ami"]["asterisk"].startswith("22.")
        assert health["engine"]["resyncs"] == 1
        assert health["fastagi"]["listening"]
        # The watchdog is fed well within WatchdogSec (systemd would kill it otherwise).
        fed = await notify.next(watchdog)
        assert fed == "WATCHDOG=1"
        assert time.monotonic() - started < seconds(unit["TimeoutStartSec"])

        proc.send_signal(getattr(signal, unit["KillSignal"]))
        await asyncio.wait_for(proc.wait(), seconds(unit["TimeoutStopSec"]))
        assert proc.returncode == 0
        logged = journal.read_text(encoding="utf-8")
        lines = [json.loads(x) for x in logged.splitlines() if x.startswith("{")]
        assert [e["event"] for e in lines if e["event"] in ("acd_ready", "acd_stopped")] == [
            "acd_ready",
            "acd_stopped",
        ]
        assert pbx.secret not in logged
        assert "STOPPING=1" in notify.drain()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        notify.close()
        os.unlink(notify.path)

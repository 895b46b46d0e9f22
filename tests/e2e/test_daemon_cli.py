"""`acd run` / `acd check-config` as ops run them: exit codes, messages, systemd."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.e2e.pbx import Pbx

ACD = str(Path(sys.executable).parent / "acd")


def config(
    tmp_path: Path, pbx: Pbx, *, secret: str | None = None, ami_port: int | None = None
) -> tuple[Path, int]:
    http_port = free_port()
    path = tmp_path / "acd.toml"
    path.write_text(
        f"""
[ami]
port = {ami_port or pbx.ami_port}
secret = "{secret or pbx.secret}"
startup_timeout = 2
[fastagi]
port = {pbx.agi_port}
[http]
port = {http_port}
[database]
url = "sqlite+aiosqlite:///{tmp_path}/acd.db"
[prompts]
dir = "{pbx.host_path("sounds/acd")}"
asterisk_dir = "{pbx.chroot_path("sounds/acd")}"
""",
        encoding="utf-8",
    )
    return path, http_port


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ACD, *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_check_config_accepts_a_good_file(running_pbx: Pbx, tmp_path):
    path, _ = config(tmp_path, running_pbx)
    done = run("check-config", "--config", str(path))
    assert done.returncode == 0
    assert "configuration OK" in done.stdout


def test_malformed_config_names_the_key_and_exits_2(tmp_path):
    path = tmp_path / "acd.toml"
    path.write_text('[ami]\nsecret = "x"\nport = "five"\n[http]\nhost = 12\n')
    for command in ("check-config", "run"):
        done = run(command, "--config", str(path))
        assert done.returncode == 2
        assert "ami.port: Input should be a valid integer" in done.stderr
        assert "http.host: Input should be a valid string" in done.stderr
    assert not (tmp_path / "acd.db").exists()


def test_wrong_ami_secret_exits_1_and_leaves_nothing_running(running_pbx: Pbx, tmp_path):
    path, http_port = config(tmp_path, running_pbx, secret="not-the-secret")
    done = run("run", "--config", str(path))
    assert done.returncode == 1
    assert "refused AMI login for user 'acd'" in done.stderr
    assert "not-the-secret" not in done.stderr + done.stdout
    assert port_is_free(running_pbx.agi_port) and port_is_free(http_port)


def test_unreachable_asterisk_exits_1_with_a_clear_message(running_pbx: Pbx, tmp_path):
    dead_port = free_port()
    path, http_port = config(tmp_path, running_pbx, ami_port=dead_port)
    done = run("run", "--config", str(path))
    assert done.returncode == 1
    assert f"cannot reach Asterisk AMI at 127.0.0.1:{dead_port}" in done.stderr
    assert port_is_free(running_pbx.agi_port) and port_is_free(http_port)


async def test_systemd_ready_after_login_and_resync_watchdog_and_sigterm(
    running_pbx: Pbx, tmp_path
):
    path, http_port = config(tmp_path, running_pbx)
    notify_path = str(tmp_path / "notify")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(notify_path)
    sock.setblocking(False)
    env = {
        "PATH": "/usr/bin:/bin",
        "NOTIFY_SOCKET": notify_path,
        "WATCHDOG_USEC": "1000000",
        "JOURNAL_STREAM": "8:1",  # as under systemd: JSON logs
    }
    proc = await asyncio.create_subprocess_exec(
        ACD, "run", "--config", str(path), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    env["WATCHDOG_PID"] = str(proc.pid)
    loop = asyncio.get_running_loop()
    try:
        messages: list[str] = []
        ready = await asyncio.wait_for(loop.sock_recv(sock, 1024), 20)
        messages.append(ready.decode())
        assert messages[0].startswith("READY=1")
        # READY means AMI logged in and the channels resynced.
        health = json.loads(
            await asyncio.to_thread(
                lambda: urllib.request.urlopen(
                    f"http://127.0.0.1:{http_port}/healthz", timeout=5
                ).read()
            )
        )
        assert health["status"] == "ok"
        assert health["ami"]["connected"] and health["ami"]["asterisk"].startswith("22.")
        assert health["engine"]["resyncs"] == 1
        assert health["fastagi"]["listening"]
        watchdog = await asyncio.wait_for(loop.sock_recv(sock, 1024), 5)
        assert watchdog == b"WATCHDOG=1"

        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0
        lines = [json.loads(line) for line in stderr.decode().splitlines() if line.startswith("{")]
        assert [e["event"] for e in lines if e["event"] in ("acd_ready", "acd_stopped")] == [
            "acd_ready",
            "acd_stopped",
        ]
        assert running_pbx.secret not in stderr.decode()
        seen = []
        while True:
            try:
                seen.append(sock.recv(1024).decode())
            except BlockingIOError:
                break
        assert "STOPPING=1" in seen
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        sock.close()


@pytest.mark.parametrize("unit", ["deploy/acd.service"])
def test_systemd_unit_is_notify_with_watchdog(unit):
    text = (Path(__file__).resolve().parents[2] / unit).read_text()
    assert "Type=notify" in text
    assert "WatchdogSec=" in text
    assert "ExecStart=/usr/local/bin/acd run --config /etc/acd/acd.toml" in text

"""sd_notify over a real unix datagram socket."""

import asyncio
import os
import socket

from acd.systemd import Notifier


async def test_ready_and_watchdog_reach_the_notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(path)
        sock.settimeout(2)
        env = {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": str(os.getpid())}
        notifier = Notifier(env)
        notifier.notify("READY=1")
        assert sock.recv(100) == b"READY=1"
        assert notifier.watchdog_interval == 0.1
        task = asyncio.create_task(notifier.watchdog())
        await asyncio.sleep(0.25)
        task.cancel()
        assert sock.recv(100) == b"WATCHDOG=1"
        assert sock.recv(100) == b"WATCHDOG=1"


def test_without_systemd_nothing_is_sent():
    notifier = Notifier({})
    assert not notifier.enabled
    assert notifier.watchdog_interval is None
    notifier.notify("READY=1")


def test_watchdog_meant_for_another_process_is_ignored():
    assert Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"}).watchdog_interval is None

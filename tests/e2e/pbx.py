"""The bundled Asterisk (docker/pbx) for one test run: its own instance name and ports.

Two suites on one machine never share an Asterisk: the instance is named
after the run, and every port is picked free when the run starts. The
instance directory (logs, recordings) is deleted when the run ends; a
failed test's slice of the log is kept under ``test-artifacts/`` first.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PBX = REPO / "docker" / "pbx"


# Ports something listens on (Asterisk's, an engine's, a phone's SIP) come from below the
# kernel's range for outgoing connections (32768-60999) and below the RTP ranges: a port
# given to an engine stays its own between two tests, even while another suite on the
# machine (tests/both.py) opens connections by the thousand.
LISTEN_PORTS = (10000, 20000)
RTP_PORTS = (20000, 60000)

# Suites run side by side (tests/both.py) each take their own slice of both ranges
# ("k/n": the k-th of n, from 0), so one never picks a port the other was given but has
# not bound yet.
SLICE_VARIABLE = "ACD_TEST_PORT_SLICE"


def port_slice(low: int, high: int) -> tuple[int, int]:
    """This run's share of [low, high), from $ACD_TEST_PORT_SLICE (all of it if unset)."""
    text = os.environ.get(SLICE_VARIABLE, "")
    if not text:
        return low, high
    try:
        k, n = (int(part) for part in text.split("/"))
    except ValueError:
        raise RuntimeError(f"{SLICE_VARIABLE}={text!r}: expected k/n, as 1/2") from None
    if not 0 <= k < n:
        raise RuntimeError(f"{SLICE_VARIABLE}={text!r}: k must be 0 to n-1")
    width = (high - low) // n
    return low + k * width, low + (k + 1) * width


# Every port handed out in this run, TCP or UDP: never twice (a port picked for Asterisk's
# FastAGI and then, before anything listened on it, for an engine's HTTP, made that engine
# fail to start).
_PORTS_GIVEN: set[int] = set()


def _free_port(kind: socket.SocketKind) -> int:
    low, high = port_slice(*LISTEN_PORTS)
    for _ in range(1000):
        port = random.randrange(low, high)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port between {low} and {high}")


def free_tcp_port() -> int:
    return _free_port(socket.SOCK_STREAM)


def free_udp_port() -> int:
    return _free_port(socket.SOCK_DGRAM)


def _udp_range_free(start: int, count: int) -> bool:
    for port in range(start, start + count):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
    return True


# RTP ranges handed out in this run (Asterisk's, each phone's): never two overlapping, even
# before anything is bound in them.
_RANGES_GIVEN: list[tuple[int, int]] = []


def free_udp_range(count: int = 200) -> int:
    """The first port of ``count`` free UDP ports in a row (RTP), picked at random."""
    low, high = port_slice(*RTP_PORTS)
    for _ in range(200):
        start = random.randrange(low, high - count, 2)
        overlaps = any(start < end and first < start + count for first, end in _RANGES_GIVEN)
        if not overlaps and _udp_range_free(start, count):
            _RANGES_GIVEN.append((start, start + count))
            return start
    raise RuntimeError(f"no {count} free UDP ports in a row between {low} and {high}")


def release_udp_range(start: int) -> None:
    """A range from free_udp_range is no longer used."""
    _RANGES_GIVEN[:] = [r for r in _RANGES_GIVEN if r[0] != start]


@dataclass
class Pbx:
    """One Asterisk instance in the sid root, on its own loopback ports."""

    instance: str = field(default_factory=lambda: f"t{os.getpid()}-{random.randrange(10**6)}")
    ami_port: int = field(default_factory=free_tcp_port)
    sip_port: int = field(default_factory=free_udp_port)
    agi_port: int = field(default_factory=free_tcp_port)
    http_port: int = field(default_factory=free_tcp_port)  # SIP over WebSocket (browsers)
    rtp_start: int = field(default_factory=free_udp_range)
    info: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ACD_AMI_PORT": str(self.ami_port),
            "ACD_SIP_PORT": str(self.sip_port),
            "ACD_AGI_PORT": str(self.agi_port),
            "ACD_HTTP_PORT": str(self.http_port),
            "ACD_RTP_START": str(self.rtp_start),
            "ACD_PBX_TEST_AMI": "1",
        }

    def run(self, *args: str, check: bool = True, timeout: float = 300) -> str:
        """docker/pbx, blocking: call it from a thread inside a test (asyncio.to_thread)."""
        done = subprocess.run(
            [str(PBX), args[0], "--instance", self.instance, *args[1:]],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker/pbx {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.run("start")
        for line in self.run("env").splitlines():
            key, _, value = line.partition("=")
            self.info[key] = value
        # A verbose log of what Asterisk did, kept for failed tests (see conftest).
        self.run(
            "cli",
            f"logger add channel {self.chroot_path('log/full')} notice,warning,error,verbose(3)",
            check=False,
        )

    def stop(self) -> None:
        self.run("stop")

    def kill(self) -> None:
        self.run("kill")

    def destroy(self) -> None:
        self.run("destroy", check=False)

    def running(self) -> bool:
        return self.run("status", check=False).startswith("running")

    @property
    def secret(self) -> str:
        """The engine's AMI secret."""
        return self.info["ACD_AMI__SECRET"]

    @property
    def test_secret(self) -> str:
        """The test suite's own AMI user ("tests")."""
        return self.info["ACD_PBX_TEST_AMI_SECRET"]

    @property
    def phones_file(self) -> Path:
        """The phone directory this Asterisk reads (acd's ``[phones] directory``)."""
        return Path(self.info["ACD_PBX_PHONES"])

    def host_path(self, inside: str) -> Path:
        """Where a path under the instance directory (inside the root) is on the host."""
        return Path(self.info["ACD_PBX_DIR"]) / inside

    @property
    def websocket(self) -> str:
        """Where browsers' phones reach this Asterisk (SIP over WebSocket)."""
        return self.info["ACD_PBX_WEBSOCKET"]

    def chroot_path(self, inside: str) -> str:
        """The same path as Asterisk sees it, inside the root."""
        return f"{self.info['ACD_PBX_CHROOT_DIR']}/{inside}"

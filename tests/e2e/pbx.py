"""Drive the bundled Asterisk (docker/pbx) from tests: start, restart, kill, CLI."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PBX = REPO / "docker" / "pbx"


@dataclass
class Pbx:
    """One Asterisk instance in the sid root, on its own loopback ports."""

    instance: str = "pytest"
    ami_port: int = 25038
    sip_port: int = 25060
    agi_port: int = 24573
    rtp_start: int = 31000
    info: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "ACD_AMI_PORT": str(self.ami_port),
            "ACD_SIP_PORT": str(self.sip_port),
            "ACD_AGI_PORT": str(self.agi_port),
            "ACD_RTP_START": str(self.rtp_start),
        }

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(
            [str(PBX), args[0], "--instance", self.instance, *args[1:]],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"docker/pbx {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
        return done.stdout

    def start(self) -> None:
        self.run("start")
        for line in self.run("env").splitlines():
            key, _, value = line.partition("=")
            self.info[key] = value

    def stop(self) -> None:
        self.run("stop")

    def kill(self) -> None:
        self.run("kill")

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def secret(self) -> str:
        return self.info["ACD_AMI__SECRET"]

    @property
    def sip_secret(self) -> str:
        return self.info["ACD_PBX_SIP_SECRET"]

    def host_path(self, inside: str) -> Path:
        """Where a path under the instance directory (inside the root) is on the host."""
        return Path(self.info["ACD_PBX_DIR"]) / inside

    def chroot_path(self, inside: str) -> str:
        return f"{self.info['ACD_PBX_CHROOT_DIR']}/{inside}"

    def cli(self, command: str) -> str:
        return self.run("cli", command)

    def concise(self) -> dict[str, list[str]]:
        """uniqueid → the fields of `core show channels concise`."""
        rows = {}
        for line in self.cli("core show channels concise").splitlines():
            parts = line.split("!")
            if len(parts) >= 14:
                rows[parts[13]] = parts
        return rows

    def bridged_together(self, *uniqueids: str) -> bool:
        """Are these channels up and in one and the same bridge?"""
        rows = self.concise()
        if not all(u in rows for u in uniqueids):
            return False
        bridges = {rows[u][12] for u in uniqueids}
        return len(bridges) == 1 and "" not in bridges

    def channels(self) -> dict[str, str]:
        """Asterisk's own list of live channels: uniqueid → channel name."""
        live = {}
        for line in self.cli("core show channels concise").splitlines():
            parts = line.split("!")
            if len(parts) >= 14:
                live[parts[13]] = parts[0]
        return live

"""Locked down: what a leaked secret or a curious user can and cannot do on the real PBX."""

from __future__ import annotations

import pytest

from tests.e2e.ami import Ami, AmiError
from tests.e2e.pbx import Pbx


async def test_the_engines_ami_user_cannot_run_a_command_or_a_shell(pbx: Pbx):
    # Someone holding the engine's AMI secret (from acd.toml) tries the PBX's shell.
    ami = Ami(pbx.ami_port, "acd", pbx.secret)
    await ami.connect()
    try:
        with pytest.raises(AmiError, match="Permission denied"):
            await ami.command("core show version")
        with pytest.raises(AmiError, match=r"Permission denied|Forbidden"):
            await ami.action(
                {
                    "Action": "Originate",
                    "Channel": "Local/s@acd-wait",
                    "Application": "System",
                    "Data": "touch /tmp/acd-pwned",
                }
            )
        with pytest.raises(AmiError, match="Permission denied"):
            await ami.action({"Action": "MixMonitor", "Channel": "x", "File": "/tmp/x.wav"})
        # What the engine needs still works.
        await ami.action({"Action": "Ping"})
        assert await ami.listing({"Action": "CoreShowChannels"}) is not None
    finally:
        await ami.close()

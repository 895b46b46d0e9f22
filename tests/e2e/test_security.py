"""Locked down: what a leaked secret or a curious user can and cannot do on the real PBX."""

from __future__ import annotations

import pytest

from tests.e2e.ami import Ami, AmiError
from tests.e2e.asterisk import Asterisk
from tests.e2e.callers import Callers
from tests.e2e.centre import ADMIN
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


async def registered(asterisk: Asterisk, job: str) -> bool:
    """Whether Asterisk lists a registered contact for this phone."""
    return any(f" {job}/sip:" in line for line in await asterisk.ami.command("pjsip show contacts"))


async def test_every_phone_has_its_own_secret_and_an_agents_cannot_register_as_the_lead(
    asterisk: Asterisk, centre, phones, users_db
):
    await centre()
    agent_phone = await phones("1001")
    assert await registered(asterisk, "1001")
    # 1001 tries their own secret on the team lead's phone, to get the lead's
    # listen and whisper legs: Asterisk refuses it.
    with pytest.raises(AssertionError, match="did not register"):
        await phones("1901", secret=users_db.phone_secrets["1001"], register_within=5)
    assert not await registered(asterisk, "1901")
    assert await registered(asterisk, "1001") and agent_phone.calls == []
    # The lead's own secret works.
    await phones("1901")
    assert await registered(asterisk, "1901")


async def test_an_agent_added_through_the_api_gets_a_phone_that_takes_calls_and_a_new_secret(
    asterisk: Asterisk, centre, phones, callers: Callers
):
    c = await centre()
    admin = await c.login(ADMIN)
    saved = await admin.request(
        "PUT",
        "/admin/users/1005",
        {"name": "Zhao Min", "role": "agent", "password": "secret-1005"},
    )
    assert saved["sip_endpoint"] == "PJSIP/1005" and len(saved["sip_secret"]) >= 20
    await admin.request("PUT", "/admin/agents/1005/skills", {"skills": {"tour": 5}})
    phone = await phones("1005", secret=saved["sip_secret"], answer_after=0.5)
    await c.agent_logged_in("1005")
    await callers.put_through(phone)  # rings at once: no pjsip.conf edit, no reload

    # A new secret: the old one stops working at once, the new one registers.
    renewed = await admin.post("/admin/users/1005/phone")
    assert renewed["sip_secret"] != saved["sip_secret"]
    with pytest.raises(AssertionError, match="did not register"):
        await phones("1005", secret=saved["sip_secret"], register_within=5)
    await phones("1005", secret=renewed["sip_secret"])


async def test_an_agent_logs_in_at_another_phone_only_when_an_admin_allowed_it(
    asterisk: Asterisk, centre, phones, callers: Callers
):
    c = await centre()
    desk = await phones("1002", answer_after=0.5)  # a colleague's desk
    agent = await c.login("1001")
    refused = await agent.post("/agents/1001/login", {"endpoint": "PJSIP/1002"}, expect=403)
    assert refused["error_id"] == "phone_not_allowed"
    admin = await c.login(ADMIN)
    await admin.request("PUT", "/admin/agents/1001/phones", {"phones": ["PJSIP/1002"]})
    await agent.post("/agents/1001/login", {"endpoint": "PJSIP/1002"})
    await agent.post("/agents/1001/ready")
    caller, call, _ = await callers.put_through(desk)  # 1001's tour call rings at desk 1002
    assert call.caller_number == caller.number
    view = await agent.agent()
    assert (view["state"], view["call_id"]) == ("talking", caller.call_id)

"""The supervisor console in headless Chromium: the centre live, listening in and barging
in from the phone in the page, ending a call, taking an agent off the phones, the day's report as
charts, a recording played; a follow-up ticket worked; an admin adding an agent.

The agent works at a pyVoIP phone that says a 1000 Hz tone; the supervisor's browser
phone (SIP.js over Asterisk's WebSocket) is the one the console rings to listen in.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import write_tone_wav
from tests.e2e.browser import Browser
from tests.e2e.callers import Callers
from tests.e2e.centre import ADMIN, SUPERVISOR, zone_at_midday
from tests.e2e.conftest import artifacts_root
from tests.e2e.test_desktop import STATE, log_in, page_hears
from tests.e2e.test_supervisor import AGENT_HZ, SUPERVISOR_HZ, spying, supervisor_actions, voice

ROW = "#agents tr[data-agent='1001']"


async def test_a_supervisor_barges_in_ends_the_call_and_reads_the_day_in_the_console(
    asterisk: Asterisk, centre, callers: Callers, phones, tmp_path: Path
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    await c.agent_logged_in("1001")
    agent_phone = await phones("1001", answer_after=0.5, speak=voice(60, AGENT_HZ))
    mic = write_tone_wav(tmp_path / "mic.wav", 10.0, SUPERVISOR_HZ)
    async with Browser(fake_audio=mic) as browser:
        try:
            # An agent is sent to the desktop: the console is for supervisors.
            await log_in(browser, c.base, "1001", "/console")
            await browser.until(
                "document.getElementById('login-error').textContent.includes('desktop')",
                what="the console refused an agent",
            )
            await log_in(browser, c.base, SUPERVISOR, "/console")
            await browser.until("window.acd.phone === 'registered'", 20, "the phone registered")
            contacts = await asterisk.ami.command("pjsip show contacts")
            # The console's own phone (not the desktop's: a team lead may have both open).
            assert any(f"webc{SUPERVISOR}/" in line for line in contacts), contacts

            caller, agent_call, agent_leg = await callers.put_through(agent_phone, record=True)
            # The live view shows the agent on the call, with what a supervisor may do.
            await browser.until(f"Boolean(document.querySelector(\"{ROW}[data-state='talking']\"))")
            assert await browser.text(f"{ROW} td:nth-child(2)") == "Talking"
            await browser.screenshot(artifacts_root() / "console-live-en.png")

            # Listen: the page's phone rings, takes the call by itself and hears the agent.
            since = asterisk.ami.mark()
            await browser.click(f"{ROW} .monitor-listen")
            await spying(asterisk, "listen", since)
            await browser.until("Boolean(window.acd.session && window.acd.remoteStream)")
            assert await asterisk.channels_of(f"PJSIP/webc{SUPERVISOR}-")
            await browser.until(
                "document.getElementById('monitoring').textContent.includes('1001')"
            )
            (agent_share,) = await page_hears(browser, AGENT_HZ)
            assert agent_share > 0.33, agent_share
            await browser.evaluate(  # the supervisor switches the console to Chinese
                "(() => { const s = document.getElementById('lang'); s.value = 'zh';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            assert await browser.text(f"{ROW} td:nth-child(2)") == "通话中"
            assert "监听" in (await browser.text("#monitoring") or "")
            await browser.screenshot(artifacts_root() / "console-listening-zh.png")
            # Barge in: the same call of the page's phone switches mode, nothing rings again.
            since = asterisk.ami.mark()
            await browser.click(f"{ROW} .monitor-barge")
            await spying(asterisk, "barge", since)
            assert len(await asterisk.channels_of(f"PJSIP/webc{SUPERVISOR}-")) == 1
            await browser.until(
                "document.getElementById('monitoring').textContent.includes('强插')"
            )

            # Stop listening: the supervisor's leg ends; caller and agent talk on.
            await browser.click("#stop-monitor")
            await asterisk.no_channel_of(f"PJSIP/webc{SUPERVISOR}-", timeout=10)
            await browser.until("window.acd.monitor === null", 10)
            assert await asterisk.bridged_together(caller.call_id, agent_leg)
            assert agent_call.ended_at is None

            # End the call from the console: down for good, no survey.
            await browser.click(f"{ROW} .end-call")
            await caller.gone(timeout=10)
            await agent_phone.ended(agent_call, timeout=10)
            assert "survey_question" not in caller.heard_keys()
            await caller.recording_done()
            # Ready again after wrap-up; the supervisor takes the agent off the phones.
            await browser.until(f'Boolean(document.querySelector("{ROW} .force-not-ready"))')
            await browser.click(f"{ROW} .force-not-ready")
            off = f"{ROW}[data-state='not_ready']"
            await browser.until(f'Boolean(document.querySelector("{off}"))')
            assert await browser.text(f"{ROW} td:nth-child(3)") == "其他"

            # The day's report: the answered tour call in the traffic chart.
            await browser.click("#tabs button[data-tab='reports']")
            answered = (
                "(() => { const c = Chart.getChart('chart-traffic'); if (!c) return null;"
                " const i = c.data.labels.indexOf('跟团游');"
                " return i < 0 ? null : c.data.datasets[1].data[i]; })()"
            )
            for _ in range(20):  # the fact is stored a moment after the call ends
                if await browser.evaluate(answered) == 1:
                    break
                await browser.click("#report-show")
                await asyncio.sleep(0.5)
            assert await browser.evaluate(answered) == 1
            await browser.screenshot(artifacts_root() / "console-reports-zh.png")

            # The recording: listed with its caller, and it plays in the page.
            await browser.click("#tabs button[data-tab='recordings']")
            row = f"#rec-rows tr[data-call='{caller.call_id}']"
            await browser.until(f'Boolean(document.querySelector("{row}"))', 10)
            assert await browser.text(f"{row} td:nth-child(4)") == "13800138000"
            await browser.click(f"{row} .play")
            duration = await browser.until(
                "(() => { const p = document.getElementById('player');"
                " return p.readyState >= 1 && p.duration; })()",
                10,
                "the recording loaded in the player",
            )
            assert duration > 3, duration
            await browser.screenshot(artifacts_root() / "console-recordings-zh.png")
        except BaseException:
            await browser.screenshot(artifacts_root() / "console-failed.png")
            print(await browser.evaluate(STATE.replace("acd.agent", "acd.snap && acd.snap.at")))
            print("\n".join(browser.console))
            raise

    # Each is in the audit log, the playing included.
    assert await supervisor_actions(c) == [
        (SUPERVISOR, "listen", "1001"),
        (SUPERVISOR, "barge", "1001"),
        (SUPERVISOR, "force_hangup", caller.call_id),
        (SUPERVISOR, "force_not_ready", "1001"),
        (SUPERVISOR, "recording_played", caller.call_id),
    ]


async def test_a_team_lead_works_a_low_rating_ticket_and_an_admin_adds_an_agent_in_the_console(
    asterisk: Asterisk, centre, callers: Callers, phones
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    await c.agent_logged_in("1001")
    phone = await phones("1001", answer_after=0.5)
    caller, call, _ = await callers.put_through(phone, number="13900000077")
    await phone.hang_up(call)
    await caller.hears("survey_question")
    await caller.press("2", after=1.0)  # a low rating: a follow-up ticket
    await caller.hears("survey_thanks")
    await caller.gone()
    async with Browser() as browser:
        try:
            await log_in(browser, c.base, SUPERVISOR, "/console")
            await browser.until("!document.getElementById('tabs').hidden", what="the console")
            admin_tab = "#tabs button[data-tab='admin']"
            assert await browser.evaluate(f'document.querySelector("{admin_tab}").hidden')
            await browser.click("#tabs button[data-tab='tickets']")
            row = f"#ticket-rows tr[data-call='{caller.call_id}']"
            await browser.until(f'Boolean(document.querySelector("{row}"))', 15, "the ticket")
            assert await browser.text(f"{row} td:nth-child(4)") == "Low rating 2"
            assert await browser.text(f"{row} td:nth-child(7)") == "13900000077"
            await browser.click(f"{row} .take")
            taken = f'document.querySelector("{row} td:nth-child(8)").textContent'
            await browser.until(f"{taken} === 'Taken by {SUPERVISOR}'", 10, "the ticket taken")
            await browser.evaluate(
                "(() => { const s = document.getElementById('lang'); s.value = 'zh';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            assert await browser.text(f"{row} td:nth-child(4)") == "低分评价 2"
            await browser.screenshot(artifacts_root() / "console-tickets-zh.png")
            await browser.fill(f"{row} .outcome", "回电致歉 已退款 (refund agreed)")
            await browser.click(f"{row} .close")
            # Closed: gone from the open tickets, shown closed among them all.
            await browser.until(f'!document.querySelector("{row}")', 10, "the ticket closed")
            await browser.evaluate(
                "(() => { const s = document.getElementById('ticket-status'); s.value = 'all';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            await browser.until(f'Boolean(document.querySelector("{row}"))', 10)
            assert "已关闭" in (await browser.text(f"{row} td:nth-child(8)") or "")
            await browser.click("#logout")
            await browser.until("window.acd.token === null", 10, "logged out")

            # The admin adds an agent, with their own phone secret shown once, and skills.
            await log_in(browser, c.base, ADMIN, "/console")
            await browser.until("window.acd.me && window.acd.me.role === 'admin'", 10)
            await browser.click(admin_tab)
            await browser.until(
                "Boolean(document.querySelector(\"#user-rows tr[data-user='1001']\"))"
            )
            await browser.fill("#user-job", "1005")
            await browser.fill("#user-name", "赵敏")
            await browser.fill("#user-password", "a-long-password-5")
            await browser.click("#user-save")
            shown = "document.getElementById('secret-shown').textContent"
            await browser.until(f"{shown}.includes('PJSIP/1005')", 10, "the phone secret")
            new_row = "#user-rows tr[data-user='1005']"
            await browser.until(f'Boolean(document.querySelector("{new_row}"))', 10)
            await browser.click(f"{new_row} .skills")
            await browser.fill("#skills-lines input[data-line='tour']", "7")
            await browser.fill("#hot-desks", "PJSIP/desk-9")
            await browser.click("#skills-save")
            skills = f'document.querySelector("{new_row} td:nth-child(5)").textContent'
            await browser.until(f"{skills} === '跟团游 7'", 10, "the skills saved")
            await browser.screenshot(artifacts_root() / "console-admin-zh.png")
            # The secret is not left on the screen once the admin moves on.
            await browser.click("#tabs button[data-tab='live']")
            assert await browser.evaluate(f"{shown} === ''")
        except BaseException:
            await browser.screenshot(artifacts_root() / "console-failed.png")
            print("\n".join(browser.console))
            raise

    lead = await c.login(SUPERVISOR)
    (ticket,) = [
        t for t in await lead.get("/follow-ups?status=all") if t["call_id"] == caller.call_id
    ]
    assert ticket["taken_by"] == SUPERVISOR and ticket["outcome"].startswith("回电致歉")
    assert ticket["met_in_time"] is True
    admin = await c.login(ADMIN)
    users = {u["job_number"]: u for u in await admin.get("/admin/users")}
    assert users["1005"]["name"] == "赵敏" and users["1005"]["skills"] == {"tour": 7}
    assert users["1005"]["hot_desks"] == ["PJSIP/desk-9"] and users["1005"]["phone_secret_set"]
    # The new agent logs in with the password the admin set.
    assert (await c.login("1005", "a-long-password-5")).token

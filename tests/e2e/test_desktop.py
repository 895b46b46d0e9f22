"""The agent desktop in headless Chromium: its phone in the page takes a hotline call.

The browser's own WebRTC phone (SIP.js over Asterisk's WebSocket, DTLS-SRTP)
registers with the agent's own browser-phone secret. Its fake microphone plays
a 1000 Hz tone and the caller says a 600 Hz one: the caller's recording must
hold the agent's tone, and the page must hear the caller's.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.e2e.asterisk import Asterisk
from tests.e2e.audio import tone_seconds_wav, write_tone_wav
from tests.e2e.browser import Browser
from tests.e2e.callers import Callers
from tests.e2e.centre import password, zone_at_midday
from tests.e2e.conftest import artifacts_root
from tests.e2e.test_after_call import report_line

NOTES = "客户询问邮轮行程 (cruise itinerary)"
AGENT_TONE = 1000.0  # the agent's fake microphone
CALLER_TONE = 600.0  # what the caller says

# The shares of the page's received audio at some frequencies, from its analyser (FFT).
HEARS = """(async (frequencies) => {
  const ctx = new AudioContext();
  const source = ctx.createMediaStreamSource(window.acd.remoteStream);
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 4096;
  source.connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  const power = new Array(bins.length).fill(0);
  for (let i = 0; i < 20; i++) {  // 2 s of snapshots, summed
    await new Promise((done) => setTimeout(done, 100));
    analyser.getFloatFrequencyData(bins);
    bins.forEach((db, k) => { power[k] += Math.pow(10, db / 10); });
  }
  const total = power.reduce((a, b) => a + b, 0);
  const at = (hz) => Math.round(hz / (ctx.sampleRate / analyser.fftSize));
  const near = (hz) => power.slice(at(hz) - 3, at(hz) + 4).reduce((a, b) => a + b, 0);
  await ctx.close();
  return { total, shares: frequencies.map((hz) => near(hz) / total) };
})(%FREQUENCIES%)"""


async def page_hears(browser: Browser, *frequencies: float) -> list[float]:
    """What share of the audio the page's phone receives (2 s) is at each frequency."""
    heard = await browser.evaluate(HEARS.replace("%FREQUENCIES%", json.dumps(frequencies)))
    assert heard["total"] > 0, "the page's phone receives silence"
    return list(heard["shares"])


STATE = """JSON.stringify({phone: acd.phone, agent: acd.agent, rang: Boolean(acd.invitation),
  answered: Boolean(acd.session), invitation: acd.invitation && acd.invitation.state,
  streams: Boolean(acd.remoteStream), message: document.getElementById('message').textContent})"""


async def web_contacts(asterisk: Asterisk, job: str) -> set[str]:
    """The contacts Asterisk holds for the user's desktop phone (web<job>)."""
    lines = await asterisk.ami.command("pjsip show contacts")
    return {line.split()[1] for line in lines if f"web{job}/" in line and "Contact:" in line}


async def log_in(browser: Browser, base: str, job: str, page: str = "/") -> None:
    await browser.goto(f"{base}{page}")
    await browser.until("!document.getElementById('login').hidden", what="the login form")
    await browser.fill("#job", job)
    await browser.fill("#password", password(job))
    await browser.click("#login-button")


async def ready_at_the_page(browser: Browser, base: str, job: str) -> None:
    """Logged in at the page, its phone registered; not ready at first, then ready."""
    await log_in(browser, base, job)
    await browser.until("window.acd.phone === 'registered'", 20, "the phone registered")
    await browser.until("document.getElementById('state').dataset.state === 'not_ready'")
    await browser.click("#ready")


async def test_an_agent_takes_a_hotline_call_on_the_phone_in_the_page_with_audio_both_ways(
    asterisk: Asterisk, centre, callers: Callers, tmp_path: Path
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    lead = await c.login("1901")
    pbx = asterisk.pbx
    write_tone_wav(pbx.host_path("sounds/test-voice-600.wav"), 1.0, CALLER_TONE)
    mic = write_tone_wav(tmp_path / "mic-1000.wav", 10.0, AGENT_TONE)
    async with Browser(fake_audio=mic) as browser:
        try:
            await log_in(browser, c.base, "1001")
            # A headset that cleans the sound itself (the browser's noise suppression
            # would take a steady test tone for noise).
            await browser.click("#raw-audio")
            # The page's phone registers with the agent's own browser-phone secret...
            await browser.until("window.acd.phone === 'registered'", 20, "the phone registered")
            contacts = await asterisk.ami.command("pjsip show contacts")
            assert any("web1001/" in line for line in contacts), contacts
            # ...and the agent works at it today, not ready until they say so.
            await lead.wait_agent(lambda a: a["state"] == "not_ready", "1001")
            await browser.until("document.getElementById('state').dataset.state === 'not_ready'")
            await browser.click("#ready")
            await lead.wait_agent(lambda a: a["state"] == "ready", "1001")

            caller = await callers.tour_caller(
                record=True, voice=pbx.chroot_path("sounds/test-voice-600")
            )
            # It rings in the page with the screen pop.
            await browser.until("window.acd.invitation !== null", 20, "the page rang")
            await browser.until("!document.getElementById('call').hidden")
            await browser.until(
                "document.getElementById('pop-caller').textContent.includes('13800138000')",
                what="the screen pop's caller",
            )
            assert await browser.text("#pop-line") == "Tour"
            assert await browser.text("#call-title") == "Incoming call"
            await browser.screenshot(artifacts_root() / "desktop-ringing-en.png")

            await browser.click("#answer")
            await caller.hears("agent_greeting_before")
            leg = await asterisk.bridged_with(caller.call_id, "web1001")
            await browser.until("Boolean(window.acd.session && window.acd.remoteStream)")
            await lead.wait_agent(lambda a: a["state"] == "talking", "1001")
            assert await browser.evaluate("document.getElementById('logout').disabled")
            # The tour line records every call: the page says so and offers a pause.
            await browser.until("document.getElementById('rec-state').textContent === 'Recording'")
            assert not await browser.evaluate("document.getElementById('rec-pause').disabled")
            # The page hears the caller: their tone dominates what it receives.
            (caller_share,) = await page_hears(browser, CALLER_TONE)
            assert caller_share > 0.5, caller_share
            await browser.screenshot(artifacts_root() / "desktop-talking-en.png")
            await browser.evaluate(  # the agent switches the page to Chinese
                "(() => { const s = document.getElementById('lang'); s.value = 'zh';"
                " s.dispatchEvent(new Event('change')); })()"
            )
            assert await browser.text("#call-title") == "通话中"
            assert await browser.text("#pop-line") == "跟团游"
            await browser.screenshot(artifacts_root() / "desktop-talking-zh.png")

            # The agent hangs up in the page: the caller is asked for a rating.
            talked_from = asterisk.ami.find(lambda e: e.name == "BridgeEnter")[-1].at
            await browser.click("#hangup")
            await caller.hears("survey_question")
            assert leg not in await asterisk.channels()
            # The registration form opens when the call ends; the agent fills it in.
            await browser.until("!document.getElementById('registration').hidden", 10)
            # A service request: the form proposes a follow-up ticket.
            await browser.evaluate(
                "(() => { const s = document.getElementById('reg-category');"
                " s.value = 'service_request'; s.dispatchEvent(new Event('change')); })()"
            )
            assert await browser.evaluate("document.getElementById('reg-follow-up').checked")
            await browser.fill("#reg-notes", NOTES)
            await browser.click("#reg-save")
            await browser.until("document.getElementById('registration').hidden", 10)
            await caller.press("5", after=1.0)
            await caller.hears("survey_thanks")
            await caller.gone()
            # The rating shows in the agent's own figures for today.
            await browser.until("document.getElementById('my-rating').textContent === '5.0'", 15)
            assert await browser.text("#my-calls") == "1"
            await browser.screenshot(artifacts_root() / "desktop-after-call-zh.png")
        except BaseException:
            await browser.screenshot(artifacts_root() / "desktop-failed.png")
            print(await browser.evaluate(STATE))
            print("\n".join(browser.console))
            raise

    # The caller's recording holds the agent's voice (the fake microphone's tone).
    assert caller.recording is not None
    start = talked_from - caller.recording_started_at
    agent_voice = tone_seconds_wav(caller.recording, start, start + 30, AGENT_TONE, 0.15)
    assert agent_voice >= 1.0, agent_voice
    _, tour = await report_line(lead, "tour", lambda r: r["surveys"] == 1)
    assert (tour["answered"], tour["survey_distribution"]["5"]) == (1, 1)
    registration = await lead.get(f"/calls/{caller.call_id}/registration")
    assert (registration["category"], registration["notes"]) == ("service_request", NOTES)
    assert registration["agent"] == "1001", registration
    tickets = await lead.get("/follow-ups")
    assert [t["call_id"] for t in tickets] == [caller.call_id], tickets


async def test_the_desktop_comes_back_after_an_engine_restart_and_a_lost_session_mid_call(
    asterisk: Asterisk, centre, callers: Callers, phones, tmp_path: Path
):
    c = await centre(ivr={"timezone": zone_at_midday()})
    lead = await c.login("1901")
    cruise = await phones("1002", answer_after=0.5)
    await c.agent_logged_in("1002")
    mic = write_tone_wav(tmp_path / "mic-1000.wav", 10.0, AGENT_TONE)
    async with Browser(fake_audio=mic) as browser:
        try:
            await ready_at_the_page(browser, c.base, "1001")
            await lead.wait_agent(lambda a: a["state"] == "ready", "1001")

            # The engine is killed mid-shift: the page says so, then is back in sync by itself.
            epoch = await browser.evaluate("window.acd.epoch")
            await c.kill()
            await browser.until("window.acd.link === 'reconnecting'", 10, "the page noticed")
            assert await browser.text("#link") == "Reconnecting..."
            await c.start()
            lead = await c.login("1901")  # the test's own API sessions ended with the engine
            await browser.until("window.acd.link === 'ok'", 30, "the page reconnected")
            # In sync with the new engine: its snapshot (a new epoch) and the state it restored
            # (a kill -9 just after "ready" may come back not ready: that change was not
            # stored yet; the page must show what the engine has, whichever it is).
            await browser.until(f"window.acd.epoch !== {json.dumps(epoch)}", 10, "a new snapshot")
            view = await lead.wait_agent(lambda a: a["state"] != "logged_out", "1001")
            shown = f"document.getElementById('state').dataset.state === '{view['state']}'"
            await browser.until(shown, 10, f"the page shows {view['state']}")
            if view["state"] != "ready":
                await browser.click("#ready")
                await lead.wait_agent(lambda a: a["state"] == "ready", "1001")
            assert await browser.evaluate("window.acd.token !== null")  # no new login

            # And works as before: a call rings in the page and is answered there.
            caller = await callers.tour_caller()
            await browser.until("window.acd.invitation !== null", 20, "the page rang")
            await browser.click("#answer")
            await caller.hears("agent_greeting_before")
            leg = await asterisk.bridged_with(caller.call_id, "web1001")
            await lead.wait_agent(lambda a: a["state"] == "talking", "1001")
            # No logging out in the middle of a call.
            assert await browser.evaluate("document.getElementById('logout').disabled")

            # The agent's session ends mid-call (logged out elsewhere): at the next click the
            # page asks them to log in again, and the call goes on in the page's phone.
            token = await browser.evaluate("window.acd.token")
            ended = {"Authorization": f"Bearer {token}"}
            registered = await web_contacts(asterisk, "1001")
            await lead.request("POST", "/auth/logout", headers=ended)
            await browser.click("#hold")
            await browser.until("!document.getElementById('login').hidden", 10, "asked to log in")
            assert "call goes on" in (await browser.text("#login-error") or "")
            assert await browser.evaluate("Boolean(window.acd.session)")
            assert await asterisk.bridged_together(caller.call_id, leg)
            await browser.fill("#job", "1001")  # no reload: that would end the page's phone
            await browser.fill("#password", password("1001"))
            await browser.click("#login-button")
            await browser.until(
                "window.acd.agent && window.acd.agent.state === 'talking'", 10, "on the call"
            )
            assert await browser.text("#state") == "Talking"
            assert await asterisk.bridged_together(caller.call_id, leg)

            # The agent sends the caller on to the cruise line: its agent's phone rings.
            await browser.evaluate("document.getElementById('transfer-line').value = 'cruise'")
            await browser.click("#transfer-to-line")
            second = await cruise.ringing(timeout=15)
            await cruise.answered(second)
            await asterisk.wait_bridged(
                caller.call_id, await asterisk.agent_leg("1002"), timeout=15
            )
            await browser.until("window.acd.invitation === null", 10, "the page's leg ended")
            # Its secret ended with the old session: the page's phone registers anew, with
            # this session's (a registration that failed would leave no contact).
            for _ in range(50):
                now = await web_contacts(asterisk, "1001")
                if now and now != registered:
                    break
                await asyncio.sleep(0.2)
            assert now and now != registered, (registered, now)
            # Off the call (wrap-up is 2 s here): the page opens the registration form.
            await lead.wait_agent(lambda a: a["state"] in ("after_call", "ready"), "1001")
            await browser.until("!document.getElementById('registration').hidden", 10)
            await caller.hang_up()
        except BaseException:
            await browser.screenshot(artifacts_root() / "desktop-failed.png")
            print(await browser.evaluate(STATE))
            print("\n".join(browser.console))
            raise

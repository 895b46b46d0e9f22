"""The wallboard in headless Chromium, as a team lead watches it update live."""

from __future__ import annotations

import asyncio
import re
import time

from tests.e2e.browser import Browser
from tests.e2e.callers import Callers
from tests.e2e.centre import SUPERVISOR, zone_at_midday
from tests.e2e.phones import Phone


async def shows(browser: Browser, selector: str, expected: str, timeout: float = 10) -> None:
    """Wait until the element's text on the page is ``expected``."""
    deadline = time.monotonic() + timeout
    while (text := await browser.text(selector)) != expected:
        if time.monotonic() > deadline:
            raise AssertionError(f"{selector} shows {text!r}, not {expected!r}, after {timeout} s")
        await asyncio.sleep(0.2)


async def agent_row(browser: Browser, job: str) -> tuple[str, ...]:
    """What the board shows for an agent: (state, reason, time in state); "" for empty."""
    row = f'[data-agent="{job}"]'
    cells = (f"{row} .state", f"{row} td:nth-child(4)", f"{row} td:nth-child(5)")
    return tuple([await browser.text(cell) or "" for cell in cells])


async def longest_wait_shown(browser: Browser, line: str) -> int:
    """The seconds of the "waiting · longest 7s" line under a line's waiting count."""
    text = await browser.text(f'[data-line="{line}"] .small') or ""
    found = re.search(r"longest (?:(\d+)m )?(\d+)s", text)
    assert found, text
    return int(found[1] or 0) * 60 + int(found[2])


async def answered_call(callers: Callers, phone: Phone) -> None:
    """A tour caller is answered, and leaves when the survey's question starts."""
    caller, _ = await callers.tour_call(phone)
    await caller.hears("survey_question", timeout=30)
    await caller.hang_up()


async def test_the_wallboard_shows_agents_waiting_callers_and_todays_figures_live(
    centre, callers, phones, artifacts
):
    c = await centre(ivr={"timezone": zone_at_midday()})  # "today" cannot straddle midnight
    lead = await c.login(SUPERVISOR)
    agent = await c.login("1001")
    phone = await phones("1001", answer_after=0.5, talk_for=2)
    async with Browser() as browser:
        try:
            await browser.goto(f"{c.base}/wallboard#token={lead.token}")
            await shows(browser, "#status", "live", timeout=20)
            for job in ("1001", "1002"):
                assert await agent_row(browser, job) == ("logged out", "", "\u2013")
            assert [await browser.text(s) for s in ("#answered", "#abandoned", "#sl")] == [
                "0",
                "0",
                "\u2013",
            ]

            # Agent states set through the API appear as they change.
            await agent.post("/agents/1001/login")
            await agent.post("/agents/1001/ready")
            await shows(browser, '[data-agent="1001"] .state', "ready")
            assert re.fullmatch(r"\d+s", (await agent_row(browser, "1001"))[2])  # time in state
            await answered_call(callers, phone)
            await shows(browser, "#answered", "1")
            await agent.wait_agent(lambda v: v["state"] == "ready")
            await agent.post("/agents/1001/not-ready", {"reason": "lunch"})
            await shows(browser, '[data-agent="1001"] .state', "not ready")
            assert (await agent_row(browser, "1001"))[1] == "lunch"

            # A waiting caller appears on their line, their wait counting up; peak level 0.
            waiting = await callers.dial()
            await waiting.hears("main_menu")
            await waiting.press("2")
            await waiting.on_hold()
            await shows(browser, '[data-line="tour"] .waiting', "1")
            assert await browser.text('[data-line="cruise"] .waiting') == "0"
            assert await browser.text("#peak") == "0"
            first = await longest_wait_shown(browser, "tour")
            await asyncio.sleep(2.5)  # the board counts the wait up by itself
            assert await longest_wait_shown(browser, "tour") >= first + 2

            # The caller gives up (after more than a short abandon): counted as abandoned.
            await lead.snapshot_until(
                lambda s: s["lines"]["tour"]["longest_wait"] >= 6.5, timeout=15
            )
            await waiting.hang_up()
            await shows(browser, '[data-line="tour"] .waiting', "0")
            await shows(browser, "#abandoned", "1")
            await shows(browser, "#sl", "50%")  # 1 answered in time / (1 answered + 1 abandoned)
            today = (await lead.get("/supervisor/snapshot"))["today"]
            board = [await browser.text(s) for s in ("#answered", "#abandoned", "#sl")]
            assert board == [
                str(today["answered"]),
                str(today["abandoned"]),
                f"{today['service_level']:g}%",
            ]
            assert (await agent_row(browser, "1002"))[0::2] == ("logged out", "\u2013")
        except BaseException:
            await browser.screenshot(artifacts() / "wallboard.png")  # what the lead saw
            raise


async def test_without_a_token_the_wallboard_asks_a_supervisor_to_log_in_then_goes_live(
    centre,
):
    c = await centre()
    async with Browser() as browser:
        await browser.goto(f"{c.base}/wallboard")
        await shows(browser, "#status", "please log in (supervisor)", timeout=20)
        assert await browser.text('[data-agent="1001"] .state') is None  # nothing shown yet
        await browser.call(
            "Runtime.evaluate",
            expression=(
                "document.getElementById('job').value = '1901';"
                "document.getElementById('password').value = 'secret-1901';"
                "document.querySelector('#login button').click();"
            ),
        )
        await shows(browser, "#status", "live")
        await shows(browser, '[data-agent="1001"] .state', "logged out")

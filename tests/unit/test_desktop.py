"""The agent desktop's files as acd serves them: no other server, a strict policy, two languages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from tests.apiapp import api_app

STATIC = Path(__file__).parents[2] / "acd" / "http" / "static"


async def test_the_desktop_its_script_and_its_phone_library_are_served_under_a_strict_policy(
    tmp_path,
):
    phones = {"directory": str(tmp_path / "p.db"), "websocket": "ws://127.0.0.1:8088/ws"}
    async with api_app(tmp_path, phones=phones) as (app, _, _):
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/")
            assert page.status == 200 and "desktop.js" in await page.text()
            policy = page.headers["Content-Security-Policy"]
            assert "script-src 'self';" in policy and "unsafe" not in policy
            assert "connect-src 'self' ws://127.0.0.1:8088;" in policy
            assert "frame-ancestors 'none'" in policy
            script = await client.get("/desktop/desktop.js")
            assert script.status == 200 and script.content_type == "text/javascript"
            assert "/desktop/page.js" in await script.text()
            shared = await client.get("/desktop/page.js")  # what the desktop and console share
            assert shared.status == 200 and "/desktop/phone.js" in await shared.text()
            phone = await client.get("/desktop/phone.js")
            assert "/desktop/sip.js/index.js" in await phone.text()
            # SIP.js as npm installed it: an ES module the browser loads as it is.
            sip = await client.get("/desktop/sip.js/index.js")
            assert sip.status == 200 and "javascript" in sip.content_type
            assert "export" in await sip.text()
            assert (await client.get("/desktop/wallboard.html")).status == 404
            assert (await client.get("/desktop/sip.js/../../package.json")).status in (403, 404)


@pytest.mark.parametrize("page_name", ["desktop", "console"])
def test_every_text_on_the_pages_is_in_english_and_chinese_and_set_as_text(page_name):
    page = (STATIC / f"{page_name}.html").read_text()
    tables: dict[str, set[str]] = {"en": set(), "zh": set()}
    # The page's own words, and those both pages say (page.js).
    for script in ((STATIC / f"{page_name}.js").read_text(), (STATIC / "page.js").read_text()):
        for lang in ("en", "zh"):
            block = re.search(rf"^  {lang}: \{{(.*?)^  \}},", script, re.S | re.M)
            assert block, lang
            tables[lang] |= set(re.findall(r"(\w+): \"", block[1]))
    assert tables["en"] == tables["zh"] and len(tables["en"]) > 40
    # The console's tabs in modules of their own use its strings.
    tabs = ["tickets.js", "admin.js"] if page_name == "console" else []
    modules = [f"{page_name}.js", "page.js", *tabs]
    used = set(re.findall(r'data-t(?:-placeholder)?="(\w+)"', page))
    for name in modules:
        used |= set(re.findall(r'(?<![\w.])t\("(\w+)"[,)]', (STATIC / name).read_text()))
    assert used <= tables["en"], used - tables["en"]
    # Values from the API or a caller are never parsed as HTML.
    for name in (*modules, "phone.js"):
        source = (STATIC / name).read_text()
        assert "innerHTML" not in source and "insertAdjacentHTML" not in source, name


async def test_the_console_and_its_chart_library_are_served_under_the_same_policy(tmp_path):
    async with api_app(tmp_path) as (app, _, _):
        async with TestClient(TestServer(app)) as client:
            page = await client.get("/console")
            assert page.status == 200 and "console.js" in await page.text()
            assert "script-src 'self';" in page.headers["Content-Security-Policy"]
            charts = await client.get("/desktop/chart.js/chart.umd.min.js")
            assert charts.status == 200 and "javascript" in charts.content_type

"""Headless Chromium (Debian's package) driven over the DevTools protocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import aiohttp

from tests.e2e.pbx import free_tcp_port as free_port


class Browser:
    """``fake_audio``: a WAV file the page's microphone plays (getUserMedia needs no prompt)."""

    def __init__(self, *, fake_audio: Path | None = None, language: str = "en-US") -> None:
        self._fake_audio = fake_audio
        self._language = language
        self.console: list[str] = []  # what the page logged and threw, for a failing test
        self._proc: asyncio.subprocess.Process | None = None
        self._profile = tempfile.mkdtemp(prefix="acd-chromium-")
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._ids = itertools.count(1)

    async def __aenter__(self) -> Browser:
        try:
            return await self._open()
        except BaseException:
            await self.__aexit__()  # no Chromium or profile folder left behind
            raise

    async def _open(self) -> Browser:
        binary = shutil.which("chromium")
        if binary is None:
            raise RuntimeError("chromium is not installed (make bootstrap installs it)")
        port = free_port()
        media = []
        if self._fake_audio is not None:
            media = [
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={self._fake_audio}",
                "--autoplay-policy=no-user-gesture-required",
                # Plain host candidates (Asterisk cannot resolve mDNS ".local" ones).
                "--disable-features=WebRtcHideLocalIpsWithMdns",
            ]
        self._proc = await asyncio.create_subprocess_exec(
            binary,
            *media,
            f"--lang={self._language}",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={self._profile}",
            f"--remote-debugging-port={port}",
            "--window-size=1280,900",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self._http = aiohttp.ClientSession()
        pages: list[dict[str, Any]] = []
        for _ in range(100):
            with contextlib.suppress(aiohttp.ClientError):
                async with self._http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    pages = [p for p in await resp.json() if p.get("type") == "page"]
                if pages:
                    break
            await asyncio.sleep(0.1)
        if not pages:
            raise RuntimeError("chromium did not open a page")
        self._ws = await self._http.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0)
        await self.call("Runtime.enable")
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._http is not None:
            await self._http.close()
        if self._proc is not None and self._proc.returncode is None:
            self._proc.terminate()
            try:
                await asyncio.wait_for(self._proc.wait(), 10)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        assert self._ws is not None
        ident = next(self._ids)
        await self._ws.send_str(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads((await asyncio.wait_for(self._ws.receive(), 30)).data)
            self._note(message)
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def _note(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        params = message.get("params", {})
        if method == "Runtime.consoleAPICalled":
            args = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            self.console.append(f"{params.get('type')}: {args}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            thrown = details.get("exception", {}).get("description") or details.get("text")
            self.console.append(f"exception: {thrown}")

    async def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result.get("result", {}).get("value")

    async def click(self, selector: str) -> None:
        """Click an element as a user would (it must be there and enabled)."""
        found = await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e || e.disabled || e.closest('[hidden]')) return false;"
            " e.click(); return true; })()"
        )
        if not found:
            raise AssertionError(f"{selector} is not there to click (missing, hidden or disabled)")

    async def fill(self, selector: str, value: str) -> None:
        await self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" e.value = {json.dumps(value)}; e.dispatchEvent(new Event('input')); }})()"
        )

    async def until(self, expression: str, timeout: float = 15, what: str = "") -> Any:
        """Wait until a JavaScript expression is truthy in the page; its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            with contextlib.suppress(RuntimeError):
                value = await self.evaluate(expression)
                if value:
                    return value
            if asyncio.get_running_loop().time() > deadline:
                tail = "\n".join(self.console[-20:])
                raise AssertionError(f"{what or expression}: not within {timeout} s\n{tail}")
            await asyncio.sleep(0.2)

    async def goto(self, url: str) -> None:
        await self.call("Page.navigate", url=url)

    async def text(self, selector: str) -> str | None:
        expression = f"(document.querySelector({json.dumps(selector)}) || {{}}).textContent || null"
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def screenshot(self, path: Path) -> Path:
        shot = await self.call("Page.captureScreenshot", format="png")
        data = base64.b64decode(shot["data"])
        await asyncio.to_thread(_write, path, data)
        return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

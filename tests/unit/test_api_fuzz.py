"""Fuzz the API from its own OpenAPI document (schemathesis): no 500s, no hangs."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from aiohttp import ClientSession, web

from tests.apiapp import api_app

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_no_input_makes_the_api_fail_or_hang(tmp_path):
    async with api_app(tmp_path) as (app, _, _):
        runner = web.AppRunner(app)
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        try:
            async with ClientSession() as http:
                resp = await http.post(
                    f"{base}/api/v1/auth/login",
                    json={"job_number": "1901", "password": "secret-1901"},
                )
                token = (await resp.json())["token"]
            proc = await asyncio.create_subprocess_exec(
                SCHEMATHESIS,
                "run",
                f"{base}/api/v1/openapi.json",
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "not_a_server_error",
                "--max-examples",
                "25",
                "--request-timeout",
                "5",
                "--workers",
                "1",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(proc.communicate(), 300)
            text = output.decode(errors="replace")
            assert proc.returncode == 0, text[-4000:]
            assert "Server error" not in text, text[-4000:]
            assert " passed" in text
        finally:
            await runner.cleanup()

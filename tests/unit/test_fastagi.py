"""The FastAGI server with a FastAGI client on a loopback port (as Asterisk talks to it)."""

from __future__ import annotations

import asyncio
import time

import pytest

from acd.agi.ivr_route import IvrRoute
from acd.agi.server import AgiHangup, AgiRequest, AgiTimeout, FastAgiServer
from acd.prompts import PromptLibrary
from acd.settings import FastAgiSettings
from ivr.tree import load_tree
from tests.apiapp import api_app
from tests.e2e.centre import tree_with

HEADERS = (
    "agi_network: yes\nagi_network_script: {route}\nagi_request: agi://127.0.0.1/{route}\n"
    "agi_channel: Local/s@hotline-00000001;2\nagi_uniqueid: 1795433747.1\n"
    "agi_callerid: 13800138000\nagi_calleridname: 张伟\n\n"
)


CLIENTS: list[asyncio.StreamWriter] = []


@pytest.fixture
async def server():
    srv = FastAgiServer(FastAgiSettings(port=1, command_timeout=0.5, header_timeout=0.5))
    srv._settings = srv._settings.model_copy(update={"port": 0})
    yield srv
    await srv.stop(grace=0.5)
    for writer in CLIENTS:
        writer.close()
        await writer.wait_closed()
    CLIENTS.clear()


async def connect(srv: FastAgiServer):
    reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
    CLIENTS.append(writer)
    return reader, writer


async def open_session(srv: FastAgiServer, route: str):
    reader, writer = await connect(srv)
    writer.write(HEADERS.format(route=route).encode())
    await writer.drain()
    return reader, writer


async def test_route_gets_headers_and_command_results(server):
    seen: dict[str, object] = {}

    async def ivr(request: AgiRequest) -> None:
        seen["caller"] = request.caller_number
        seen["name"] = request.headers["agi_calleridname"]
        seen["result"] = await request.send_command('STREAM FILE welcome "123"')

    server.add_route("ivr", ivr)
    await server.start()
    reader, writer = await open_session(server, "ivr")
    assert await reader.readline() == b'STREAM FILE welcome "123"\n'
    writer.write(b"200 result=50 endpos=8000\n")
    await writer.drain()
    assert await reader.read() == b""  # handler done: the server closes the session
    assert seen["caller"] == "13800138000"
    assert seen["name"] == "张伟"
    assert seen["result"]["result"] == ("50", "")


async def test_caller_hanging_up_mid_command_ends_the_handler_cleanly(server):
    outcome: list[str] = []

    async def ivr(request: AgiRequest) -> None:
        try:
            await request.send_command("WAIT FOR DIGIT 5000")
        except AgiHangup:
            outcome.append("hangup")
            raise

    server.add_route("ivr", ivr)
    await server.start()
    reader, writer = await open_session(server, "ivr")
    await reader.readline()
    writer.write(b"HANGUP\n200 result=-1\n")
    await writer.drain()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    assert outcome == ["hangup"]
    assert server.active_sessions == 0


async def test_command_without_answer_times_out(server):
    outcome: list[BaseException] = []

    async def ivr(request: AgiRequest) -> None:
        try:
            await request.send_command("ANSWER")
        except AgiTimeout as exc:
            outcome.append(exc)

    server.add_route("ivr", ivr)
    await server.start()
    reader, _ = await open_session(server, "ivr")
    assert await asyncio.wait_for(reader.read(), 3) == b"ANSWER\n"
    assert "within 0.5 s" in str(outcome[0])


async def test_eof_before_headers_end_does_not_spin(server):
    await server.start()
    reader, writer = await connect(server)
    writer.write(b"agi_network: yes\n")
    writer.write_eof()
    assert await asyncio.wait_for(reader.read(), 2) == b""
    await asyncio.sleep(0.05)
    assert server.active_sessions == 0


async def test_silent_client_is_dropped_after_the_header_timeout(server):
    await server.start()
    reader, _ = await connect(server)
    assert await asyncio.wait_for(reader.read(), 2) == b""


async def test_unknown_route_is_closed(server):
    await server.start()
    reader, _ = await open_session(server, "nope")
    assert await asyncio.wait_for(reader.read(), 2) == b""


async def test_sync_handlers_are_refused(server):
    def sync_handler(request):  # panoramisk would wrap it with asyncio.coroutine
        return None

    with pytest.raises(TypeError, match="needs an async handler"):
        server.add_route("ivr", sync_handler)


async def test_a_caller_who_hangs_up_as_the_ivr_queues_them_counts_as_abandoned(server, tmp_path):
    # The caller presses 2 (tour) and is gone the moment "please hold" plays: the IVR
    # has queued them (offered), so the call must count, as abandoned, not vanish.
    async with api_app(tmp_path) as (_, services, _):
        services.centre.log_in("1001")  # someone takes tour calls: the human is offered
        tree = load_tree(tree_with(tmp_path / "open.toml"))  # open round the clock
        route = IvrRoute(tree, PromptLibrary(tmp_path / "p"), services.centre, "en", time.time)
        server.add_route("ivr", route.__call__)
        await server.start()
        reader, writer = await open_session(server, "ivr")
        while True:
            command = (await reader.readline()).decode()
            if "main_menu" in command:
                answer = b"200 result=50 endpos=800\n"  # "2" pressed during the menu
            elif command.startswith("SET VARIABLE ACD_LINE"):
                answer = b"HANGUP\n511 result=-1 Command Not Permitted on a dead channel\n"
            else:
                answer = b"200 result=0 endpos=800\n"
            writer.write(answer)
            await writer.drain()
            if answer.startswith(b"HANGUP"):
                break
        await until_true(lambda: services.live.today().counts.abandoned == 1)
        counts = services.live.today().counts
        assert (counts.offered, counts.answered, counts.abandoned) == (1, 0, 1)
        assert "1795433747.1" not in services.pipeline.core.waiting
        await services.pipeline.stop()


async def until_true(check, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < deadline, "not in time"
        await asyncio.sleep(0.02)

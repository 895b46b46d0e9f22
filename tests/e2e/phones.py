"""Agents' SIP phones for the tests: pyVoIP registering to Asterisk's PJSIP.

pyVoIP is blocking and threaded; every call to it runs in its own threads,
never on the test's event loop. A phone either answers by itself
(``answer_after``) or waits for the test to pick up; it hangs up by itself
after ``talk_for`` seconds, or when the test or the other side ends the call.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pyVoIP.VoIP import CallState, InvalidStateError, VoIPCall, VoIPPhone

from tests.e2e.asterisk import Asterisk
from tests.e2e.pbx import free_udp_port, free_udp_range, release_udp_range

# pyVoIP frees a call's ports in VoIPCall.__del__, which asks its threads whether they
# are alive. The garbage collector may run that finalizer inside threading's own lock
# (while a new thread starts): asking then waits for that lock, for ever, and every
# phone of the test hangs (seen: a whole suite stuck). Nothing needs the finalizer:
# pyVoIP frees the ports of ended calls each time it hands out new ones.
VoIPCall.__del__ = lambda self: None  # type: ignore[method-assign]


@dataclass
class PhoneCall:
    """One call that rang this phone."""

    caller_number: str
    caller_name: str
    rang_at: float  # monotonic
    answered_at: float | None = None
    ended_at: float | None = None  # the phone hung up, or heard the other side do so
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # (time, 8-bit PCM)
    cancelled: bool = False  # stopped ringing before anyone answered (SIP CANCEL)
    want_answer: bool = False
    want_hangup: bool = False

    @property
    def heard(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


class Phone:
    """One agent's (or supervisor's) phone."""

    def __init__(
        self,
        asterisk: Asterisk,
        job_number: str,
        secret: str,
        *,
        answer_after: float | None = 0.5,
        talk_for: float | None = None,
        speak: bytes = b"",
    ) -> None:
        self.job_number = job_number
        self.answer_after = answer_after  # None: ring until the test answers
        self.talk_for = talk_for  # None: talk until the test or the other side hangs up
        self.speak = speak  # 8-bit unsigned PCM sent once the call is answered
        self.calls: list[PhoneCall] = []
        self._asterisk = asterisk
        self._stopped = threading.Event()
        self.sip_port = free_udp_port()
        self._rtp = rtp = free_udp_range(200)
        self._phone = VoIPPhone(
            "127.0.0.1",
            asterisk.pbx.sip_port,
            job_number,
            secret,  # the phone's own secret (`acd user` / `acd phone` printed it once)
            myIP="127.0.0.1",
            callCallback=self._on_call,
            sipPort=self.sip_port,
            rtpPortLow=rtp,
            rtpPortHigh=rtp + 198,
        )
        # pyVoIP ignores CANCEL: a withdrawn ring would ring on for ever. End it.
        sip = self._phone.sip
        handle = sip.callCallback

        def on_message(request: Any) -> None:
            if getattr(request, "method", None) == "CANCEL":
                ringing = self._phone.calls.get(request.headers["Call-ID"])
                if ringing is not None and ringing.state == CallState.RINGING:
                    ringing.state = CallState.ENDED
            handle(request)

        sip.callCallback = on_message

        # pyVoIP's receive loop makes its socket blocking again after the lock is
        # released; a phone closed at that moment raises in that thread. Only then
        # is it ignored.
        receive = sip.recv_loop

        def recv_loop() -> None:
            try:
                receive()
            except OSError:
                if not self._stopped.is_set():
                    raise

        sip.recv_loop = recv_loop

    async def start(self, timeout: float = 15) -> None:
        """Register, and wait until Asterisk lists this very phone as the contact."""
        await asyncio.to_thread(self._phone.start)
        contact = f"{self.job_number}/sip:{self.job_number}@127.0.0.1:{self.sip_port}"
        deadline = time.monotonic() + timeout
        while not any(contact in line for line in await self._contacts()):
            if time.monotonic() > deadline:
                raise AssertionError(f"phone {self.job_number} did not register")
            await asyncio.sleep(0.1)

    async def _contacts(self) -> list[str]:
        return await self._asterisk.ami.command("pjsip show contacts")

    async def stop(self) -> None:
        """Hang up, unregister and close the phone's sockets (quickly, even if Asterisk
        is frozen or gone)."""
        self._stopped.set()
        self._phone.sip.register_timeout = 2  # pyVoIP waits 30 s for an answer by default
        try:
            await asyncio.to_thread(self._phone.stop)
        except OSError:  # Asterisk unreachable: unregistering failed, the sockets stay open
            await asyncio.to_thread(self._phone.sip._close_sockets)
        finally:
            release_udp_range(self._rtp)

    async def ringing(self, count: int = 1, timeout: float = 30) -> PhoneCall:
        """Wait until the phone has rung ``count`` times in all; that call."""
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"phone {self.job_number} rang {len(self.calls)} times, not {count}, "
                    f"within {timeout} s"
                )
            await asyncio.sleep(0.05)
        return self.calls[count - 1]

    async def answer(self, call: PhoneCall, timeout: float = 5) -> None:
        """The agent picks up a ringing call."""
        call.want_answer = True
        await _until(lambda: call.answered_at is not None, timeout, "answer")

    async def hang_up(self, call: PhoneCall, timeout: float = 5) -> float:
        """The agent puts the phone down; when it did."""
        call.want_hangup = True
        await _until(lambda: call.ended_at is not None, timeout, "hang up")
        assert call.ended_at is not None
        return call.ended_at

    async def answered(self, call: PhoneCall, timeout: float = 30) -> float:
        await _until(lambda: call.answered_at is not None, timeout, "be answered")
        assert call.answered_at is not None
        return call.answered_at

    async def ended(self, call: PhoneCall, timeout: float = 30) -> float:
        await _until(lambda: call.ended_at is not None, timeout, "end")
        assert call.ended_at is not None
        return call.ended_at

    # -- pyVoIP's thread ----------------------------------------------------------

    def _on_call(self, call: Any) -> None:
        # pyVoIP calls this one second after the INVITE arrived (it answers
        # 180 Ringing at once): the ring began then.
        incoming = PhoneCall(
            call.request.headers["From"]["number"],
            call.request.headers["From"]["caller"].strip('" '),
            time.monotonic() - 1.0,
        )
        self.calls.append(incoming)
        answer_at = None if self.answer_after is None else time.monotonic() + self.answer_after
        while call.state == CallState.RINGING and not self._stopped.is_set():
            if incoming.want_answer or (answer_at is not None and time.monotonic() >= answer_at):
                break
            time.sleep(0.02)
        if call.state != CallState.RINGING or self._stopped.is_set():
            # The caller went away or the ring was withdrawn (CANCEL), or the phone stopped.
            incoming.cancelled = call.state == CallState.ENDED
            incoming.ended_at = time.monotonic()
            return
        try:
            call.answer()
        except InvalidStateError:  # the ring was withdrawn (CANCEL) at this very moment
            incoming.cancelled = True
            incoming.ended_at = time.monotonic()
            return
        incoming.answered_at = time.monotonic()
        for client in call.RTPClients:
            _tap(client, incoming)
        if self.speak:
            call.write_audio(self.speak)
        end = None if self.talk_for is None else incoming.answered_at + self.talk_for
        while call.state == CallState.ANSWERED and not self._stopped.is_set():
            if incoming.want_hangup or (end is not None and time.monotonic() >= end):
                with contextlib.suppress(InvalidStateError):  # the other side hung up first
                    call.hangup()
                break
            call.read_audio(160, blocking=False)  # keep pyVoIP's buffer drained
            time.sleep(0.02)
        incoming.ended_at = time.monotonic()


def _tap(client: Any, incoming: PhoneCall) -> None:
    """Note every decoded RTP payload the phone receives, as it arrives.

    pyVoIP's own read_audio places audio by RTP timestamp and loses it when
    Asterisk changes the stream's source (as it does when a call is bridged),
    so the test reads the payloads here instead.
    """
    write = client.pmin.write

    def tapped(offset: int, data: bytes) -> None:
        incoming.chunks.append((time.monotonic(), data))
        write(offset, data)

    client.pmin.write = tapped


async def _until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"the phone did not {what} within {timeout} s")
        await asyncio.sleep(0.02)

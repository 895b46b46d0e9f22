"""Agents' SIP softphones for the tests: pyVoIP registering to Asterisk's PJSIP."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from pyVoIP.VoIP import CallState, VoIPPhone

from tests.e2e.pbx import Pbx


@dataclass
class IncomingCall:
    caller_number: str
    caller_name: str
    rang_at: float
    answered_at: float | None = None
    ended_at: float | None = None
    heard: bytearray = field(default_factory=bytearray)  # 8-bit unsigned PCM, 8 kHz
    chunks: list[tuple[float, bytes]] = field(default_factory=list)  # (monotonic time, audio)


class Phone:
    """One agent's phone. ``answer_after`` None: let it ring; ``talk_for``: then hang up."""

    def __init__(
        self,
        pbx: Pbx,
        job_number: str,
        sip_port: int,
        *,
        answer_after: float | None = 0.5,
        talk_for: float = 4.0,
        speak: bytes = b"",
    ) -> None:
        self.job_number = job_number
        self.answer_after = answer_after
        self.talk_for = talk_for
        self.speak = speak  # 8-bit unsigned PCM sent once the call is answered
        self.calls: list[IncomingCall] = []
        self._lock = threading.Lock()
        self._phone = VoIPPhone(
            "127.0.0.1",
            pbx.sip_port,
            job_number,
            pbx.sip_secret,
            myIP="127.0.0.1",
            callCallback=self._on_call,
            sipPort=sip_port,
            # A range of its own per phone: two phones must never pick the same port.
            rtpPortLow=40000 + (sip_port % 100) * 200,
            rtpPortHigh=40000 + (sip_port % 100) * 200 + 198,
        )
        self._pbx = pbx

    def start(self) -> None:
        self._phone.start()
        deadline = time.monotonic() + 10
        while f"{self.job_number}/sip:" not in self._pbx.cli("pjsip show contacts"):
            if time.monotonic() > deadline:
                raise AssertionError(f"phone {self.job_number} did not register")
            time.sleep(0.1)

    def stop(self) -> None:
        self._phone.stop()

    def _on_call(self, call) -> None:  # runs in pyVoIP's thread
        incoming = IncomingCall(
            call.request.headers["From"]["number"],
            call.request.headers["From"]["caller"].strip('" '),
            time.monotonic(),
        )
        with self._lock:
            self.calls.append(incoming)
        if self.answer_after is None:
            return
        time.sleep(self.answer_after)
        if call.state != CallState.RINGING:
            return
        call.answer()
        incoming.answered_at = time.monotonic()
        for client in call.RTPClients:
            _tap(client, incoming)
        if self.speak:
            call.write_audio(self.speak)
        end = incoming.answered_at + self.talk_for
        while call.state == CallState.ANSWERED and time.monotonic() < end:
            incoming.heard += call.read_audio(160, blocking=False)
            time.sleep(0.02)
        if call.state == CallState.ANSWERED:
            call.hangup()
        incoming.ended_at = time.monotonic()


def _tap(client, incoming: IncomingCall) -> None:
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

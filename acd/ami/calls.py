"""What every AMI action about calls shares: the link, the channel view, the call book.

Each action a call needs is checked: Asterisk's refusal raises
``AmiActionFailed``, so nothing above assumes an action worked.
"""

from __future__ import annotations

import asyncio

import structlog

from acd.ami import actions
from acd.ami.connection import AmiConnection
from acd.ami.errors import AmiActionFailed, AmiError
from acd.core.calls import CallBook
from acd.core.channels import Channel, ChannelRegistry

log = structlog.get_logger("acd.executor")

HANGUP_TRIES = 3
HANGUP_RETRY_SECONDS = 1.0
WAIT_CONTEXT = "acd-wait"  # where callers wait (music), hear announcements and are bridged


class CallActions:
    """Checked AMI actions on our callers' channels and agents' legs."""

    def __init__(self, ami: AmiConnection, channels: ChannelRegistry, book: CallBook) -> None:
        self._ami = ami
        self._channels = channels
        self._book = book

    @property
    def link_up(self) -> bool:
        """Whether actions can be sent now (the AMI link is logged in)."""
        return self._ami.logged_in

    def agent_channel(self, job_number: str) -> Channel | None:
        """The live channel of an agent's answered leg, if any (the newest)."""
        for leg in reversed(self._book.legs.values()):
            if leg.job_number == job_number and leg.answered:
                channel = self._channels.get(leg.leg_id)
                if channel is not None:
                    return channel
        return None

    async def hang_up_leg(self, leg_id: str, *, known: bool = True) -> None:
        """End an agent's leg if it is still up (gone already is fine).

        ``known=False`` tries even when the engine has not seen the channel yet.
        With AMI down the leg is hung up when the link is back (the resync).
        """
        if known and leg_id not in self._channels:
            return
        for attempt in range(HANGUP_TRIES):
            try:
                await self._hangup(leg_id)
                return
            except AmiActionFailed as exc:
                log.info("leg_already_gone", leg=leg_id, error=str(exc))
                return
            except AmiError as exc:
                self._book.cancelled.add(leg_id)  # the resync hangs it up if still there
                log.warning("leg_hangup_failed", leg=leg_id, error=str(exc), attempt=attempt)
                if not self.link_up:
                    return
                await asyncio.sleep(HANGUP_RETRY_SECONDS)  # Asterisk slow: try again

    async def getvar(self, channel: str, name: str) -> str:
        """A channel variable's value ("" when unset)."""
        response = await self._ami.send_action(actions.getvar(channel, name))
        return str(response.get("Value", ""))

    async def _checked(self, fields: actions.Fields) -> None:
        """Send an action that must be carried out: Asterisk's refusal raises AmiActionFailed."""
        response = await self._ami.send_action(fields)
        if not response.success:
            message = response.get("Message") or "refused"
            raise AmiActionFailed(f"{fields.get('Action')} {fields.get('Channel', '')}: {message}")

    async def _hangup(self, channel: str) -> None:
        await self._checked(actions.hangup(channel))

    async def _setvar(self, channel: str, name: str, value: str) -> None:
        await self._checked(actions.setvar(channel, name, value))

    async def _redirect(self, channel: str, exten: str, context: str = WAIT_CONTEXT) -> None:
        """A channel to another step of the dialplan (the caller: announce, connect, rejoin...)."""
        await self._checked(actions.redirect(channel, context, exten))

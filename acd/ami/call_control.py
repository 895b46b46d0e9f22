"""Call control asked for through the API: listen/whisper/barge, hold, hang up.

Each action is checked; a refusal or a dead link raises, so the API answers
with what went wrong (nothing is assumed to have worked).
"""

from __future__ import annotations

import contextlib
import uuid

import structlog

from acd.ami import actions
from acd.ami.calls import CallActions
from acd.ami.errors import AmiActionFailed, AmiError
from acd.core.calls import SpySession

log = structlog.get_logger("acd.executor")


class AmiCallControl(CallActions):
    """Supervisors' and agents' requests about a live call, carried out on Asterisk."""

    async def spy(self, supervisor: str, endpoint: str, agent: str, mode: str) -> SpySession:
        """Ring the supervisor's phone into the agent's call, or switch the mode."""
        target = self.agent_channel(agent)
        if target is None:
            raise AmiActionFailed(f"agent {agent} has no call to join")
        current = self._book.spies.get(supervisor)
        if current is not None and current.leg_id in self._channels and current.agent == agent:
            await self._setvar(current.leg_id, "ACD_SPY_TARGET", target.name)
            await self._redirect(current.leg_id, mode, context="acd-spy")
            current.mode = mode
            return current
        session = SpySession(f"acd-{uuid.uuid4().hex}", supervisor, agent, mode)
        self._book.spies[supervisor] = session
        try:
            await self._ami.originate(
                actions.originate(
                    endpoint,
                    "acd-spy",
                    mode,
                    channel_id=session.leg_id,
                    caller_id=f'"{mode} {agent}" <{agent}>',
                    timeout_ms=30000,
                    variables=[f"ACD_SPY_TARGET={target.name}"],
                )
            )
        except AmiError:
            self._book.spies.pop(supervisor, None)
            raise
        return session

    async def stop_spying(self, supervisor: str) -> bool:
        session = self._book.spies.pop(supervisor, None)
        if session is None:
            return False
        await self.hang_up_leg(session.leg_id, known=False)
        return True

    async def hold(self, call_id: str, job_number: str) -> None:
        """The caller hears music; the agent's leg leaves the bridge and waits."""
        channel = self.agent_channel(job_number)
        if channel is None:
            raise AmiActionFailed(f"agent {job_number} has no call to hold")
        await self._setvar(call_id, "ACD_HELD", "1")
        try:
            await self._redirect(channel.uniqueid, "held", context="acd-agent")
        except AmiError:
            # Not on hold after all: when the call ends the caller gets the survey.
            with contextlib.suppress(AmiError):
                await self._setvar(call_id, "ACD_HELD", "")
            raise

    async def unhold(self, call_id: str) -> None:
        """The caller rejoins the agent (the bridge is made again)."""
        await self._redirect(call_id, "rejoin")

    async def hang_up_call(self, call_id: str) -> None:
        """End a caller's call (force hang-up); the agent's leg follows."""
        await self._hangup(call_id)

    async def hang_up_agent(self, job_number: str) -> bool:
        channel = self.agent_channel(job_number)
        if channel is None:
            return False
        await self._hangup(channel.uniqueid)
        return True

    async def hang_up_unknown_leg(self, uniqueid: str) -> None:
        """A leg rung by an engine that has since restarted: nobody waits for it."""
        try:
            await self._hangup(uniqueid)
        except AmiError as exc:
            log.info("unknown_leg_hangup_failed", leg=uniqueid, error=str(exc))

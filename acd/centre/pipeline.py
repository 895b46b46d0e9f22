"""The core and what carries its outputs out: the one place outputs are dispatched.

Every input (AMI event, IVR, agent, timer) goes to the core; the core's
outputs come here. Commands go in order to the AMI executor, facts go in
order to storage, and everything goes to the live feed. Neither queue is
worked on the AMI read path.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable
from typing import assert_never

import structlog

from acd.ami.errors import AmiError
from acd.ami.executor import AmiExecutor, Uncertain
from acd.centre.facts import FactWriter
from acd.centre.tasks import ShortTasks
from acd.core.agents import AgentStateChanged
from acd.core.calls import CallBook
from acd.core.commands import (
    AnnouncePosition,
    CallAbandoned,
    CallAnswered,
    CallNote,
    Command,
    CommandDone,
    CommandFailed,
    CommandOutcome,
    ConnectCall,
    DialCallback,
    DialOut,
    Failure,
    NoteValue,
    Output,
    RingAgent,
    StopRinging,
    TellAgent,
    TransferCall,
)
from acd.core.distributor import CallDistributor
from acd.core.peak import PeakLevelChanged
from acd.live import LiveFeed

log = structlog.get_logger("acd.pipeline")

STOP_GRACE_SECONDS = 5.0  # how long a clean stop waits for short tasks to finish
VERIFY_WITHIN_SECONDS = 60.0  # how long an unanswered action's outcome is asked after
VERIFY_EVERY_SECONDS = 0.5


class Pipeline:
    """The core, the call book, and the ordered paths from the core's outputs to the world."""

    def __init__(
        self,
        core: CallDistributor,
        book: CallBook,
        executor: AmiExecutor,
        facts: FactWriter,
        live: LiveFeed,
        tasks: ShortTasks,
        clock: Callable[[], float],
        tick_interval: float,
        *,
        observe: Callable[[Output], None] | None = None,
    ) -> None:
        self.core = core
        self._observe = observe  # sees every output first (the metrics' counters)
        self.book = book
        self.executor = executor
        self.live = live
        self.tasks = tasks
        self.clock = clock
        self._facts = facts
        self._tick_interval = tick_interval
        self._commands: asyncio.Queue[Command] = asyncio.Queue()
        self._runners: list[asyncio.Task[None]] = []

    @property
    def facts_pending(self) -> int:
        """Facts waiting to be stored (a busy or unreachable database shows here)."""
        return self._facts.pending

    @property
    def facts_spilled(self) -> bool:
        """Whether facts wait in the local spill file for the database to come back."""
        return self._facts.spilled

    def handle(self, outputs: Iterable[Output]) -> None:
        """Publish every output; queue commands for Asterisk and facts for storage, in order."""
        queue_changed = False
        for out in outputs:
            if self._observe is not None:
                self._observe(out)
            self.live.publish(out)
            match out:
                case AgentStateChanged() | CallNote():
                    self._facts.put(out)
                case CallAbandoned() | CallAnswered():
                    self._facts.put(out)
                    queue_changed = True
                case PeakLevelChanged():
                    self._facts.put(out)
                    log.warning(
                        "peak_level", old=int(out.old), new=int(out.new), waiting=out.waiting
                    )
                    queue_changed = True
                case RingAgent():
                    self._commands.put_nowait(out)
                    queue_changed = True
                case (
                    StopRinging()
                    | ConnectCall()
                    | DialCallback()
                    | AnnouncePosition()
                    | TellAgent()
                    | TransferCall()
                    | DialOut()
                ):
                    self._commands.put_nowait(out)
                case _:
                    assert_never(out)
        if queue_changed:
            self.live.publish_queue()

    def note(self, call_id: str, kind: str, **data: NoteValue) -> None:
        """Store something that happened to a call (in order with the core's facts)."""
        self.handle([CallNote(call_id, kind, data)])

    async def replay_facts(self) -> None:
        """Facts an earlier run spilled while the database was down go in first."""
        await self._facts.replay_spill()

    async def start(self) -> None:
        """Start carrying out commands and the core's timer."""
        for coro, name in (
            (self._run_commands(), "acd-commands"),
            (self._facts.run(), "acd-facts"),
            (self._run_ticks(), "acd-ticks"),
        ):
            self._runners.append(asyncio.create_task(coro, name=name))

    async def stop(self) -> None:
        """Let short tasks finish, stop the runners and the rest, store what is still queued."""
        # Short tasks (a low-score ticket, a recording's row or checksum) get a
        # moment to finish, so a clean stop does not lose them; then everything goes,
        # runners first so that they spawn nothing more.
        await self.tasks.wait(STOP_GRACE_SECONDS)
        for task in self._runners:
            task.cancel()
        for task in self._runners:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.tasks.cancel()
        await self._facts.flush()  # nothing is lost on a clean stop

    async def _run_commands(self) -> None:
        while True:
            command = await self._commands.get()
            try:
                outcome = await self.executor.execute(command)
                if isinstance(outcome, Uncertain):
                    self.tasks.spawn(self.settle(outcome), "acd-verify")
                else:
                    self.outcome(outcome)
            except Exception:
                log.exception("command_crashed", command=repr(command))
            await asyncio.sleep(0)  # a run of commands failing at once never holds the loop

    async def settle(self, uncertain: Uncertain) -> None:
        """An action went out unanswered: ask Asterisk what happened, then tell the core.

        Asked as soon as the link is up again (a Redirect that was carried out
        must not be repaired as if it had failed); given up after a while.
        """
        command = uncertain.command
        deadline = time.monotonic() + VERIFY_WITHIN_SECONDS
        while time.monotonic() < deadline:
            if self.executor.link_up:
                try:
                    done = await self.executor.verify(command)
                except AmiError as exc:
                    log.info("verify_failed", command=type(command).__name__, error=str(exc))
                else:
                    detail = f"{uncertain.detail}; Asterisk says it was not carried out"
                    self.outcome(
                        CommandDone(command)
                        if done
                        else CommandFailed(command, uncertain.failure, detail)
                    )
                    return
            await asyncio.sleep(VERIFY_EVERY_SECONDS)
        log.error("outcome_unknown", command=type(command).__name__, detail=uncertain.detail)
        self.outcome(CommandFailed(command, uncertain.failure, f"{uncertain.detail}; unknown"))

    def outcome(self, outcome: CommandOutcome) -> None:
        """What Asterisk did with a command goes back to the core, which repairs if needed."""
        now = self.clock()
        if isinstance(outcome, CommandFailed) and outcome.failure is Failure.LINK_DOWN:
            if not self.executor.link_up:
                # Known now, before the engine's own word on it: nothing is offered
                # again until the link is back and resynced.
                self.handle(self.core.pbx_lost(now))
        self.handle(self.core.command_outcome(outcome, now))
        if isinstance(outcome, CommandFailed) and isinstance(outcome.command, TransferCall):
            info = self.book.calls.get(outcome.command.call_id)
            if info is not None and info.held:  # the transfer did not happen: still on hold
                agent = outcome.command.from_agent
                self.note(info.call_id, "held", agent=agent)
                self.live.bus.publish("call_held", now, call_id=info.call_id, agent=agent)

    async def _run_ticks(self) -> None:
        while True:
            await asyncio.sleep(self._tick_interval)
            self.handle(self.core.tick(self.clock()))

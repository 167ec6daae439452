"""`AgentDesk`: the hand-off queue, the approval queue, live lines of conversations with a person, and
the actions a person takes (take a conversation, reply, hand back, close, approve or deny).

Consoles connect over `/agent/ws` (or call the REST routes); what they see is pushed from the
engine's listeners, so a line reaches every signed-in console as it is stored. A channel tells the
desk what its customer says while a person has the conversation (`customer_line`); changes made on
other servers arrive through the desk's `SessionWatcher`.
"""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime
from typing import Any, Literal

from desk.config import DeskConfig
from desk.frames import (
    ApprovalItem,
    ApprovalsFrame,
    Conversation,
    Done,
    Line,
    QueueFrame,
    QueueItem,
    StatusFrame,
    TranscriptLine,
)
from desk.metrics import AGENT_CONSOLES
from desk.watch import SessionWatcher
from desk.web.json_api import ApiError
from desk.web.metrics import REFUSED
from desk.web.outbox import Outbox
from desk.web.ratelimit import RateLimited, RateLimiter
from desk.web.security import plausible_session_id
from dialogue.api import TurnResult, UnknownSession
from dialogue.engine import DialogueEngine
from dialogue.redact import redact
from dialogue.state import ConversationState
from dialogue.store import TranscriptEntry

log = logging.getLogger("frontdesk.desk")
_NAME = re.compile(r"^[\w .'-]{1,40}$")


class DeskError(ApiError):
    """A console request that cannot be done: an `error` frame on the socket, `status` over REST."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(status, code, message)


def _lines(session_id: str, result: TurnResult, at: datetime) -> list[str]:
    return [Line(session_id=session_id, role=m.role, text=m.text, at=at).model_dump_json() for m in result.messages]


def _transcript(entries: list[TranscriptEntry]) -> list[TranscriptLine]:
    return [
        TranscriptLine(turn=e.turn, role=e.role, text=e.text, at=e.at, agent=(e.extra or {}).get("agent"))
        for e in entries
    ]


class Console:
    """One signed-in agent console."""

    def __init__(self, outbox: Outbox, agent: str) -> None:
        self.outbox = outbox
        self.agent = agent


class AgentDesk:
    def __init__(self, engine: DialogueEngine, config: DeskConfig) -> None:
        self.engine = engine
        self.config = config
        self.consoles: set[Console] = set()
        self.per_address = RateLimiter(config.address_rate, config.address_burst)
        self.watcher = SessionWatcher(engine, config.watch_interval_s)
        # Sessions last seen with a person, and who: a change means the queue changed.
        self._with_person: dict[str, str | None] = {}
        self._approvals_seen: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._dirty: set[str] = set()
        engine.listeners.append(self._on_result)
        self.watcher.follow(self)

    def admit(self, address: str) -> None:
        """A new console connection from this address."""
        wait = self.per_address.take(address)
        if wait:
            REFUSED.labels("rate_limited").inc()
            raise RateLimited(wait)

    # ------------------------------------------------------------ consoles

    def attach(self, console: Console) -> None:
        self.consoles.add(console)
        AGENT_CONSOLES.set(len(self.consoles))

    def detach(self, console: Console) -> None:
        self.consoles.discard(console)
        AGENT_CONSOLES.set(len(self.consoles))

    def broadcast(self, frames: list[str]) -> None:
        for console in tuple(self.consoles):
            console.outbox.push_all(frames)

    # ------------------------------------------------------------ fed by the engine and the channels

    def _on_result(self, session_id: str, result: TurnResult) -> None:
        # Runs inside the engine's turn: it must never raise, and it only queues frames.
        try:
            self._pass_on(session_id, result)
        except Exception:
            log.exception("could not pass a result on to the consoles")

    def _pass_on(self, session_id: str, result: TurnResult) -> None:
        state = result.state
        known = session_id in self._with_person
        if result.handoff is not None or state.mode == "agent" or known:
            if self.consoles and not result.resumed:
                self.broadcast(_lines(session_id, result, state.updated_at))
            before = self._with_person.get(session_id, "")
            if state.mode == "agent":
                self._with_person[session_id] = state.agent
            else:
                self._with_person.pop(session_id, None)
            if result.handoff is not None or not known or before != state.agent or state.mode != "agent":
                self.broadcast([self._status(state)])
                self.refresh("queue")
        pending = state.pending_approval
        if pending is not None and pending.approval_id not in self._approvals_seen:
            if len(self._approvals_seen) > 10_000:  # decided elsewhere; forgetting only costs a refresh
                self._approvals_seen.clear()
            self._approvals_seen.add(pending.approval_id)
            self.refresh("approvals")

    def customer_line(self, session_id: str, text: str, at: datetime) -> None:
        """What a customer said while a person has the conversation (the engine stores it and answers nothing)."""
        if self.consoles:
            line = Line(session_id=session_id, role="customer", text=redact(text), at=at)
            self.broadcast([line.model_dump_json()])

    # ------------------------------------------------------------ changes made on other servers

    def following(self) -> bool:
        return bool(self.consoles)

    def follows(self, session_id: str) -> bool:
        # With a console open every session counts: any of them may be handed off next.
        return bool(self.consoles) or session_id in self._with_person

    def changed(self, state: ConversationState, new: list[TranscriptEntry]) -> None:
        if state.mode != "agent" and state.session_id not in self._with_person:
            return
        for entry in new:
            if entry.role == "customer":
                self.customer_line(state.session_id, entry.text, entry.at)
        # Note who has it now: when that changed, so did the queue.
        before = self._with_person.get(state.session_id, "")
        if state.mode == "agent":
            self._with_person[state.session_id] = state.agent
        else:
            self._with_person.pop(state.session_id, None)
        if before != self._with_person.get(state.session_id, ""):
            self.refresh("queue")

    @staticmethod
    def _status(state: ConversationState) -> str:
        return StatusFrame(
            session_id=state.session_id, mode=state.mode, agent=state.agent, outcome=state.outcome
        ).model_dump_json()

    def refresh(self, what: Literal["queue", "approvals"]) -> None:
        """Push a fresh snapshot to every console soon; many changes in a row cost one snapshot."""
        if not self.consoles:
            return
        self._dirty.add(what)
        task = self._tasks.get(what)
        if task is None or task.done():
            self._tasks[what] = asyncio.create_task(self._push(what))

    async def _push(self, what: str) -> None:
        while what in self._dirty:
            self._dirty.discard(what)
            try:
                frame = await (self.queue() if what == "queue" else self.approvals())
            except Exception:
                log.exception("could not build the %s snapshot", what)
                return
            self.broadcast([frame.model_dump_json()])

    # ------------------------------------------------------------ snapshots

    async def queue(self) -> QueueFrame:
        items = []
        for summary in await self.engine.handoff_queue(limit=self.config.queue_limit):
            state = await self.engine.load(summary.session_id)
            if state is None:
                continue
            items.append(
                QueueItem(
                    session_id=summary.session_id,
                    mode=state.mode,
                    agent=state.agent,
                    outcome=state.outcome,
                    updated_at=state.updated_at,
                    summary=summary.model_dump(mode="json", exclude={"transcript"}),
                )
            )
        return QueueFrame(items=items)

    async def approvals(self) -> ApprovalsFrame:
        items = []
        for approval in await self.engine.pending_approvals():
            customer: dict[str, Any] = {}
            if approval.session_id:
                state = await self.engine.load(approval.session_id)
                if state is not None:
                    customer = {
                        "user_id": state.identity.user_id,
                        "first_name": state.identity.first_name,
                        "identity_level": state.identity.level.value,
                    }
            items.append(
                ApprovalItem(
                    approval_id=approval.approval_id,
                    tool=approval.tool,
                    arguments=approval.arguments,
                    reason=approval.reason,
                    session_id=approval.session_id,
                    created_at=approval.created_at,
                    customer=customer,
                )
            )
        return ApprovalsFrame(items=items)

    async def conversation(self, session_id: str) -> Conversation:
        state = await self._state(session_id)
        summary = await self.engine.handoff_summary(session_id)
        return Conversation(
            session_id=session_id,
            mode=state.mode,
            agent=state.agent,
            outcome=state.outcome,
            summary=summary,
            transcript=_transcript(await self.engine.transcript(session_id)),
            pending_approval=state.pending_approval.model_dump(mode="json") if state.pending_approval else None,
        )

    # ------------------------------------------------------------ actions

    async def _state(self, session_id: str) -> ConversationState:
        state = await self.engine.load(session_id) if plausible_session_id(session_id) else None
        if state is None:
            raise DeskError("unknown_session", "no conversation has this id", 404)
        return state

    async def take(self, session_id: str, agent: str) -> Done:
        await self._state(session_id)
        result = await self.engine.agent_join(session_id, agent)
        return _done("take", result)

    async def reply(self, session_id: str, agent: str, text: str) -> Done:
        text = text.strip()
        if not text:
            raise DeskError("bad_frame", "a reply needs some text")
        if len(text.encode()) > self.config.max_message_bytes:
            raise DeskError("too_large", f"replies are limited to {self.config.max_message_bytes} bytes", 413)
        state = await self._state(session_id)
        if state.mode != "agent" or state.agent != agent:
            # Replying is taking the chat: the customer is told who joined before the first line.
            await self.engine.agent_join(session_id, agent)
        result = await self.engine.agent_message(session_id, agent, text)
        return _done("reply", result)

    async def hand_back(self, session_id: str, agent: str) -> Done:
        await self._state(session_id)
        return _done("hand_back", await self.engine.hand_back(session_id, agent))

    async def close(self, session_id: str, agent: str) -> Done:
        await self._state(session_id)
        return _done("close", await self.engine.close(session_id, agent))

    async def decide(self, approval_id: str, *, approve: bool, agent: str, note: str | None) -> Done:
        try:
            result = await self.engine.decide_approval(approval_id, approve=approve, by=agent, note=note)
        except UnknownSession:
            raise DeskError("unknown_session", "the conversation of this approval is gone", 404) from None
        except Exception as exc:
            code = getattr(exc, "code", None)
            if code in ("approval_not_found", "not_found"):
                raise DeskError("unknown_approval", str(exc), 404) from None
            if code in ("approval_decided", "conflict"):
                raise DeskError("already_decided", str(exc), 409) from None
            raise
        finally:
            self.refresh("approvals")
        self._approvals_seen.discard(approval_id)
        done = Done(action="approve" if approve else "deny", approval_id=approval_id, delivered=result is not None)
        if result is not None:
            done.session_id, done.mode, done.outcome = result.session_id, result.state.mode, result.state.outcome
        return done


def agent_name(raw: str | None) -> str:
    """The name customers see ("Maria from our team"); anything odd becomes "agent"."""
    name = " ".join((raw or "").split())
    return name if _NAME.match(name) else "agent"


def _done(action: str, result: TurnResult) -> Done:
    return Done(action=action, session_id=result.session_id, mode=result.state.mode, outcome=result.state.outcome)

"""The chat channel's core, shared by the WebSocket and REST routes: start, resume and continue
conversations through the engine, enforce the limits, and fan results out to every socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from chat.config import ChatConfig
from chat.desk import AgentDesk
from chat.frames import TURN_END, ChoiceIn, MessageOut, TextIn, plausible_session_id, state_frame, turn_frames
from chat.hub import SessionHub
from chat.metrics import REFUSED, TURN_SECONDS, TURNS
from chat.ratelimit import RateLimiter
from dialogue.api import BotMessage, CustomerInput, TurnResult, UnknownSession
from dialogue.engine import DialogueEngine
from dialogue.state import Channel, ConversationState
from dialogue.store import sessions

log = logging.getLogger("frontdesk.chat")


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many messages: wait {retry_after:.1f} s and try again")
        self.retry_after = retry_after
        self.message = str(self)


class ChatService:
    def __init__(self, engine: DialogueEngine, config: ChatConfig) -> None:
        self.engine = engine
        self.config = config
        self.hub = SessionHub()
        self.desk = AgentDesk(engine, config)
        self.per_session = RateLimiter(config.session_rate, config.session_burst)
        self.per_address = RateLimiter(config.address_rate, config.address_burst)
        # Several servers on one store: when each session's state was last fanned out from here.
        self._published: dict[str, datetime] = {}
        self._watch_task: asyncio.Task[None] | None = None
        engine.listeners.append(self._on_result)

    def _on_result(self, session_id: str, result: TurnResult) -> None:
        # Runs inside the engine's turn: it must never raise, and it only queues frames.
        self._published[session_id] = result.state.updated_at
        self.watch()
        try:
            # A resume repeats the pending question to the one socket that came back, not to every tab.
            if not result.resumed and self.hub.count(session_id):
                self.hub.publish(session_id, turn_frames(result))
            self.desk.on_result(session_id, result)
        except Exception:
            log.exception("could not fan out a chat result")

    # ------------------------------------------------------------ limits

    def admit(self, address: str) -> None:
        """A new connection or session from this address."""
        wait = self.per_address.take(address)
        if wait:
            REFUSED.labels("rate_limited").inc()
            raise RateLimited(wait)

    def check_rate(self, session_id: str, address: str) -> None:
        wait = max(self.per_session.take(session_id), self.per_address.take(address))
        if wait:
            REFUSED.labels("rate_limited").inc()
            raise RateLimited(wait)

    # ------------------------------------------------------------ conversations

    async def start(self, channel: Channel, language: str | None = None) -> TurnResult:
        return await self.engine.start(channel, language=language)

    async def load(self, session_id: str) -> ConversationState | None:
        return await self.engine.load(session_id) if plausible_session_id(session_id) else None

    async def resume(self, session_id: str) -> TurnResult:
        if not plausible_session_id(session_id):
            raise UnknownSession(session_id)
        return await self.engine.resume(session_id)

    async def send(self, session_id: str, frame: TextIn | ChoiceIn, *, transport: str) -> TurnResult:
        if not plausible_session_id(session_id):
            raise UnknownSession(session_id)
        if isinstance(frame, TextIn):
            inp, said = CustomerInput(text=frame.text), frame.text
        else:
            inp, said = CustomerInput(choice=frame.value), frame.value
        started = time.perf_counter()
        result = await self.engine.handle(session_id, inp)
        TURN_SECONDS.labels(transport).observe(time.perf_counter() - started)
        TURNS.labels(transport).inc()
        if result.state.mode == "agent" and result.handoff is None:
            label = next((c.label for c in result.state.choices if c.value == said), said)
            self.desk.customer_line(session_id, label, result.state.updated_at)
        return result

    # ------------------------------------------------------------ other servers on the same store

    def watch(self) -> None:
        """Start following changes other servers make (once, from the first socket or result on)."""
        if self._watch_task is None or self._watch_task.done():
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to follow yet
                self._watch_task = asyncio.get_running_loop().create_task(self._watch())

    async def _watch(self) -> None:
        """Live frames fan out per process; the store is shared. Poll it for sessions changed by
        another server, and pass what they said on to this server's sockets and consoles."""
        mark = datetime.now(UTC) - timedelta(seconds=5)
        while True:
            await asyncio.sleep(self.config.watch_interval_s)
            if not (self.hub.sessions or self.desk.consoles):
                continue
            try:
                mark = await self._catch_up(mark)
            except Exception:
                log.exception("could not look for changes made by other servers")

    async def _catch_up(self, mark: datetime) -> datetime:
        stmt = select(sessions.c.session_id, sessions.c.updated_at).where(sessions.c.updated_at > mark)
        async with self.engine.store.db.read() as conn:
            rows = (await conn.execute(stmt)).all()
        newest = mark
        queue_changed = False
        for row in rows:
            at = _aware(row.updated_at)
            newest = max(newest, at - timedelta(seconds=2))  # writers commit out of timestamp order
            seen = self._published.get(row.session_id)
            if (seen is not None and at <= seen) or self.engine.busy(row.session_id):
                continue  # our own change, or one of our turns is under way (its result fans out)
            watched = self.hub.count(row.session_id) or row.session_id in self.desk._with_person
            if seen is None and not watched and not self.desk.consoles:
                self._published[row.session_id] = at
                continue
            self.engine.forget(row.session_id)
            state = await self.engine.load(row.session_id)
            if state is None:
                continue
            since = seen or at
            new = [t for t in await self.engine.transcript(row.session_id) if _aware(t.at) > since and seen is not None]
            self._published[row.session_id] = state.updated_at
            said = [t for t in new if t.role in ("bot", "agent")]
            if said and self.hub.count(row.session_id):
                frames = [
                    MessageOut.of(
                        BotMessage(role=t.role, text=t.text, language=t.language or state.language)
                    ).model_dump_json()
                    for t in said
                ]
                self.hub.publish(row.session_id, [*frames, state_frame(state), TURN_END])
            if state.mode == "agent" or row.session_id in self.desk._with_person:
                for t in new:
                    if t.role == "customer":
                        self.desk.customer_line(row.session_id, t.text, t.at)
                queue_changed = queue_changed or self.desk.track(state)
        if queue_changed:
            self.desk.refresh("queue")
        if len(self._published) > 50_000:  # bounded: forgetting only costs a re-check
            self._published.clear()
        return newest


def _aware(at: datetime) -> datetime:
    """SQLite hands timestamps back without their zone; they were stored in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)

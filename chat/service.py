"""The chat channel's core, shared by the WebSocket and REST routes: start, resume and continue
conversations through the engine, enforce the limits, fan results out to every socket, and tell the
agent desk what a customer writes while a person has the chat.
"""

from __future__ import annotations

import logging
import time

from chat.config import ChatConfig
from chat.frames import TURN_END, ChoiceIn, MessageOut, TextIn, state_frame, turn_frames
from chat.hub import SessionHub
from chat.metrics import TURN_SECONDS, TURNS
from desk.service import AgentDesk
from desk.web.metrics import REFUSED
from desk.web.ratelimit import RateLimited, RateLimiter
from desk.web.security import plausible_session_id
from dialogue.api import BotMessage, CustomerInput, TurnResult, UnknownSession
from dialogue.engine import DialogueEngine
from dialogue.state import Channel, ConversationState
from dialogue.store import TranscriptEntry

log = logging.getLogger("frontdesk.chat")


class ChatService:
    def __init__(self, engine: DialogueEngine, config: ChatConfig, desk: AgentDesk) -> None:
        self.engine = engine
        self.config = config
        self.desk = desk
        self.hub = SessionHub()
        self.per_session = RateLimiter(config.session_rate, config.session_burst)
        self.per_address = RateLimiter(config.address_rate, config.address_burst)
        engine.listeners.append(self._on_result)
        # Several servers on one store: what another server's turns said reaches this server's sockets.
        desk.watcher.follow(self)

    def _on_result(self, session_id: str, result: TurnResult) -> None:
        # Runs inside the engine's turn: it must never raise, and it only queues frames.
        try:
            # A resume repeats the pending question to the one socket that came back, not to every tab.
            if not result.resumed and self.hub.count(session_id):
                self.hub.publish(session_id, turn_frames(result))
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

    # ------------------------------------------------------------ changes made on other servers

    def following(self) -> bool:
        return self.hub.sessions > 0

    def follows(self, session_id: str) -> bool:
        return self.hub.count(session_id) > 0

    def changed(self, state: ConversationState, new: list[TranscriptEntry]) -> None:
        said = [t for t in new if t.role in ("bot", "agent")]
        if said and self.hub.count(state.session_id):
            messages = [BotMessage(role=t.role, text=t.text, language=t.language or state.language) for t in said]
            frames = [MessageOut.of(m).model_dump_json() for m in messages]
            self.hub.publish(state.session_id, [*frames, state_frame(state), TURN_END])

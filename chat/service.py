"""The chat channel's core, shared by the WebSocket and REST routes: start, resume and continue
conversations through the engine, enforce the limits, and fan results out to every socket.
"""

from __future__ import annotations

import logging
import time

from chat.config import ChatConfig
from chat.desk import AgentDesk
from chat.frames import ChoiceIn, TextIn, plausible_session_id, turn_frames
from chat.hub import SessionHub
from chat.metrics import REFUSED, TURN_SECONDS, TURNS
from chat.ratelimit import RateLimiter
from dialogue.api import CustomerInput, TurnResult, UnknownSession
from dialogue.engine import DialogueEngine
from dialogue.state import Channel, WorkflowState

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
        engine.listeners.append(self._on_result)

    def _on_result(self, session_id: str, result: TurnResult) -> None:
        # Runs inside the engine's turn: it must never raise, and it only queues frames.
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

    async def load(self, session_id: str) -> WorkflowState | None:
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

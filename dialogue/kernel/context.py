"""One customer turn in progress, and the narrow ports steps and collectors work through.

`TurnContext` holds what came in (the input and its typed evidence), the conversation state, and
what goes out; effects are applied here, in the order they are emitted, so every path through the
dialogue is worded, logged and recorded the same way. It offers three ports and nothing more:
governed tools (`tools`, acting as the customer), response texts (`text`), and the records caches
(`cache` for this conversation, `shared` for the process). It never holds the engine.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from actions.models import Actor, CallContext, ToolResult
from dialogue.api import BotMessage, CustomerInput, HandoffSummary
from dialogue.kernel.effects import Ask, Effect, End, HandOff, PauseForYes, Say
from dialogue.kernel.evidence import Evidence
from dialogue.state import Choice, ConversationState
from dialogue.store import TrajectoryEvent, TranscriptEntry
from dialogue.understanding.models import Understanding


class ToolCaller(Protocol):
    async def call(self, tool: str, args: dict[str, Any], ctx: CallContext) -> ToolResult: ...


class Texts(Protocol):
    def render(self, key: str, language: str, **values: Any) -> str: ...

    def has(self, key: str, language: str) -> bool: ...


# Reads words again with understanding, as the answer to a given question: the opening request
# ("exchange my keyboard") once its records are known.
Reread = Callable[[str, str], Awaitable[Evidence]]


@dataclass
class TurnContext:
    state: ConversationState
    backoffice: ToolCaller
    responses: Texts
    cache: dict[str, Any]  # this conversation's records (profile, orders, products), kept between turns
    shared: dict[str, Any]  # records every conversation may reuse (the product list, plan ids)
    inp: CustomerInput = field(default_factory=CustomerInput)
    evidence: Evidence = field(default_factory=Evidence)
    u: Understanding | None = None
    reread: Reread | None = None
    messages: list[BotMessage] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    events: list[TrajectoryEvent] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    handoff: HandoffSummary | None = None
    handoff_requested: str | None = None  # a HandOff effect waiting for the kernel to carry it out
    ended: bool = False
    used: bool = False  # something the customer said moved the conversation on
    asked: bool = False  # the bot asked a question and now waits
    saved_revision: int | None = None  # the revision the store holds for this session
    tried: set[str] = field(default_factory=set)  # collect steps already offered this turn's words

    # ------------------------------------------------------------------ texts

    @property
    def language(self) -> str:
        return self.state.language

    def text(self, key: str, **values: Any) -> str:
        return self.responses.render(key, self.language, **values)

    def has_text(self, key: str) -> bool:
        return self.responses.has(key, self.language)

    # ------------------------------------------------------------------ effects

    def emit(self, effect: Effect) -> None:
        self.effects.append(effect)
        if isinstance(effect, Say):
            self._message(effect.text, choices=effect.choices, expects=effect.expects)
        elif isinstance(effect, Ask):
            self._message(effect.text, choices=effect.choices, expects=effect.expects, readback=effect.readback)
            self.state.expects = effect.expects
            self.state.choices = list(effect.choices)
            self.state.last_prompt = effect.text
            self.asked = True
        elif isinstance(effect, PauseForYes):
            self._message(effect.text, choices=effect.choices, expects="confirmation", readback=True)
            self.state.pending_confirmation = effect.pending
            self.state.risk = effect.pending.risk
            self.state.expects = "confirmation"
            self.state.choices = list(effect.choices)
            self.state.last_prompt = effect.text
            self.asked = True
        elif isinstance(effect, HandOff):
            self.handoff_requested = effect.reason
        elif isinstance(effect, End):
            self.ended = True

    def say(self, key: str, **values: Any) -> None:
        self.emit(Say(text=self.text(key, **values)))

    def ask(
        self,
        key: str,
        *,
        expects: str | None,
        choices: list[Choice] | None = None,
        readback: bool = False,
        prefix: str | None = None,
        **values: Any,
    ) -> None:
        """Ask a question: remembers what is expected so the next turn is read in that light."""
        text = self.text(key, **values)
        if prefix:
            text = f"{prefix} {text}"
        self.emit(Ask(text=text, expects=expects, choices=list(choices or []), readback=readback))

    def _message(
        self, text: str, *, choices: list[Choice] | None = None, expects: str | None = None, readback: bool = False
    ) -> None:
        if not text:
            return
        self.messages.append(
            BotMessage(text=text, language=self.language, choices=choices or [], expects=expects, readback=readback)
        )
        self.transcript.append(
            TranscriptEntry(
                turn=self.state.turn,
                role="bot",
                text=text,
                language=self.language,
                extra={"expects": expects} if expects else None,
            )
        )
        self.event("response", "say", {"text": text, "expects": expects, "choices": len(choices or [])})

    # ------------------------------------------------------------------ tools

    def actor(self) -> Actor:
        ident = self.state.identity
        return Actor(
            kind="customer", user_id=ident.user_id, identity_level=ident.level, session_id=self.state.session_id
        )

    async def tool(
        self,
        name: str,
        args: dict[str, Any],
        *,
        confirmed: bool = False,
        key: str | None = None,
        approval_id: str | None = None,
        actor: Actor | None = None,
    ) -> ToolResult:
        """A governed tool call on the customer's behalf (or `actor`'s), recorded in the trajectory."""
        ctx = CallContext(
            actor=actor or self.actor(),
            confirmed=confirmed,
            idempotency_key=key,
            approval_id=approval_id,
            session_id=self.state.session_id,
        )
        started = time.perf_counter()
        result = await self.backoffice.call(name, args, ctx)
        self.event(
            "tool_call",
            name,
            {
                "status": result.status,
                "write": result.write,
                "risk": result.risk.value,
                "verified": result.verified,
                "error": result.error.code if result.error else None,
                "replayed": result.replayed,
                "audit_id": result.audit_id,
            },
            started=started,
        )
        if result.write and result.verification is not None:
            self.event(
                "verification",
                name,
                {
                    "verified": result.verification.verified,
                    "confirmation_id": result.verification.confirmation_id,
                    "checks": result.verification.checks,
                },
            )
        return result

    # ------------------------------------------------------------------ recording

    def event(self, kind: str, name: str, data: dict[str, Any] | None = None, *, started: float | None = None) -> None:
        duration = int((time.perf_counter() - started) * 1000) if started else 0
        self.events.append(
            TrajectoryEvent(turn=self.state.turn, kind=kind, name=name, data=data or {}, duration_ms=duration)
        )

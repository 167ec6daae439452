"""One customer turn in progress: what came in, what was understood, what the bot will say.

Collectors, the flow runner and the decision code all work on a `Turn`; it is the single place
that renders responses, calls governed tools on the customer's behalf and records the
trajectory, so every path through the dialogue is logged and worded the same way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from actions.models import Actor, CallContext, ToolResult
from dialogue.api import BotMessage, CustomerInput, HandoffSummary
from dialogue.state import Choice, ConversationState
from dialogue.store import TrajectoryEvent, TranscriptEntry
from dialogue.understanding.models import Understanding

if TYPE_CHECKING:
    from dialogue.engine import DialogueEngine


@dataclass
class Turn:
    engine: DialogueEngine
    state: ConversationState
    inp: CustomerInput = field(default_factory=CustomerInput)
    u: Understanding | None = None
    messages: list[BotMessage] = field(default_factory=list)
    transcript: list[TranscriptEntry] = field(default_factory=list)
    events: list[TrajectoryEvent] = field(default_factory=list)
    handoff: HandoffSummary | None = None
    ended: bool = False
    used: bool = False  # something the customer said moved the conversation on
    asked: bool = False  # the bot asked a question and now waits
    saved_revision: int | None = None  # the revision the store holds for this session
    tried: set[str] = field(default_factory=set)  # collect steps already offered this turn's words

    # ------------------------------------------------------------------ speaking

    @property
    def cache(self) -> dict[str, Any]:
        """Records read for this session (profile, orders, products), kept in memory between turns."""
        return self.engine.session_cache(self.state.session_id)

    @property
    def language(self) -> str:
        return self.state.language

    def text(self, key: str, **values: Any) -> str:
        return self.engine.responses.render(key, self.language, **values)

    def say(self, key: str, **values: Any) -> None:
        self.add(self.text(key, **values))

    def add(
        self, text: str, *, choices: list[Choice] | None = None, expects: str | None = None, readback: bool = False
    ) -> None:
        if not text:
            return
        message = BotMessage(
            text=text, language=self.language, choices=choices or [], expects=expects, readback=readback
        )
        self.messages.append(message)
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

    def ask(
        self,
        key: str,
        *,
        expects: str,
        choices: list[Choice] | None = None,
        readback: bool = False,
        prefix: str | None = None,
        **values: Any,
    ) -> None:
        """Ask a question: remembers what is expected so the next turn is read in that light."""
        text = self.text(key, **values)
        if prefix:
            text = f"{prefix} {text}"
        self.add(text, choices=choices, expects=expects, readback=readback)
        self.state.expects = expects
        self.state.choices = list(choices or [])
        self.state.last_prompt = text
        self.asked = True

    # ------------------------------------------------------------------ acting

    def actor(self) -> Actor:
        ident = self.state.identity
        return Actor(
            kind="customer",
            user_id=ident.user_id,
            identity_level=ident.level,
            session_id=self.state.session_id,
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
        ctx = CallContext(
            actor=actor or self.actor(),
            confirmed=confirmed,
            idempotency_key=key,
            approval_id=approval_id,
            workflow_id=self.state.session_id,
        )
        started = time.perf_counter()
        result = await self.engine.backoffice.call(name, args, ctx)
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

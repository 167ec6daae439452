"""What channels exchange with the dialogue: customer input in, bot messages and state out.

Chat, voice, the terminal and QA replay all drive the same `DialogueEngine` through these
models; none of them sees how a turn is decided.
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from pydantic import BaseModel, Field

from dialogue.state import Channel, Choice, ConversationState


class BotMessage(BaseModel):
    role: Literal["bot", "agent"] = "bot"
    text: str
    language: str = "en"
    choices: list[Choice] = Field(default_factory=list)
    expects: str | None = None
    # The bot is reading an action back for an explicit yes: voice must not let speech cut it off.
    readback: bool = False


class CustomerInput(BaseModel):
    text: str | None = Field(default=None, max_length=4096)
    choice: str | None = Field(default=None, max_length=200)
    dtmf: str | None = Field(default=None, max_length=64, pattern=r"^[0-9*#]*$")
    language: str | None = Field(default=None, description="language the speech recogniser detected")
    asr_confidence: float | None = None


class HandoffSummary(BaseModel):
    """Everything a person taking over needs, so the customer never has to repeat themselves."""

    session_id: str
    ticket_id: str | None = None
    channel: Channel
    reason: str
    customer: dict[str, Any]
    identity_level: str
    language: str
    issue_summary: str
    intents: list[str]
    # Each request once: {"request", "status", "details"} or, for a change refused at its read-back,
    # {"request", "status", "refused": [tool, ...]} without the refused values.
    requests: list[dict[str, Any]] = Field(default_factory=list)
    slots: dict[str, Any]
    actions: list[dict[str, Any]]
    failed_steps: list[dict[str, Any]]
    sentiment: float
    frustration: int
    confidence: float
    policy_references: list[str]
    recommended_next_step: str
    transcript: list[dict[str, Any]]


class TurnResult(BaseModel):
    session_id: str
    messages: list[BotMessage]
    state: ConversationState
    handoff: HandoffSummary | None = None
    ended: bool = False
    resumed: bool = False


class UnknownSession(LookupError):
    """No live or stored conversation has this id."""


class Dialogue(Protocol):
    """The engine as channels see it."""

    async def start(
        self,
        channel: Channel,
        *,
        language: str | None = None,
        caller_phone: str | None = None,
        session_id: str | None = None,
    ) -> TurnResult: ...

    async def resume(self, session_id: str) -> TurnResult: ...

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult: ...

    async def end(self, session_id: str, reason: str = "customer_left") -> ConversationState | None: ...

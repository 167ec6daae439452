"""The conversation state: one pydantic model per conversation, persisted after every turn.

It holds everything a person taking over would need and everything a resume needs: who the
customer is and how sure we are, the stack of requests, the slots with where they came from,
the question or confirmation pending, every action attempted with its verification evidence,
and how the conversation ended.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, computed_field

from actions.models import IdentityLevel, RiskClass, utcnow

Channel = Literal["chat", "voice", "terminal", "replay", "rest"]
Outcome = Literal["in_progress", "resolved", "pending_approval", "handed_off", "failed", "abandoned"]
IntentStatus = Literal["active", "paused", "done", "cancelled", "failed", "handed_off", "pending_approval"]


class Choice(BaseModel):
    label: str
    value: str


class Slot(BaseModel):
    name: str
    value: Any
    source_turn: int
    confidence: float = 1.0
    source: Literal["customer", "backoffice", "choice", "default", "dtmf"] = "customer"


class IntentFrame(BaseModel):
    """One request of the customer: the flow running for it, its slots, and its working memory.

    The working memory is typed: the records the flow's `call` steps saved (by their `save` name)
    with their versions, the opening words the request came with, what was offered for the slot
    being asked, lists still open, partly given values, values prepared for read-backs, and a
    space the domain pack owns. None of it is sent to clients (see `WORKING_MEMORY`).
    """

    intent: str  # the flow's name: the request as understanding named it
    status: IntentStatus = "active"
    step: str | None = None
    slots: dict[str, Slot] = Field(default_factory=dict)
    started_turn: int = 0
    note: str | None = None

    started: bool = False  # the flow's opening was read for values ("cancel #W1, ordered by mistake")
    request_text: str | None = None  # the words the request came with
    reread: list[str] = Field(default_factory=list)  # collect steps the opening words were read again for
    records: dict[str, Any] = Field(default_factory=dict)  # what `call` steps saved, by `save` name
    versions: dict[str, int | None] = Field(default_factory=dict)  # their versions, for guarded writes
    offered: list[str] = Field(default_factory=list)  # the values offered for the slot being asked
    open_lists: list[str] = Field(default_factory=list)  # list slots the customer has not closed yet
    shortlist: list[str] = Field(default_factory=list)  # values the customer's words narrowed the slot to
    partial: dict[str, dict[str, str]] = Field(default_factory=dict)  # parts of a slot given so far
    template: dict[str, Any] = Field(default_factory=dict)  # values prepared for read-backs and outcomes
    declined: list[str] = Field(default_factory=list)  # the read-backs the customer said no to, by tool
    domain: dict[str, Any] = Field(default_factory=dict)  # the domain pack's own memory for this request

    def value(self, name: str, default: Any = None) -> Any:
        slot = self.slots.get(name)
        return default if slot is None else slot.value


class Identity(BaseModel):
    user_id: str | None = None
    level: IdentityLevel = IdentityLevel.none
    method: Literal["email", "name_zip", "otp"] | None = None
    first_name: str | None = None
    verified_turn: int | None = None
    failed_attempts: int = 0
    phone_hint: str | None = None  # the caller's number: a hint to look up, never proof
    partial: dict[str, str] = Field(default_factory=dict)  # name or zip given so far, before the look-up
    code_sent: bool = False  # a one-time code is on its way
    locked: bool = False  # too many wrong codes: the account is locked


class PendingConfirmation(BaseModel):
    """An action read back to the customer and waiting for an explicit yes."""

    tool: str
    arguments: dict[str, Any]
    readback: str
    idempotency_key: str
    risk: RiskClass
    asked_turn: int


class PendingApproval(BaseModel):
    approval_id: str
    tool: str
    arguments: dict[str, Any]
    idempotency_key: str
    reason: str
    requested_turn: int


class ActionRecord(BaseModel):
    """A governed tool call the conversation made, with what the back office proved about it."""

    tool: str
    arguments: dict[str, Any]
    idempotency_key: str | None = None
    stage: Literal["executing", "done"] = "done"
    status: str
    risk: RiskClass
    write: bool
    verified: bool = False
    confirmation_id: str | None = None
    evidence: dict[str, Any] | None = None
    checks: list[str] = Field(default_factory=list)
    error: dict[str, Any] | None = None
    steps: list[dict[str, Any]] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)
    turn: int
    duration_ms: float = 0.0
    at: datetime = Field(default_factory=utcnow)


class ConversationState(BaseModel):
    session_id: str
    channel: Channel = "chat"
    language: str = "en"
    turn: int = 0
    # Bumped by every save, whoever makes it (a customer turn, an agent, an approval): saves are
    # guarded by it, so no server overwrites a change it has not seen.
    revision: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    identity: Identity = Field(default_factory=Identity)
    intents: list[IntentFrame] = Field(default_factory=list)
    pending_confirmation: PendingConfirmation | None = None
    pending_approval: PendingApproval | None = None
    actions: list[ActionRecord] = Field(default_factory=list)

    risk: RiskClass | None = None
    sentiment: float = 0.0
    frustration: int = 0
    no_streak: int = 0  # turns in a row that were a bare "no": the third one in a row is frustration
    not_understood_streak: int = 0
    escalation_reason: str | None = None
    outcome: Outcome = "in_progress"
    mode: Literal["bot", "agent", "closed"] = "bot"
    agent: str | None = None
    handoff_ticket_id: str | None = None

    expects: str | None = None
    choices: list[Choice] = Field(default_factory=list)
    last_prompt: str | None = None
    offer_reason: str | None = None  # why help (a callback, a person) was last offered

    @computed_field
    @property
    def intent(self) -> str | None:
        frame = self.active
        return frame.intent if frame else None

    @computed_field
    @property
    def identity_level(self) -> IdentityLevel:
        return self.identity.level

    @computed_field
    @property
    def slots(self) -> dict[str, Any]:
        frame = self.active
        return {name: slot.value for name, slot in frame.slots.items()} if frame else {}

    @property
    def active(self) -> IntentFrame | None:
        for frame in reversed(self.intents):
            if frame.status == "active":
                return frame
        return None

    @property
    def open_intents(self) -> list[IntentFrame]:
        return [f for f in self.intents if f.status in ("active", "paused")]


# What stays on the server when the state is shown to clients: the requests' working memory.
WORKING_MEMORY: dict[str, Any] = {
    "intents": {
        "__all__": {
            "started", "request_text", "reread", "records", "versions", "offered", "open_lists", "shortlist",
            "partial", "template", "domain",
        }
    },
    "identity": {"partial", "code_sent", "locked"},
}  # fmt: skip

"""The agent console's protocol as pydantic models: what a console sends (`/agent/ws` frames; the REST
bodies) and what it is sent (snapshots of the queues, live lines, the answer to each action)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from dialogue.api import HandoffSummary

# ---------------------------------------------------------------- console -> server


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AuthIn(_In):
    type: Literal["auth"]
    token: str = Field(max_length=512)
    name: str | None = Field(default=None, max_length=80)


class OpenIn(_In):
    type: Literal["open"]
    session_id: str = Field(max_length=64)


class TakeIn(_In):
    type: Literal["take"]
    session_id: str = Field(max_length=64)


class ReplyIn(_In):
    type: Literal["reply"]
    session_id: str = Field(max_length=64)
    text: str


class HandBackIn(_In):
    type: Literal["hand_back"]
    session_id: str = Field(max_length=64)


class CloseIn(_In):
    type: Literal["close"]
    session_id: str = Field(max_length=64)


class DecideIn(_In):
    type: Literal["decide"]
    approval_id: str = Field(max_length=64)
    approve: bool
    note: str | None = Field(default=None, max_length=1000)


class RefreshIn(_In):
    type: Literal["refresh"]


ConsoleFrame = Annotated[
    OpenIn | TakeIn | ReplyIn | HandBackIn | CloseIn | DecideIn | RefreshIn, Field(discriminator="type")
]
console_frame: TypeAdapter[OpenIn | TakeIn | ReplyIn | HandBackIn | CloseIn | DecideIn | RefreshIn] = TypeAdapter(
    ConsoleFrame
)


# REST bodies (`/agent/api/...`): fields this version does not know are ignored.


class AgentBody(_In):
    agent: str | None = Field(default=None, max_length=80)


class ReplyBody(AgentBody):
    text: str = Field(min_length=1)


class DecideBody(AgentBody):
    approve: bool
    note: str | None = Field(default=None, max_length=1000)


# ---------------------------------------------------------------- server -> console


class Ready(BaseModel):
    type: Literal["ready"] = "ready"
    agent: str
    role: str


class Line(BaseModel):
    type: Literal["line"] = "line"
    session_id: str
    role: str
    text: str
    at: datetime


class QueueItem(BaseModel):
    session_id: str
    mode: str
    agent: str | None
    outcome: str
    updated_at: datetime
    summary: dict[str, Any] = Field(description="the hand-off summary without its transcript")


class QueueFrame(BaseModel):
    type: Literal["queue"] = "queue"
    items: list[QueueItem]


class ApprovalItem(BaseModel):
    approval_id: str
    tool: str
    arguments: dict[str, Any]
    reason: str
    session_id: str | None
    created_at: datetime
    customer: dict[str, Any]


class ApprovalsFrame(BaseModel):
    type: Literal["approvals"] = "approvals"
    items: list[ApprovalItem]


class TranscriptLine(BaseModel):
    turn: int
    role: str
    text: str
    at: datetime
    agent: str | None = None


class Conversation(BaseModel):
    type: Literal["conversation"] = "conversation"
    session_id: str
    mode: str
    agent: str | None
    outcome: str
    summary: HandoffSummary
    transcript: list[TranscriptLine]
    pending_approval: dict[str, Any] | None


class StatusFrame(BaseModel):
    type: Literal["status"] = "status"
    session_id: str
    mode: str
    agent: str | None
    outcome: str


class Done(BaseModel):
    """The answer to a console action: what was done and the resulting state of the chat."""

    type: Literal["done"] = "done"
    action: str
    session_id: str | None = None
    approval_id: str | None = None
    mode: str | None = None
    outcome: str | None = None
    delivered: bool = True


class ErrorOut(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after: float | None = None


def error_frame(code: str, message: str, retry_after: float | None = None) -> str:
    return ErrorOut(code=code, message=message, retry_after=retry_after).model_dump_json(exclude_none=True)

"""The customer chat protocol as pydantic models: frames in, frames out, REST bodies and answers.

A `TurnResult` of the engine becomes `message`* `state` `handoff`? `turn_end`, rendered once
and shared by every socket of the session.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator
from pydantic_core import from_json

from dialogue.api import BotMessage, HandoffSummary, TurnResult
from dialogue.state import WORKING_MEMORY, Choice, ConversationState

# The working memory of a conversation (records read for it, caches) stays on the server:
# the state frame carries the decisions and their evidence, not the raw records.
_STATE_EXCLUDE: dict[str, Any] = WORKING_MEMORY

# ---------------------------------------------------------------- client -> server


class TextIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["message"]
    text: str


class ChoiceIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["choice"]
    value: str = Field(min_length=1, max_length=200)


ClientFrame = Annotated[TextIn | ChoiceIn, Field(discriminator="type")]
_client_frame: TypeAdapter[TextIn | ChoiceIn] = TypeAdapter(ClientFrame)


class FrameError(ValueError):
    """A frame the server will not pass on; `code` is the protocol's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def parse_client_frame(raw: str, max_bytes: int) -> TextIn | ChoiceIn:
    # The envelope adds a few bytes to the text; anything far beyond the limit is not parsed at all.
    if len(raw) > max_bytes + 1024:
        raise FrameError("too_large", f"messages are limited to {max_bytes} bytes")
    try:
        # pydantic's parser refuses lone surrogates (text no encoder can write) and deep nesting.
        data = from_json(raw, allow_inf_nan=False)
    except ValueError:
        raise FrameError("bad_frame", "frames must be JSON objects") from None
    if not isinstance(data, dict):
        raise FrameError("bad_frame", "frames must be JSON objects")
    text = data.get("text")
    if data.get("type") == "message" and isinstance(text, str) and len(text.encode()) > max_bytes:
        raise FrameError("too_large", f"messages are limited to {max_bytes} bytes")
    try:
        return _client_frame.validate_python(data)
    except ValidationError:
        raise FrameError(
            "bad_frame", 'expected {"type": "message", "text": "..."} or {"type": "choice", "value": "..."}'
        ) from None


# ---------------------------------------------------------------- server -> client


class SessionOut(BaseModel):
    type: Literal["session"] = "session"
    session_id: str
    resumed: bool = False


class MessageOut(BaseModel):
    type: Literal["message"] = "message"
    role: Literal["bot", "agent"]
    text: str
    language: str
    choices: list[Choice]
    expects: str | None

    @classmethod
    def of(cls, m: BotMessage) -> MessageOut:
        return cls(role=m.role, text=m.text, language=m.language, choices=m.choices, expects=m.expects)


class HandoffOut(BaseModel):
    type: Literal["handoff"] = "handoff"
    summary: HandoffSummary


class TurnEndOut(BaseModel):
    type: Literal["turn_end"] = "turn_end"


class ErrorOut(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    retry_after: float | None = None


TURN_END = TurnEndOut().model_dump_json()


def state_json(state: ConversationState) -> dict[str, Any]:
    return state.model_dump(mode="json", exclude=_STATE_EXCLUDE)


def state_frame(state: ConversationState) -> str:
    # Rendered by hand around pydantic's own JSON: the state is the bulk of every turn.
    return '{"type":"state","state":' + state.model_dump_json(exclude=_STATE_EXCLUDE) + "}"


def session_frame(session_id: str, *, resumed: bool = False) -> str:
    if resumed:
        return SessionOut(session_id=session_id, resumed=True).model_dump_json()
    return SessionOut(session_id=session_id).model_dump_json(exclude={"resumed"})


def error_frame(code: str, message: str, retry_after: float | None = None) -> str:
    return ErrorOut(code=code, message=message, retry_after=retry_after).model_dump_json(exclude_none=True)


def turn_frames(result: TurnResult) -> list[str]:
    """The frames of one engine result, in protocol order."""
    frames = [MessageOut.of(m).model_dump_json() for m in result.messages]
    frames.append(state_frame(result.state))
    if result.handoff is not None:
        frames.append(HandoffOut(summary=result.handoff).model_dump_json())
    frames.append(TURN_END)
    return frames


# ---------------------------------------------------------------- REST


class StartBody(BaseModel):
    """`POST /chat/sessions` (optional)."""

    # Fields this version does not know are ignored, so newer clients keep working.
    model_config = ConfigDict(extra="ignore")
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


class MessageBody(BaseModel):
    """`POST /chat/sessions/{id}/messages`: what the customer typed, or a quick reply they picked."""

    model_config = ConfigDict(extra="ignore")
    text: str | None = None
    choice: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_of(self) -> MessageBody:
        if (self.text is None) == (self.choice is None):
            raise ValueError('send exactly one of {"text": "..."} or {"choice": "..."}')
        return self


class MessageView(BaseModel):
    role: Literal["bot", "agent"]
    text: str
    language: str
    choices: list[Choice]
    expects: str | None

    @classmethod
    def of(cls, m: BotMessage) -> MessageView:
        return cls(role=m.role, text=m.text, language=m.language, choices=m.choices, expects=m.expects)


class StartAnswer(BaseModel):
    session_id: str
    messages: list[MessageView]
    state: dict[str, Any]


class TurnAnswer(BaseModel):
    messages: list[MessageView]
    state: dict[str, Any]
    handoff: HandoffSummary | None


class TranscriptLine(BaseModel):
    turn: int
    role: str
    text: str
    language: str | None = None
    at: datetime


class SessionAnswer(BaseModel):
    session_id: str
    transcript: list[TranscriptLine]
    state: dict[str, Any]

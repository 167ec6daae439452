"""Settings of the chat channel: per-session limits on top of the shared web settings."""

from __future__ import annotations

from pydantic import Field

from desk.web.config import WebConfig


class ChatConfig(WebConfig):
    """Everything the chat's `build_router` needs besides the engine and the desk."""

    # A person types well under one message a second; bursts cover quick replies and pasted lines.
    session_rate: float = Field(default=1.0, gt=0, description="messages per second per session, sustained")
    session_burst: int = Field(default=10, ge=1)
    max_sockets_per_session: int = Field(default=16, ge=1, description="open tabs of one conversation")

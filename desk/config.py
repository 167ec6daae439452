"""Settings of the agent desk: the tokens people sign in with, the queue's size, how often other servers'
changes are looked for."""

from __future__ import annotations

from pydantic import Field, SecretStr

from desk.web.config import WebConfig


class DeskConfig(WebConfig):
    """Everything the desk's `build_router` needs besides the engine."""

    agent_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    queue_limit: int = Field(default=100, ge=1, description="hand-offs shown in the agent console")
    watch_interval_s: float = Field(
        default=1.0, gt=0, description="how often changes made by other servers on the same store are looked for"
    )

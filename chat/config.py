"""Settings of the chat channel: tokens, allowed origins, size and rate limits, the public address."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class ChatConfig(BaseModel):
    """Everything `build_router` needs besides the engine.

    Field names match the application settings, so `ChatConfig.model_validate(settings,
    from_attributes=True)` picks up the tokens, the origins and the public URL.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    agent_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    allowed_origins: list[str] = Field(
        default_factory=list, description="origins besides this server's own that may open the chat socket"
    )
    public_url: str | None = Field(
        default=None, description="address browsers reach this server at; the widget script connects there"
    )
    trust_forwarded_for: bool = Field(
        default=False, description="take the client address from X-Forwarded-For (only behind a trusted proxy)"
    )

    max_message_bytes: int = Field(default=4096, ge=64)
    # A person types well under one message a second; bursts cover quick replies and pasted lines.
    session_rate: float = Field(default=1.0, gt=0, description="messages per second per session, sustained")
    session_burst: int = Field(default=10, ge=1)
    # Offices and mobile carriers put many customers behind one address.
    address_rate: float = Field(default=10.0, gt=0, description="messages and new connections per second per address")
    address_burst: int = Field(default=100, ge=1)

    max_sockets_per_session: int = Field(default=16, ge=1, description="open tabs of one conversation")
    outbox_frames: int = Field(default=1024, ge=16, description="frames queued for a slow socket before it is dropped")
    queue_limit: int = Field(default=100, ge=1, description="hand-offs shown in the agent console")
    watch_interval_s: float = Field(
        default=1.0, gt=0, description="how often changes made by other servers on the same store are looked for"
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in value if o.strip()]

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

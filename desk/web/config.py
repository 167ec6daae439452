"""Settings every web surface shares: allowed origins, the public address, limits per address and socket."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator


class WebConfig(BaseModel):
    """Field names match the application settings, so `model_validate(settings, from_attributes=True)`
    picks up the origins and the public URL."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    allowed_origins: list[str] = Field(
        default_factory=list, description="origins besides this server's own that may open a socket"
    )
    public_url: str | None = Field(
        default=None, description="address browsers reach this server at; the widget script connects there"
    )
    trust_forwarded_for: bool = Field(
        default=False, description="take the client address from X-Forwarded-For (only behind a trusted proxy)"
    )
    max_message_bytes: int = Field(default=4096, ge=64, description="what a customer or an agent sends at once")
    # Offices and mobile carriers put many customers behind one address.
    address_rate: float = Field(default=10.0, gt=0, description="messages and new connections per second per address")
    address_burst: int = Field(default=100, ge=1)
    outbox_frames: int = Field(default=1024, ge=16, description="frames queued for a slow socket before it is dropped")

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [o.strip().rstrip("/").lower() for o in value if o.strip()]

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

"""Settings: `FRONTDESK_`-prefixed environment variables or a `.env` file; every one has an offline default.

Cloud parts switch on by their own keys (`DEEPGRAM_API_KEY`, `TWILIO_ACCOUNT_SID`,
`TWILIO_AUTH_TOKEN`), which are read without the prefix as their vendors name them.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _unprefixed(name: str) -> AliasChoices:
    return AliasChoices(name, f"FRONTDESK_{name}")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRONTDESK_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    db_url: str | None = Field(default=None, description="SQLite file by default; postgresql://... for several servers")
    data: Path | None = Field(default=None, description="a retail db.json-shaped store to import at start")
    data_dir: Path = Field(default=Path("var"), description="where the embedded SQLite file and recordings live")

    agent_token: SecretStr | None = None
    admin_token: SecretStr | None = None
    allowed_origins: list[str] = Field(default_factory=list, description="extra origins allowed to open the chat")
    public_url: str | None = Field(default=None, description="https address Twilio reaches this server at")
    handoff_number: str | None = None

    faults: str = Field(default="", description="fault-injection rules, e.g. 'crm:error,billing:timeout:x2'")
    system_timeout_s: float = 5.0
    refund_approval_threshold: float = 100.0
    languages: list[str] = Field(default_factory=lambda: ["en", "es"])
    flows_dir: Path | None = Field(
        default=None, description="a folder of this deployment's flows, added to the shipped ones (same name: replaced)"
    )
    patterns_dir: Path | None = Field(
        default=None, description="a folder of repair flows, each replacing the shipped one of the same name"
    )

    llm_base_url: str | None = None
    llm_model: str = "gpt-4o-mini"
    llm_api_key: SecretStr | None = None

    deepgram_api_key: SecretStr | None = Field(default=None, validation_alias=_unprefixed("DEEPGRAM_API_KEY"))
    deepgram_url: str | None = Field(default=None, description="override Deepgram's address (tests, proxies)")
    twilio_account_sid: str | None = Field(default=None, validation_alias=_unprefixed("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: SecretStr | None = Field(default=None, validation_alias=_unprefixed("TWILIO_AUTH_TOKEN"))
    twilio_api_url: str | None = Field(default=None, description="override Twilio's REST address (tests)")
    multilingual_stt: bool = Field(default=False, description="offline Whisper base for language switching")
    stream_token_secret: SecretStr | None = Field(
        default=None, description="signs Twilio stream tokens; the same on every server behind one number"
    )
    record_calls: bool = Field(default=False, description="keep each call's audio and timeline under data_dir/calls")
    log_level: str = Field(default="info", pattern="(?i)^(debug|info|warning|error)$", description="server log level")

    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'frontdesk.sqlite3'}"

    def ensure_tokens(self) -> dict[str, str]:
        """Generate agent/admin tokens for this run when none are configured; returns the new ones."""
        made = {}
        if self.agent_token is None:
            self.agent_token = SecretStr(secrets.token_urlsafe(18))
            made["agent"] = self.agent_token.get_secret_value()
        if self.admin_token is None:
            self.admin_token = SecretStr(secrets.token_urlsafe(18))
            made["admin"] = self.admin_token.get_secret_value()
        return made

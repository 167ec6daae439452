"""Settings of the phone channel: Twilio and Deepgram credentials, stream tokens, turn-taking and silence timings.

Every field has a default that works offline; cloud parts switch on by their keys.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator


class VoiceConfig(BaseModel):
    """How the phone line behaves. Build it from the application settings; tests build it directly."""

    public_url: str | None = Field(
        default=None, description="https address Twilio reaches this server at; webhooks are signed over it"
    )
    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_api_url: str | None = Field(default=None, description="override Twilio's REST base URL (tests, proxies)")
    handoff_number: str | None = Field(default=None, description="E.164 number a warm transfer dials")

    deepgram_api_key: SecretStr | None = None
    deepgram_url: str | None = Field(default=None, description="override Deepgram's base URL (tests, proxies)")
    deepgram_stt_model: str = "nova-3"
    turn_detection: Literal["auto", "local", "deepgram"] = Field(
        default="auto",
        description="local: Silero VAD + Smart Turn v3; deepgram: Deepgram's endpointing (no local models, "
        "so the server only relays audio); auto: deepgram when Deepgram is keyed",
    )
    deepgram_endpointing_ms: int = Field(default=300, gt=0)
    tts_provider: Literal["auto", "offline", "deepgram"] = Field(
        default="auto", description="auto: Deepgram Aura when a Deepgram key is set, else piper/espeak-ng"
    )
    deepgram_voices: dict[str, str] = Field(
        default_factory=lambda: {"en": "aura-2-thalia-en", "es": "aura-2-celeste-es"}
    )

    multilingual: bool = Field(default=False, description="recognise and answer other languages than English")
    languages: list[str] = Field(default_factory=lambda: ["en", "es"])
    model_cache_dir: Path = Field(
        default_factory=lambda: Path.home() / ".cache" / "frontdesk",
        description="where the multilingual Whisper model is assembled from its wheels on first use",
    )

    stream_token_secret: SecretStr = Field(
        default_factory=lambda: SecretStr(secrets.token_urlsafe(32)),
        description="signs stream tokens; set the same value on every server behind one number",
    )
    stream_token_ttl_s: float = Field(default=60.0, gt=0)

    silence_reprompt_s: float = Field(default=8.0, gt=0, description="caller silence before the bot asks again")
    silence_max_reprompts: int = Field(default=2, ge=0, description="reprompts before the bot says goodbye")
    filler_after_s: float = Field(default=1.0, ge=0, description="a slower dialogue answer gets a short filler first")
    barge_in_min_speech_s: float = Field(
        default=0.7, gt=0, description="caller speech this long over the bot interrupts it, whatever the words"
    )
    dtmf_timeout_s: float = Field(default=3.0, gt=0, description="pause that ends a keypad entry without '#'")
    vad_stop_s: float = Field(default=0.2, gt=0)
    # pipecat's default (0.6) is reached only once 0.4 s of loud audio fills its volume window: a
    # word as short as "No." never got there and was never heard.
    vad_min_volume: float = Field(default=0.4, ge=0, le=1, description="loudness a stretch needs to be speech")
    turn_timeout_s: float = Field(default=3.0, gt=0, description="silence that ends a turn the model thinks unfinished")
    sentence_end_silence_s: float = Field(
        default=0.8, gt=0, description="silence after a transcript ending in . ? ! that ends the turn anyway"
    )
    max_call_s: float = Field(default=3600.0, gt=0)
    preload_models: bool = Field(default=True, description="start loading speech models at the first webhook")
    recordings_dir: Path | None = Field(
        default=None, description="when set, each call's caller audio, bot audio and timeline are kept here"
    )

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> VoiceConfig:
        """Pick the phone line's fields from application settings (any object with these attribute names)."""
        names = {
            "public_url": "public_url", "handoff_number": "handoff_number", "languages": "languages",
            "deepgram_api_key": "deepgram_api_key", "deepgram_url": "deepgram_url",
            "twilio_account_sid": "twilio_account_sid", "twilio_auth_token": "twilio_auth_token",
            "twilio_api_url": "twilio_api_url", "multilingual": "multilingual_stt",
            "stream_token_secret": "stream_token_secret",
        }  # fmt: skip
        values = {field: getattr(settings, attr) for field, attr in names.items()
                  if getattr(settings, attr, None) is not None}  # fmt: skip
        # Recording callers is a choice with consent implications: only on when asked for (recordings_dir=...).
        return cls(**{**values, **overrides})

    @field_validator("public_url", "twilio_api_url", "deepgram_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    @field_validator("languages")
    @classmethod
    def _english_first(cls, value: list[str]) -> list[str]:
        langs = [v.lower().split("-")[0] for v in value]
        if "en" not in langs:
            langs.insert(0, "en")
        return list(dict.fromkeys(langs))

    @property
    def twilio_rest_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token)

    @property
    def can_transfer(self) -> bool:
        return self.twilio_rest_enabled and bool(self.handoff_number)

    @property
    def deepgram_enabled(self) -> bool:
        return self.deepgram_api_key is not None and bool(self.deepgram_api_key.get_secret_value())

    @property
    def local_turn_detection(self) -> bool:
        return not self.deepgram_enabled or self.turn_detection == "local"

    @property
    def deepgram_tts_enabled(self) -> bool:
        return self.tts_provider == "deepgram" or (self.tts_provider == "auto" and self.deepgram_enabled)

"""Deepgram Aura text-to-speech, switching voice with the conversation's language."""

from __future__ import annotations

from typing import Any

from pipecat.services.deepgram.tts import DeepgramTTSService
from pipecat.services.settings import TTSSettings
from pipecat.utils.types import is_given

from voice.config import VoiceConfig
from voice.tts import base_language


class AuraTTSService(DeepgramTTSService):
    """pipecat's Deepgram TTS with a voice per language from the config."""

    def __init__(self, config: VoiceConfig, **kwargs) -> None:
        assert config.deepgram_api_key is not None
        self._voices = config.deepgram_voices
        base = config.deepgram_url or "https://api.deepgram.com"
        ws_base = base.replace("https://", "wss://").replace("http://", "ws://")
        super().__init__(
            api_key=config.deepgram_api_key.get_secret_value(),
            base_url=ws_base,
            settings=DeepgramTTSService.Settings(voice=self._voices.get("en", "aura-2-thalia-en")),
            **kwargs,
        )
        self._register_event_handler("on_voice")
        self.reports_voice = True

    async def _update_settings(self, delta: TTSSettings) -> dict[str, Any]:
        if is_given(delta.language) and delta.language:
            voice = self._voices.get(base_language(delta.language))
            if voice:
                delta.voice = voice
        return await super()._update_settings(delta)

    async def run_tts(self, text: str, context_id: str):
        await self._call_event_handler("on_voice", text, f"deepgram:{self._settings.voice}", "")
        async for frame in super().run_tts(text, context_id):
            yield frame

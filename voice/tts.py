"""Text-to-speech services for a call: offline piper (English) and espeak-ng (other languages), or Deepgram Aura.

Both follow the language set with a TTSUpdateSettingsFrame, so the bridge switches the voice by
saying which language the next message is in. Each reports the voice it chose through its
`on_voice` event, for the call's timeline.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from typing import Any

from loguru import logger
from pipecat.frames.frames import ErrorFrame, Frame
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.types import is_given

from voice import models
from voice.config import VoiceConfig
from voice.espeak import EspeakEngine

PIPER_VOICE = "piper:en_US-joe-medium"


def base_language(language: Any) -> str:
    text = str(language.value if isinstance(language, Language) else language or "en")
    return text.lower().split("-")[0].split("_")[0] or "en"


def voice_for(language: str) -> str:
    return PIPER_VOICE if base_language(language) == "en" else f"espeak-ng:{base_language(language)}"


_CLAUSE_END = re.compile(r"[,;:]\s+")


def first_clause_apart(text: str) -> list[str]:
    """Split off a short opening clause ("Sure, ...") so its audio starts before the rest is synthesized."""
    match = _CLAUSE_END.search(text)
    if match is None or match.start() > 60 or len(text) - match.end() < 12:
        return [text]
    return [text[: match.start() + 1], text[match.end() :]]


def piper_chunks(text: str) -> Iterator[bytes]:
    voice = models.piper_voice()
    for part in first_clause_apart(text):
        for chunk in voice.synthesize(part):
            yield chunk.audio_int16_bytes


class OfflineTTSService(TTSService):
    """piper with the joe voice for English; espeak-ng's voice for any other language."""

    def __init__(self, *, language: str = "en", **kwargs) -> None:
        super().__init__(
            push_start_frame=True,
            push_stop_frames=True,
            settings=TTSSettings(model=None, voice=voice_for(language), language=base_language(language)),
            **kwargs,
        )
        self._register_event_handler("on_voice")
        self.reports_voice = True

    def can_generate_metrics(self) -> bool:
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        return base_language(language)

    async def _update_settings(self, delta: TTSSettings) -> dict[str, Any]:
        if is_given(delta.language) and delta.language:
            delta.voice = voice_for(base_language(delta.language))
        return await super()._update_settings(delta)

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame, None]:
        language = base_language(self._settings.language)
        voice = voice_for(language)
        await self._call_event_handler("on_voice", text, voice, language)
        try:
            await self.start_tts_usage_metrics(text)
            rate, source = self.synthesis(text, language, voice)
            async for frame in self._stream_audio_frames_from_iterator(
                source, in_sample_rate=rate, context_id=context_id
            ):
                await self.stop_ttfb_metrics()
                yield frame
        except Exception as exc:
            logger.exception(f"{self}: synthesis failed")
            yield ErrorFrame(error=f"speech synthesis failed: {exc}")
        finally:
            await self.stop_ttfb_metrics()

    def synthesis(self, text: str, language: str, voice: str) -> tuple[int, AsyncIterator[bytes]]:
        """The sample rate of `voice` and its audio for `text`, chunk by chunk as it is made."""
        if voice == PIPER_VOICE:
            return models.piper_voice().config.sample_rate, _threaded(piper_chunks(text))
        engine = EspeakEngine.shared()
        return engine.sample_rate, _espeak(engine, text, language)


async def _espeak(engine: EspeakEngine, text: str, language: str) -> AsyncIterator[bytes]:
    yield await asyncio.to_thread(engine.synthesize, text, language)


async def _threaded(iterator: Iterator[bytes]) -> AsyncIterator[bytes]:
    """Step a blocking synthesis iterator in a worker thread, one sentence at a time."""
    done = object()
    while True:
        item = await asyncio.to_thread(next, iterator, done)
        if item is done:
            return
        yield item  # type: ignore[misc]


def build_tts(config: VoiceConfig) -> TTSService:
    if config.deepgram_tts_enabled and config.deepgram_api_key is not None:
        from voice.aura import AuraTTSService

        return AuraTTSService(config)
    return OfflineTTSService()

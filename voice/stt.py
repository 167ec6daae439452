"""Speech-to-text services for a call: offline Whisper (shared model) or Deepgram streaming.

`LocalWhisperSTTService` is pipecat's WhisperSTTService with the process-wide model and the
faster single-encode transcription of `voice.asr`; it reports the language it heard so the
dialogue can follow a caller who switches. `build_stt` picks the service from the config.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import numpy as np
from loguru import logger
from pipecat.frames.frames import (
    ErrorFrame,
    Frame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection
from pipecat.services.stt_service import STTService
from pipecat.services.whisper.stt import WhisperSTTService
from pipecat.transcriptions.language import Language
from pipecat.utils.time import time_now_iso8601

from voice import models
from voice.asr import Recognition, Transcriber
from voice.config import VoiceConfig
from voice.levels import pcm_rms

# Audio quieter than this (absolute, or relative to the utterance's loudest frame) is a pause.
_QUIET_RMS = 150.0
_QUIET_FRACTION = 0.08
# A pause this long starts decoding early (the VAD confirms an end of speech after stop_secs).
_SPECULATE_AFTER_S = 0.08
# Whisper's own estimate that a segment holds no speech; above this the "words" are noise.
_NO_SPEECH_MAX = 0.6
# A segmented recogniser finishes well inside this after the caller stops; pipecat's turn
# strategy waits this long for a transcript before giving up on one.
_LOCAL_TTFS_P99 = 1.2


class _KeepsTranscripts:
    """Transcripts survive an interruption.

    A caller who cuts the bot off with a short word is only known to be taking the floor once
    that word is transcribed; the interruption that follows must not drop the very transcript
    that caused it from the queues downstream.
    """

    async def push_frame(self, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM):
        if isinstance(frame, TranscriptionFrame):
            frame.interruptible = False
        await super().push_frame(frame, direction)  # type: ignore[misc]


class LocalWhisperSTTService(_KeepsTranscripts, WhisperSTTService):
    """Transcribes each VAD-delimited utterance with a Whisper model loaded once per process.

    Decoding starts as soon as the caller has been quiet for `_SPECULATE_AFTER_S`, before the VAD
    confirms the end of speech (`stop_secs` later): if the caller does stop, the transcript is
    ready when the turn ends; if they go on, the early decode is dropped.
    """

    def __init__(self, *, transcriber: Transcriber, model_name: str, **kwargs) -> None:
        self._transcriber = transcriber
        self._peak_rms = 0.0
        self._quiet_s = 0.0
        self._early: tuple[bytes, asyncio.Future[Recognition]] | None = None
        self._early_by_segment: dict[int, asyncio.Future[Recognition]] = {}
        language = None if transcriber.multilingual else Language.EN
        super().__init__(
            settings=WhisperSTTService.Settings(model=model_name, language=language),
            ttfs_p99_latency=_LOCAL_TTFS_P99,
            **kwargs,
        )

    def _load(self) -> None:
        # The model is shared by every call; loading it here would cost seconds per call.
        self._model = self._transcriber

    def _unsupported_language(self) -> str | None:
        return None

    async def process_audio_frame(self, frame: InputAudioRawFrame, direction: FrameDirection) -> None:
        await super().process_audio_frame(frame, direction)
        if not self._user_speaking:
            return
        rms = pcm_rms(frame.audio)
        self._peak_rms = max(self._peak_rms, rms)
        if rms < max(_QUIET_RMS, _QUIET_FRACTION * self._peak_rms):
            self._quiet_s += len(frame.audio) // 2 / self.sample_rate
        else:
            self._quiet_s = 0.0
            self._drop_early()
        if self._quiet_s >= _SPECULATE_AFTER_S and self._early is None:
            pcm = bytes(self._audio_buffer) + self._trailing_silence()
            self._early = (pcm, asyncio.ensure_future(asyncio.to_thread(self._transcriber.transcribe, _floats(pcm))))

    async def _handle_user_started_speaking(self, frame: VADUserStartedSpeakingFrame) -> None:
        await super()._handle_user_started_speaking(frame)
        self._peak_rms, self._quiet_s = 0.0, 0.0
        self._drop_early()

    async def _handle_user_stopped_speaking(self, frame: VADUserStoppedSpeakingFrame) -> None:
        early, self._early = self._early, None
        if early is None:
            await super()._handle_user_stopped_speaking(frame)
            return
        # The caller did stop where the early decode began: its transcript is this segment's.
        self._user_speaking = False
        self._audio_buffer.clear()
        pcm, future = early
        self._early_by_segment[id(pcm)] = future
        await self._segment_queue.put(pcm)

    def _drop_early(self) -> None:
        if self._early is not None:
            self._early[1].cancel()
            self._early = None

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame, None]:
        await self.start_processing_metrics()
        early = self._early_by_segment.pop(id(audio), None)
        try:
            if early is not None:
                result = await early
            else:
                result = await asyncio.to_thread(self._transcriber.transcribe, _floats(audio))
        except Exception as exc:  # a bad segment must not end the call
            logger.exception("speech recognition failed")
            yield ErrorFrame(error=f"speech recognition failed: {exc}")
            return
        finally:
            await self.stop_processing_metrics()
        if not result.text or result.no_speech_probability > _NO_SPEECH_MAX:
            logger.debug(f"{self}: no speech in segment ({result.no_speech_probability:.2f})")
            return
        language = Language(result.language) if result.language in Language._value2member_map_ else None
        await self._handle_transcription(result.text, True, language)
        yield TranscriptionFrame(result.text, self._user_id, time_now_iso8601(), language, result=result)


def _floats(pcm: bytes):
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def build_stt(config: VoiceConfig) -> STTService:
    """Deepgram when keyed (`language=multi` when the line is multilingual), else offline Whisper."""
    if config.deepgram_enabled:
        from pipecat.services.deepgram.stt import DeepgramSTTService

        from voice.deepgram_client import use_shared_http_client

        use_shared_http_client()

        class PhoneDeepgramSTTService(_KeepsTranscripts, DeepgramSTTService):
            pass

        assert config.deepgram_api_key is not None
        return PhoneDeepgramSTTService(
            api_key=config.deepgram_api_key.get_secret_value(),
            base_url=config.deepgram_url or "",
            settings=DeepgramSTTService.Settings(
                model=config.deepgram_stt_model,
                language="multi" if config.multilingual else "en",
                interim_results=True,
                punctuate=True,
                smart_format=True,
                endpointing=config.deepgram_endpointing_ms,
            ),
            # Nothing after the recogniser needs the audio unless a local turn model listens to it.
            audio_passthrough=config.local_turn_detection,
        )
    if config.multilingual:
        model = models.whisper_multilingual(config.model_cache_dir)
        return LocalWhisperSTTService(transcriber=Transcriber(model, config.languages), model_name="whisper-base")
    return LocalWhisperSTTService(transcriber=Transcriber(models.whisper_english()), model_name="whisper-tiny.en")

"""Twilio Media Streams serializer that survives bad frames, passes marks through, and records the wire.

pipecat's TwilioFrameSerializer raises on bad base64 or non-object JSON, which ends its receive
loop and with it the call. Here a bad frame is logged and skipped. Twilio's `mark` echoes (our
playback marks coming back once played) and `stop` become InputTransportMessageFrames.
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from loguru import logger
from pipecat.audio.utils import ulaw_to_pcm
from pipecat.frames.frames import AudioRawFrame, Frame, InputAudioRawFrame, InputTransportMessageFrame
from pipecat.serializers.twilio import TwilioFrameSerializer

from voice.recording import CallRecorder
from voice.resample import TimeInvariantStreamResampler


class PhoneFrameSerializer(TwilioFrameSerializer):
    """8 kHz mu-law in and out; a malformed message never ends the call."""

    def __init__(
        self, stream_sid: str, *, recorder: CallRecorder | None = None, batch_frames: int = 1, **kwargs
    ) -> None:
        super().__init__(stream_sid, params=TwilioFrameSerializer.InputParams(auto_hang_up=False), **kwargs)
        # The same caller audio must reach the recogniser the same, however it was framed and timed.
        self._input_resampler = TimeInvariantStreamResampler()
        self._recorder = recorder
        self._batch_frames = max(1, batch_frames)
        self._pending: list[bytes] = []
        self.bad_frames = 0

    async def serialize(self, frame: Frame) -> str | bytes | None:
        data = await super().serialize(frame)
        if self._recorder is not None and data and isinstance(frame, AudioRawFrame):
            self._recorder.bot_audio(frame.audio, frame.sample_rate, time.monotonic())
        return data

    async def deserialize(self, data: str | bytes) -> Frame | None:
        try:
            message = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the parser goes
            return self._reject("not JSON", data)
        if not isinstance(message, dict):
            return self._reject("not a JSON object", data)
        event = message.get("event")
        if event == "media":
            media = message.get("media")
            payload = media.get("payload") if isinstance(media, dict) else None
            if not isinstance(payload, str):
                return self._reject("media without a payload", data)
            try:
                raw = base64.b64decode(payload, validate=True)
            except (binascii.Error, ValueError):
                return self._reject("media payload is not base64", data)
            if self._recorder is not None:
                self._recorder.caller_audio(raw)
            if self._batch_frames > 1:
                return await self._batched(raw)
        elif event in ("mark", "stop"):
            return InputTransportMessageFrame(message=message)
        elif event == "dtmf":
            dtmf = message.get("dtmf")
            if not isinstance(dtmf, dict) or not isinstance(dtmf.get("digit"), str):
                return self._reject("dtmf without a digit", data)
        elif event in ("connected", "start"):
            return None
        else:
            return self._reject(f"unknown event {event!r}", data)
        try:
            return await super().deserialize(data)
        except Exception:  # whatever pipecat chokes on, the call goes on
            logger.exception("Twilio frame could not be decoded")
            self.bad_frames += 1
            return None

    async def _batched(self, raw: bytes) -> Frame | None:
        """Twilio sends 20 ms of audio a message; passing several on as one frame cuts the per-frame work."""
        self._pending.append(raw)
        if len(self._pending) < self._batch_frames:
            return None
        mulaw, self._pending = b"".join(self._pending), []
        pcm = await ulaw_to_pcm(mulaw, self._twilio_sample_rate, self._sample_rate, self._input_resampler)
        if not pcm:
            return None
        return InputAudioRawFrame(audio=pcm, num_channels=1, sample_rate=self._sample_rate)

    def _reject(self, why: str, data: str | bytes) -> None:
        self.bad_frames += 1
        shown = data[:120] if isinstance(data, str | bytes) else data
        logger.warning(f"ignoring Twilio frame ({why}): {shown!r}")
        return None

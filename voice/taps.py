"""Processors that watch the bot's audio go by: right after synthesis, and as it leaves on the wire.

The synthesis tap notes when each bot turn's first audio is synthesized. The wire tap, placed
after the output transport (which pushes each chunk on only once it has been written to the
socket), notes the first byte on the wire, tells the turn-taking strategy upstream when a readback
is playing, and reports marks as sent.
"""

from __future__ import annotations

import time

from pipecat.frames.frames import (
    BotStoppedSpeakingFrame,
    Frame,
    OutputAudioRawFrame,
    OutputTransportMessageFrame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from voice.calls import CallRecord
from voice.frames import BotTurnFrame, MarkSentFrame, ReadbackPlaybackFrame


class SynthesisTap(FrameProcessor):
    def __init__(self, record: CallRecord, **kwargs) -> None:
        super().__init__(**kwargs)
        self._record = record
        self._turn: int | None = None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            if isinstance(frame, BotTurnFrame):
                self._turn = frame.turn
            elif isinstance(frame, TTSAudioRawFrame) and self._turn is not None:
                figures = self._record.turn(self._turn)
                if figures is not None and figures.tts_first_audio is None:
                    figures.tts_first_audio = time.time()
        await self.push_frame(frame, direction)


class WireTap(FrameProcessor):
    def __init__(self, record: CallRecord, **kwargs) -> None:
        super().__init__(**kwargs)
        self._record = record
        self._turn: int | None = None
        self._readback = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction != FrameDirection.DOWNSTREAM:
            await self.push_frame(frame, direction)
            return
        if isinstance(frame, BotTurnFrame):
            self._turn = frame.turn
        elif isinstance(frame, OutputAudioRawFrame):
            if self._turn is not None:
                figures = self._record.turn(self._turn)
                if figures is not None and figures.wire_first_audio is None:
                    figures.wire_first_audio = time.time()
            await self._readback_playing(not frame.interruptible)
        elif isinstance(frame, BotStoppedSpeakingFrame):
            await self._readback_playing(False)
        elif isinstance(frame, OutputTransportMessageFrame) and isinstance(frame.message, dict):
            if frame.message.get("event") == "mark":
                name = (frame.message.get("mark") or {}).get("name")
                if isinstance(name, str):
                    await self.push_frame(MarkSentFrame(name=name), FrameDirection.UPSTREAM)
        await self.push_frame(frame, direction)

    async def _readback_playing(self, playing: bool) -> None:
        if playing != self._readback:
            self._readback = playing
            self._record.event("readback_playing" if playing else "readback_done")
            await self.push_frame(ReadbackPlaybackFrame(playing=playing), FrameDirection.UPSTREAM)

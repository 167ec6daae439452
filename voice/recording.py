"""Keeps what went over the wire during one call: the caller's audio, the bot's audio, and the timeline.

Files written at the end of the call into `<recordings_dir>/<call_sid>/`: `caller.wav` (8 kHz, what
QA replay feeds back through the pipeline), `call.wav` (stereo: caller left, bot right, on the
call's clock) and `call.json` (the call record).
"""

from __future__ import annotations

import audioop
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

RATE = 8000


class CallRecorder:
    """Collects audio in memory (a ten-minute call is about 20 MB of PCM) and writes it once."""

    def __init__(self) -> None:
        self._caller = bytearray()
        self._bot: list[tuple[float, np.ndarray]] = []
        self._start = time.monotonic()

    def caller_audio(self, mulaw: bytes) -> None:
        self._caller.extend(audioop.ulaw2lin(mulaw, 2))

    def bot_audio(self, pcm: bytes, sample_rate: int, at: float) -> None:
        samples = np.frombuffer(pcm, dtype=np.int16)
        if sample_rate != RATE:
            samples = soxr.resample(samples, sample_rate, RATE).astype(np.int16)
        self._bot.append((at - self._start, samples))

    def save(self, directory: Path, record: dict[str, Any]) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        caller = np.frombuffer(bytes(self._caller), dtype=np.int16)
        sf.write(directory / "caller.wav", caller, RATE, subtype="PCM_16")
        length = max([len(caller)] + [int(at * RATE) + len(s) for at, s in self._bot])
        bot = np.zeros(length, dtype=np.int16)
        cursor = 0
        for at, samples in self._bot:
            # Audio goes out a little ahead of real time; never overlap what was already placed.
            start = max(cursor, int(at * RATE))
            end = min(length, start + len(samples))
            bot[start:end] = samples[: end - start]
            cursor = end
        stereo = np.zeros((length, 2), dtype=np.int16)
        stereo[: len(caller), 0] = caller
        stereo[:, 1] = bot
        sf.write(directory / "call.wav", stereo, RATE, subtype="PCM_16")
        (directory / "call.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
        return directory

"""Offline speech at telephone quality: synthesis to 8 kHz PCM, WAV loading, mu-law, transcription back.

Used by the Media Streams client to speak a caller's turns and to check what the bot said.
"""

from __future__ import annotations

import audioop
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from voice import models
from voice.asr import Transcriber
from voice.espeak import EspeakEngine

PHONE_RATE = 8000


def synthesize(text: str, language: str = "en") -> np.ndarray:
    """int16 mono at 8 kHz: the joe piper voice for English, espeak-ng for anything else."""
    if language.split("-")[0].lower() == "en":
        voice = models.piper_voice()
        chunks = [c.audio_int16_array for c in voice.synthesize(text)]
        audio, rate = (np.concatenate(chunks) if chunks else np.zeros(0, np.int16)), voice.config.sample_rate
    else:
        engine = EspeakEngine.shared()
        audio = np.frombuffer(engine.synthesize(text, language.split("-")[0].lower()), dtype=np.int16)
        rate = engine.sample_rate
    return resample(audio, rate, PHONE_RATE)


def load_wav(path: Path) -> np.ndarray:
    """Any WAV (any rate, any channels) as int16 mono at 8 kHz."""
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    mono = data.mean(axis=1)
    return resample((np.clip(mono, -1, 1) * 32767).astype(np.int16), rate, PHONE_RATE)


def resample(audio: np.ndarray, rate: int, target: int) -> np.ndarray:
    if rate == target or len(audio) == 0:
        return audio.astype(np.int16)
    out = soxr.resample(audio.astype(np.float32) / 32768.0, rate, target)
    return (np.clip(out, -1, 1) * 32767).astype(np.int16)


def trim_silence(audio: np.ndarray, threshold: int = 300) -> np.ndarray:
    loud = np.flatnonzero(np.abs(audio.astype(np.int32)) > threshold)
    return audio[loud[0] : loud[-1] + 1] if len(loud) else audio[:0]


def to_mulaw(pcm: np.ndarray) -> bytes:
    return audioop.lin2ulaw(pcm.astype(np.int16).tobytes(), 2)


def from_mulaw(data: bytes) -> np.ndarray:
    return np.frombuffer(audioop.ulaw2lin(data, 2), dtype=np.int16)


def transcribe(audio_8k: np.ndarray, *, multilingual: bool = False, cache_dir: Path | None = None) -> tuple[str, str]:
    """(text, language) of 8 kHz speech, with the same offline models the server uses."""
    model = models.whisper_multilingual(cache_dir) if multilingual and cache_dir else models.whisper_english()
    transcriber = Transcriber(model, ["en", "es", "fr", "de", "it", "pt"], beam_size=5)
    samples = resample(audio_8k, PHONE_RATE, 16000).astype(np.float32) / 32768.0
    padded = np.concatenate([np.zeros(8000, np.float32), samples, np.zeros(16000, np.float32)])
    result = transcriber.transcribe(padded)
    return result.text, result.language

"""What a replay is given: calls (caller audio + expectations) found from the paths on the command line.

A path is a WAV (mono: the caller; stereo: the caller's channel is picked), a call folder
(`call.wav` and, when there, `expect.yaml`), or a folder of call folders. WAVs of any rate and
encoding (8 kHz mu-law as Twilio records, 16-bit PCM, float...) come out as 8 kHz 16-bit mono, the
rate of the phone line. Utterances are found by energy for `--timing turns`.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Literal

import numpy as np
import soundfile as sf
import soxr
from pydantic import BaseModel

RATE = 8000
CALL_AUDIO = "call.wav"
EXPECT_FILE = "expect.yaml"

Channel = Literal["left", "right", "0", "1"]


class CallInput(BaseModel):
    """One call to replay: its name, caller audio file and expectations file (if any)."""

    name: str
    audio: Path
    expect: Path | None = None


class InputError(ValueError):
    """A path that is not a WAV, a call folder or a folder of calls."""


def find_calls(paths: list[Path], expect: Path | None = None) -> list[CallInput]:
    """The calls under `paths`, in order; `expect` overrides each call's own expect.yaml."""
    calls: list[CallInput] = []
    for path in paths:
        if path.is_file():
            if path.suffix.lower() != ".wav":
                raise InputError(f"{path} is not a WAV file")
            own = path.parent / EXPECT_FILE if path.name == CALL_AUDIO else None
            name = path.parent.name if path.name == CALL_AUDIO else path.stem
            calls.append(CallInput(name=name, audio=path, expect=expect or _existing(own)))
        elif (path / CALL_AUDIO).is_file():
            calls.append(
                CallInput(name=path.name, audio=path / CALL_AUDIO, expect=expect or _existing(path / EXPECT_FILE))
            )
        elif path.is_dir():
            found = sorted(p for p in path.iterdir() if (p / CALL_AUDIO).is_file())
            if not found:
                raise InputError(f"{path} holds no call folders (folders with a {CALL_AUDIO})")
            calls += [
                CallInput(name=p.name, audio=p / CALL_AUDIO, expect=expect or _existing(p / EXPECT_FILE)) for p in found
            ]
        else:
            raise InputError(f"{path} does not exist")
    names: dict[str, int] = {}
    for call in calls:  # two calls of the same name would overwrite each other's report files
        names[call.name] = names.get(call.name, 0) + 1
        if names[call.name] > 1:
            call.name = f"{call.name}-{names[call.name]}"
    return calls


def _existing(path: Path | None) -> Path | None:
    return path if path is not None and path.is_file() else None


def channel_index(channel: Channel | str) -> int:
    name = str(channel)
    return {"left": 0, "right": 1}[name] if name in ("left", "right") else int(name)


def load_caller(path: Path, channel: Channel | str = "left") -> np.ndarray:
    """The caller's audio as int16 mono at 8 kHz; for a stereo recording, the caller's channel."""
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, sf.LibsndfileError) as exc:
        raise InputError(f"{path} could not be read as audio: {exc}") from exc
    if data.shape[1] > 1:
        index = channel_index(channel)
        if index >= data.shape[1]:
            raise InputError(f"{path} has {data.shape[1]} channels, no channel {channel}")
        mono = data[:, index]
    else:
        mono = data[:, 0]
    if rate != RATE and len(mono):
        mono = soxr.resample(mono, rate, RATE)
    return (np.clip(mono, -1, 1) * 32767).astype(np.int16)


class Utterance(BaseModel):
    start_s: float
    end_s: float


def utterances(audio: np.ndarray, *, min_gap_s: float = 0.9, min_speech_s: float = 0.25) -> list[Utterance]:
    """Stretches of speech separated by at least `min_gap_s` of quiet (20 ms frames, adaptive threshold).

    The gap is longer than a pause inside a sentence, so a caller's turn stays one utterance.
    """
    frame = RATE // 50
    count = len(audio) // frame
    if count == 0:
        return []
    frames = audio[: count * frame].astype(np.float32).reshape(count, frame)
    rms = np.sqrt((frames * frames).mean(axis=1))
    # Background noise sets the floor; speech is well above it, and well above the noise's own peaks.
    floor = float(np.percentile(rms, 20))
    threshold = max(300.0, floor * 3.0, 0.2 * float(np.percentile(rms, 97)))
    loud = rms > threshold
    spans: list[list[int]] = []
    gap = int(min_gap_s * 50)
    for i in np.flatnonzero(loud):
        if spans and i - spans[-1][1] <= gap:
            spans[-1][1] = i
        else:
            spans.append([int(i), int(i)])
    pad = 0.3  # keep the onset and the tail: the recogniser and the VAD need both
    found = []
    for a, b in spans:
        if (b - a + 1) / 50 < min_speech_s:
            continue
        found.append(Utterance(start_s=max(0.0, a / 50 - pad), end_s=min(len(audio) / RATE, (b + 1) / 50 + pad)))
    return found


def audio_data_uri(samples: np.ndarray, rate: int = RATE) -> str:
    """Audio for an HTML <audio> element inside the page: Ogg Opus (small), or mu-law WAV without Opus."""
    buffer = io.BytesIO()
    try:
        sf.write(buffer, samples.astype(np.int16), rate, format="OGG", subtype="OPUS")
        mime = "audio/ogg"
    except (RuntimeError, sf.LibsndfileError, TypeError, ValueError):
        buffer = io.BytesIO()
        sf.write(buffer, samples.astype(np.int16), rate, format="WAV", subtype="ULAW")
        mime = "audio/wav"
    return f"data:{mime};base64," + base64.b64encode(buffer.getvalue()).decode("ascii")

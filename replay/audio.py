"""The audio of a replayed call: what the caller sent and what the caller heard, and its WAV files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from pydantic import BaseModel

from replay.inputs import RATE


class CallAudio(BaseModel):
    """What the caller sent and what the caller heard, 8 kHz int16, on the call's clock."""

    model_config = {"arbitrary_types_allowed": True}
    caller: Any = None
    bot: Any = None


def write_audio(folder: Path, audio: CallAudio) -> None:
    """The two sides of the call as `caller.wav` and `bot.wav` (8 kHz mu-law) in the call's report folder."""
    for side in ("caller", "bot"):
        samples = getattr(audio, side)
        if samples is not None and len(samples):
            sf.write(folder / f"{side}.wav", np.asarray(samples, dtype=np.int16), RATE, subtype="ULAW")

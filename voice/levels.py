"""How loud a stretch of the line's 16-bit PCM is, as the voice processors compare it."""

from __future__ import annotations

import numpy as np


def pcm_rms(pcm: bytes) -> float:
    """Root mean square of int16 PCM, in int16 units (0 for no samples)."""
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if len(samples) else 0.0

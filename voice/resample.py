"""The caller's audio from the phone rate to the pipeline's: a streaming resampler that is time-invariant.

soxr (pipecat's stream resampler) processes audio in blocks, so the same words come out a sample
value or two different depending on how much audio went before them. Whisper decodes greedily, and
those last-bit differences are enough to change a word now and then: the same recorded call could be
heard differently on two replays. For the integer ratio a phone line needs (8 kHz up to 16 kHz) this
resampler is a fixed polyphase FIR filter applied with carried history, so each output sample depends
only on the input samples around it: the same audio is always heard the same. Other ratios go to soxr.
"""

from __future__ import annotations

import numpy as np
from pipecat.audio.resamplers.base_audio_resampler import BaseAudioResampler
from pipecat.audio.utils import create_stream_resampler

_ZEROS_PER_SIDE = 16  # sinc zero crossings each side: ~2 ms of history at 8 kHz, stopband well below 16 bits
_CUTOFF = 0.92  # of the input's Nyquist frequency; telephone audio has nothing above 3.4 kHz anyway


def _lowpass(factor: int) -> np.ndarray:
    """Windowed-sinc interpolation filter for upsampling by `factor`, with unity gain in the passband."""
    half = _ZEROS_PER_SIDE * factor
    n = np.arange(-half, half + 1, dtype=np.float64)
    taps = _CUTOFF * np.sinc(_CUTOFF * n / factor) * np.kaiser(len(n), 8.6)
    return taps * (factor / taps.sum())


class TimeInvariantStreamResampler(BaseAudioResampler):
    """Integer upsampling by FIR filter with carried history; other ratios through soxr's stream resampler."""

    def __init__(self) -> None:
        self._fallback: BaseAudioResampler | None = None
        self._ratio: tuple[int, int] | None = None
        self._phases: np.ndarray | None = None  # (factor, taps per phase)
        self._history = np.zeros(0, dtype=np.float64)

    def _setup(self, in_rate: int, out_rate: int) -> None:
        self._ratio = (in_rate, out_rate)
        factor = out_rate // in_rate
        taps = _lowpass(factor)
        # Pad so every phase has the same number of taps; phase p produces output samples k*factor + p.
        per_phase = -(-len(taps) // factor)
        padded = np.zeros(per_phase * factor)
        padded[: len(taps)] = taps
        self._phases = padded.reshape(per_phase, factor).T[:, ::-1].copy()
        self._history = np.zeros(per_phase - 1, dtype=np.float64)

    async def resample(self, audio: bytes, in_rate: int, out_rate: int) -> bytes:
        if in_rate == out_rate:
            return audio
        if out_rate % in_rate:
            if self._fallback is None:
                self._fallback = create_stream_resampler(clear_after_secs=None)
            return await self._fallback.resample(audio, in_rate, out_rate)
        if self._ratio != (in_rate, out_rate):
            self._setup(in_rate, out_rate)
        assert self._phases is not None
        samples = np.frombuffer(audio, dtype=np.int16).astype(np.float64)
        if not len(samples):
            return b""
        signal = np.concatenate([self._history, samples])
        span = self._phases.shape[1]
        # One window per input sample (as_strided: sliding_window_view costs four times as much per frame).
        windows = np.lib.stride_tricks.as_strided(
            signal, (len(signal) - span + 1, span), (signal.strides[0], signal.strides[0]), writeable=False
        )
        out = windows @ self._phases.T  # (inputs, factor): each row's outputs in order
        self._history = signal[len(signal) - (span - 1) :]
        return np.clip(np.rint(out.reshape(-1)), -32768, 32767).astype(np.int16).tobytes()

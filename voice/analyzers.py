"""pipecat's Silero VAD and Smart Turn v3 analyzers, sharing one ONNX session across calls.

The stock analyzers load their model for every instance (a call), which costs time at the start
of each call and memory for each one in progress. State that belongs to one audio stream (the
VAD's recurrent state, the turn buffer) stays per instance.

Silero's recurrent state drifts during long quiet and has to be reset (pipecat resets it every 2 s
of quiet audio), but a reset just before or at a word's onset costs the model its confidence for
the next few hundred milliseconds, and a short answer ("Yes, go ahead", "No") can go unheard
altogether, depending only on where the caller happened to start. So the VAD keeps two states
whose resets are half an interval apart and takes the more confident: whenever a word starts, one
of them has been running for a while. Neither is reset on a window louder than the line's recent
floor (a word's soft onset).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voice import models
from voice.levels import pcm_rms

_FLOOR_WINDOWS = 32  # Silero windows (32 ms at 16 kHz): the line's floor is the quietest of the last second
_ONSET_FACTOR = 2.0
_ONSET_MARGIN_RMS = 100.0  # int16 RMS, about -50 dBFS: digital silence to a faint sound is not an onset
_RESET_INTERVAL_S = 2.0
_RESET_MAX_CONFIDENCE = 0.1  # a reset waits for a run of windows this unsure (clear non-speech)...
_RESET_LOW_WINDOWS = 5  # ...this long (about 160 ms)


def _silero() -> SileroOnnxModel:
    model = SileroOnnxModel.__new__(SileroOnnxModel)
    model.session = models.silero_session()
    model.sample_rates = [8000, 16000]
    model.reset_states()
    return model


class _State:
    """One recurrent state of the shared model, with its own reset schedule."""

    def __init__(self, windows_since_reset: int) -> None:
        self.model = _silero()
        self.windows_since_reset = windows_since_reset
        self.low_windows = 0

    def score(self, audio: np.ndarray, sample_rate: int) -> float:
        return float(np.ravel(self.model(audio, sample_rate))[0])

    def maybe_reset(self, confidence: float, *, onset: bool, quiet: bool, interval_windows: int) -> None:
        self.windows_since_reset += 1
        self.low_windows = self.low_windows + 1 if confidence < _RESET_MAX_CONFIDENCE and not onset else 0
        if self.windows_since_reset >= interval_windows and quiet and self.low_windows >= _RESET_LOW_WINDOWS:
            self.model.reset_states()
            self.windows_since_reset = 0


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        self._model = _silero()  # pipecat's own handle; the states below are what score the audio
        self._states: list[_State] = []
        self._recent_rms: deque[float] = deque(maxlen=_FLOOR_WINDOWS)

    def voice_confidence(self, buffer) -> float:
        rate = self.sample_rate
        interval = int(np.ceil(_RESET_INTERVAL_S * rate / self.num_frames_required()))
        if not self._states:
            self._states = [_State(0), _State(interval // 2)]
        rms = pcm_rms(buffer)
        floor = min(self._recent_rms, default=0.0)
        self._recent_rms.append(rms)
        onset = rms > _ONSET_FACTOR * floor + _ONSET_MARGIN_RMS  # louder than the quiet just before
        audio = np.frombuffer(buffer, np.int16).astype(np.float32) / 32768.0
        scores = [state.score(audio, rate) for state in self._states]
        quiet = self._vad_state == VADState.QUIET
        for state, score in zip(self._states, scores, strict=True):
            state.maybe_reset(score, onset=onset, quiet=quiet, interval_windows=interval)
        return max(scores)

    async def analyze_audio(self, buffer: bytes) -> VADState:
        # A Silero window takes about a tenth of a millisecond: a hop to a worker thread for every
        # 20 ms frame costs more than the inference, and a thread per call adds up.
        return self._run_analyzer(buffer)


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    def __init__(self, *, sample_rate: int | None = None, params: SmartTurnParams | None = None) -> None:
        BaseSmartTurn.__init__(self, sample_rate=sample_rate, params=params)
        self._log_data = False
        self._session = models.smart_turn_session()

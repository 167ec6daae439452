"""pipecat's Silero VAD and Smart Turn v3 analyzers, sharing one ONNX session across calls.

The stock analyzers load their model for every instance (a call), which costs time at the start
of each call and memory for each one in progress. State that belongs to one audio stream (the
VAD's recurrent state, the turn buffer) stays per instance.

pipecat's Silero analyzer resets the model's state every 2 s of quiet audio, on the first run of
low-confidence windows. The soft onset of a word scores low too, and a reset there can cost the
whole utterance (a caller's answer after a long prompt went unheard): the reset also waits for
the audio to be no louder than the line's recent floor.
"""

from __future__ import annotations

from collections import deque

from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voice import models
from voice.levels import pcm_rms

_FLOOR_WINDOWS = 32  # Silero windows (32 ms at 16 kHz): the line's floor is the quietest of the last second
_ONSET_FACTOR = 2.0
_ONSET_MARGIN_RMS = 100.0  # int16 RMS, about -50 dBFS: digital silence to a faint sound is not an onset


class SharedSileroVADAnalyzer(SileroVADAnalyzer):
    def __init__(self, *, sample_rate: int | None = None, params: VADParams | None = None) -> None:
        VADAnalyzer.__init__(self, sample_rate=sample_rate, params=params)
        model = SileroOnnxModel.__new__(SileroOnnxModel)
        model.session = models.silero_session()
        model.sample_rates = [8000, 16000]
        model.reset_states()
        self._model = model
        self._windows_since_reset = 0
        self._low_confidence_windows = 0
        self._window_rms = 0.0
        self._recent_rms: deque[float] = deque(maxlen=_FLOOR_WINDOWS)

    def voice_confidence(self, buffer) -> float:
        self._window_rms = pcm_rms(buffer)
        self._recent_rms.append(self._window_rms)
        return super().voice_confidence(buffer)

    def _maybe_reset_model(self, confidence: float) -> None:
        floor = min(self._recent_rms, default=0.0)
        if self._window_rms > _ONSET_FACTOR * floor + _ONSET_MARGIN_RMS:
            # Louder than the quiet just before: perhaps a word starting. Not a place to reset.
            self._windows_since_reset += 1
            self._low_confidence_windows = 0
            return
        super()._maybe_reset_model(confidence)

    async def analyze_audio(self, buffer: bytes) -> VADState:
        # A Silero window takes about a tenth of a millisecond: a hop to a worker thread for every
        # 20 ms frame costs more than the inference, and a thread per call adds up.
        return self._run_analyzer(buffer)


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    def __init__(self, *, sample_rate: int | None = None, params: SmartTurnParams | None = None) -> None:
        BaseSmartTurn.__init__(self, sample_rate=sample_rate, params=params)
        self._log_data = False
        self._session = models.smart_turn_session()

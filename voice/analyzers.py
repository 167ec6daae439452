"""pipecat's Silero VAD and Smart Turn v3 analyzers, sharing one ONNX session across calls.

The stock analyzers load their model for every instance (a call), which costs time at the start
of each call and memory for each one in progress. State that belongs to one audio stream (the
VAD's recurrent state, the turn buffer) stays per instance.
"""

from __future__ import annotations

from pipecat.audio.turn.smart_turn.base_smart_turn import BaseSmartTurn, SmartTurnParams
from pipecat.audio.turn.smart_turn.local_smart_turn_v3 import LocalSmartTurnAnalyzerV3
from pipecat.audio.vad.silero import SileroOnnxModel, SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADAnalyzer, VADParams, VADState

from voice import models


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

    async def analyze_audio(self, buffer: bytes) -> VADState:
        # A Silero window takes about a tenth of a millisecond: a hop to a worker thread for every
        # 20 ms frame costs more than the inference, and a thread per call adds up.
        return self._run_analyzer(buffer)


class SharedSmartTurnAnalyzer(LocalSmartTurnAnalyzerV3):
    def __init__(self, *, sample_rate: int | None = None, params: SmartTurnParams | None = None) -> None:
        BaseSmartTurn.__init__(self, sample_rate=sample_rate, params=params)
        self._log_data = False
        self._session = models.smart_turn_session()

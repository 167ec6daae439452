"""Offline speech recognition of one utterance with faster-whisper, tuned for short phone turns.

The encoder runs once per utterance over a window just long enough for it (Whisper pads to 30 s
otherwise, which triples the cost of a two-second answer), and with a multilingual model the same
encoding serves both language detection (among the languages the line supports) and decoding.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

SAMPLE_RATE = 16000
_MIN_FRAMES = 1000  # 10 s: shorter windows start to cost accuracy
_MAX_FRAMES = 3000


@dataclass(frozen=True)
class Recognition:
    text: str
    language: str
    language_probability: float  # relative to the other languages the recogniser was allowed
    no_speech_probability: float


class Transcriber:
    """Wraps a loaded WhisperModel; thread-safe (CTranslate2 queues concurrent requests)."""

    def __init__(self, model: Any, languages: list[str] | None = None, *, beam_size: int = 1) -> None:
        self._model = model
        self._languages = languages or ["en"]
        self._beam_size = beam_size
        self._tokenizers: dict[str, Any] = {}
        self._lock = threading.Lock()

    @property
    def multilingual(self) -> bool:
        return bool(self._model.model.is_multilingual)

    def _tokenizer(self, language: str) -> Any:
        from faster_whisper.tokenizer import Tokenizer

        with self._lock:
            if language not in self._tokenizers:
                self._tokenizers[language] = Tokenizer(
                    self._model.hf_tokenizer, self.multilingual, task="transcribe", language=language
                )
            return self._tokenizers[language]

    def transcribe(self, audio: np.ndarray) -> Recognition:
        """`audio` is float32 mono at 16 kHz, at most 30 s (longer is cut to its last 30 s)."""
        from faster_whisper.audio import pad_or_trim

        audio = audio[-SAMPLE_RATE * 30 :]
        features = self._model.feature_extractor(audio)
        frames = min(_MAX_FRAMES, max(_MIN_FRAMES, math.ceil((features.shape[-1] + 100) / 100) * 100))
        encoded = self._model.encode(pad_or_trim(features, frames))

        language, probability = "en", 1.0
        if self.multilingual:
            scores = self._model.model.detect_language(encoded)[0]
            allowed = [(token[2:-2], p) for token, p in scores if token[2:-2] in self._languages]
            if allowed:
                language, best = max(allowed, key=lambda item: item[1])
                # Among the line's languages only: how sure the model is of this one against the others.
                probability = best / max(1e-9, sum(p for _, p in allowed))
        tokenizer = self._tokenizer(language)
        prompt = self._model.get_prompt(tokenizer, [], without_timestamps=True)
        # About 4 tokens a second is generous for speech; the cap stops a hallucination loop early.
        max_tokens = min(224, 16 + int(len(audio) / SAMPLE_RATE * 8))
        result = self._model.model.generate(
            encoded,
            [prompt],
            beam_size=self._beam_size,
            max_length=max_tokens,
            suppress_blank=True,
            suppress_tokens=[-1],
            return_no_speech_prob=True,
            no_repeat_ngram_size=0,
        )[0]
        text = tokenizer.decode(result.sequences_ids[0]).strip()
        return Recognition(text, language, float(probability), float(result.no_speech_prob))

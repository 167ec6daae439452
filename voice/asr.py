"""Offline speech recognition of one utterance with faster-whisper, tuned for short phone turns.

The encoder runs once per utterance over a window just long enough for it (Whisper pads to 30 s
otherwise, which triples the cost of a two-second answer), and with a multilingual model the same
encoding serves both language detection (among the languages the line supports) and decoding.

The utterance is cut to its speech plus a fixed margin first. How much quiet the turn detector
left around the words varies by a frame or two from call to call, and a long quiet lead-in is
where Whisper starts to invent words or loop ("3 2 1 6 5 3 2 1 6 5 3 ..."); cut the same way,
the same words are always decoded from the same samples. A decode that still loops is decoded
again with a wider beam and a repetition penalty.
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
_LEAD_S = 0.35  # quiet kept before the first loud 10 ms and after the last: onsets and word tails
_TAIL_S = 0.3
_LOUD_FLOOR = 150 / 32768  # below this nothing is speech, however quiet the call
_LOUD_FRACTION = 0.05  # of the loudest 10 ms (-26 dB): a soft word after a loud one still counts
_LOOP_COPIES = 3  # the same words this many times in a row: a decoding loop, not what was said


@dataclass(frozen=True)
class Recognition:
    text: str
    language: str
    language_probability: float  # relative to the other languages the recogniser was allowed
    no_speech_probability: float


class Transcriber:
    """Wraps a loaded WhisperModel; thread-safe (CTranslate2 queues concurrent requests)."""

    def __init__(self, model: Any, languages: list[str] | None = None, *, beam_size: int = 2) -> None:
        # Greedy decoding of the tiny model mishears short phone turns ("where is my order" as "when
        # with my organs"); a beam of two costs about 70 ms an utterance on a 2-core machine and fixes most.
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

        audio = speech_span(audio[-SAMPLE_RATE * 30 :])
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

        def decode(beam_size: int, repetition_penalty: float = 1.0) -> tuple[str, Any]:
            result = self._model.model.generate(
                encoded,
                [prompt],
                beam_size=beam_size,
                max_length=max_tokens,
                suppress_blank=True,
                suppress_tokens=[-1],
                return_no_speech_prob=True,
                no_repeat_ngram_size=0,
                repetition_penalty=repetition_penalty,
            )[0]
            return tokenizer.decode(result.sequences_ids[0]).strip(), result

        text, result = decode(self._beam_size)
        if len(result.sequences_ids[0]) >= max_tokens - 1 or loops(text):
            text, result = decode(max(5, self._beam_size), repetition_penalty=1.3)
        return Recognition(text, language, float(probability), float(result.no_speech_prob))


def speech_span(audio: np.ndarray) -> np.ndarray:
    """`audio` from `_LEAD_S` before its first loud 10 ms to `_TAIL_S` after its last (all of it if nothing
    is loud), padded with silence where the audio has less than that around its words.

    The padding matters for speech that starts at the very first sample (a caller who talks the moment
    the line opens, audio handed over at once): without quiet before it, Whisper drops most of the
    words ("I want to check my order" heard as "I want").
    """
    hop = SAMPLE_RATE // 100
    count = len(audio) // hop
    if count == 0:
        return audio
    frames = audio[: count * hop].reshape(count, hop)
    rms = np.sqrt((frames * frames).mean(axis=1))
    loud = np.flatnonzero(rms > max(_LOUD_FLOOR, _LOUD_FRACTION * float(rms.max())))
    if not len(loud):
        return audio
    start = int(loud[0] - _LEAD_S * 100) * hop
    end = int(loud[-1] + 1 + _TAIL_S * 100) * hop
    words = audio[max(0, start) : min(len(audio), end)]
    lead, tail = max(0, -start), max(0, end - len(audio))
    if not lead and not tail:
        return words
    return np.concatenate([np.zeros(lead, audio.dtype), words, np.zeros(tail, audio.dtype)])


def loops(text: str) -> bool:
    """Whether the words repeat the way a decoding loop does ("3 2 1 6 5 3 2 1 6 5 3 2 1 6 5 3").

    The whole text twice or more, for a phrase ("Where is my order? Where is my order?"), or its end
    `_LOOP_COPIES` times over (one word: twice that, since "no no no" is speech). A loop is only
    decoded again, so a caller who did repeat themselves loses nothing.
    """
    words = [w.strip(".,!?") for w in text.lower().split()]
    if any(len(words) % unit == 0 and _repeats(words, unit) for unit in range(2, len(words) // 2 + 1)):
        return True
    for unit in range(1, len(words) // _LOOP_COPIES + 1):
        copies = _LOOP_COPIES * (2 if unit == 1 else 1)
        if len(words) >= unit * copies and _repeats(words[-unit * copies :], unit):
            return True
    return False


def _repeats(words: list[str], unit: int) -> bool:
    """Whether `words` is its first `unit` words over and over."""
    return all(words[i] == words[i % unit] for i in range(len(words)))

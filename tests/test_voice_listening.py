"""What the phone line hears: the same audio is heard the same, and a word after a long quiet is not lost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from pipecat.audio.utils import create_stream_resampler
from pipecat.audio.vad.silero import SileroVADAnalyzer
from pipecat.audio.vad.vad_analyzer import VADParams, VADState

from replay.inputs import load_caller
from voice.analyzers import SharedSileroVADAnalyzer
from voice.asr import loops, speech_span
from voice.config import VoiceConfig
from voice.resample import TimeInvariantStreamResampler
from voice.speech import synthesize, trim_silence
from voice.tts import piper_chunks

ORDER_STATUS = load_caller(Path(__file__).parent.parent / "assets" / "calls" / "order-status" / "call.wav")
# "The skateboard order, please.": after the bot's long list of orders, the caller's answer.
ANSWER = ORDER_STATUS[int(44.46 * 8000) : int(46.92 * 8000)]


async def _upsampled(resampler, audio: np.ndarray) -> np.ndarray:
    out = [await resampler.resample(audio[i : i + 160].tobytes(), 8000, 16000) for i in range(0, len(audio), 160)]
    return np.frombuffer(b"".join(out), dtype=np.int16)


def _after_silence(resampler_factory, frames: int) -> np.ndarray:
    """The answer as the recogniser gets it, after `frames` 20 ms frames of line silence."""
    audio = np.concatenate([np.zeros(160 * frames, np.int16), ANSWER])
    return asyncio.run(_upsampled(resampler_factory(), audio))[320 * frames :]


def test_the_same_words_reach_the_recogniser_the_same_after_any_pause():
    heard = {_after_silence(TimeInvariantStreamResampler, n).tobytes() for n in (3, 50, 137, 501)}
    assert len(heard) == 1
    # pipecat's soxr stream resampler does not: that is why the phone line does not use it inbound.
    soxr = {_after_silence(lambda: create_stream_resampler(clear_after_secs=None), n).tobytes() for n in (50, 137)}
    assert len(soxr) == 2


def test_the_voice_says_the_same_sentence_the_same_way_every_time():
    # A replayed call must sound like the original, and test callers must say the same thing each run.
    sentence = "I will refund forty two dollars to the card ending in one two three four. Shall I go ahead?"
    assert synthesize(sentence).tobytes() == synthesize(sentence).tobytes()
    assert b"".join(piper_chunks(sentence)) == b"".join(piper_chunks(sentence))


def test_the_resampler_keeps_telephone_speech_intact():
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(8000) / 8000)).astype(np.int16)
    out = asyncio.run(_upsampled(TimeInvariantStreamResampler(), tone)).astype(np.float64)
    t = np.arange(len(out)) / 16000
    delay = 16 / 8000  # the filter's half length
    reference = 8000 * np.sin(2 * np.pi * 1000 * (t - delay))
    error = out[800:-800] - reference[800:-800]
    assert np.sqrt(np.mean(error**2)) < 8  # better than -60 dB


class _StockSilero(SharedSileroVADAnalyzer):
    """The shared session with pipecat's own (single-state) reset rule, for comparison."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self._windows_since_reset = 0
        self._low_confidence_windows = 0

    _maybe_reset_model = SileroVADAnalyzer._maybe_reset_model

    def voice_confidence(self, buffer):
        return SileroVADAnalyzer.voice_confidence(self, buffer)


def _vad_hears(analyzer_class, silence_frames: int, answer=None, params: VADParams | None = None) -> bool:
    answer = ANSWER if answer is None else answer

    async def run() -> bool:
        vad = analyzer_class(sample_rate=16000, params=params or VADParams())
        vad.set_sample_rate(16000)
        resampler = TimeInvariantStreamResampler()
        audio = np.concatenate([np.zeros(160 * silence_frames, np.int16), answer, np.zeros(8000, np.int16)])
        for i in range(0, len(audio), 160):
            if await vad.analyze_audio(await resampler.resample(audio[i : i + 160].tobytes(), 8000, 16000)) == (
                VADState.SPEAKING
            ):
                return True
        return False

    return asyncio.run(run())


def test_an_answer_after_a_long_quiet_is_heard_wherever_the_vad_resets():
    pauses = range(176, 202, 2)  # 3.5 to 4 s of quiet: the VAD's 2 s reset lands all over the onset
    assert all(_vad_hears(SharedSileroVADAnalyzer, n) for n in pauses)
    # pipecat's rule resets the model on the answer's soft onset for one of these, and misses it.
    assert not all(_vad_hears(_StockSilero, n) for n in pauses)


@pytest.mark.parametrize("text", ["No.", "Yes.", "Yes, go ahead."])
def test_a_short_answer_is_heard_wherever_it_starts(text):
    words = trim_silence(synthesize(text))
    line = VADParams(stop_secs=0.2, min_volume=VoiceConfig().vad_min_volume)
    pauses = range(170, 250, 3)  # 3.4 to 5 s of quiet before it, in steps that move across the VAD's windows
    assert all(_vad_hears(SharedSileroVADAnalyzer, n, words, line) for n in pauses), text


@pytest.mark.parametrize(
    ("text", "looping"),
    [
        ("3 2 1 6 5 3 2 1 6 5 3 2 1 6 5 3 2 1 6", True),
        ("My zip is 3, 2, 1. 3, 2, 1. 3, 2, 1.", True),
        ("yes yes yes yes yes yes", True),
        ("Where is my order? Where is my order?", True),
        ("no no no", False),
        ("3 4 3 4 3", False),
        ("Please. Please.", False),
        ("I want to talk to a person.", False),
    ],
)
def test_a_decoding_loop_is_told_from_speech(text, looping):
    assert loops(text) is looping


def test_the_recogniser_gets_the_words_with_a_fixed_margin():
    words = synthesize("Where is my order?").astype(np.float32) / 32768
    words = np.repeat(words, 2)  # 16 kHz is enough for this
    for lead in (8000, 16000):
        padded = np.concatenate([np.zeros(lead, np.float32), words, np.zeros(9000, np.float32)])
        span = speech_span(padded)
        assert len(words) < len(span) < len(words) + 16000 * 0.6
    assert np.array_equal(
        speech_span(np.concatenate([np.zeros(8000, np.float32), words])),
        speech_span(np.concatenate([np.zeros(16000, np.float32), words])),
    )


def test_speech_from_the_first_sample_gets_the_same_margin_as_speech_after_a_pause():
    # Whisper drops most of an utterance that starts at sample 0 ("I want to check my order" -> "I want").
    words = np.repeat(synthesize("I want to check my order").astype(np.float32) / 32768, 2)
    words = words[np.flatnonzero(np.abs(words) > 0.01)[0] :]
    after_a_pause = speech_span(np.concatenate([np.zeros(16000, np.float32), words]))
    assert np.array_equal(speech_span(words), after_a_pause)
    assert not np.any(after_a_pause[: int(16000 * 0.3)])

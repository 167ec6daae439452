"""QA replay's parts without the speech models: inputs (stereo, mu-law, any rate), the virtual clock,
expectations and their messages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from qa.expect import ExpectationError, Expectations, evaluate, load
from replay import clock
from replay.inputs import InputError, find_calls, load_caller, utterances

RATE = 8000


def tone(seconds: float, rate: int, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechlike(rate: int) -> np.ndarray:
    """Two bursts of sound with a long pause between them."""
    quiet = np.zeros(int(1.5 * rate), np.float32)
    return np.concatenate([quiet, tone(1.0, rate), quiet, tone(0.8, rate, 300), quiet])


def test_a_stereo_recording_gives_the_chosen_channel(tmp_path):
    caller = speechlike(16000)
    bot = np.resize(tone(1.0, 16000, 1000), len(caller))
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([bot, caller], axis=1), 16000, subtype="PCM_16")
    right = load_caller(path, "right")
    assert abs(len(right) - len(caller) / 2) <= 2  # resampled to 8 kHz
    assert [round(u.start_s, 1) for u in utterances(right)] == [1.2, 3.7]  # with their onset margin
    left = load_caller(path, "0")
    assert np.abs(left[:8000]).max() > 5000 and np.abs(right[:8000]).max() < 100  # the bot speaks first
    with pytest.raises(InputError):
        load_caller(tmp_path / "missing.wav")


def test_mu_law_at_8khz_as_twilio_records_it(tmp_path):
    path = tmp_path / "call.wav"
    sf.write(path, speechlike(RATE), RATE, subtype="ULAW")
    audio = load_caller(path)
    assert audio.dtype == np.int16 and len(audio) == len(speechlike(RATE))
    spans = utterances(audio)
    assert len(spans) == 2 and spans[0].end_s < spans[1].start_s


def test_calls_are_found_in_folders(tmp_path):
    for name in ("b-call", "a-call"):
        (tmp_path / name).mkdir()
        sf.write(tmp_path / name / "call.wav", speechlike(RATE), RATE)
    (tmp_path / "a-call" / "expect.yaml").write_text("outcome: resolved\n")
    found = find_calls([tmp_path])
    assert [c.name for c in found] == ["a-call", "b-call"]
    assert found[0].expect is not None and found[1].expect is None
    single = find_calls([tmp_path / "b-call" / "call.wav"], expect=tmp_path / "a-call" / "expect.yaml")
    assert single[0].name == "b-call" and single[0].expect == tmp_path / "a-call" / "expect.yaml"
    with pytest.raises(InputError):
        find_calls([tmp_path / "a-call" / "expect.yaml"])


def test_the_virtual_clock_skips_idle_waits_but_not_work():
    async def call() -> tuple[float, float, float]:
        loop = asyncio.get_running_loop()
        start, wall = loop.time(), time.time()
        await asyncio.sleep(120)  # two minutes of nothing to do
        await asyncio.to_thread(time.sleep, 0.2)  # real work in a thread is waited for
        return loop.time() - start, time.time() - wall, time.monotonic()

    real = time.perf_counter()
    virtual, wall, _ = clock.run(call())
    assert time.perf_counter() - real < 5
    assert virtual >= 120.2 and abs(wall - virtual) < 0.5


def test_model_time_can_be_free():
    async def call() -> float:
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.to_thread(time.sleep, 0.3)
        await asyncio.sleep(1)
        return loop.time() - start

    assert 1.0 <= clock.run(call(), free_compute=True) < 1.2


def test_expectations_name_the_call_and_what_happened(tmp_path):
    facts = {"outcome": "handed_off", "intents": ["cancel_order"], "bot_texts": ["Order #W1 is now cancelled."],
             "turn_latencies_ms": {1: 800.0, 2: 4200.0}, "policy_violations": [], "barge_ins": 0,
             "handoff_reason": "system_failure", "backoffice": {"orders": {"#W1": {"status": "pending"}}}}  # fmt: skip
    expect = Expectations(outcome="resolved", intents=["return_items"], must_say=["is now cancelled"],
                          must_not_say=["now cancelled"], max_turn_latency_ms=3000, barge_ins=1,
                          backoffice=[{"order": "#W1", "status": "cancelled"}])  # fmt: skip
    failed = {c.expectation: c.message for c in evaluate("demo", expect, facts) if not c.passed}
    assert failed["outcome"] == (
        "call 'demo': expected outcome resolved, but the outcome was handed_off (hand-off reason: system_failure)"
    )
    assert "turn 2 took 4200 ms" in failed["max_turn_latency_ms"]
    assert "orders.#W1.status is 'pending'" in failed["backoffice"]
    assert {"intent", "must_not_say", "barge_ins"} <= set(failed) and "must_say" not in failed
    bad = tmp_path / "bad.yaml"
    bad.write_text("faults: ['retail:explode']\n")
    with pytest.raises(ExpectationError, match=r"bad\.yaml"):
        load(bad)
    assert load(None) == Expectations()


def test_sample_expectations_load():
    for path in sorted(Path(__file__).resolve().parent.parent.joinpath("assets", "calls").glob("*/expect.yaml")):
        load(path)

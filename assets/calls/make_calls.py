"""Makes the sample calls in this folder: synthetic callers, recorded against the live phone pipeline.

    python assets/calls/make_calls.py [NAME ...]

Each caller's lines are synthesized (piper's joe voice at another pace, or espeak-ng voice
variants), band-limited to the telephone band, and spoken to the replay pipeline one turn at a time
(a barge-in call cuts the bot off part-way through an answer). What the caller sent, on the call's
clock, becomes `call.wav`: 8 kHz mu-law as Twilio records it, with background noise added for some
callers, and stereo (caller left, bot right) for one. `expect.yaml` is written next to it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script from anywhere in the repository.
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import asyncio  # noqa: E402
import os  # noqa: E402
import tempfile  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import yaml  # noqa: E402

from frontdesk.cli import replay_runtime  # noqa: E402
from replay import clock  # noqa: E402
from replay.inputs import RATE, CallInput  # noqa: E402
from replay.runner import ReplayOptions, prepare_store, quiet_logs, replay_call  # noqa: E402
from voice import models  # noqa: E402
from voice.espeak import EspeakEngine  # noqa: E402
from voice.speech import from_mulaw, resample, to_mulaw  # noqa: E402

HERE = Path(__file__).resolve().parent
PAUSE_S = 1.5  # between the synthesized lines, so replay finds them as separate utterances

CALLS: dict[str, dict] = {
    "cancel-order": {
        "voice": "piper:1.1",
        "lines": [
            "Hi, I want to cancel an order.",
            "My name is Emma Brown.",
            "My zip code is three two one six five.",
            "Yes, that is the one.",
            "I don't need it anymore.",
            "Yes, go ahead.",
            "No thank you, goodbye.",
        ],
        "expect": {
            "description": "A verified customer cancels her only pending order; refund to PayPal.",
            "outcome": "resolved",
            "intents": ["cancel_order"],
            "backoffice": [{"order": "#W6460787", "status": "cancelled"}],
            "must_say": ["is now cancelled", "5 to 7 business days"],
            "max_turn_latency_ms": 30000,
            "must_not_say": ["isn't responding"],
        },
    },
    "order-status": {
        "voice": "piper:1.25",
        "noise_db": 20,
        "lines": [
            "Where is my order?",
            "My name is Emma Brown.",
            "My zip code is three two one six five.",
            "The skateboard order, please.",
            "No thanks, goodbye.",
        ],
        "expect": {
            "description": "Order status after name and zip verification, slow speaker on a noisy line.",
            "outcome": "resolved",
            "intents": ["order_status"],
            "backoffice": [{"order": "#W6460787", "status": "pending"}],
            "must_say": ["hasn't shipped yet"],
        },
    },
    "handoff": {
        "voice": "espeak:en-us+m7",
        "lines": ["I want to talk to a person, please."],
        "expect": {
            "description": "The caller asks for a person straight away: warm hand-off with a ticket.",
            "outcome": "handed_off",
            "must_say": ["member of our team"],
        },
    },
    "barge-in": {
        "voice": "piper:0.95",
        "stereo": True,
        "barge_in": {1: 2.5},
        "lines": [
            "What is your return policy?",
            "Can you check my order instead?",
            "My name is Emma Brown.",
            "My zip code is three two one six five.",
            "The skateboard order, please.",
            "No thanks, goodbye.",
        ],
        "expect": {
            "description": "The caller cuts a policy answer short to ask about an order (stereo recording).",
            "outcome": "resolved",
            "intents": ["order_status"],
            "barge_ins": 1,
            "must_say": ["Delivered orders can be returned", "hasn't shipped yet"],
        },
    },
    "system-failure": {
        "voice": "espeak:en-us+f3",
        "lines": [
            "Where is my order?",
            "My name is Emma Brown.",
            "Three two one six five.",
            "I want to talk to a person.",
        ],
        "expect": {
            "description": "The order system fails mid-call during verification: the caller goes to a person.",
            "faults": ["retail:error:x50"],
            "outcome": "handed_off",
            "backoffice": [{"order": "#W6460787", "status": "pending"}],
            "must_say": ["can't reach our account system"],
            "must_not_say": ["I've found your account"],
        },
    },
    "spanish": {
        "voice": "espeak:es",
        "multilingual": True,
        "lines": ["Hola, quiero hablar con una persona, por favor."],
        "expect": {
            "description": "A Spanish-speaking caller on an English greeting: answered in Spanish, handed to a person.",
            "multilingual": True,
            "outcome": "handed_off",
            "must_say": ["Le paso con una persona"],
        },
    },
}


def synthesize(text: str, voice: str) -> np.ndarray:
    kind, _, variant = voice.partition(":")
    if kind == "piper":
        from piper import SynthesisConfig

        piper = models.piper_voice()
        chunks = [
            c.audio_int16_array for c in piper.synthesize(text, syn_config=SynthesisConfig(length_scale=float(variant)))
        ]
        return resample(np.concatenate(chunks), piper.config.sample_rate, RATE)
    engine = EspeakEngine.shared()
    audio = np.frombuffer(engine.synthesize(text, variant, rate_wpm=150), dtype=np.int16)
    return resample(audio, engine.sample_rate, RATE)


def telephone(audio: np.ndarray) -> np.ndarray:
    """300-3400 Hz, as a phone line passes it."""
    spectrum = np.fft.rfft(audio.astype(np.float64))
    freqs = np.fft.rfftfreq(len(audio), 1 / RATE)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    return np.clip(np.fft.irfft(spectrum, len(audio)), -32767, 32767).astype(np.int16)


def add_noise(audio: np.ndarray, snr_db: float, seed: int) -> np.ndarray:
    """Pink-ish background noise (a busy room, a fan) at `snr_db` below the speech level."""
    rng = np.random.default_rng(seed)
    white = rng.standard_normal(len(audio))
    pink = np.fft.irfft(np.fft.rfft(white) / np.sqrt(np.arange(1, len(white) // 2 + 2)), len(white))
    speech = audio.astype(np.float64)
    level = np.sqrt(np.mean(speech[np.abs(speech) > 300] ** 2)) if np.any(np.abs(speech) > 300) else 1000.0
    pink *= level / (10 ** (snr_db / 20)) / (np.sqrt(np.mean(pink**2)) or 1.0)
    return np.clip(speech + pink, -32767, 32767).astype(np.int16)


def make(name: str, spec: dict, store: Path, workdir: Path) -> None:
    folder = HERE / name
    folder.mkdir(exist_ok=True)
    pause = np.zeros(int(PAUSE_S * RATE), dtype=np.int16)
    parts = [pause]
    for line in spec["lines"]:
        parts += [telephone(synthesize(line, spec["voice"])), pause]
    speech = np.concatenate(parts)
    if spec.get("noise_db"):
        speech = add_noise(speech, spec["noise_db"], seed=len(name))
    # What the pipeline hears while the call is made is exactly what the recording will hold (mu-law).
    speech = from_mulaw(to_mulaw(speech))
    script = workdir / f"{name}-script.wav"
    sf.write(script, speech, RATE, subtype="PCM_16")
    expect = folder / "expect.yaml"
    expect.write_text(yaml.safe_dump(spec["expect"], sort_keys=False, allow_unicode=True), encoding="utf-8")
    options = ReplayOptions(timing="turns", barge_in=spec.get("barge_in", {}))
    call = CallInput(name=name, audio=script, expect=expect)
    report, audio = clock.run(replay_call(call, options, store, workdir, runtime_factory=replay_runtime))
    caller = np.asarray(audio.caller, dtype=np.int16).copy()
    if spec.get("noise_db"):
        # The line sent digital silence between the caller's lines; the room's noise goes on there too.
        noise = add_noise(caller, spec["noise_db"], seed=len(name) + 1).astype(np.int32) - caller
        gaps = caller == 0
        caller[gaps] = noise[gaps]
    if spec.get("stereo"):
        bot = np.asarray(audio.bot, dtype=np.int16)[: len(caller)]
        track = np.zeros((len(caller), 2), dtype=np.int16)
        track[:, 0], track[: len(bot), 1] = caller, bot
    else:
        track = caller
    sf.write(folder / "call.wav", track, RATE, subtype="ULAW")
    status = "ok" if report.passed else "FAILED: " + "; ".join(report.failures())
    print(f"{name}: {len(caller) / RATE:.1f} s, outcome {report.outcome}, {status}")
    for line in report.transcript:
        print(f"   {line.at_s:6.2f} {line.speaker:6} {line.text}")


def main() -> None:
    quiet_logs()
    names = sys.argv[1:] or list(CALLS)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        store = asyncio.run(prepare_store(None, workdir, runtime_factory=replay_runtime))
        for name in names:
            make(name, CALLS[name], store, workdir)


if __name__ == "__main__":
    main()

"""The Deepgram path: pipecat's Deepgram recogniser against a local server speaking Deepgram's live
transcription protocol; with `language=multi` the language Deepgram reports steers the dialogue and voice.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.voice_fakes import DeepgramScript, LiveServer, ScriptedDialogue, add_aura, deepgram_app
from voice.config import VoiceConfig
from voice.dial import CallerTurn, run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("turn_detection", "tts"), [("deepgram", "offline"), ("local", "offline"), ("deepgram", "deepgram")]
)
async def test_a_call_recognised_by_deepgram_follows_the_reported_language(turn_detection, tts):
    script = DeepgramScript(
        transcripts=[("I need help with my order.", "en"), ("Quiero hablar en español, por favor.", "es")]
    )
    with LiveServer(add_aura(deepgram_app(script), script)) as deepgram:
        dialogue = ScriptedDialogue()
        config = VoiceConfig(
            deepgram_api_key="dg-test-key",
            deepgram_url=deepgram.http,
            multilingual=True,
            tts_provider=tts,
            turn_detection=turn_detection,
        )
        router = build_router(dialogue, config)
        app = FastAPI()
        app.include_router(router)
        with LiveServer(app) as server:
            result = await run_dial(
                server.http,
                says=[
                    "I need some help with my order.",
                    CallerTurn(text="Quiero hablar en español, por favor.", language="es"),
                ],
                verbose=False,
            )

    assert [(i.text, i.language) for i in dialogue.inputs] == [
        ("I need help with my order.", "en"),
        ("Quiero hablar en español, por favor.", "es"),
    ]
    params = script.connections[0]
    assert params["model"] == "nova-3" and params["language"] == "multi"
    assert params["encoding"] == "linear16" and params["sample_rate"] == "8000" and params["channels"] == "1"
    assert params["interim_results"] == "true"
    assert script.auth_headers[0] == "Token dg-test-key"
    assert script.audio_bytes > 8000 * 2 * 5  # the caller's audio went to Deepgram, 16-bit at 8 kHz
    assert params["endpointing"] == "300"
    assert script.controls[-1] == "CloseStream"
    if turn_detection == "local":
        assert "Finalize" in script.controls  # the local VAD asks Deepgram to finish each utterance

    record = router.voice.calls.get(result.call_sid)
    voices = [e.data["voice"] for e in record.events if e.kind == "voice"]
    if tts == "deepgram":  # Aura speaks every turn, with the Spanish voice once the caller speaks Spanish
        assert voices[0] == "deepgram:aura-2-thalia-en" and voices[-1] == "deepgram:aura-2-celeste-es"
        assert "Claro, le atiendo en español." in " ".join(script.spoken)
        assert {c["model"] for c in script.speak_connections} >= {"aura-2-thalia-en", "aura-2-celeste-es"}
    else:
        assert voices[-1] == "espeak-ng:es"
    assert len(result.bot_turns) == 3

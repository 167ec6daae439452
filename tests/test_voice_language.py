"""Language switching on a call with the offline multilingual recogniser: a Spanish caller turn reaches the
dialogue as Spanish, the reply is spoken with the Spanish voice, and English switches the voice back.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.voice_fakes import LiveServer, ScriptedDialogue
from voice.config import VoiceConfig
from voice.dial import CallerTurn, run_dial
from voice.routes import build_router
from voice.tts import PIPER_VOICE

pytestmark = pytest.mark.slow


async def test_a_spanish_turn_switches_reply_language_and_voice(tmp_path):
    dialogue = ScriptedDialogue()
    config = VoiceConfig(multilingual=True, model_cache_dir=tmp_path / "models")
    router = build_router(dialogue, config)
    app = FastAPI()
    app.include_router(router)
    with LiveServer(app) as server:
        result = await run_dial(
            server.http,
            says=[
                CallerTurn(text="Quiero hablar en español", language="es"),
                CallerTurn(text="I would like some help with my account.", language="en"),
            ],
            transcribe_bot=True,
            multilingual_transcripts=True,
            model_cache_dir=config.model_cache_dir,
            verbose=False,
        )
    assert [i.language for i in dialogue.inputs] == ["es", "en"]
    record = router.voice.calls.get(result.call_sid)
    voices = [e.data["voice"] for e in record.events if e.kind == "voice"]
    assert voices == [PIPER_VOICE, "espeak-ng:es", PIPER_VOICE]
    languages = [turn.language for turn in result.bot_turns]
    assert languages == ["en", "es", "en"], [(t.language, t.text) for t in result.bot_turns]

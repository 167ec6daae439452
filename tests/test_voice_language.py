"""Language switching on a call with the offline multilingual recogniser: a Spanish caller turn reaches the
dialogue as Spanish, the reply is spoken with the Spanish voice, and English switches the voice back.
On the virtual clock (tests.virtual_phone).
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from tests.virtual_phone import HOST, on_virtual_clock, served
from tests.voice_fakes import ScriptedDialogue
from voice.config import VoiceConfig
from voice.dial import CallerTurn, run_dial
from voice.routes import build_router
from voice.tts import PIPER_VOICE

pytestmark = pytest.mark.slow


def test_a_spanish_turn_switches_reply_language_and_voice(tmp_path):
    dialogue = ScriptedDialogue()
    config = VoiceConfig(multilingual=True, model_cache_dir=tmp_path / "models")
    router = build_router(dialogue, config)
    app = FastAPI()
    app.include_router(router)

    async def call():
        async with served(app) as http:
            return await run_dial(
                HOST,
                says=[
                    CallerTurn(text="Quiero hablar en español", language="es"),
                    CallerTurn(text="I would like some help with my account.", language="en"),
                ],
                verbose=False,
                http=http,
            )

    result = on_virtual_clock(call)
    assert [i.language for i in dialogue.inputs] == ["es", "en"]
    record = router.voice.calls.get(result.call_sid)
    spoken = [(e.data["voice"], e.data["language"]) for e in record.events if e.kind == "voice"]
    assert spoken == [(PIPER_VOICE, "en"), ("espeak-ng:es", "es"), (PIPER_VOICE, "en")]
    assert len(result.bot_turns) == 3 and all(t.audio_s > 0.5 for t in result.bot_turns)  # each one heard

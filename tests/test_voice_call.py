"""Whole phone calls through /twilio/media with the Media Streams client, synthesized caller speech and the
offline speech models: what the dialogue receives, and what the caller hears (transcribed back).
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.voice_fakes import LiveServer, ScriptedDialogue
from voice.config import VoiceConfig
from voice.dial import CallerTurn, run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow

MALFORMED = [
    "this is not JSON",
    "[1, 2, 3]",
    '{"event": "surprise", "streamSid": "MZ1"}',
    '{"event": "media", "streamSid": "MZ1", "media": {"payload": "%%% not base64 %%%"}}',
    '{"event": "media", "streamSid": "MZ1"}',
    '{"event": "dtmf", "streamSid": "MZ1", "dtmf": {}}',
]


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9áéíóúñ]+", (text or "").lower()))


@pytest.fixture(scope="module")
def line(tmp_path_factory):
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(recordings_dir=tmp_path_factory.mktemp("recordings")))
    app = FastAPI()
    app.include_router(router)
    with LiveServer(app) as server:
        yield server, dialogue, router.voice


async def test_a_whole_call_is_understood_and_answered(line, tmp_path):
    server, dialogue, service = line
    inputs_before = len(dialogue.inputs)
    result = await run_dial(
        server.http,
        says=[
            "Hello, I would like some help with my account.",  # a pause after "Hello": still one turn
            CallerTurn(raw=MALFORMED, dtmf="4821#"),
            "Goodbye.",
        ],
        out_wav=tmp_path / "heard.wav",
        transcribe_bot=True,
        verbose=False,
    )

    start = dialogue.starts[-1]
    assert start["channel"] == "voice" and start["caller_phone"] == "+15555550100"
    received = dialogue.inputs[inputs_before:]
    assert len(received) == 3, received
    assert {"help", "account"} <= words(received[0].text)
    assert received[0].language == "en"
    assert received[1].dtmf == "4821" and received[1].text is None
    assert {"goodbye", "bye"} & words(received[2].text)

    said = [words(text) for text in result.bot_texts()]
    assert len(said) == 4, result.bot_texts()
    assert {"thanks", "calling"} <= said[0]
    assert {"help", "orders", "track", "return"} <= said[1]
    assert "person" not in said[1]  # a fourth choice is not read aloud
    assert "number" in said[2] and ({"4821"} <= said[2] or {"four", "eight", "two", "one"} <= said[2])
    assert {"goodbye", "bye"} & said[3]  # the recogniser may drop the "good"

    assert result.closed_by == "server"  # the bot hung up after its goodbye
    assert result.clears == 0
    assert "turn-0" in result.marks
    assert (tmp_path / "heard.wav").stat().st_size > 8000 * 2 * 5

    record = service.calls.get(result.call_sid)
    assert record.bad_frames >= len(MALFORMED) - 1
    assert record.session_id == start["id"] and record.session_ended
    spoken = [t for t in record.turns if t.kind == "speech"]
    assert spoken and all(t.stages_ms()["total"] is not None for t in spoken)
    saved = service.config.recordings_dir / result.call_sid
    assert {p.name for p in saved.iterdir()} == {"caller.wav", "call.wav", "call.json"}


async def test_a_slow_answer_gets_a_filler_first(line):
    server, dialogue, service = line
    result = await run_dial(
        server.http, says=["Can you check my order status please?"], transcribe_bot=True, verbose=False
    )
    heard = " ".join(result.bot_texts()[1:]).lower()
    assert "one moment" in heard and "shipped" in heard
    assert heard.index("one moment") < heard.index("shipped")
    record = service.calls.get(result.call_sid)
    assert [t.filler for t in record.turns if t.kind == "speech"] == [True]
    # the caller hung up: the session is closed for the dialogue
    assert (record.session_id, "caller_hung_up") in dialogue.ended

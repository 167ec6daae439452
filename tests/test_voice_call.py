"""Whole phone calls through /twilio/media with the Media Streams client, synthesized caller speech and the
offline speech models: what the dialogue receives, what the line says, and what the caller hears.

The calls run on the virtual clock (tests.virtual_phone), so they hear and end turns the same way
however busy the machine is; one call runs in real time over a real socket, as a smoke test of the
network path, with checks that hold whatever the timing.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.virtual_phone import HOST, line_said, on_virtual_clock, served
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


def phone_line(**config):
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(**config))
    app = FastAPI()
    app.include_router(router)
    return app, dialogue, router.voice


def test_a_whole_call_is_understood_and_answered(tmp_path):
    app, dialogue, service = phone_line(recordings_dir=tmp_path / "recordings")

    async def call():
        async with served(app) as http:
            return await run_dial(
                HOST,
                says=[
                    "Hello, I would like some help with my account.",  # a pause after "Hello": still one turn
                    CallerTurn(raw=MALFORMED, dtmf="4821#"),
                    "Goodbye.",
                ],
                out_wav=tmp_path / "heard.wav",
                verbose=False,
                http=http,
            )

    result = on_virtual_clock(call)

    start = dialogue.starts[-1]
    assert start["channel"] == "voice" and start["caller_phone"] == "+15555550100"
    received = dialogue.inputs
    assert len(received) == 3, received
    assert {"help", "account"} <= words(received[0].text)
    assert received[0].language == "en"
    assert received[1].dtmf == "4821" and received[1].text is None
    assert {"goodbye", "bye"} & words(received[2].text)

    record = service.calls.get(result.call_sid)
    said = line_said(record)
    assert len(said) == 4, said
    assert {"thanks", "calling"} <= words(said[0])
    assert {"help", "orders", "track", "return"} <= words(said[1])
    assert "person" not in words(said[1])  # a fourth choice is not read aloud
    assert "number" in words(said[2]) and "4 8 2 1" in said[2]  # the digits read one by one
    assert "goodbye" in words(said[3])
    assert len(result.bot_turns) == 4 and all(t.audio_s > 0.5 for t in result.bot_turns)  # each was heard

    assert result.closed_by == "server"  # the bot hung up after its goodbye
    assert result.clears == 0
    assert "turn-0" in result.marks
    assert (tmp_path / "heard.wav").stat().st_size > 8000 * 2 * 5

    assert record.bad_frames >= len(MALFORMED) - 1
    assert record.session_id == start["id"] and record.session_ended
    spoken = [t for t in record.turns if t.kind == "speech"]
    assert spoken and all(t.stages_ms()["total"] is not None for t in spoken)
    saved = service.config.recordings_dir / result.call_sid
    assert {p.name for p in saved.iterdir()} == {"caller.wav", "call.wav", "call.json"}


def test_a_slow_answer_gets_a_filler_first():
    app, dialogue, service = phone_line()

    async def call():
        async with served(app) as http:
            return await run_dial(HOST, says=["Can you check my order status please?"], verbose=False, http=http)

    result = on_virtual_clock(call)
    record = service.calls.get(result.call_sid)
    said = " ".join(line_said(record)[1:]).lower()
    assert "one moment" in said and "shipped" in said
    assert said.index("one moment") < said.index("shipped")
    assert [t.filler for t in record.turns if t.kind == "speech"] == [True]
    # the caller hung up: the session is closed for the dialogue
    assert (record.session_id, "caller_hung_up") in dialogue.ended


async def test_a_call_in_real_time_over_the_network(tmp_path):
    """The smoke test: a real server, a real WebSocket, the wall clock. What it checks holds however the
    turns fall: the caller is heard, the line answers and hangs up after the goodbye, the call is recorded."""
    app, dialogue, service = phone_line(recordings_dir=tmp_path / "recordings")
    with LiveServer(app) as server:
        result = await run_dial(
            server.http, says=["I would like some help with my account.", "Goodbye."], verbose=False, turn_timeout_s=60
        )
    heard = set().union(*(words(i.text) for i in dialogue.inputs))
    assert {"help", "account"} <= heard and {"goodbye", "bye"} & heard, dialogue.inputs
    record = service.calls.get(result.call_sid)
    said = line_said(record)
    assert {"thanks", "calling"} <= words(said[0]) and "goodbye" in words(said[-1]), said
    assert result.bot_turns and result.bot_turns[0].audio_s > 1.0  # the greeting reached the caller
    assert result.closed_by == "server" and record.session_ended
    assert (service.config.recordings_dir / result.call_sid / "call.wav").is_file()

"""Turn-taking on a live call: the caller can cut the bot off, a backchannel does not, a readback cannot be cut."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.voice_fakes import LONG_STORY, READBACK, LiveServer, ScriptedDialogue
from voice.config import VoiceConfig
from voice.dial import CallerTurn, run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", (text or "").lower()))


@pytest.fixture(scope="module")
def line():
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig())
    app = FastAPI()
    app.include_router(router)
    with LiveServer(app) as server:
        yield server, dialogue, router.voice


def _seconds(text: str) -> float:
    """Rough length of the bot saying `text`: the joe voice reads about 3.4 words a second."""
    return len(text.split()) / 3.4


async def test_caller_speech_stops_the_bot(line):
    server, dialogue, _service = line
    before = len(dialogue.inputs)
    result = await run_dial(
        server.http,
        says=[
            "What is your return policy?",
            CallerTurn(text="Actually wait, I need help with a different order instead.", barge_in_after_s=2.0),
        ],
        transcribe_bot=True,
        verbose=False,
    )
    assert result.clears >= 1
    story = result.bot_turns[1]
    assert story.interrupted
    # Playback stopped shortly after the caller started: far less than the whole story went out.
    assert story.audio_s < 6.0 < _seconds(LONG_STORY)
    texts = [i.text or "" for i in dialogue.inputs[before:]]
    assert any({"different", "order"} <= words(t) for t in texts), texts
    assert {"help", "orders"} <= words(result.bot_turns[-1].text)


async def test_backchannel_does_not_interrupt_and_readback_is_never_cut(line):
    server, dialogue, service = line
    before = len(dialogue.inputs)
    result = await run_dial(
        server.http,
        says=[
            "What is your return policy?",
            CallerTurn(text="Okay.", barge_in_after_s=2.0),
            "I want my money back.",
            CallerTurn(text="Yes go ahead and do that right now please", barge_in_after_s=2.0),
            "Yes please.",
        ],
        transcribe_bot=True,
        verbose=False,
    )
    assert result.clears == 0
    assert not any(turn.interrupted for turn in result.bot_turns)
    texts = [i.text or "" for i in dialogue.inputs[before:]]
    assert len(texts) == 3, texts
    assert "policy" in words(texts[0]) and "money" in words(texts[1]) and "yes" in words(texts[2])

    by_text = {turn.text: turn for turn in result.bot_turns}
    story = next(t for text, t in by_text.items() if "thirty" in words(text) or "30" in words(text))
    readback = next(t for text, t in by_text.items() if "refund" in words(text))
    assert story.audio_s > 0.8 * _seconds(LONG_STORY)
    assert readback.audio_s > 0.8 * _seconds(READBACK)
    assert {"go", "ahead", "yes", "no"} <= words(readback.text)

    record = service.calls.get(result.call_sid)
    discarded = [e.data for e in record.events if e.kind == "discarded"]
    # "Okay" may be heard as a backchannel or not at all; either way it reached nobody.
    assert {d["reason"] for d in discarded} <= {"backchannel", "readback"}
    assert any(d["reason"] == "readback" and "ahead" in words(d["text"]) for d in discarded), discarded

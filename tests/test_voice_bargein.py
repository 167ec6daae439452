"""Turn-taking on a live call: the caller can cut the bot off, a backchannel does not, a readback cannot be cut.

On the virtual clock (tests.virtual_phone): the caller starts talking over the bot at the same point
of its audio every time, however busy the machine is."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI

from tests.virtual_phone import HOST, line_said, on_virtual_clock, served
from tests.voice_fakes import LONG_STORY, READBACK, ScriptedDialogue
from voice.config import VoiceConfig
from voice.dial import CallerTurn, DialResult, run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9']+", (text or "").lower()))


def call(says: list) -> tuple[DialResult, ScriptedDialogue, list[str], object]:
    """One call on the virtual clock: (what the caller heard, the dialogue, what the line said, the call record)."""
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig())
    app = FastAPI()
    app.include_router(router)

    async def dial() -> DialResult:
        async with served(app) as http:
            return await run_dial(HOST, says=says, verbose=False, http=http)

    result = on_virtual_clock(dial)
    record = router.voice.calls.get(result.call_sid)
    return result, dialogue, line_said(record), record


def _seconds(text: str) -> float:
    """Rough length of the bot saying `text`: the joe voice reads about 3.4 words a second."""
    return len(text.split()) / 3.4


def test_caller_speech_stops_the_bot():
    result, dialogue, said, _record = call(
        [
            "What is your return policy?",
            CallerTurn(text="Actually wait, I need help with a different order instead.", barge_in_after_s=2.0),
        ]
    )
    assert result.clears >= 1
    assert "thirty" in words(said[1])  # the story the caller cut off
    story = result.bot_turns[1]
    assert story.interrupted
    # Playback stopped shortly after the caller started: far less than the whole story went out.
    assert story.audio_s < 6.0 < _seconds(LONG_STORY)
    texts = [i.text or "" for i in dialogue.inputs]
    assert any({"different", "order"} <= words(t) for t in texts), texts
    assert {"help", "orders"} <= words(said[-1])
    assert len(result.bot_turns) == len(said)  # the answer after the barge-in was heard too


def test_backchannel_does_not_interrupt_and_readback_is_never_cut():
    result, dialogue, said, record = call(
        [
            "What is your return policy?",
            CallerTurn(text="Okay.", barge_in_after_s=2.0),
            "I want my money back.",
            CallerTurn(text="Yes go ahead and do that right now please", barge_in_after_s=2.0),
            "Yes please.",
        ]
    )
    assert result.clears == 0
    assert not any(turn.interrupted for turn in result.bot_turns)
    texts = [i.text or "" for i in dialogue.inputs]
    assert len(texts) == 3, texts
    assert "policy" in words(texts[0]) and "money" in words(texts[1]) and "yes" in words(texts[2])

    # What the caller heard, turn by turn, against what the line said: greeting, story, readback, menu.
    assert len(result.bot_turns) == len(said) == 4, said
    story, readback = result.bot_turns[1], result.bot_turns[2]
    assert "thirty" in words(said[1]) and "refund" in words(said[2])
    assert story.audio_s > 0.8 * _seconds(LONG_STORY)
    assert readback.audio_s > 0.8 * _seconds(READBACK)
    assert {"go", "ahead", "yes", "no"} <= words(said[2])

    discarded = [e.data for e in record.events if e.kind == "discarded"]
    # "Okay" may be heard as a backchannel or not at all; either way it reached nobody.
    assert {d["reason"] for d in discarded} <= {"backchannel", "readback"}
    assert any(d["reason"] == "readback" and "ahead" in words(d["text"]) for d in discarded), discarded

"""What the server knows about each call: its dialogue session, Twilio's status reports, and per-turn figures.

The figures are wall-clock timestamps (seconds since the epoch) for each caller turn: end of the
caller's speech, the end-of-turn decision, the final transcript, the dialogue's answer, the first
synthesized audio and the first audio byte sent on the wire. The benchmark reads them here.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field


class TurnFigures(BaseModel):
    turn: int
    kind: Literal["greeting", "speech", "keypad", "silence"] = "speech"
    caller_text: str | None = None
    caller_language: str | None = None
    speech_end: float | None = None
    end_of_turn: float | None = None
    stt_final: float | None = None
    dialogue_answer: float | None = None
    tts_first_audio: float | None = None
    wire_first_audio: float | None = None
    filler: bool = False
    bot_texts: list[str] = Field(default_factory=list)

    def stages_ms(self) -> dict[str, float | None]:
        """Each stage's share of the time from the end of speech to the first byte on the wire."""

        def span(a: float | None, b: float | None) -> float | None:
            return None if a is None or b is None else round((b - a) * 1000, 1)

        return {
            "end_of_turn": span(self.speech_end, self.end_of_turn),
            "stt": span(self.speech_end, self.stt_final),
            "dialogue": span(self.end_of_turn, self.dialogue_answer),
            "tts_first_audio": span(self.dialogue_answer, self.tts_first_audio),
            "to_wire": span(self.tts_first_audio, self.wire_first_audio),
            "total": span(self.speech_end, self.wire_first_audio),
        }


class CallEvent(BaseModel):
    at: float = Field(default_factory=time.time)
    kind: str
    data: dict[str, Any] = Field(default_factory=dict)


class CallRecord(BaseModel):
    call_sid: str
    stream_sid: str | None = None
    caller: str | None = None
    session_id: str | None = None
    started_at: float = Field(default_factory=time.time)
    ended_at: float | None = None
    statuses: list[dict[str, str]] = Field(default_factory=list)
    state: Literal["ringing", "in_progress", "transferring", "transferred", "ended"] = "ringing"
    session_ended: bool = False
    handed_off: bool = False
    ticket_id: str | None = None
    turns: list[TurnFigures] = Field(default_factory=list)
    events: list[CallEvent] = Field(default_factory=list)
    bad_frames: int = 0

    def event(self, kind: str, **data: Any) -> None:
        self.events.append(CallEvent(kind=kind, data=data))

    def new_turn(self, kind: Literal["greeting", "speech", "keypad", "silence"]) -> TurnFigures:
        figures = TurnFigures(turn=len(self.turns), kind=kind)
        self.turns.append(figures)
        return figures

    def turn(self, number: int) -> TurnFigures | None:
        return self.turns[number] if 0 <= number < len(self.turns) else None


class CallRegistry:
    """In-memory, per process: calls by Twilio CallSid, the most recent kept when the limit is reached."""

    def __init__(self, limit: int = 1000) -> None:
        self._calls: dict[str, CallRecord] = {}
        self._limit = limit

    def get(self, call_sid: str) -> CallRecord | None:
        return self._calls.get(call_sid)

    def open(self, call_sid: str) -> CallRecord:
        record = self._calls.get(call_sid)
        if record is None:
            record = CallRecord(call_sid=call_sid)
            self._calls[call_sid] = record
            while len(self._calls) > self._limit:
                self._calls.pop(next(iter(self._calls)))
        return record

    def all(self) -> list[CallRecord]:
        return list(self._calls.values())

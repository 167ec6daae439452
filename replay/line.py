"""The Twilio end of a replayed call: a WebSocket, handed to the live transport, that speaks Media Streams.

It plays the part Twilio and the caller play on a real call. It sends the caller's audio as 20 ms
mu-law `media` frames paced on the (virtual) clock: with `original` timing exactly as recorded, so
barge-ins happen where they happened; with `turns` timing one utterance at a time, each once the
bot has finished its turn (the bot's turn `mark` has played), with silence in between as a phone
line has. It plays the bot's audio into a playback buffer the way Twilio does: `mark`s are echoed
once the audio sent before them has played, and `clear` (a barge-in) drops what has not been
played yet. What the caller sent and what the caller heard are kept, on the call's clock.
"""

from __future__ import annotations

import asyncio
import audioop
import base64
import json
from typing import Any, Literal

import numpy as np
from starlette.websockets import WebSocketState

from qa.report import LineEvent
from replay.inputs import RATE, Utterance

FRAME = RATE // 50  # Twilio sends 20 ms a message
FRAME_S = FRAME / RATE
Timing = Literal["original", "turns"]

# Turns timing: the caller answers this long after the bot's turn has played.
ANSWER_GAP_S = 0.6
# Turns timing: each answer starts a whole number of these after the caller's previous words (in
# frames sent), however long the bot took. The VAD's model resets its state every 2 s of quiet
# audio, so on this grid it is in the same state whenever the same words start: a busy machine
# (a slower bot turn) cannot change where the VAD hears them begin and end.
ANSWER_GRID_FRAMES = 100
# Nobody waits longer than this for the bot (it reprompts a silent caller well before).
BOT_WAIT_MAX_S = 30.0
# After the caller's last words, the line stays open for the bot's answer at most this long.
TAIL_MAX_S = 30.0
# A new stretch of bot audio after this much silence is a new bot utterance on the timeline.
_BOT_GAP_S = 0.25
_TURN_MARKS = ("turn-", "goodbye", "transfer")


class ReplayLine:
    """Implements what pipecat's FastAPI transport uses of a WebSocket; one per replayed call."""

    def __init__(
        self,
        caller: np.ndarray,
        utterances: list[Utterance],
        *,
        timing: Timing,
        stream_sid: str,
        call_sid: str,
        barge_in: dict[int, float] | None = None,
    ) -> None:
        self.client_state = WebSocketState.CONNECTED
        self.application_state = WebSocketState.CONNECTED
        self.headers: dict[str, str] = {}
        self._caller = caller
        self._utterances = utterances
        self._timing = timing
        # Turns timing only, for making recordings: utterance index -> seconds into the bot's next audio.
        self._barge_in = barge_in or {}
        self._stream_sid = stream_sid
        self._call_sid = call_sid
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._closed = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._t0 = self._loop.time()
        self._next_frame_at = self._t0
        self._sequence = 0
        self._sent: list[np.ndarray] = []  # the caller's audio as sent, frame by frame
        self._bot: list[tuple[float, np.ndarray]] = []  # (play start, samples) as heard
        self._play_end = 0.0
        self._pending_marks: dict[str, tuple[float, asyncio.TimerHandle]] = {}
        self._played_marks: list[tuple[str, float, float]] = []  # (name, sent at, played at)
        self.events: list[LineEvent] = []
        self.caller_spans: list[tuple[float, float]] = []
        self.hung_up_by: Literal["bot", "caller"] | None = None
        self._feeder: asyncio.Task | None = None
        self._bot_span: LineEvent | None = None

    # ------------------------------------------------------------------ clock

    def now(self) -> float:
        """Seconds since the call started, on the (virtual) clock."""
        return self._loop.time() - self._t0

    def start(self) -> None:
        self._feeder = asyncio.ensure_future(self._feed())

    async def stop(self) -> None:
        if self._feeder is not None:
            self._feeder.cancel()
            await asyncio.gather(self._feeder, return_exceptions=True)

    # ------------------------------------------------------------------ the WebSocket the transport sees

    async def receive(self) -> dict[str, Any]:
        if self._incoming.empty() and self._closed.is_set():
            return {"type": "websocket.disconnect", "code": 1000}
        getter = asyncio.ensure_future(self._incoming.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:  # also when the transport stops listening: nothing is left waiting
            closed.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            return {"type": "websocket.receive", "text": json.dumps(getter.result())}
        return {"type": "websocket.disconnect", "code": 1000}

    async def send_text(self, data: str) -> None:
        message = json.loads(data)
        event = message.get("event")
        if event == "media":
            self._play(base64.b64decode(message["media"]["payload"]))
        elif event == "mark":
            self._mark((message.get("mark") or {}).get("name", ""))
        elif event == "clear":
            self._clear()

    async def send_bytes(self, data: bytes) -> None:  # Twilio takes text frames only
        pass

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        if not self._closed.is_set():
            if self.hung_up_by is None:
                self.hung_up_by = "bot"
                self.events.append(LineEvent(at_s=self.now(), kind="hang_up", name="bot"))
            self._closed.set()
        self.client_state = self.application_state = WebSocketState.DISCONNECTED

    # ------------------------------------------------------------------ the bot's audio, as Twilio plays it

    def _play(self, mulaw: bytes) -> None:
        samples = np.frombuffer(audioop.ulaw2lin(mulaw, 2), dtype=np.int16)
        start = max(self.now(), self._play_end)
        span = self._bot_span
        if span is None or start - (span.end_s or span.at_s) > _BOT_GAP_S:
            span = self._bot_span = LineEvent(at_s=start, kind="bot_audio", end_s=start)
            self.events.append(span)
        self._bot.append((start, samples))
        self._play_end = start + len(samples) / RATE
        span.end_s = self._play_end

    def _mark(self, name: str) -> None:
        delay = self._play_end - self.now()
        sent = self.now()
        if delay <= 0:
            self._echo(name, sent)
            return
        handle = self._loop.call_later(delay, self._echo, name, sent)
        self._pending_marks[name] = (sent, handle)

    def _echo(self, name: str, sent: float) -> None:
        self._pending_marks.pop(name, None)
        self._played_marks.append((name, sent, self.now()))
        self.events.append(LineEvent(at_s=self.now(), kind="mark", name=name))
        self._incoming.put_nowait({"event": "mark", "streamSid": self._stream_sid, "mark": {"name": name}})

    def _clear(self) -> None:
        """A barge-in: what has not been played is dropped, and its marks come back at once (as Twilio does)."""
        now = self.now()
        self.events.append(LineEvent(at_s=now, kind="clear"))
        kept: list[tuple[float, np.ndarray]] = []
        for start, samples in self._bot:
            if start >= now:
                continue
            played = int((now - start) * RATE)
            kept.append((start, samples[:played] if played < len(samples) else samples))
        self._bot = kept
        self._play_end = min(self._play_end, now)
        if self._bot_span is not None and (self._bot_span.end_s or 0) > now:
            self._bot_span.end_s = now
        for name, (sent, handle) in list(self._pending_marks.items()):
            handle.cancel()
            self._echo(name, sent)

    # ------------------------------------------------------------------ the caller's audio

    async def _send_frame(self, samples: np.ndarray) -> None:
        if len(samples) < FRAME:
            samples = np.pad(samples, (0, FRAME - len(samples)))
        self._sent.append(samples)
        self._sequence += 1
        payload = base64.b64encode(audioop.lin2ulaw(samples.tobytes(), 2)).decode("ascii")
        self._incoming.put_nowait(
            {"event": "media", "sequenceNumber": str(self._sequence), "streamSid": self._stream_sid,
             "media": {"track": "inbound", "chunk": str(self._sequence), "payload": payload}}
        )  # fmt: skip
        self._next_frame_at += FRAME_S
        delay = self._next_frame_at - self._loop.time()
        await asyncio.sleep(delay if delay > 0 else 0)

    async def _silence_until(self, done, limit_s: float) -> None:
        silence = np.zeros(FRAME, dtype=np.int16)
        deadline = self.now() + limit_s
        while not self._closed.is_set() and not done() and self.now() < deadline:
            await self._send_frame(silence)

    def _bot_turn_played_since(self, since: float) -> bool:
        return any(sent >= since and name.startswith(_TURN_MARKS) for name, sent, _ in self._played_marks)

    def _bot_audio_since(self, since: float) -> bool:
        return any(e.kind == "bot_audio" and e.at_s >= since and e.at_s <= self.now() for e in self.events)

    async def _speak(self, start_s: float, end_s: float) -> None:
        begin = self.now()
        audio = self._caller[int(start_s * RATE) : int(end_s * RATE)]
        for i in range(0, len(audio), FRAME):
            if self._closed.is_set():
                break
            await self._send_frame(audio[i : i + FRAME])
        self.caller_spans.append((begin, self.now()))
        self.events.append(LineEvent(at_s=begin, kind="caller_speech", end_s=self.now()))

    async def _feed(self) -> None:
        self._incoming.put_nowait({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        self._incoming.put_nowait(
            {"event": "start", "streamSid": self._stream_sid,
             "start": {"streamSid": self._stream_sid, "callSid": self._call_sid, "tracks": ["inbound"],
                       "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": RATE, "channels": 1}}}
        )  # fmt: skip
        if self._timing == "original":
            # The recording as it was, pauses and all: the caller talks over the bot where they did.
            for i in range(0, len(self._caller), FRAME):
                if self._closed.is_set():
                    break
                await self._send_frame(self._caller[i : i + FRAME])
            self.caller_spans = [(u.start_s, u.end_s) for u in self._utterances]
            self.events += [LineEvent(at_s=u.start_s, kind="caller_speech", end_s=u.end_s) for u in self._utterances]
        else:
            spoken_at = 0  # frames sent when the caller last stopped speaking
            for index, utterance in enumerate(self._utterances):
                since = self.caller_spans[-1][1] if self.caller_spans else 0.0
                if index in self._barge_in:
                    await self._silence_until(lambda s=since: self._bot_audio_since(s), BOT_WAIT_MAX_S)
                    await self._silence_until(lambda: False, self._barge_in[index])
                else:
                    await self._silence_until(lambda s=since: self._bot_turn_played_since(s), BOT_WAIT_MAX_S)
                    await self._silence_until(lambda: False, ANSWER_GAP_S)
                    await self._silence_until(lambda a=spoken_at: (self._sequence - a) % ANSWER_GRID_FRAMES == 0, 3.0)
                await self._speak(utterance.start_s, utterance.end_s)
                spoken_at = self._sequence
        last = self.caller_spans[-1][1] if self.caller_spans else 0.0
        await self._silence_until(lambda: self._bot_turn_played_since(last), TAIL_MAX_S)
        await self._silence_until(lambda: False, 0.3)
        if not self._closed.is_set():
            # The caller hangs up: Twilio sends `stop` and closes the stream.
            self.hung_up_by = "caller"
            self.events.append(LineEvent(at_s=self.now(), kind="hang_up", name="caller"))
            self._incoming.put_nowait(
                {"event": "stop", "streamSid": self._stream_sid, "stop": {"callSid": self._call_sid}}
            )
            await asyncio.sleep(0.05)
            self._closed.set()

    # ------------------------------------------------------------------ what went over the line

    def caller_track(self) -> np.ndarray:
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=np.int16)

    def bot_track(self) -> np.ndarray:
        length = max([len(self._sent) * FRAME] + [int(at * RATE) + len(s) for at, s in self._bot])
        track = np.zeros(length, dtype=np.int16)
        for at, samples in self._bot:
            start = int(at * RATE)
            track[start : start + len(samples)] = samples[: length - start]
        return track

    def marks_played(self) -> list[tuple[str, float, float]]:
        return list(self._played_marks)

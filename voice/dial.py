"""A Twilio Media Streams client: calls the phone line the way Twilio would, without a Twilio account.

Given an http(s) address it first POSTs the incoming-call webhook, reads the `<Stream>` from the
TwiML and connects there; given a ws(s) address it connects directly. Given an httpx client, the
webhook and the stream both go through it (httpx-ws): with an ASGI transport, a call to an app in
this process, on this event loop (the tests' virtual clock), without a socket. It then speaks like Twilio:
`connected`, `start`, 20 ms mu-law `media` frames in real time (silence between turns), `dtmf`,
echoes the server's `mark`s once the audio before them has played, obeys `clear`, and ends with
`stop`. Each caller turn waits for the bot to finish speaking (or barges in when told to). The
bot's audio is recorded as heard, to a WAV, and what happened is printed and returned.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import soundfile as sf
import typer
from pydantic import BaseModel, Field
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from voice.speech import PHONE_RATE, from_mulaw, load_wav, synthesize, to_mulaw, transcribe, trim_silence

FRAME_SAMPLES = PHONE_RATE // 50  # 20 ms
# A pause this long ends a bot turn, unless the server marks the ends of its turns (then a much longer one).
_GAP_S = 0.5
_MARKED_GAP_S = 4.0
_SILENCE = to_mulaw(np.zeros(FRAME_SAMPLES, dtype=np.int16))


class CallerTurn(BaseModel):
    """One thing the caller does: say text, play a WAV, or press keys; by default once the bot is done."""

    text: str | None = None
    audio: Path | None = None
    dtmf: str | None = None
    language: str = "en"
    barge_in_after_s: float | None = Field(
        default=None, description="start this long after the bot starts its next turn, instead of after it ends"
    )
    pause_before_s: float = 0.3
    raw: list[str] = Field(default_factory=list, description="frames sent verbatim first (to test servers)")


class BotTurn(BaseModel):
    started_at: float
    ended_at: float | None = None
    audio_s: float = 0.0
    interrupted: bool = False
    text: str | None = None
    language: str | None = None


class CallerSpoke(BaseModel):
    kind: str
    content: str
    started_at: float
    ended_at: float
    response_latency_s: float | None = None


class DialResult(BaseModel):
    url: str
    call_sid: str
    stream_sid: str
    events: list[tuple[float, str]] = Field(default_factory=list)
    bot_turns: list[BotTurn] = Field(default_factory=list)
    caller_turns: list[CallerSpoke] = Field(default_factory=list)
    clears: int = 0
    marks: list[str] = Field(default_factory=list)
    closed_by: str = "client"
    out_wav: Path | None = None

    def bot_texts(self) -> list[str]:
        return [t.text or "" for t in self.bot_turns]


class StreamClosed(Exception):
    """The media stream is closed: nothing more can be sent on it."""


class _WebsocketStream:
    """The media stream over a network WebSocket (the `websockets` client)."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, text: str) -> None:
        try:
            await self._ws.send(text)
        except ConnectionClosed as exc:
            raise StreamClosed from exc

    async def messages(self) -> AsyncIterator[str | bytes]:
        try:
            async for raw in self._ws:
                yield raw
        except ConnectionClosed:
            return

    async def close(self) -> None:
        await self._ws.close()


class _HttpxStream:
    """The media stream through an httpx client's transport (httpx-ws), e.g. to an app in this process."""

    def __init__(self, session: Any) -> None:
        self._session = session

    async def send(self, text: str) -> None:
        import wsproto.utilities
        from httpx_ws import HTTPXWSException

        try:
            await self._session.send_text(text)
        except (HTTPXWSException, wsproto.utilities.LocalProtocolError) as exc:
            raise StreamClosed from exc

    async def messages(self) -> AsyncIterator[str | bytes]:
        import wsproto.events
        from httpx_ws import HTTPXWSException

        while True:
            try:
                event = await self._session.receive()
            except HTTPXWSException:
                return
            if isinstance(event, wsproto.events.TextMessage | wsproto.events.BytesMessage):
                yield event.data

    async def close(self) -> None:
        """Nothing to do yet: the session closes as its context ends, once its reader has stopped (a close
        before that pulls the stream from under the reader)."""


@contextlib.asynccontextmanager
async def _open_stream(url: str, http: httpx.AsyncClient | None) -> AsyncIterator[_WebsocketStream | _HttpxStream]:
    if http is None:
        async with connect(url, max_size=2**20, open_timeout=10) as ws:
            yield _WebsocketStream(ws)
        return
    from httpx_ws import aconnect_ws

    async with aconnect_ws(url, http, max_message_size_bytes=2**20) as session:
        yield _HttpxStream(session)


class MediaStreamCall:
    """The state of one Media Streams connection: playback buffer, marks, turns."""

    def __init__(self, ws: Any, call_sid: str, stream_sid: str, result: DialResult, *, verbose: bool) -> None:
        self.ws = ws
        self.call_sid = call_sid
        self.stream_sid = stream_sid
        self.result = result
        self.verbose = verbose
        self.t0 = time.monotonic()
        self.sequence = 0
        self.chunk = 0
        self.outgoing: list[bytes] = []  # mu-law frames of the caller turn being spoken
        self.playback = bytearray()  # bot audio received, not yet played (mu-law)
        self.pending_marks: list[tuple[int, str]] = []  # (bytes of playback before the mark, name)
        self.heard: list[np.ndarray] = []  # what the caller heard, 20 ms at a time
        self.turn_audio: list[np.ndarray] = []
        self.current: BotTurn | None = None
        self.last_audio_at = 0.0
        self.bot_started = asyncio.Event()
        self.closed = asyncio.Event()
        self.speech_sent = asyncio.Event()
        self.speech_sent.set()
        self.last_speech_end: float | None = None
        self.bot_started_once = False
        self._current_audio: list[np.ndarray] = []
        self.uses_marks = False  # a server that marks its turns' ends is trusted over silence gaps
        self.mark_played = False

    def now(self) -> float:
        return round(time.monotonic() - self.t0, 3)

    def log(self, text: str) -> None:
        self.result.events.append((self.now(), text))
        if self.verbose:
            print(f"[{self.now():7.2f}] {text}", flush=True)

    async def send(self, message: dict[str, Any]) -> None:
        """Send one Twilio event; once the server has closed the stream there is nobody to tell."""
        self.sequence += 1
        message = {**message, "sequenceNumber": str(self.sequence)}
        try:
            await self.ws.send(json.dumps(message))
        except StreamClosed:
            self.server_closed()

    def server_closed(self) -> None:
        """The stream closed under us: whichever task notices first (a send, the receiver), the server did it.

        The caller marks `closed` before it closes the socket itself, so a close found while it is
        unset came from the other end.
        """
        if not self.closed.is_set():
            self.result.closed_by = "server"
            self.log("call ended by the server")
        self.closed.set()

    # ---------------------------------------------------------------- clock: send a frame, play a frame

    async def clock(self) -> None:
        next_at = time.monotonic()
        while not self.closed.is_set():
            if self.outgoing:
                payload = self.outgoing.pop(0)
                if not self.outgoing:
                    self.last_speech_end = time.monotonic() + 0.02
                    self.speech_sent.set()
            else:
                payload = _SILENCE
            self.chunk += 1
            await self.send(
                {
                    "event": "media",
                    "streamSid": self.stream_sid,
                    "media": {
                        "track": "inbound",
                        "chunk": str(self.chunk),
                        "timestamp": str(self.chunk * 20),
                        "payload": base64.b64encode(payload).decode("ascii"),
                    },
                }
            )
            await self.play_frame()
            next_at += 0.02
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def play_frame(self) -> None:
        take = bytes(self.playback[:FRAME_SAMPLES])
        del self.playback[: len(take)]
        heard = from_mulaw(take) if take else np.zeros(0, np.int16)
        if len(heard) < FRAME_SAMPLES:
            heard = np.concatenate([heard, np.zeros(FRAME_SAMPLES - len(heard), np.int16)])
        self.heard.append(heard)
        played = len(take)
        due = [m for m in self.pending_marks if m[0] <= played]
        self.pending_marks = [(pos - played, name) for pos, name in self.pending_marks if pos > played]
        for _, name in due:
            await self.echo_mark(name)
        if self.current is not None and not self.playback:
            quiet = time.monotonic() - self.last_audio_at
            if (self.uses_marks and self.mark_played) or quiet > (_MARKED_GAP_S if self.uses_marks else _GAP_S):
                self.finish_bot_turn(interrupted=False)

    async def echo_mark(self, name: str) -> None:
        self.result.marks.append(name)
        self.mark_played = True
        await self.send({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def finish_bot_turn(self, *, interrupted: bool) -> None:
        turn = self.current
        if turn is None:
            return
        turn.ended_at = self.now()
        turn.interrupted = interrupted
        self.current = None
        self.bot_started.clear()
        self.log(f"bot {'interrupted' if interrupted else 'done'} ({turn.audio_s:.2f} s of audio)")
        self.result.bot_turns.append(turn)
        self.turn_audio.append(np.concatenate(self._current_audio) if self._current_audio else np.zeros(0, np.int16))
        self._current_audio = []

    # ---------------------------------------------------------------- receiving

    async def receive(self) -> None:
        async for raw in self.ws.messages():
            try:
                message = json.loads(raw)
            except (TypeError, json.JSONDecodeError):
                self.log(f"server sent something that is not JSON: {raw!r:.60}")
                continue
            event = message.get("event")
            if event == "media":
                await self.on_media(base64.b64decode(message["media"]["payload"]))
            elif event == "mark":
                self.uses_marks = True
                name = message.get("mark", {}).get("name", "")
                if self.playback:
                    self.pending_marks.append((len(self.playback), name))
                else:
                    await self.echo_mark(name)
            elif event == "clear":
                self.result.clears += 1
                self.log(f"clear: bot stopped ({len(self.playback) / PHONE_RATE:.2f} s unplayed dropped)")
                self.playback.clear()
                for _, name in self.pending_marks:
                    await self.echo_mark(name)
                self.pending_marks.clear()
                self.finish_bot_turn(interrupted=True)
            else:
                self.log(f"server event {event!r}")
        self.server_closed()

    async def on_media(self, mulaw: bytes) -> None:
        now = time.monotonic()
        if self.current is None:
            self.current = BotTurn(started_at=self.now())
            self._current_audio = []
            latency = None
            if self.last_speech_end is not None and self.result.caller_turns:
                latency = round(now - self.last_speech_end, 3)
                if self.result.caller_turns[-1].response_latency_s is None:
                    self.result.caller_turns[-1].response_latency_s = latency
            self.log("bot speaking" + (f" ({latency * 1000:.0f} ms after the caller stopped)" if latency else ""))
            self.bot_started.set()
        self.last_audio_at = now
        self.mark_played = False
        self.playback.extend(mulaw)
        self.current.audio_s += len(mulaw) / PHONE_RATE
        self._current_audio.append(from_mulaw(mulaw))

    # ---------------------------------------------------------------- the caller's side

    async def bot_done(self, limit_s: float) -> None:
        """Wait until the bot has spoken and finished (its audio played out and nothing more coming)."""
        deadline = time.monotonic() + limit_s
        while not self.closed.is_set() and time.monotonic() < deadline:
            if self.current is None and self.bot_started_once and not self.playback:
                return
            await asyncio.sleep(0.05)

    async def speak(self, turn: CallerTurn) -> None:
        for raw in turn.raw:
            self.log(f"caller sends raw frame {raw[:40]!r}")
            try:
                await self.ws.send(raw)
            except StreamClosed:
                self.server_closed()
        if turn.dtmf:
            started = self.now()
            for digit in turn.dtmf:
                await self.send(
                    {"event": "dtmf", "streamSid": self.stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}}
                )
                await asyncio.sleep(0.15)
            self.last_speech_end = time.monotonic()
            self.result.caller_turns.append(CallerSpoke(kind="dtmf", content=turn.dtmf, started_at=started,
                                                        ended_at=self.now()))  # fmt: skip
            self.log(f"caller keyed {turn.dtmf}")
            return
        if turn.audio is None and not turn.text:
            return
        if turn.audio is not None:
            pcm, content = load_wav(turn.audio), str(turn.audio)
        else:
            pcm, content = synthesize(turn.text or "", turn.language), turn.text or ""
        pcm = trim_silence(pcm)
        pad = (-len(pcm)) % FRAME_SAMPLES
        mulaw = to_mulaw(np.concatenate([pcm, np.zeros(pad, np.int16)]))
        frames = [mulaw[i : i + FRAME_SAMPLES] for i in range(0, len(mulaw), FRAME_SAMPLES)]
        started = self.now()
        self.log(f"caller says {content!r} ({len(pcm) / PHONE_RATE:.2f} s, {turn.language})")
        self.speech_sent.clear()
        self.outgoing.extend(frames)
        await self.speech_sent.wait()
        self.result.caller_turns.append(CallerSpoke(kind="speech", content=content, started_at=started,
                                                    ended_at=self.now()))  # fmt: skip


async def run_dial(
    url: str,
    says: list[str | CallerTurn] | None = None,
    audio: list[Path | str] | None = None,
    *,
    out_wav: Path | str | None = None,
    language: str = "en",
    caller: str = "+15555550100",
    called: str = "+15555550199",
    auth_token: str | None = None,
    account_sid: str = "AC00000000000000000000000000000000",
    turn_timeout_s: float = 30.0,
    hangup_after_s: float = 1.0,
    transcribe_bot: bool = False,
    multilingual_transcripts: bool = False,
    model_cache_dir: Path | None = None,
    verbose: bool = True,
    http: httpx.AsyncClient | None = None,
) -> DialResult:
    """Place one call. Turns are `says` (text, or CallerTurn) followed by `audio` (WAV paths).

    With `http`, the webhook and the media stream go through that client (see the module docstring).
    """
    turns: list[CallerTurn] = [
        s if isinstance(s, CallerTurn) else CallerTurn(text=s, language=language) for s in (says or [])
    ]
    turns += [CallerTurn(audio=Path(a)) for a in (audio or [])]
    call_sid = f"CA{uuid.uuid4().hex}"
    stream_sid = f"MZ{uuid.uuid4().hex}"
    stream_url, parameters = await _stream_address(url, call_sid, caller, called, account_sid, auth_token, http)
    parameters.setdefault("caller", caller)
    result = DialResult(url=stream_url.split("?")[0], call_sid=call_sid, stream_sid=stream_sid)

    async with _open_stream(stream_url, http) as ws:
        call = MediaStreamCall(ws, call_sid, stream_sid, result, verbose=verbose)
        call.log(f"connected to {result.url}")
        await call.send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await call.send(
            {
                "event": "start",
                "streamSid": stream_sid,
                "start": {
                    "accountSid": account_sid,
                    "streamSid": stream_sid,
                    "callSid": call_sid,
                    "tracks": ["inbound"],
                    "customParameters": parameters,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": PHONE_RATE, "channels": 1},
                },
            }
        )
        receiver = asyncio.create_task(call.receive())
        clock = asyncio.create_task(call.clock())
        try:
            await _converse(call, turns, turn_timeout_s)
            # The caller stays on the line a while: the bot may still end the call itself.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.closed.wait(), hangup_after_s)
            if not call.closed.is_set():
                call.log("caller hangs up")
                await call.send({"event": "stop", "streamSid": stream_sid, "stop": {"accountSid": account_sid,
                                                                                     "callSid": call_sid}})  # fmt: skip
        finally:
            call.closed.set()
            await ws.close()
            for task in (clock, receiver):
                task.cancel()
            await asyncio.gather(clock, receiver, return_exceptions=True)
            call.finish_bot_turn(interrupted=False)

    if transcribe_bot:
        for turn, pcm in zip(result.bot_turns, call.turn_audio, strict=False):
            if len(pcm):
                turn.text, turn.language = await asyncio.to_thread(
                    transcribe, pcm, multilingual=multilingual_transcripts, cache_dir=model_cache_dir
                )
                if verbose:
                    print(f"  bot said ({turn.language}): {turn.text}", flush=True)
    if out_wav is not None:
        heard = np.concatenate(call.heard) if call.heard else np.zeros(0, np.int16)
        sf.write(str(out_wav), heard, PHONE_RATE, subtype="PCM_16")
        result.out_wav = Path(out_wav)
    return result


async def _converse(call: MediaStreamCall, turns: list[CallerTurn], turn_timeout_s: float) -> None:
    async def watch_start() -> None:
        await call.bot_started.wait()
        call.bot_started_once = True

    await asyncio.wait_for(watch_start(), timeout=turn_timeout_s)
    for turn in turns:
        if call.closed.is_set():
            break
        if turn.barge_in_after_s is not None:
            if call.current is None:
                call.bot_started_once = False
                await _wait_event(call.bot_started, turn_timeout_s, call)
            await asyncio.sleep(turn.barge_in_after_s)
        else:
            await call.bot_done(turn_timeout_s)
            await asyncio.sleep(turn.pause_before_s)
        if call.closed.is_set():
            break
        call.bot_started_once = False
        await call.speak(turn)
        await _wait_event(call.bot_started, turn_timeout_s, call)
        call.bot_started_once = call.bot_started.is_set() or call.current is not None
    await call.bot_done(turn_timeout_s)


async def _wait_event(event: asyncio.Event, limit_s: float, call: MediaStreamCall) -> None:
    """Until `event` is set, the call closes, or `limit_s` passes."""
    waits = {asyncio.ensure_future(event.wait()), asyncio.ensure_future(call.closed.wait())}
    _, pending = await asyncio.wait(waits, timeout=limit_s, return_when=asyncio.FIRST_COMPLETED)
    for waiter in pending:
        waiter.cancel()


async def _stream_address(
    url: str,
    call_sid: str,
    caller: str,
    called: str,
    account_sid: str,
    auth_token: str | None,
    http: httpx.AsyncClient | None,
) -> tuple[str, dict[str, str]]:
    """For http(s), ask the webhook like Twilio does; for ws(s), connect where told."""
    scheme = urlsplit(url).scheme
    if scheme in ("ws", "wss"):
        return url, {}
    if scheme not in ("http", "https"):
        raise ValueError(f"expected an http(s):// or ws(s):// address, got {url!r}")
    base = url.rstrip("/")
    webhook = base if base.endswith("/twilio/voice") else f"{base}/twilio/voice"
    form = {
        "AccountSid": account_sid,
        "CallSid": call_sid,
        "From": caller,
        "To": called,
        "CallStatus": "ringing",
        "Direction": "inbound",
        "ApiVersion": "2010-04-01",
    }
    headers = {}
    if auth_token:
        from twilio.request_validator import RequestValidator

        headers["X-Twilio-Signature"] = RequestValidator(auth_token).compute_signature(webhook, form)
    if http is not None:
        response = await http.post(webhook, data=form, headers=headers)
    else:
        async with httpx.AsyncClient(timeout=15) as client:
            response = await client.post(webhook, data=form, headers=headers)
    if response.status_code != 200:
        raise RuntimeError(f"{webhook} answered {response.status_code}: {response.text[:200]}")
    root = ET.fromstring(response.text)
    stream = root.find(".//Connect/Stream")
    if stream is None or not stream.get("url"):
        raise RuntimeError(f"{webhook} did not answer with <Connect><Stream>: {response.text[:300]}")
    params = {p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")}
    stream_url = stream.get("url", "")
    # A server behind a proxy names its public wss address; a local one is reached where we asked.
    if urlsplit(stream_url).netloc != urlsplit(base).netloc and urlsplit(base).hostname in ("127.0.0.1", "localhost"):
        local = urlsplit(base)
        stream_url = stream_url.replace(urlsplit(stream_url).netloc, local.netloc, 1)
        stream_url = ("ws" if local.scheme == "http" else "wss") + stream_url[stream_url.index("://") :]
    return stream_url, params


def dial_command(
    url: Annotated[
        str, typer.Argument(help="the server (http://host:port) or its stream (ws://host/twilio/media?...)")
    ],
    say: Annotated[list[str] | None, typer.Option("--say", help="a caller turn to speak (repeatable)")] = None,
    audio: Annotated[list[Path] | None, typer.Option("--audio", help="a WAV to play as a caller turn")] = None,
    out: Annotated[Path, typer.Option("--out", help="where to write what the caller heard")] = Path("dial.wav"),
    language: Annotated[str, typer.Option("--language", help="language of the --say turns")] = "en",
    caller: Annotated[str, typer.Option("--from", help="the caller's number")] = "+15555550100",
    auth_token: Annotated[
        str | None, typer.Option("--auth-token", help="sign the webhook like Twilio does (or TWILIO_AUTH_TOKEN)")
    ] = None,
    transcribe_bot: Annotated[bool, typer.Option("--transcribe/--no-transcribe", help="transcribe the bot")] = True,
) -> None:
    """Call the phone line like Twilio would: speak the turns, record the bot, print what happened."""
    import os

    from websockets.exceptions import InvalidHandshake, InvalidURI

    for wav in audio or []:
        if not wav.exists():
            typer.secho(f"error: {wav} does not exist", err=True, fg=typer.colors.RED)
            raise typer.Exit(2)
    try:
        result = asyncio.run(
            run_dial(
                url,
                says=list(say or []),
                audio=list(audio or []),
                out_wav=out,
                language=language,
                caller=caller,
                auth_token=auth_token or os.environ.get("TWILIO_AUTH_TOKEN"),
                transcribe_bot=transcribe_bot,
            )
        )
    except (OSError, RuntimeError, ValueError, TimeoutError, InvalidHandshake, InvalidURI, httpx.HTTPError) as exc:
        typer.secho(f"error: the call could not be placed: {exc}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from exc
    print(f"recorded what the caller heard to {out}")
    latencies = [t.response_latency_s for t in result.caller_turns if t.response_latency_s is not None]
    if latencies:
        print("bot answered after " + ", ".join(f"{v * 1000:.0f} ms" for v in latencies))

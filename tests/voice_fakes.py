"""Test doubles for the phone channel: a scripted dialogue, a live uvicorn server, and local servers that
speak Deepgram's live-transcription WebSocket protocol and Twilio's REST API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import uvicorn
from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse

from dialogue.api import BotMessage, CustomerInput, HandoffSummary, TurnResult
from dialogue.state import Choice, ConversationState

GREETING = "Hello, thanks for calling. What can I do for you today?"
LONG_STORY = (
    "Let me tell you about our return policy. Items can be returned within thirty days of delivery, "
    "as long as they are unused and in their original packaging. Refunds go back to the original "
    "payment method within five to seven business days, and exchanges ship as soon as we receive the item."
)
READBACK = (
    "I will refund forty two dollars to the card ending in one two three four, for the blue running "
    "shoes in order number five five five. Shall I go ahead? Please say yes or no."
)


@dataclass
class ScriptedDialogue:
    """Implements dialogue.api.Dialogue with a fixed script, recording everything it is given."""

    slow_s: float = 1.6
    inputs: list[CustomerInput] = field(default_factory=list)
    starts: list[dict[str, Any]] = field(default_factory=list)
    ended: list[tuple[str, str]] = field(default_factory=list)
    sessions: int = 0

    def _state(self, session_id: str, language: str) -> ConversationState:
        return ConversationState(session_id=session_id, channel="voice", language=language)

    def _result(self, session_id: str, *messages: BotMessage, **kwargs: Any) -> TurnResult:
        language = messages[-1].language if messages else "en"
        return TurnResult(session_id=session_id, messages=list(messages), state=self._state(session_id, language),
                          **kwargs)  # fmt: skip

    async def start(self, channel, *, language=None, caller_phone=None, session_id=None) -> TurnResult:
        self.sessions += 1
        sid = session_id or f"S{self.sessions:04d}"
        self.starts.append({"channel": channel, "language": language, "caller_phone": caller_phone, "id": sid})
        return self._result(sid, BotMessage(text=GREETING))

    async def resume(self, session_id: str) -> TurnResult:
        return self._result(session_id, BotMessage(text=GREETING))

    async def handle(self, session_id: str, user_input: CustomerInput) -> TurnResult:
        self.inputs.append(user_input)
        text = (user_input.text or "").lower()
        if user_input.dtmf is not None:
            digits = " ".join(user_input.dtmf)
            return self._result(session_id, BotMessage(text=f"Thanks. I have the number {digits}."))
        if user_input.language == "es":
            spanish = BotMessage(text="Claro, le atiendo en español. ¿Cuál es su número de pedido?", language="es")
            return self._result(session_id, spanish)
        if "slow" in text or "check my order" in text:
            await asyncio.sleep(self.slow_s)
            return self._result(session_id, BotMessage(text="Your order has shipped and arrives on Friday."))
        if "person" in text or "transfer" in text or "human" in text:
            summary = HandoffSummary(
                session_id=session_id, ticket_id="T-4821", channel="voice", reason="customer asked for a person",
                customer={"first_name": "Jane", "last_name": "Doe"}, identity_level="basic", language="en",
                issue_summary="Wants to change the delivery address of order W555.", intents=["change_address"],
                slots={}, actions=[], failed_steps=[], sentiment=0.0, frustration=0, confidence=0.9,
                policy_references=[], recommended_next_step="Update the address and confirm by email.",
                transcript=[],
            )  # fmt: skip
            return self._result(session_id, BotMessage(text="Of course, a colleague will take it from here."),
                                handoff=summary)  # fmt: skip
        if "refund" in text or "money back" in text:
            return self._result(session_id, BotMessage(text=READBACK, readback=True, expects="confirmation"))
        if "policy" in text or "return" in text:
            return self._result(session_id, BotMessage(text=LONG_STORY))
        if "bye" in text:
            return self._result(session_id, BotMessage(text="Thanks for calling. Goodbye."), ended=True)
        labels = ("Track an order", "Return an item", "Cancel an order", "Talk to a person")
        choices = [Choice(label=label, value=label.lower()) for label in labels]
        return self._result(session_id, BotMessage(text="I can help with orders.", choices=choices))

    async def end(self, session_id: str, reason: str = "customer_left") -> ConversationState | None:
        self.ended.append((session_id, reason))
        return self._state(session_id, "en")


class LiveServer:
    """A real uvicorn server on 127.0.0.1 (random port), in a thread with its own event loop."""

    def __init__(self, app: Any, *, lifespan: str = "off") -> None:
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", ws_max_size=1 << 20, lifespan=lifespan)
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    @property
    def port(self) -> int:
        return self._server.servers[0].sockets[0].getsockname()[1]

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=15)


# --------------------------------------------------------------------------- Deepgram


@dataclass
class DeepgramScript:
    """What the fake recogniser 'hears': one transcript per utterance, in order."""

    transcripts: list[tuple[str, str]] = field(default_factory=list)  # (text, language)
    default_transcript: tuple[str, str] | None = None  # once the list is used up (load tests)
    connections: list[dict[str, str]] = field(default_factory=list)
    controls: list[str] = field(default_factory=list)
    audio_bytes: int = 0
    auth_headers: list[str] = field(default_factory=list)
    spoken: list[str] = field(default_factory=list)  # what Aura was asked to say
    speak_connections: list[dict[str, str]] = field(default_factory=list)


def deepgram_app(
    script: DeepgramScript, *, speech_threshold: int = 900, endpointing_s: float = 1.0, min_speech_s: float = 0.3
) -> FastAPI:
    """Deepgram's live transcription (`/v1/listen`): query parameters, binary audio in, `Results` JSON out.

    Utterances are found by energy in the linear16 audio: interim results while one goes on, a final
    (`is_final`, `speech_final`) on `Finalize` or after `endpointing_s` of quiet, `Metadata` on
    `CloseStream`. Less than `min_speech_s` of speech is noise and gets no transcript.
    """
    app = FastAPI()

    @app.websocket("/v1/listen")
    async def listen(ws: WebSocket) -> None:
        params = dict(ws.query_params)
        script.connections.append(params)
        script.auth_headers.append(ws.headers.get("authorization", ""))
        await ws.accept()
        rate = int(params.get("sample_rate", "16000"))
        endpoint_s = int(params["endpointing"]) / 1000 if params.get("endpointing", "").isdigit() else endpointing_s
        multi = params.get("language") == "multi"
        request_id = f"req-{len(script.connections)}"
        state = {"in_speech": False, "quiet": 0.0, "spoken": 0.0, "start": 0.0, "t": 0.0, "interims": 0}

        def results(text: str, language: str, *, final: bool, from_finalize: bool = False) -> str:
            alternative: dict[str, Any] = {"transcript": text, "confidence": 0.98, "words": []}
            if multi:
                alternative["languages"] = [language]
            return json.dumps({
                "type": "Results", "channel_index": [0, 1], "duration": round(state["t"] - state["start"], 3),
                "start": round(state["start"], 3), "is_final": final, "speech_final": final,
                "from_finalize": from_finalize, "channel": {"alternatives": [alternative]},
                "metadata": {"request_id": request_id, "model_info": {"name": params.get("model", "")}},
            })  # fmt: skip

        async def finish(from_finalize: bool) -> None:
            if not state["in_speech"] or state["spoken"] < min_speech_s:
                # Nothing worth a transcript (silence, or a blip of noise).
                state["in_speech"] = False
                if from_finalize:
                    await ws.send_text(results("", "en", final=True, from_finalize=True))
                return
            state["in_speech"] = False
            fallback = script.default_transcript or ("", "en")
            text, language = script.transcripts.pop(0) if script.transcripts else fallback
            await ws.send_text(results(text, language, final=True, from_finalize=from_finalize))

        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("bytes") is not None:
                    audio = message["bytes"]
                    script.audio_bytes += len(audio)
                    seconds = len(audio) / 2 / rate
                    state["t"] += seconds
                    usable = len(audio) - len(audio) % 2
                    peak = int(np.abs(np.frombuffer(audio[:usable], np.int16).astype(np.int32)).max(initial=0))
                    if peak > speech_threshold:
                        if not state["in_speech"]:
                            state.update(in_speech=True, start=state["t"], spoken=0.0, interims=0)
                        state["quiet"] = 0.0
                        state["spoken"] += seconds
                        upcoming = script.transcripts[0] if script.transcripts else script.default_transcript
                        if state["spoken"] > 0.5 * (state["interims"] + 1) and upcoming:
                            state["interims"] += 1
                            text, language = upcoming
                            words = text.split()
                            partial = " ".join(words[: max(1, len(words) * state["interims"] // 4)])
                            await ws.send_text(results(partial, language, final=False))
                    elif state["in_speech"]:
                        state["quiet"] += seconds
                        if state["quiet"] >= endpoint_s:
                            await finish(False)
                elif message.get("text") is not None:
                    control = json.loads(message["text"]).get("type", "")
                    script.controls.append(control)
                    if control == "Finalize":
                        await finish(True)
                    elif control == "CloseStream":
                        await ws.send_text(json.dumps({
                            "type": "Metadata", "transaction_key": "deprecated", "request_id": request_id,
                            "sha256": "0" * 64, "created": "2026-01-01T00:00:00Z", "duration": state["t"],
                            "channels": 1, "models": [], "model_info": {},
                        }))  # fmt: skip
                        await ws.close()
                        return
        except WebSocketDisconnect:
            return

    return app


def _voice_like(seconds: float, rate: int) -> bytes:
    """A stand-in for synthesized speech: a warbling tone, loud enough to be heard as audio."""
    t = np.arange(int(seconds * rate)) / rate
    wave = 0.3 * np.sin(2 * np.pi * (180 + 40 * np.sin(2 * np.pi * 3 * t)) * t)
    return (wave * 32767).astype(np.int16).tobytes()


def add_aura(app: FastAPI, script: DeepgramScript, *, seconds_per_word: float = 0.3) -> FastAPI:
    """Deepgram Aura's streaming TTS (`/v1/speak`): `Speak` text in, linear16 audio out, `Flushed` on `Flush`."""

    @app.websocket("/v1/speak")
    async def speak(ws: WebSocket) -> None:
        params = dict(ws.query_params)
        script.speak_connections.append(params)
        await ws.accept()
        rate = int(params.get("sample_rate", "24000"))
        pending: list[str] = []
        try:
            while True:
                message = json.loads(await ws.receive_text())
                kind = message.get("type")
                if kind == "Speak":
                    pending.append(message.get("text", ""))
                    script.spoken.append(message.get("text", ""))
                elif kind == "Flush":
                    text = " ".join(pending)
                    pending.clear()
                    audio = _voice_like(max(0.3, len(text.split()) * seconds_per_word), rate)
                    step = rate // 10 * 2  # 100 ms a message, faster than real time as Aura streams
                    for i in range(0, len(audio), step):
                        await ws.send_bytes(audio[i : i + step])
                    await ws.send_text(json.dumps({"type": "Flushed", "sequence_id": 0}))
                elif kind == "Clear":
                    pending.clear()
                    await ws.send_text(json.dumps({"type": "Cleared", "sequence_id": 0}))
                elif kind == "Close":
                    await ws.close()
                    return
        except WebSocketDisconnect:
            return

    return app


# --------------------------------------------------------------------------- Twilio REST


@dataclass
class TwilioRestLog:
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail: bool = False


def twilio_rest_app(log: TwilioRestLog) -> FastAPI:
    """`POST /2010-04-01/Accounts/{Sid}/Calls/{CallSid}.json`, form-encoded, basic auth; a Call resource back."""
    app = FastAPI()

    @app.post("/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json")
    async def update_call(account_sid: str, call_sid: str, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        auth = request.headers.get("authorization", "")
        user, password = "", ""
        if auth.startswith("Basic "):
            user, _, password = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        log.requests.append({"account_sid": account_sid, "call_sid": call_sid, "form": dict(form),
                             "user": user, "password": password,
                             "content_type": request.headers.get("content-type", "")})  # fmt: skip
        if not auth or user != account_sid:
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, status_code=401)
        if log.fail:
            return JSONResponse({"code": 21220, "message": "Invalid call state", "status": 400}, status_code=400)
        return JSONResponse({
            "sid": call_sid, "account_sid": account_sid, "status": form.get("Status", "in-progress"),
            "api_version": "2010-04-01", "direction": "inbound", "from": "+15555550100", "to": "+15555550199",
            "date_created": "Sat, 21 Nov 2026 10:00:00 +0000", "date_updated": "Sat, 21 Nov 2026 10:00:05 +0000",
            "uri": f"/2010-04-01/Accounts/{account_sid}/Calls/{call_sid}.json", "subresource_uris": {},
        })  # fmt: skip

    return app

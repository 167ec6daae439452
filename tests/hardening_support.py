"""Helpers for the hardening suites: the whole application (`create_app`, as `frontdesk serve` runs it)
on a live uvicorn server with a fake Deepgram beside it, a Twilio caller that speaks frames verbatim,
and checks of what every refusal must look like.

The chat's per-session and per-address limits (and the desk's per-address one) are opened wide here: the
suites send hundreds of frames from one address, and a 429 would hide what the frame itself does to the
server.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from actions.paths import RETAIL_DB
from desk.web.ratelimit import RateLimiter
from frontdesk.app import create_app
from frontdesk.settings import Settings
from tests.voice_fakes import DeepgramScript, LiveServer, add_aura, deepgram_app

AGENT_TOKEN = "hardening-agent-token-0123456789"
ADMIN_TOKEN = "hardening-admin-token-9876543210"
TWILIO_AUTH = "hardening-twilio-auth-token-abcdef"
PUBLIC_URL = "https://frontdesk.example.com"
RECV_S = 20.0

# Every error code the chat protocol may answer with; anything else is a server bug showing through.
CHAT_ERROR_CODES = {"bad_frame", "too_large", "rate_limited", "unknown_session"}
SERVER_FRAME_TYPES = {"session", "message", "state", "handoff", "turn_end", "error"}


@dataclass
class App:
    """The whole application on a live server (plus its fake Deepgram); `app.state` reaches the services."""

    app: Any
    server: LiveServer
    deepgram: DeepgramScript

    @property
    def http(self) -> str:
        return self.server.http

    @property
    def ws(self) -> str:
        return self.server.ws

    @property
    def voice(self) -> Any:
        return self.app.state.voice

    @property
    def backoffice(self) -> Any:
        return self.app.state.backoffice


@contextlib.contextmanager
def whole_app(*, signed: bool = False, **settings: Any) -> Iterator[App]:
    """`create_app` on a fresh SQLite store loaded from db.json; Deepgram keyed to a local fake so no
    speech model loads. With `signed`, Twilio's auth token and a public address are configured."""
    script = DeepgramScript(default_transcript=("I need help with my order.", "en"))
    # Short synthetic speech from the fake Aura: the suites wait for the bot's turns, not for its voice.
    fake = add_aura(deepgram_app(script), script, seconds_per_word=0.02)
    with tempfile.TemporaryDirectory(prefix="frontdesk-hardening-") as tmp, LiveServer(fake) as deepgram:
        values: dict[str, Any] = {
            "db_url": f"sqlite:///{Path(tmp) / 'frontdesk.sqlite3'}",
            "data": RETAIL_DB,
            "data_dir": Path(tmp),
            "agent_token": SecretStr(AGENT_TOKEN),
            "admin_token": SecretStr(ADMIN_TOKEN),
            "deepgram_api_key": SecretStr("fake-deepgram-key"),
            "deepgram_url": deepgram.http,
        }
        if signed:
            values |= {
                "twilio_auth_token": SecretStr(TWILIO_AUTH),
                "twilio_account_sid": "AC1",
                "public_url": PUBLIC_URL,
            }
        values |= settings
        app = create_app(Settings(**values))
        chat = app.state.chat
        chat.per_session = RateLimiter(1e6, 10**6)
        chat.per_address = RateLimiter(1e6, 10**6)
        app.state.desk.per_address = RateLimiter(1e6, 10**6)
        with LiveServer(app, lifespan="on") as server:
            yield App(app, server, script)


def ws_connect(url: str, **kw: Any) -> ClientConnection:
    return connect(url, **{"open_timeout": RECV_S, "max_size": 2**22, **kw})


def read_turn(ws: ClientConnection) -> list[dict]:
    """Frames up to and including `turn_end`; each must be JSON of a type the protocol defines."""
    frames = []
    while True:
        frame = json.loads(ws.recv(timeout=RECV_S))
        assert isinstance(frame, dict) and frame.get("type") in SERVER_FRAME_TYPES, frame
        frames.append(frame)
        if frame["type"] == "turn_end":
            return frames


def open_chat(server: App, query: str = "") -> tuple[ClientConnection, str, list[dict]]:
    """A customer socket past its opening: (socket, session id, every frame of the opening)."""
    ws = ws_connect(f"{server.ws}/chat/ws{query}")
    opening = read_turn(ws)
    session = next(f for f in opening if f["type"] == "session")
    return ws, session["session_id"], opening


def say(ws: ClientConnection, text: str) -> list[dict]:
    ws.send(json.dumps({"type": "message", "text": text}))
    return read_turn(ws)


def assert_clear_refusal(response: httpx.Response) -> None:
    """A refusal a client can act on: a 4xx (never a 5xx) that says what was wrong."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    body = response.text.strip()
    assert body, response.status_code
    with contextlib.suppress(ValueError):
        detail = response.json().get("detail")
        assert detail, body


def sign(url: str, form: dict[str, str], token: str = TWILIO_AUTH) -> str:
    return RequestValidator(token).compute_signature(url, form)


def twilio_post(server: App, path: str, form: dict[str, str], *, signed_over: str | None = None) -> httpx.Response:
    """POST a Twilio webhook, signed over `signed_over` (default: the public address + path)."""
    url = signed_over if signed_over is not None else f"{PUBLIC_URL}{path}"
    return httpx.post(
        f"{server.http}{path}", data=form, headers={"X-Twilio-Signature": sign(url, form)}, timeout=RECV_S
    )


def stream_url(twiml: str) -> str:
    return ET.fromstring(twiml).find("./Connect/Stream").get("url")


def local_stream_url(server: App, twiml: str) -> str:
    """The TwiML's stream address, pointed at the live server instead of the public one."""
    url = stream_url(twiml)
    return f"{server.ws}/twilio/media?" + url.split("?", 1)[1]


def start_frame(call_sid: str, stream_sid: str = "MZfuzz", params: dict[str, str] | None = None) -> str:
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": stream_sid,
        "start": {"streamSid": stream_sid, "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"],
                  "customParameters": params or {},
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    })  # fmt: skip


def connected_frame() -> str:
    return json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})


def media_frame(payload: str, stream_sid: str = "MZfuzz") -> str:
    return json.dumps({"event": "media", "streamSid": stream_sid, "media": {"track": "inbound", "payload": payload}})


def dtmf_frame(digit: str, stream_sid: str = "MZfuzz") -> str:
    return json.dumps({"event": "dtmf", "streamSid": stream_sid, "dtmf": {"track": "inbound_track", "digit": digit}})


def wait_for_event(ws: ClientConnection, predicate, limit_s: float = RECV_S) -> dict | None:
    """Read Twilio-side messages until one satisfies `predicate`; None when the server closed or time ran out."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        try:
            raw = ws.recv(timeout=max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            return None
        except ConnectionClosed:
            return None
        message = json.loads(raw)
        if message.get("event") == "mark":
            # Twilio echoes a mark once the audio before it has played; the bot waits for it.
            ws.send(json.dumps({"event": "mark", "streamSid": message.get("streamSid"), "mark": message["mark"]}))
        if predicate(message):
            return message
    return None

"""Hostile input against the whole application on a live server: chat frames and REST bodies generated
by hypothesis, every documented operation driven by schemathesis from the app's own OpenAPI schema,
and Twilio media frames that are malformed, of the wrong kind, huge or out of order.

Required of each: the server never crashes and never answers 5xx; a bad frame or body gets a clear
error (an `error` frame followed by `turn_end`, or a 4xx with a message) and the conversation or
call it arrived on carries on.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Callable
from urllib.parse import quote

import httpx
import numpy as np
import pytest
import schemathesis
from fastapi import FastAPI
from httpx_ws import WebSocketDisconnect, aconnect_ws
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from websockets.exceptions import ConnectionClosed

from tests.hardening_support import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    CHAT_ERROR_CODES,
    App,
    assert_clear_refusal,
    connected_frame,
    dtmf_frame,
    local_stream_url,
    media_frame,
    open_chat,
    read_turn,
    say,
    start_frame,
    stream_url,
    wait_for_event,
    whole_app,
    ws_connect,
)
from tests.virtual_phone import on_virtual_clock, served
from tests.voice_fakes import ScriptedDialogue
from voice.config import VoiceConfig
from voice.routes import build_router
from voice.speech import resample, synthesize, to_mulaw, trim_silence

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def app():
    with whole_app() as running:
        yield running


# ---------------------------------------------------------------- chat frames

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)  # fmt: skip
# Frames that are nearly right: the protocol's own keys with any values, unknown types, extra keys.
near_frames = st.fixed_dictionaries(
    {"type": st.sampled_from(["message", "choice", "MESSAGE", "", "auth", "take"]) | json_values},
    optional={"text": json_values | st.text(max_size=5000), "value": json_values | st.text(max_size=300),
              "session_id": json_values, "role": st.just("agent")},
)  # fmt: skip
chat_frames = st.one_of(
    st.text(max_size=200),  # not JSON at all, or JSON of the wrong shape
    json_values.map(json.dumps),
    near_frames.map(json.dumps),
    st.builds(lambda n: json.dumps({"type": "message", "text": "x" * n}), st.integers(4000, 9000)),
    st.builds(lambda ch, n: ch * n, st.sampled_from(["{", "[", '"', "\\", "\x00"]), st.integers(1, 20_000)),
)


@FUZZ
@given(frames=st.lists(chat_frames, min_size=1, max_size=4))
def test_any_chat_frame_gets_an_answer_or_a_clear_error_and_the_chat_goes_on(app: App, frames: list[str]):
    ws, session_id, _ = open_chat(app)
    with ws:
        for raw in frames:
            ws.send(raw)
            turn = read_turn(ws)
            errors = [f for f in turn if f["type"] == "error"]
            for error in errors:
                assert error["code"] in CHAT_ERROR_CODES and error["message"], error
            if errors:
                assert [f["type"] for f in turn] == ["error", "turn_end"], turn
            else:  # the frame was taken as the customer's turn: the bot answered it, or a person now will
                state = next(f["state"] for f in turn if f["type"] == "state")
                assert any(f["type"] == "message" for f in turn) or state["mode"] == "agent", turn
        # Whatever came before, the same session still takes a plain message.
        assert [f["type"] for f in say(ws, "hello")][-2:] == ["state", "turn_end"]
    assert httpx.get(f"{app.http}/chat/sessions/{session_id}").status_code == 200


def test_binary_and_oversized_websocket_messages_close_the_socket_not_the_server(app: App):
    ws, _, _ = open_chat(app)
    with ws, pytest.raises(ConnectionClosed) as closed:
        ws.send(b"\x00" * 100)
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003
    ws, _, _ = open_chat(app)
    with ws, pytest.raises(ConnectionClosed) as closed:
        ws.send("x" * (2 << 20))  # beyond the server's WebSocket message limit
        while True:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # "message too big"
    assert httpx.get(f"{app.http}/healthz").status_code == 200


# ---------------------------------------------------------------- REST bodies

bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries({}, optional={"text": json_values, "choice": json_values, "language": json_values}).map(
        lambda v: json.dumps(v).encode()
    ),
    st.builds(lambda n: json.dumps({"text": "y" * n}).encode(), st.integers(4000, 70_000)),
)
content_types = st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""])


@FUZZ
@given(body=bodies, content_type=content_types, start_body=bodies)
def test_any_rest_body_gets_an_answer_or_a_4xx_with_a_message(app: App, body: bytes, content_type: str, start_body):
    headers = {"content-type": content_type} if content_type else {}
    with httpx.Client(base_url=app.http, timeout=20) as client:
        started = client.post("/chat/sessions", content=start_body, headers=headers)
        if started.status_code != 200:
            assert_clear_refusal(started)
            started = client.post("/chat/sessions", json={})
        session_id = started.json()["session_id"]
        answer = client.post(f"/chat/sessions/{session_id}/messages", content=body, headers=headers)
        if answer.status_code == 200:
            assert {"messages", "state", "handoff"} <= set(answer.json())
        else:
            assert_clear_refusal(answer)
        # The conversation is intact either way.
        assert client.post(f"/chat/sessions/{session_id}/messages", json={"text": "hi"}).status_code == 200
        assert client.get(f"/chat/sessions/{session_id}").status_code == 200


@pytest.mark.parametrize(
    ("path", "token", "body"),
    [
        ("/chat/sessions", None, {"language": "en"}),
        ("/agent/api/approvals/AP-NOPE", AGENT_TOKEN, {"approve": True}),
        ("/api/admin/faults", ADMIN_TOKEN, {"spec": "crm:error"}),
    ],
)
def test_every_json_route_takes_only_json_objects_sent_as_json(app: App, path: str, token: str | None, body: dict):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with httpx.Client(base_url=app.http, timeout=20, headers=headers) as client:
        for content_type in ("text/plain", "application/x-www-form-urlencoded", None):
            sent = {"content-type": content_type} if content_type else {}
            r = client.post(path, content=json.dumps(body).encode(), headers=sent)
            assert (r.status_code, r.json()["code"]) == (415, "unsupported_media_type"), (content_type, r.text)
            assert r.json()["detail"]
        for raw in (b'{"spec": "\\ud800", "language": "\\ud800"}', b"\xff\xfe{}", b"[]"):
            r = client.post(path, content=raw, headers={"content-type": "application/json"})
            assert (r.status_code, r.json()["code"]) == (400, "bad_body"), (raw, r.text)
            assert r.json()["detail"]
    assert app.backoffice.faults.rules == []  # nothing refused was acted on


def test_an_admin_fault_rule_that_does_not_parse_is_a_422_with_a_message(app: App):
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    r = httpx.post(f"{app.http}/api/admin/faults", json={"spec": "crm:explode:now"}, headers=headers, timeout=20)
    assert r.status_code == 422 and r.json()["code"] == "bad_body" and r.json()["detail"]
    assert app.backoffice.faults.rules == []


@FUZZ
@given(session_id=st.text(min_size=1, max_size=300).filter(lambda s: s.strip("./") == s and "/" not in s))
def test_any_session_id_in_a_path_is_a_404_not_a_crash(app: App, session_id: str):
    session_id = quote(session_id, safe="")
    with httpx.Client(base_url=app.http, timeout=20) as client:
        for response in (
            client.get(f"/chat/sessions/{session_id}"),
            client.post(f"/chat/sessions/{session_id}/messages", json={"text": "hi"}),
        ):
            assert response.status_code == 404, (session_id, response.status_code)
            assert response.json()["code"] == "unknown_session"


# ---------------------------------------------------------------- every documented operation (schemathesis)


def _drive(operation, mode: GenerationMode, token: str) -> None:
    @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def drive(case) -> None:
        response = case.call(headers={"Authorization": f"Bearer {token}"}, timeout=20)
        case.validate_response(response, checks=[not_a_server_error])
        if 400 <= response.status_code < 500:
            assert response.text.strip(), (case.method, case.path, response.status_code)

    try:
        drive()
    except Unsatisfiable:
        # An operation without parameters or body has no invalid form to generate.
        assert mode == GenerationMode.NEGATIVE, operation.label


def test_every_operation_of_the_openapi_schema_answers_without_a_server_error(app: App):
    schema = schemathesis.openapi.from_url(f"{app.http}/openapi.json")
    # Fault injection is a drill tool: driving it at random would make the back office fail on purpose.
    schema = schema.exclude(path="/api/admin/faults")
    driven: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        token = ADMIN_TOKEN if operation.path.startswith("/api/") else AGENT_TOKEN
        # Valid requests (which reach the handlers) and invalid ones (which the handlers must refuse).
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _drive(operation, mode, token)
        driven.append(operation.label)
    assert len(driven) >= 18, driven
    assert httpx.get(f"{app.http}/healthz").status_code == 200


def _resolved(schema: dict, found: dict) -> dict:
    """`found` with its reference followed; an optional body is documented as the model or null."""
    found = next((s for s in found.get("anyOf", [found]) if s.get("type") != "null"), found)
    if "$ref" in found:
        found = schema["components"]["schemas"][found["$ref"].rsplit("/", 1)[-1]]
    return found


def _body_schema(schema: dict, path: str) -> tuple[bool, dict]:
    """Whether the body of `POST path` is required, and its JSON schema."""
    body = schema["paths"][path]["post"]["requestBody"]
    return body.get("required", False), _resolved(schema, body["content"]["application/json"]["schema"])


def test_the_openapi_schema_documents_the_chat_bodies(app: App):
    schema = httpx.get(f"{app.http}/openapi.json").json()
    required, message = _body_schema(schema, "/chat/sessions/{session_id}/messages")
    assert required and set(message["properties"]) == {"text", "choice"}
    required, start = _body_schema(schema, "/chat/sessions")
    assert not required and set(start["properties"]) == {"language"}
    required, reply = _body_schema(schema, "/agent/api/sessions/{session_id}/messages")
    assert required and {"text", "agent"} <= set(reply["properties"]) and "text" in reply["required"]
    required, decision = _body_schema(schema, "/agent/api/approvals/{approval_id}")
    assert required and "approve" in decision["required"]
    # Refusals are documented in the shape they are answered in.
    for path, method in [("/chat/sessions/{session_id}/messages", "post"), ("/agent/api/queue", "get"),
                         ("/api/admin/faults", "post")]:  # fmt: skip
        responses = schema["paths"][path][method]["responses"]
        refused = _resolved(schema, responses["4XX"]["content"]["application/json"]["schema"])
        assert set(refused["required"]) == {"detail", "code"}, (path, refused)
        assert "422" not in responses, (path, responses["422"])  # not FastAPI's own validation error shape


# ---------------------------------------------------------------- Twilio media frames


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


media_garbage = st.one_of(
    st.text(max_size=100),
    json_values.map(json.dumps),
    st.fixed_dictionaries(
        {
            "event": st.sampled_from(["media", "mark", "dtmf", "start", "connected", "clear", "surprise", ""])
            | json_values
        },
        optional={
            "media": json_values | st.fixed_dictionaries({"payload": json_values | st.text(max_size=50)}),
            "mark": json_values,
            "dtmf": json_values,
            "start": json_values,
            "streamSid": json_values,
            "sequenceNumber": json_values,
        },
    ).map(json.dumps),
    st.binary(min_size=1, max_size=64).map(lambda b: media_frame(_b64(b))),  # odd lengths of real audio
    st.integers(1, 400_000).map(lambda n: media_frame(_b64(b"\x7f" * n))),  # up to 50 s in one message
    st.just(media_frame("not base64 at all %%%")),
    st.integers(1000, 50_000).map(lambda n: "[" * n),  # nested deeper than a JSON parser's stack
    st.binary(max_size=40),  # a binary WebSocket frame
)


def _open_call(app: App, call_sid: str):
    twiml = httpx.post(f"{app.http}/twilio/voice", data={"CallSid": call_sid, "From": "+15555550100"}).text
    ws = ws_connect(local_stream_url(app, twiml), max_size=2**24)
    return ws


def _caller_events(app: App, call_sid: str) -> list[dict]:
    record = app.voice.calls.get(call_sid)
    return [e.data for e in record.events if e.kind == "caller"] if record else []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(before=st.lists(media_garbage, max_size=3), during=st.lists(media_garbage, min_size=1, max_size=6))
def test_garbage_media_frames_are_skipped_and_the_call_still_hears_the_caller(app: App, before, during):
    call_sid = f"CAfuzz{time.monotonic_ns()}"
    with _open_call(app, call_sid) as ws:
        # Out of order: anything before `connected`/`start` is skipped by the handshake.
        for frame in before:
            ws.send(frame)
        ws.send(connected_frame())
        ws.send(start_frame(call_sid))
        assert wait_for_event(ws, lambda m: m.get("event") == "mark"), "no greeting"
        for frame in during:
            ws.send(frame)
        # The keypad still reaches the dialogue after the garbage: the call was not dropped.
        for digit in "42#":
            ws.send(dtmf_frame(digit))
        answered = wait_for_event(ws, lambda m: m.get("event") == "mark" and m["mark"]["name"] != "turn-0")
        assert answered, "the call stopped answering after the bad frames"
    deadline = time.monotonic() + 10
    while not any(e.get("dtmf") == "42" for e in _caller_events(app, call_sid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert any(e.get("dtmf") == "42" for e in _caller_events(app, call_sid)), _caller_events(app, call_sid)
    assert httpx.get(f"{app.http}/healthz").status_code == 200


@pytest.mark.parametrize(
    "handshake",
    [
        [b"\x00\x01 binary before start"],
        ["not json", "[]", json.dumps({"event": "start"}), json.dumps({"event": "start", "start": "x"})],
        [media_frame(_b64(b"\xff" * 160))] * 10,  # audio before the stream was started
        [json.dumps({"event": "stop"}), json.dumps({"event": "mark", "mark": {"name": "turn-9"}})],
    ],
    ids=["binary", "malformed-start", "media-first", "stop-and-mark-first"],
)
def test_frames_out_of_order_before_start_are_skipped_and_the_call_begins(app: App, handshake):
    call_sid = f"CAhs{time.monotonic_ns()}"
    with _open_call(app, call_sid) as ws:
        for frame in handshake:
            ws.send(frame)
        ws.send(start_frame(call_sid))
        assert wait_for_event(ws, lambda m: m.get("event") == "mark"), "the call did not begin"


def test_a_stream_that_never_starts_is_closed_with_1008(app: App):
    with _open_call(app, f"CAnever{time.monotonic_ns()}") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(60):
                ws.send(media_frame(_b64(b"\xff" * 160)))
            while True:
                ws.recv(timeout=15)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert httpx.get(f"{app.http}/healthz").status_code == 200


# ---------------------------------------------------------------- audio through the offline speech models
# On the virtual clock (tests.virtual_phone): what the line makes of odd audio does not depend on how
# busy the machine is.


def _offline_line():
    """The phone line with its offline defaults (Silero VAD, Smart Turn, Whisper, piper) and a scripted dialogue."""
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(preload_models=False))
    line = FastAPI()
    line.include_router(router)
    return line, dialogue, router.voice


def _frames(pcm: np.ndarray) -> list[str]:
    """8 kHz PCM as Twilio sends it: 20 ms of mu-law a message."""
    pcm = np.concatenate([pcm.astype(np.int16), np.zeros((-len(pcm)) % 160, np.int16)])
    mulaw = to_mulaw(pcm)
    return [media_frame(_b64(mulaw[i : i + 160])) for i in range(0, len(mulaw), 160)]


def _speech(text: str) -> np.ndarray:
    return trim_silence(synthesize(text))


RNG = np.random.default_rng(7)
AUDIO = {
    "silence-30s": lambda: np.zeros(8000 * 30, np.int16),
    "full-scale-noise-20s": lambda: RNG.integers(-32768, 32767, 8000 * 20).astype(np.int16),
    "clipped-speech": lambda: np.clip(_speech("I want to check my order").astype(np.int32) * 12, -32768, 32767),
    # A 16 kHz recording sent as if it were 8 kHz: twice as long, an octave down.
    "wrong-rate": lambda: resample(_speech("I want to check my order"), 8000, 16000),
    "square-wave": lambda: (np.sign(np.sin(np.arange(8000 * 5) * 2 * np.pi * 440 / 8000)) * 30000).astype(np.int16),
}


async def _events_for(ws, seconds: float, until: Callable[[dict], bool] = lambda _m: False) -> dict | None:
    """Twilio-side messages for `seconds` (echoing marks, as Twilio does) or until one satisfies `until`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            message = json.loads(await ws.receive_text(timeout=left))
        except (TimeoutError, WebSocketDisconnect):
            return None
        if message.get("event") == "mark":
            await ws.send_text(json.dumps({"event": "mark", "streamSid": message.get("streamSid"),
                                           "mark": message["mark"]}))  # fmt: skip
        if until(message):
            return message
    return None


def _call_with_audio(line, service, pcm: np.ndarray, heard: Callable[[], bool] | None = None) -> float:
    """Place a call and send `pcm` at once; then 20 ms frames of silence (turn-taking runs on the clock)
    until `heard()` or two seconds, and the keypad: 7# must still reach the dialogue.
    Returns the real seconds from the first frame sent to the end of the silence."""
    call_sid = f"CAaudio{time.monotonic_ns()}"

    async def call() -> float:
        async with served(line) as http:
            twiml = (await http.post("/twilio/voice", data={"CallSid": call_sid, "From": "+15555550100"})).text
            async with aconnect_ws(stream_url(twiml), http, max_message_size_bytes=2**24) as ws:
                await ws.send_text(connected_frame())
                await ws.send_text(start_frame(call_sid))
                assert await _events_for(ws, 60, lambda m: m.get("event") == "mark"), "no greeting"
                started = time.perf_counter()  # real time: what the machine took, not the call's clock
                for frame in _frames(pcm):
                    await ws.send_text(frame)
                silence = _frames(np.zeros(160, np.int16))[0]
                loop = asyncio.get_running_loop()
                quiet_until, deadline = loop.time() + 2, loop.time() + 90
                while loop.time() < deadline and not (loop.time() >= quiet_until and (heard is None or heard())):
                    await ws.send_text(silence)
                    await _events_for(ws, 0.02)
                taken_s = time.perf_counter() - started
                for digit in "7#":
                    await ws.send_text(dtmf_frame(digit))
                record = service.calls.get(call_sid)
                deadline = loop.time() + 60
                while loop.time() < deadline and not any(e.data.get("dtmf") == "7" for e in record.events):
                    await _events_for(ws, 0.2)
                assert any(e.data.get("dtmf") == "7" for e in record.events), [e.kind for e in record.events]
                return taken_s

    return on_virtual_clock(call)


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(AUDIO))
def test_odd_audio_neither_breaks_the_call_nor_the_line(kind):
    line, dialogue, service = _offline_line()
    _call_with_audio(line, service, AUDIO[kind]())
    heard = [i for i in dialogue.inputs if i.text]
    if kind == "silence-30s":
        assert heard == [], heard  # silence is not a turn
    if kind == "clipped-speech":
        assert heard and "order" in heard[0].text.lower(), heard  # distorted, yet what is heard is what was said

    async def next_call() -> int:  # the line still takes new calls
        async with served(line) as http:
            return (await http.post("/twilio/voice", data={"CallSid": f"CAnext{kind}"})).status_code

    assert on_virtual_clock(next_call) == 200


@pytest.mark.slow
def test_ten_minutes_of_audio_in_one_call_are_taken_and_the_caller_is_still_heard():
    line, dialogue, service = _offline_line()
    quiet_hiss = (RNG.normal(0, 60, 8000 * 600)).astype(np.int16)  # ten minutes of a quiet line
    pcm = np.concatenate([quiet_hiss, np.zeros(8000, np.int16), _speech("I want to check my order")])
    taken_s = _call_with_audio(line, service, pcm, heard=lambda: any(i.text for i in dialogue.inputs))
    heard = [i.text for i in dialogue.inputs if i.text]
    assert heard and "order" in heard[-1].lower(), heard
    assert taken_s < 300  # faster than real time: the line keeps up with audio it is handed at once

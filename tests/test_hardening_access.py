"""Who gets in, gathered in one suite against the whole application with Twilio signatures on: forged
and replayed Twilio webhooks, media streams without a valid token, the agent and admin surfaces
without the right token, and one chat session reaching for another's data. Every one is refused.

Some of these are also covered closer to their code (tests/test_voice_webhooks.py,
tests/test_chat_agent.py, tests/test_chat_protocol.py); here they run together on `create_app`.
"""

from __future__ import annotations

import json
import secrets
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.hardening_support import (
    ADMIN_TOKEN,
    AGENT_TOKEN,
    PUBLIC_URL,
    TWILIO_AUTH,
    App,
    connected_frame,
    local_stream_url,
    open_chat,
    say,
    sign,
    start_frame,
    twilio_post,
    wait_for_event,
    whole_app,
    ws_connect,
)


@pytest.fixture(scope="module")
def app():
    with whole_app(signed=True) as running:
        yield running


def _form(call_sid: str) -> dict[str, str]:
    return {"CallSid": call_sid, "From": "+15555550100", "To": "+15555550199", "AccountSid": "AC1"}


def _refusal(url: str, *frames: str) -> str:
    """How a media stream ended: 'http 403' (refused before accepting), 'closed 1008', or 'accepted'."""
    try:
        with ws_connect(url, open_timeout=10) as ws:
            for frame in frames:
                ws.send(frame)
            if wait_for_event(ws, lambda m: m.get("event") in ("media", "mark"), 15):
                return "accepted"
            ws.recv(timeout=1)
            return "accepted"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code if exc.rcvd else None}"


# ---------------------------------------------------------------- Twilio webhooks


@pytest.mark.parametrize("path", ["/twilio/voice", "/twilio/status", "/twilio/dial-status", "/twilio/whisper"])
def test_forged_twilio_webhooks_are_refused(app: App, path: str):
    form = _form("CAforged") | {"CallStatus": "completed", "DialCallStatus": "completed"}
    url = f"{PUBLIC_URL}{path}"
    forgeries = {
        "no signature": {},
        "garbage": {"X-Twilio-Signature": "forged"},
        "other auth token": {"X-Twilio-Signature": sign(url, form, token="not-" + TWILIO_AUTH)},
        "other parameters": {"X-Twilio-Signature": sign(url, form | {"From": "+19999999999"})},
        "other address": {"X-Twilio-Signature": sign(f"https://evil.example.net{path}", form)},
        "http, not https": {"X-Twilio-Signature": sign(url.replace("https:", "http:"), form)},
    }
    for name, headers in forgeries.items():
        response = httpx.post(f"{app.http}{path}", data=form, headers=headers)
        assert response.status_code == 403, (name, response.status_code)
        assert "Stream" not in response.text and "token=" not in response.text
    assert app.voice.calls.get("CAforged") is None  # nothing about the call was recorded


def test_a_replayed_incoming_call_webhook_gets_no_second_stream_or_session(app: App):
    call_sid = f"CAreplay{time.monotonic_ns()}"
    first = twilio_post(app, "/twilio/voice", _form(call_sid))
    assert first.status_code == 200
    # Before the stream starts, the same request is what Twilio's own retry looks like: answered again.
    retry = twilio_post(app, "/twilio/voice", _form(call_sid))
    assert retry.status_code == 200
    with ws_connect(local_stream_url(app, first.text)) as ws:
        ws.send(connected_frame())
        ws.send(start_frame(call_sid))
        assert wait_for_event(ws, lambda m: m.get("event") == "mark"), "the call did not begin"
        record = app.voice.calls.get(call_sid)
        session = record.session_id
        assert session and record.state == "in_progress"
        # The captured request replayed during the call: refused, and the retry's token opens nothing.
        replay = twilio_post(app, "/twilio/voice", _form(call_sid))
        assert replay.status_code == 409 and "already been answered" in replay.text
        second = _refusal(local_stream_url(app, retry.text), connected_frame(), start_frame(call_sid))
        assert second == "closed 1008"
        assert record.session_id == session and record.state == "in_progress"
    # After the call ended (Twilio's final status), a replay is still refused.
    ended = twilio_post(app, "/twilio/status", {"CallSid": call_sid, "CallStatus": "completed", "AccountSid": "AC1"})
    assert ended.status_code == 204
    assert twilio_post(app, "/twilio/voice", _form(call_sid)).status_code == 409
    assert [e.kind for e in app.voice.calls.get(call_sid).events].count("stream_started") == 1


def test_a_replayed_final_status_callback_changes_nothing_twice(app: App):
    call_sid = f"CAstatus{time.monotonic_ns()}"
    form = {"CallSid": call_sid, "CallStatus": "completed", "AccountSid": "AC1"}
    for _ in range(3):
        assert twilio_post(app, "/twilio/status", form).status_code == 204
    record = app.voice.calls.get(call_sid)
    assert record.state == "ended" and not record.session_ended  # no session was ever opened for it


# ---------------------------------------------------------------- media streams


def test_media_streams_without_a_valid_token_are_refused(app: App):
    call_sid = f"CAtok{time.monotonic_ns()}"
    media = f"{app.ws}/twilio/media"
    tokens = app.voice.tokens
    cases = {
        "no token at all": (media, [connected_frame(), start_frame(call_sid)], "closed 1008"),
        "not a token": (f"{media}?token=not-a-token", [], "http 403"),
        "forged signature": (
            f"{media}?token={app.voice.stream_token(call_sid, '').replace('.', '.x', 1)}", [], "http 403"),
        "signed with another secret": (
            f"{media}?token={type(tokens)('other-secret', 60).sign('stream', {'call': call_sid})}", [], "http 403"),
        "a whisper token": (f"{media}?token={tokens.sign('whisper', {'say': 'hi'})}", [], "http 403"),
        "expired": (f"{media}?token={tokens.sign('stream', {'call': call_sid, 'from': ''}, ttl_s=-1)}", [],
                    "http 403"),
        "issued for another call": (
            f"{media}?token={app.voice.stream_token('CAsomeoneelse', '')}",
            [connected_frame(), start_frame(call_sid)], "closed 1008"),
    }  # fmt: skip
    for name, (url, frames, expected) in cases.items():
        assert _refusal(url, *frames) == expected, name
    # A token works once: the second use of a good one is refused.
    token = app.voice.stream_token(call_sid, "+15555550100")
    assert _refusal(f"{media}?token={token}", connected_frame(), start_frame(call_sid)) == "accepted"
    assert _refusal(f"{media}?token={token}", connected_frame(), start_frame(call_sid)) == "http 403"
    # The token in the start message's parameters is checked the same way.
    expired = tokens.sign("stream", {"call": call_sid, "from": ""}, ttl_s=-1)
    refused = _refusal(media, connected_frame(), start_frame(call_sid, params={"token": expired}))
    assert refused == "closed 1008"


# ---------------------------------------------------------------- agent and admin surfaces

AGENT_ROUTES = [
    ("GET", "/agent/api/queue"),
    ("GET", "/agent/api/approvals"),
    ("GET", "/agent/api/sessions/{sid}"),
    ("POST", "/agent/api/sessions/{sid}/take"),
    ("POST", "/agent/api/sessions/{sid}/messages"),
    ("POST", "/agent/api/sessions/{sid}/hand_back"),
    ("POST", "/agent/api/sessions/{sid}/close"),
    ("POST", "/agent/api/approvals/A123"),
]
ADMIN_ROUTES = [("GET", "/api/backoffice/export"), ("GET", "/api/admin/faults"), ("POST", "/api/admin/faults"),
                ("DELETE", "/api/admin/faults")]  # fmt: skip


def test_agent_and_admin_routes_refuse_missing_and_wrong_tokens(app: App):
    ws, sid, _ = open_chat(app)
    with ws:
        say(ws, "I want to talk to a person")  # a hand-off sits in the queue with this customer's data
    wrong = [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": f"Basic {AGENT_TOKEN}"},
        {"Authorization": f"Bearer {AGENT_TOKEN[:-1]}"},
        {"Authorization": f"Bearer {sid}"},  # a customer's own session id is not a credential
        {"Authorization": "Bearer"},
    ]
    with httpx.Client(base_url=app.http, timeout=20) as client:
        for method, path in AGENT_ROUTES:
            for headers in wrong:
                r = client.request(method, path.format(sid=sid), headers=headers, json={"text": "hi", "approve": True})
                assert r.status_code == 401 and r.json()["detail"], (method, path, headers, r.status_code)
                assert sid not in r.text
        # The agent token opens the console, not the admin API.
        for method, path in ADMIN_ROUTES:
            for headers in [*wrong, {"Authorization": f"Bearer {AGENT_TOKEN}"}]:
                r = client.request(method, path, headers=headers, json={"spec": "crm:error"})
                assert r.status_code == 401 and r.json()["detail"], (method, path, headers, r.status_code)
        assert app.backoffice.faults.rules == []  # no fault was injected by anyone refused
        assert client.get("/agent/api/queue", headers={"Authorization": f"Bearer {AGENT_TOKEN}"}).status_code == 200
        exported = client.get("/api/backoffice/export", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert exported.status_code == 200 and exported.json()["users"]
        page = client.get("/agent")
        assert page.status_code == 200 and sid not in page.text


@pytest.mark.parametrize("how", ["none", "wrong-first-frame", "wrong-query", "not-json", "customer-session-id"])
def test_the_agent_socket_sends_nothing_before_a_good_token(app: App, how: str):
    ws, sid, _ = open_chat(app)
    with ws:
        say(ws, "I want to talk to a person")
    url = f"{app.ws}/agent/ws" + {"wrong-query": "?token=wrong", "customer-session-id": f"?token={sid}"}.get(how, "")
    with ws_connect(url) as agent:
        if how == "wrong-first-frame":
            agent.send(json.dumps({"type": "auth", "token": "wrong", "name": "Eve"}))
        elif how == "not-json":
            agent.send("{{{")
        elif how == "none":
            agent.send(json.dumps({"type": "refresh"}))  # an action before signing in
        frames = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                frames.append(json.loads(agent.recv(timeout=40)))
    assert [f["type"] for f in frames] == ["error"] and frames[0]["code"] == "unauthorized", frames
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    assert sid not in json.dumps(frames)


# ---------------------------------------------------------------- one chat session and another's data


def test_session_ids_are_unguessable_and_near_misses_reach_nothing(app: App):
    ids = set()
    with httpx.Client(base_url=app.http, timeout=20) as client:
        for _ in range(20):
            ids.add(client.post("/chat/sessions", json={}).json()["session_id"])
        assert len(ids) == 20 and all(len(i) >= 22 for i in ids)  # >= 128 bits in URL-safe base64
        victim = sorted(ids)[0]
        near = [
            victim[:-1] + ("A" if victim[-1] != "A" else "B"),
            victim.upper() if victim.upper() != victim else victim.lower(),
            victim[:-1],
            victim + "A",
            secrets.token_urlsafe(24),
        ]
        for guess in near:
            assert client.get(f"/chat/sessions/{guess}").status_code == 404
            r = client.post(f"/chat/sessions/{guess}/messages", json={"text": "what is my email?"})
            assert r.status_code == 404 and r.json()["code"] == "unknown_session"
            with ws_connect(f"{app.ws}/chat/ws?session_id={guess}") as ws:
                first = json.loads(ws.recv(timeout=20))
                fresh = json.loads(ws.recv(timeout=20))
            assert first["code"] == "unknown_session"
            assert fresh["type"] == "session" and fresh["session_id"] != guess and not fresh.get("resumed")


def test_one_customers_socket_never_carries_another_customers_turns(app: App, data):
    order = next(o for o in data["orders"].values() if o["status"] == "pending")
    user = data["users"][order["user_id"]]
    alice, alice_sid, _ = open_chat(app)
    bob, bob_sid, _ = open_chat(app)
    with alice, bob:
        say(alice, f"I want to cancel order {order['order_id']}")
        say(alice, user["email"])
        seen = say(bob, "hello")
        # Bob's socket got his own turn only, and his state holds nothing of Alice's.
        assert [f["type"] for f in seen].count("turn_end") == 1
        text = json.dumps(seen)
        for secret in (user["email"], user["user_id"], order["order_id"], alice_sid):
            assert secret not in text
    with httpx.Client(base_url=app.http, timeout=20) as client:
        bobs = client.get(f"/chat/sessions/{bob_sid}").text
        assert user["email"] not in bobs and order["order_id"] not in bobs and alice_sid not in bobs

"""The Twilio webhooks and the media stream's door: signatures, TwiML, stream tokens, status callbacks, whisper."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.voice_fakes import LiveServer, ScriptedDialogue
from voice.config import VoiceConfig
from voice.phrases import spoken_choices
from voice.routes import build_router
from voice.tokens import TokenError, TokenSigner
from voice.turns import is_backchannel

AUTH = "test-auth-token-0123456789abcdef"
PUBLIC = "https://frontdesk.example.com"
FORM = {"CallSid": "CA123", "From": "+15555550100", "To": "+15555550199", "AccountSid": "AC1"}


def _server(**config):
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(preload_models=False, **config))
    app = FastAPI()
    app.include_router(router)
    return LiveServer(app), dialogue, router.voice


def _sign(url: str, form: dict) -> str:
    return RequestValidator(AUTH).compute_signature(url, form)


@pytest.fixture(scope="module")
def signed_server():
    server, dialogue, service = _server(twilio_auth_token=AUTH, twilio_account_sid="AC1", public_url=PUBLIC)
    with server:
        yield server, dialogue, service


def test_incoming_call_answers_a_stream_with_the_caller_and_a_token(signed_server):
    server, _, _ = signed_server
    headers = {"X-Twilio-Signature": _sign(f"{PUBLIC}/twilio/voice", FORM)}
    response = httpx.post(f"{server.http}/twilio/voice", data=FORM, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    stream = ET.fromstring(response.text).find("./Connect/Stream")
    url = urlsplit(stream.get("url"))
    assert (url.scheme, url.netloc, url.path) == ("wss", "frontdesk.example.com", "/twilio/media")
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["caller"] == "+15555550100"
    assert params["token"] == parse_qs(url.query)["token"][0]
    assert ET.fromstring(response.text).find("./Hangup") is not None


@pytest.mark.parametrize("signature", [None, "forged", _sign(f"{PUBLIC}/twilio/voice", {**FORM, "From": "+1999"})])
def test_forged_or_missing_signature_is_refused(signed_server, signature):
    server, _, _ = signed_server
    headers = {"X-Twilio-Signature": signature} if signature else {}
    for path in ("/twilio/voice", "/twilio/status"):
        response = httpx.post(f"{server.http}{path}", data=FORM, headers=headers)
        assert response.status_code == 403, path


def test_signature_is_checked_over_the_forwarded_address_without_a_public_url():
    server, _, _ = _server(twilio_auth_token=AUTH)
    with server:
        headers = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "calls.example.org",
            "X-Twilio-Signature": _sign("https://calls.example.org/twilio/voice", FORM),
        }
        assert httpx.post(f"{server.http}/twilio/voice", data=FORM, headers=headers).status_code == 200
        headers["X-Twilio-Signature"] = _sign(f"{server.http}/twilio/voice", FORM)
        assert httpx.post(f"{server.http}/twilio/voice", data=FORM, headers=headers).status_code == 403


def _start(token: str | None = None, call_sid: str = "CA123") -> str:
    params = {"caller": "+15555550100"} | ({"token": token} if token else {})
    return json.dumps({
        "event": "start", "sequenceNumber": "1", "streamSid": "MZ1",
        "start": {"streamSid": "MZ1", "callSid": call_sid, "accountSid": "AC1", "tracks": ["inbound"],
                  "customParameters": params,
                  "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}},
    })  # fmt: skip


async def _refused(url: str, *frames: str) -> str:
    """How the server refused the stream: 'http 403' before accepting, or 'closed 1008' after `start`."""
    try:
        async with connect(url, open_timeout=5) as ws:
            for frame in frames:
                await ws.send(frame)
            await asyncio.wait_for(ws.recv(), timeout=5)
            return "accepted"
    except InvalidStatus as exc:
        return f"http {exc.response.status_code}"
    except ConnectionClosed as exc:
        return f"closed {exc.rcvd.code if exc.rcvd else None}"


async def test_media_stream_without_a_valid_token_is_refused(signed_server):
    server, _, service = signed_server
    media = f"{server.ws}/twilio/media"
    connected = json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    assert await _refused(media, connected, _start()) == "closed 1008"
    assert await _refused(f"{media}?token=not-a-token") == "http 403"
    forged = service.stream_token("CA123", "+1555").replace(".", ".x", 1)
    assert await _refused(f"{media}?token={forged}") == "http 403"
    whisper = service.tokens.sign("whisper", {"say": "hi"})
    assert await _refused(f"{media}?token={whisper}") == "http 403"
    expired = service.tokens.sign("stream", {"call": "CA123", "from": ""}, ttl_s=-1)
    assert await _refused(f"{media}?token={expired}") == "http 403"
    assert await _refused(media, connected, _start(expired)) == "closed 1008"
    other_call = service.stream_token("CA999", "")
    assert await _refused(f"{media}?token={other_call}", connected, _start()) == "closed 1008"
    used = service.stream_token("CA123", "")
    service.tokens.verify(used, "stream", single_use=True)
    assert await _refused(f"{media}?token={used}") == "http 403"


def test_status_callback_records_the_call_status(signed_server):
    server, dialogue, service = signed_server
    form = {"CallSid": "CA777", "CallStatus": "ringing", "AccountSid": "AC1"}
    headers = {"X-Twilio-Signature": _sign(f"{PUBLIC}/twilio/status", form)}
    assert httpx.post(f"{server.http}/twilio/status", data=form, headers=headers).status_code == 204
    form = {**form, "CallStatus": "completed", "CallDuration": "12"}
    headers = {"X-Twilio-Signature": _sign(f"{PUBLIC}/twilio/status", form)}
    assert httpx.post(f"{server.http}/twilio/status", data=form, headers=headers).status_code == 204
    assert [s["status"] for s in service.calls.get("CA777").statuses] == ["ringing", "completed"]
    assert dialogue.ended == []  # no session had started for that call


def test_completed_call_ends_a_session_still_in_progress_as_abandoned(signed_server):
    server, dialogue, service = signed_server
    record = service.calls.open("CA888")
    record.session_id = "S-live"
    form = {"CallSid": "CA888", "CallStatus": "completed", "AccountSid": "AC1"}
    headers = {"X-Twilio-Signature": _sign(f"{PUBLIC}/twilio/status", form)}
    assert httpx.post(f"{server.http}/twilio/status", data=form, headers=headers).status_code == 204
    assert ("S-live", "abandoned") in dialogue.ended
    httpx.post(f"{server.http}/twilio/status", data=form, headers=headers)
    assert dialogue.ended.count(("S-live", "abandoned")) == 1


def test_whisper_speaks_the_summary_only_with_a_valid_token(signed_server):
    server, _, service = signed_server
    token = service.tokens.sign("whisper", {"say": "Ticket T-1. Caller wants a refund."})
    url = f"{PUBLIC}/twilio/whisper?token={token}"
    form = {"CallSid": "CA-agent", "AccountSid": "AC1"}
    response = httpx.post(f"{server.http}/twilio/whisper", params={"token": token}, data=form,
                          headers={"X-Twilio-Signature": _sign(url, form)})  # fmt: skip
    assert response.status_code == 200
    assert ET.fromstring(response.text).find("./Say").text == "Ticket T-1. Caller wants a refund."
    stream_token = service.stream_token("CA1", "")
    url = f"{PUBLIC}/twilio/whisper?token={stream_token}"
    response = httpx.post(f"{server.http}/twilio/whisper", params={"token": stream_token}, data=form,
                          headers={"X-Twilio-Signature": _sign(url, form)})  # fmt: skip
    assert response.status_code == 403


def test_tokens_expire_and_are_single_use():
    signer = TokenSigner("secret", ttl_s=0.2)
    token = signer.sign("stream", {"call": "CA1"})
    assert signer.verify(token, "stream", single_use=True)["call"] == "CA1"
    with pytest.raises(TokenError):
        signer.verify(token, "stream", single_use=True)
    token = signer.sign("stream", {"call": "CA2"})
    time.sleep(0.3)
    with pytest.raises(TokenError):
        signer.verify(token, "stream")
    with pytest.raises(TokenError):
        TokenSigner("other", 10).verify(signer.sign("stream", {}), "stream")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mm-hmm.", True), ("Yeah.", True), ("Okay, okay.", True), ("Right.", True), ("Sí.", True),
        ("Ajá.", True), ("Uh-huh", True), ("I see.", True),
        ("Wait, that's wrong.", False), ("Yes, go ahead.", False), ("No.", False), ("Okay, cancel it.", False),
        ("", False),
    ],
)  # fmt: skip
def test_backchannels_are_recognised(text, expected):
    assert is_backchannel(text) is expected


def test_at_most_three_choices_are_read_aloud():
    spoken = spoken_choices(["Track an order", "Return an item", "Cancel an order", "Talk to a person"], "en")
    assert spoken == "You can say Track an order, Return an item or Cancel an order."
    assert spoken_choices(["Sí", "No"], "es") == "Puede decir Sí o No."

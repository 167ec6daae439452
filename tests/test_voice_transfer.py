"""Warm transfer: the call is moved with Twilio's REST API to a <Dial> whose whisper briefs the agent;
without Twilio credentials the caller is told a person will call back and the bot hangs up.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from tests.voice_fakes import LiveServer, ScriptedDialogue, TwilioRestLog, twilio_rest_app
from voice.config import VoiceConfig
from voice.dial import run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "auth-token-for-tests"
AGENT = "+15550001111"


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", (text or "").lower()))


async def test_handoff_moves_the_call_to_an_agent_who_hears_a_whisper_first():
    log = TwilioRestLog()
    with LiveServer(twilio_rest_app(log)) as twilio:
        dialogue = ScriptedDialogue()
        config = VoiceConfig(
            twilio_account_sid=SID, twilio_auth_token=TOKEN, twilio_api_url=twilio.http, handoff_number=AGENT
        )
        router = build_router(dialogue, config)
        app = FastAPI()
        app.include_router(router)
        with LiveServer(app) as server:
            result = await run_dial(
                server.http, says=["I want to talk to a person."], auth_token=TOKEN, transcribe_bot=True,
                verbose=False, hangup_after_s=10.0,  # told they are being connected, a caller holds on
            )  # fmt: skip

            assert len(log.requests) == 1
            request = log.requests[0]
            assert request["call_sid"] == result.call_sid and request["account_sid"] == SID
            assert (request["user"], request["password"]) == (SID, TOKEN)
            assert request["content_type"].startswith("application/x-www-form-urlencoded")
            twiml = ET.fromstring(request["form"]["Twiml"])
            dial = twiml.find("./Dial")
            number = dial.find("./Number")
            assert number.text == AGENT
            whisper = number.get("url")
            assert urlsplit(whisper).path == "/twilio/whisper" and "token=" in whisper
            assert dial.get("action").endswith("/twilio/dial-status")

            # Twilio fetches the whisper (signed) when the agent picks up
            form = {"CallSid": "CA-agent-leg", "AccountSid": SID}
            signature = RequestValidator(TOKEN).compute_signature(whisper, form)
            async with httpx.AsyncClient() as client:
                response = await client.post(whisper, data=form, headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200
            said = ET.fromstring(response.text).find("./Say").text
            assert "T-4821" in said and "Jane Doe" in said and "delivery address" in said

            record = router.voice.calls.get(result.call_sid)
            assert record.state == "transferred" and record.handed_off and record.ticket_id == "T-4821"
            assert not any(sid == record.session_id for sid, _ in dialogue.ended)  # a person has it now

    heard = " ".join(result.bot_texts()[1:])
    assert {"colleague", "connecting"} <= words(heard)
    assert result.closed_by == "server"


async def test_without_twilio_credentials_the_caller_is_promised_a_call_back():
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(handoff_number=AGENT))
    app = FastAPI()
    app.include_router(router)
    with LiveServer(app) as server:
        result = await run_dial(server.http, says=["Can I speak to a human?"], transcribe_bot=True, verbose=False)
    heard = words(" ".join(result.bot_texts()[1:]))
    assert {"call", "back"} <= heard
    assert result.closed_by == "server"
    record = router.voice.calls.get(result.call_sid)
    spoken = [e.data["text"] for e in record.events if e.kind == "voice"]
    assert "T 4 8 2 1" in spoken[-1]  # the ticket reference, read out character by character
    assert spoken[-1].endswith("Goodbye.")  # said whole before the hang-up (the recogniser may miss it)
    assert record.handed_off and record.ticket_id == "T-4821" and record.state == "ended"

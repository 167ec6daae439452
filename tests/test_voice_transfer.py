"""Warm transfer: the call is moved with Twilio's REST API to a <Dial> whose whisper briefs the agent;
without Twilio credentials the caller is told a person will call back and the bot hangs up.
On the virtual clock (tests.virtual_phone), with the stand-in for Twilio's REST API in the same process.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from twilio.request_validator import RequestValidator

from tests.virtual_phone import HOST, line_said, on_virtual_clock, served
from tests.voice_fakes import ScriptedDialogue, TwilioRestLog, twilio_rest_app
from voice.config import VoiceConfig
from voice.dial import run_dial
from voice.routes import build_router

pytestmark = pytest.mark.slow

SID = "AC0123456789abcdef0123456789abcdef"
TOKEN = "auth-token-for-tests"
AGENT = "+15550001111"


def words(text: str | None) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", (text or "").lower()))


def test_handoff_moves_the_call_to_an_agent_who_hears_a_whisper_first():
    log = TwilioRestLog()
    dialogue = ScriptedDialogue()
    config = VoiceConfig(
        twilio_account_sid=SID, twilio_auth_token=TOKEN, twilio_api_url="https://api.twilio.test", handoff_number=AGENT
    )
    router = build_router(dialogue, config, twilio_transport=httpx.ASGITransport(twilio_rest_app(log)))
    app = FastAPI()
    app.include_router(router)

    async def call():
        async with served(app) as http:
            result = await run_dial(
                HOST, says=["I want to talk to a person."], auth_token=TOKEN, verbose=False, http=http,
                hangup_after_s=10.0,  # told they are being connected, a caller holds on
            )  # fmt: skip
            # Twilio fetches the whisper (signed) when the agent picks up
            whisper = ET.fromstring(log.requests[0]["form"]["Twiml"]).find("./Dial/Number").get("url")
            form = {"CallSid": "CA-agent-leg", "AccountSid": SID}
            signature = RequestValidator(TOKEN).compute_signature(whisper, form)
            response = await http.post(whisper, data=form, headers={"X-Twilio-Signature": signature})
            return result, response

    result, response = on_virtual_clock(call)

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

    assert response.status_code == 200
    said = ET.fromstring(response.text).find("./Say").text
    assert "T-4821" in said and "Jane Doe" in said and "delivery address" in said

    record = router.voice.calls.get(result.call_sid)
    assert record.state == "transferred" and record.handed_off and record.ticket_id == "T-4821"
    assert not any(sid == record.session_id for sid, _ in dialogue.ended)  # a person has it now

    assert {"colleague", "connecting"} <= words(" ".join(line_said(record)[1:]))
    assert result.closed_by == "server"


def test_without_twilio_credentials_the_caller_is_promised_a_call_back():
    dialogue = ScriptedDialogue()
    router = build_router(dialogue, VoiceConfig(handoff_number=AGENT))
    app = FastAPI()
    app.include_router(router)

    async def call():
        async with served(app) as http:
            return await run_dial(HOST, says=["Can I speak to a human?"], verbose=False, http=http)

    result = on_virtual_clock(call)
    assert result.closed_by == "server"
    record = router.voice.calls.get(result.call_sid)
    spoken = line_said(record)
    assert {"call", "back"} <= words(" ".join(spoken[1:]))
    assert "T 4 8 2 1" in spoken[-1]  # the ticket reference, read out character by character
    assert spoken[-1].endswith("Goodbye.")  # said whole before the hang-up
    assert result.bot_turns[-1].audio_s > 0.8 * len(spoken[-1].split()) / 3.4  # and heard whole
    assert record.handed_off and record.ticket_id == "T-4821" and record.state == "ended"

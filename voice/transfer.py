"""Warm transfer to a person: TwiML for the webhooks and the REST call that moves a live call.

The call is redirected (Twilio REST, `calls(sid).update(twiml=...)`) to a `<Dial>` of the hand-off
number whose `<Number url=...>` makes Twilio fetch a whisper for the agent, spoken before the two
legs are joined, so the agent knows the case before saying hello.
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import httpx
from twilio.base.exceptions import TwilioException
from twilio.http import AsyncHttpClient
from twilio.http.response import Response as TwilioResponse
from twilio.rest import Client
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from dialogue.api import HandoffSummary
from voice.config import VoiceConfig


class TransferError(RuntimeError):
    """Twilio did not accept the redirect; the caller stays with the bot."""


def stream_twiml(stream_url: str, caller: str | None, token: str) -> str:
    """`<Connect><Stream>` to the media route; the call hangs up once the stream closes."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name="caller", value=caller or "")
    # Twilio drops query strings from stream URLs on some accounts: the token also rides as a parameter.
    stream.parameter(name="token", value=token)
    response.append(connect)
    response.hangup()
    return str(response)


def dial_twiml(number: str, whisper_url: str, *, action_url: str, timeout_s: int = 30) -> str:
    """Dial the agent; Twilio calls `action_url` when the dial ends, to apologise if nobody answered."""
    response = VoiceResponse()
    dial = Dial(action=action_url, method="POST", timeout=timeout_s)
    dial.number(number, url=whisper_url, method="POST")
    response.append(dial)
    return str(response)


def whisper_twiml(text: str) -> str:
    response = VoiceResponse()
    response.say(text, language="en-US")
    return str(response)


def whisper_text(summary: HandoffSummary) -> str:
    """What the agent hears before being connected: the case in a few sentences."""
    customer = summary.customer or {}
    name = " ".join(str(customer[k]) for k in ("first_name", "last_name") if customer.get(k)) or customer.get("name")
    parts = ["Incoming transfer from Frontdesk."]
    if summary.ticket_id:
        parts.append(f"Ticket {summary.ticket_id}.")
    if name:
        parts.append(f"Caller: {name}, identity {summary.identity_level}.")
    else:
        parts.append(f"Caller identity: {summary.identity_level}.")
    if summary.language and summary.language != "en":
        parts.append(f"The caller speaks {summary.language}.")
    parts.append(f"Reason: {summary.reason}.")
    if summary.issue_summary:
        parts.append(summary.issue_summary.rstrip(".") + ".")
    if summary.recommended_next_step:
        parts.append(f"Suggested next step: {summary.recommended_next_step.rstrip('.')}.")
    return " ".join(parts)[:900]


def whisper_url(base_url: str, token: str) -> str:
    return f"{base_url}/twilio/whisper?{urlencode({'token': token})}"


class HttpxTwilioClient(AsyncHttpClient):
    """twilio's asynchronous HTTP client interface over httpx.

    The project's one HTTP client library; its transport can be swapped, so the tests reach a stand-in
    for Twilio's REST API in the same process, on the same (virtual) clock.
    """

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None, timeout_s: float = 10.0) -> None:
        super().__init__(logging.getLogger("twilio.http_client"), True, timeout_s)
        self._http = httpx.AsyncClient(transport=transport, timeout=timeout_s)

    async def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,  # noqa: ASYNC109 (twilio's interface)
                      allow_redirects=False) -> TwilioResponse:  # fmt: skip
        response = await self._http.request(
            method.upper(), url, params=params, data=data, headers=headers, auth=auth,
            timeout=timeout or self.timeout, follow_redirects=allow_redirects,
        )  # fmt: skip
        return TwilioResponse(response.status_code, response.text, response.headers)

    async def close(self) -> None:
        await self._http.aclose()


class TwilioCalls:
    """The few REST operations the phone line needs, through twilio's async client."""

    def __init__(self, config: VoiceConfig, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        assert config.twilio_account_sid and config.twilio_auth_token
        self._http = HttpxTwilioClient(transport=transport)
        self._client = Client(
            config.twilio_account_sid,
            config.twilio_auth_token.get_secret_value(),
            http_client=self._http,
            environment={},
        )
        if config.twilio_api_url:
            self._client.api.base_url = config.twilio_api_url

    async def redirect(self, call_sid: str, twiml: str) -> str:
        try:
            call = await self._client.calls(call_sid).update_async(twiml=twiml)
        except TwilioException as exc:
            raise TransferError(str(exc)) from exc
        except (OSError, httpx.HTTPError) as exc:
            raise TransferError(f"Twilio unreachable: {exc}") from exc
        return str(call.status)

    async def hang_up(self, call_sid: str) -> None:
        try:
            await self._client.calls(call_sid).update_async(status="completed")
        except (TwilioException, OSError, httpx.HTTPError):
            pass

    async def close(self) -> None:
        await self._http.close()

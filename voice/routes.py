"""The Twilio routes: incoming-call webhook, status callbacks, the media stream, and the transfer whisper.

`build_router(dialogue, config)` returns the APIRouter the application includes. `VoiceService`
behind it holds what outlives one request: the token signer and the call registry.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request, WebSocket, WebSocketDisconnect
from fastapi.responses import Response
from loguru import logger
from twilio.twiml.voice_response import VoiceResponse

from dialogue.api import Dialogue, HandoffSummary
from voice import models
from voice.calls import CallRecord, CallRegistry
from voice.config import VoiceConfig
from voice.pipeline import CallSetup, ServiceFactory, run_call
from voice.recording import CallRecorder
from voice.signatures import require_twilio_signature
from voice.stt import build_stt
from voice.tokens import TokenError, TokenSigner
from voice.transfer import (
    TransferError,
    TwilioCalls,
    dial_twiml,
    stream_twiml,
    whisper_text,
    whisper_twiml,
    whisper_url,
)
from voice.tts import build_tts

_FINAL_STATUSES = {"completed", "failed", "busy", "no-answer", "canceled"}
_HANDSHAKE_TIMEOUT_S = 10.0
_HANDSHAKE_MAX_MESSAGES = 50
_WHISPER_TTL_S = 600.0


def _twiml(xml: str) -> Response:
    return Response(content=xml, media_type="application/xml")


def _http_base(scope_scheme: str, headers: Any, public_url: str | None) -> str:
    if public_url:
        return public_url
    proto = (headers.get("x-forwarded-proto") or scope_scheme).split(",")[0].strip()
    proto = {"ws": "http", "wss": "https"}.get(proto, proto)
    host = (headers.get("x-forwarded-host") or headers.get("host") or "localhost").split(",")[0].strip()
    return f"{proto}://{host}"


class VoiceService:
    def __init__(
        self,
        dialogue: Dialogue,
        config: VoiceConfig,
        *,
        stt_factory: ServiceFactory = build_stt,
        tts_factory: ServiceFactory = build_tts,
        twilio_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.dialogue = dialogue
        self._twilio_transport = twilio_transport
        self.config = config
        self._stt_factory = stt_factory
        self._tts_factory = tts_factory
        self.calls = CallRegistry()
        self.tokens = TokenSigner(config.stream_token_secret.get_secret_value(), config.stream_token_ttl_s)
        self._warming: asyncio.Future[None] | None = None
        self._auth_token = config.twilio_auth_token.get_secret_value() if config.twilio_auth_token else None

    def warm_up(self) -> asyncio.Future[None]:
        """Start loading the speech models in the background (once); await the result to wait for them."""
        if self._warming is None:
            self._warming = asyncio.ensure_future(
                asyncio.to_thread(
                    models.warm_up,
                    multilingual=self.config.multilingual,
                    cache_dir=self.config.model_cache_dir,
                    deepgram=self.config.deepgram_enabled and not self.config.local_turn_detection,
                    piper=not self.config.deepgram_tts_enabled,
                )
            )
        return self._warming

    def stream_token(self, call_sid: str, caller: str | None) -> str:
        return self.tokens.sign("stream", {"call": call_sid, "from": caller or ""})

    # ------------------------------------------------------------------ routes

    def router(self) -> APIRouter:
        router = APIRouter(tags=["twilio"])
        router.add_api_route("/twilio/voice", self.incoming_call, methods=["POST"])
        router.add_api_route("/twilio/status", self.status_callback, methods=["POST"])
        # Twilio fetches the whisper with the method it is given; one route per method keeps the
        # OpenAPI operation ids distinct.
        router.add_api_route("/twilio/whisper", self.agent_whisper, methods=["POST"], operation_id="whisper_post")
        router.add_api_route("/twilio/whisper", self.agent_whisper, methods=["GET"], operation_id="whisper_get")
        router.add_api_route("/twilio/dial-status", self.dial_status, methods=["POST"])
        router.add_api_websocket_route("/twilio/media", self.media_stream)
        return router

    async def incoming_call(self, request: Request) -> Response:
        params = await require_twilio_signature(request, self._auth_token, self.config.public_url)
        if self.config.preload_models:
            self.warm_up()
        call_sid = params.get("CallSid") or f"CA{uuid.uuid4().hex}"
        caller = params.get("From") or None
        answered = self.calls.get(call_sid)
        if answered is not None and answered.state != "ringing":
            # The same signed request again once the call is under way (Twilio's signature has no
            # timestamp, so a captured webhook stays valid): one call gets one stream and one session.
            answered.event("webhook_replayed")
            logger.warning(f"incoming-call webhook for {call_sid} replayed after it was answered; refused")
            return Response(status_code=409, content="this call has already been answered")
        record = self.calls.open(call_sid)
        record.caller = caller
        record.event("incoming", to=params.get("To"), caller_country=params.get("FromCountry"))
        token = self.stream_token(call_sid, caller)
        base = _http_base(request.url.scheme, request.headers, self.config.public_url)
        ws_base = base.replace("https://", "wss://", 1).replace("http://", "ws://", 1)
        return _twiml(stream_twiml(f"{ws_base}/twilio/media?token={token}", caller, token))

    async def status_callback(self, request: Request) -> Response:
        params = await require_twilio_signature(request, self._auth_token, self.config.public_url)
        call_sid, status = params.get("CallSid"), params.get("CallStatus", "")
        if not call_sid:
            return Response(status_code=400, content="CallSid is required")
        record = self.calls.open(call_sid)
        record.statuses.append({"status": status, "at": str(time.time()), "duration": params.get("CallDuration", "")})
        if status in _FINAL_STATUSES:
            await self._end_session(record, "abandoned")
            record.state = "ended" if record.state != "transferred" else record.state
        return Response(status_code=204)

    async def agent_whisper(self, request: Request) -> Response:
        if request.method == "POST":
            await require_twilio_signature(request, self._auth_token, self.config.public_url)
        try:
            claims = self.tokens.verify(request.query_params.get("token"), "whisper")
        except TokenError as exc:
            return Response(status_code=403, content=str(exc))
        return _twiml(whisper_twiml(str(claims.get("say", ""))))

    async def dial_status(self, request: Request) -> Response:
        params = await require_twilio_signature(request, self._auth_token, self.config.public_url)
        response = VoiceResponse()
        if params.get("DialCallStatus") not in ("completed", "answered"):
            response.say("Sorry, nobody could take your call right now. A colleague will call you back. Goodbye.")
        response.hangup()
        return _twiml(str(response))

    async def media_stream(self, websocket: WebSocket) -> None:
        claims: dict[str, Any] | None = None
        query_token = websocket.query_params.get("token")
        if query_token is not None:
            try:
                claims = self.tokens.verify(query_token, "stream", single_use=True)
            except TokenError as exc:
                logger.warning(f"media stream refused: {exc}")
                await websocket.close(code=1008)  # before accept: the client gets HTTP 403
                return
        await websocket.accept()
        try:
            start = await self._handshake(websocket)
        except (TimeoutError, WebSocketDisconnect, ValueError) as exc:
            logger.warning(f"media stream closed before it started: {exc}")
            await _close(websocket, 1008)
            return
        params = start.get("customParameters") or {}
        if claims is None:
            try:
                claims = self.tokens.verify(params.get("token"), "stream", single_use=True)
            except TokenError as exc:
                logger.warning(f"media stream refused: {exc}")
                await _close(websocket, 1008)
                return
        call_sid = str(start.get("callSid") or claims.get("call") or "")
        if claims.get("call") and call_sid != claims["call"]:
            logger.warning("media stream refused: token issued for another call")
            await _close(websocket, 1008)
            return
        existing = self.calls.get(call_sid)
        if existing is not None and existing.state != "ringing":
            # A second stream for a call that already has one (or has ended) would be a second caller
            # on the same call: only a replayed webhook or a leaked token gets here.
            logger.warning(f"media stream refused: call {call_sid} already has a stream")
            await _close(websocket, 1008)
            return
        record = self.calls.open(call_sid)
        record.stream_sid = str(start.get("streamSid") or f"MZ{uuid.uuid4().hex}")
        record.caller = claims.get("from") or params.get("caller") or record.caller
        record.state = "in_progress"
        record.event("stream_started", tracks=start.get("tracks"), media_format=start.get("mediaFormat"))
        await self.warm_up()

        base = _http_base(websocket.url.scheme, websocket.headers, self.config.public_url)
        recorder = CallRecorder() if self.config.recordings_dir else None
        setup = CallSetup(
            websocket=websocket,
            record=record,
            stream_sid=record.stream_sid,
            transfer=self._transfer_for(record, base) if self.config.can_transfer else None,
            recorder=recorder,
            stt_factory=self._stt_factory,
            tts_factory=self._tts_factory,
        )
        try:
            await run_call(self.dialogue, self.config, setup)
        finally:
            record.ended_at = time.time()
            if record.state not in ("transferred", "transferring"):
                record.state = "ended"
            await self._end_session(record, "caller_hung_up")
            if recorder is not None and self.config.recordings_dir is not None:
                try:
                    recorder.save(self.config.recordings_dir / record.call_sid, record.model_dump(mode="json"))
                except OSError:
                    logger.exception("could not save the call recording")

    # ------------------------------------------------------------------ helpers

    async def _handshake(self, websocket: WebSocket) -> dict[str, Any]:
        """Read Twilio's `connected` and `start` messages; anything malformed before them is skipped."""
        deadline = asyncio.get_running_loop().time() + _HANDSHAKE_TIMEOUT_S
        for _ in range(_HANDSHAKE_MAX_MESSAGES):
            remaining = deadline - asyncio.get_running_loop().time()
            received = await asyncio.wait_for(websocket.receive(), timeout=max(0.01, remaining))
            if received["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(received.get("code", 1000))
            text = received.get("text")
            if text is None:  # a binary frame: Twilio sends none, so it is skipped like any other junk
                continue
            try:
                message = json.loads(text)
            except (ValueError, RecursionError):
                continue
            if isinstance(message, dict) and message.get("event") == "start" and isinstance(message.get("start"), dict):
                start = dict(message["start"])
                start.setdefault("streamSid", message.get("streamSid"))
                return start
        raise ValueError("no start message")

    async def _end_session(self, record: CallRecord, reason: str) -> None:
        if record.session_id and not record.session_ended and not record.handed_off:
            record.session_ended = True
            try:
                await self.dialogue.end(record.session_id, reason=reason)
            except Exception:
                logger.exception("dialogue did not end the session")

    def _transfer_for(self, record: CallRecord, base_url: str):
        async def transfer(summary: HandoffSummary) -> bool:
            assert self.config.handoff_number
            token = self.tokens.sign("whisper", {"say": whisper_text(summary)}, ttl_s=_WHISPER_TTL_S)
            twiml = dial_twiml(
                self.config.handoff_number,
                whisper_url(base_url, token),
                action_url=f"{base_url}/twilio/dial-status",
            )
            calls = TwilioCalls(self.config, transport=self._twilio_transport)
            try:
                status = await calls.redirect(record.call_sid, twiml)
                record.event("redirected", status=status)
                return True
            except TransferError as exc:
                logger.warning(f"warm transfer failed: {exc}")
                return False
            finally:
                await calls.close()

        return transfer


async def _close(websocket: WebSocket, code: int) -> None:
    try:
        await websocket.close(code=code)
    except RuntimeError:
        pass


def build_router(
    dialogue: Dialogue, config: VoiceConfig, *, twilio_transport: httpx.AsyncBaseTransport | None = None
) -> APIRouter:
    """The phone line's routes for `dialogue`; the service behind them is at `router.voice`.

    `twilio_transport` carries the REST calls to Twilio (default: the network).
    """
    service = VoiceService(dialogue, config, twilio_transport=twilio_transport)
    router = service.router()
    router.voice = service  # type: ignore[attr-defined]
    return router

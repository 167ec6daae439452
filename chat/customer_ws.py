"""`WS /chat/ws`: the customer's socket. Opens or resumes a session, then turns frames into turns.

Every refusal is an `error` frame followed by `turn_end` and the socket stays open; only binary
frames (1003) and a refused origin (403 before the handshake) end it.
"""

from __future__ import annotations

import logging

from fastapi import WebSocket
from starlette.websockets import WebSocketDisconnect

from chat.frames import TURN_END, FrameError, error_frame, parse_client_frame, session_frame, turn_frames
from chat.metrics import SOCKETS
from chat.service import ChatService
from desk.web.metrics import REFUSED
from desk.web.outbox import Outbox
from desk.web.ratelimit import RateLimited
from desk.web.security import client_address, origin_allowed
from dialogue.api import UnknownSession

log = logging.getLogger("frontdesk.chat")

CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TRY_LATER = 1013
CLOSE_INTERNAL = 1011
_LANGUAGE_MAX = 16


async def customer_socket(websocket: WebSocket, service: ChatService) -> None:
    config = service.config
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), config):
        REFUSED.labels("origin").inc()
        await websocket.close(CLOSE_POLICY)  # before accepting: the browser sees a 403
        return
    await websocket.accept()
    outbox = Outbox(websocket, config.outbox_frames)
    outbox.start()
    address = client_address(websocket, config)
    session_id: str | None = None
    try:
        try:
            service.admit(address)
        except RateLimited as exc:
            outbox.push_all([error_frame("rate_limited", exc.message, round(exc.retry_after, 1)), TURN_END])
            await outbox.drain_and_stop()
            await websocket.close(CLOSE_TRY_LATER)
            return
        try:
            session_id = await _open(websocket, outbox, service)
        except Exception:
            log.exception("could not open a chat session")
            outbox.push_all([error_frame("unavailable", "the chat is unavailable right now; try again soon"), TURN_END])
            await outbox.drain_and_stop()
            await websocket.close(CLOSE_INTERNAL)
            return
        if session_id is None:
            return
        SOCKETS.inc()
        try:
            await _converse(websocket, outbox, service, session_id, address)
        finally:
            SOCKETS.dec()
    except WebSocketDisconnect:
        pass
    finally:
        if session_id is not None:
            service.hub.unsubscribe(session_id, outbox)
        await outbox.drain_and_stop()


async def _open(websocket: WebSocket, outbox: Outbox, service: ChatService) -> str | None:
    """Send the session frame and the bot's opening (greeting or the pending question); subscribe."""
    requested = websocket.query_params.get("session_id")
    if requested:
        if await service.load(requested) is not None:
            if service.hub.count(requested) >= service.config.max_sockets_per_session:
                REFUSED.labels("too_many_sockets").inc()
                refusal = error_frame("too_many_sockets", "this conversation is open in too many tabs")
                outbox.push_all([refusal, TURN_END])
                await outbox.drain_and_stop()
                await websocket.close(CLOSE_POLICY)
                return None
            outbox.push(session_frame(requested, resumed=True))
            # Subscribed before resuming: a turn from another tab meanwhile still reaches this one.
            service.hub.subscribe(requested, outbox)
            try:
                result = await service.resume(requested)
            except UnknownSession:
                service.hub.unsubscribe(requested, outbox)
            else:
                outbox.push_all(turn_frames(result))
                return requested
        outbox.push(error_frame("unknown_session", "no conversation has this id; starting a new one"))
    language = (websocket.query_params.get("language") or "")[:_LANGUAGE_MAX] or None
    result = await service.start("chat", language)
    outbox.push(session_frame(result.session_id))
    outbox.push_all(turn_frames(result))
    service.hub.subscribe(result.session_id, outbox)
    return result.session_id


async def _converse(websocket: WebSocket, outbox: Outbox, service: ChatService, session_id: str, address: str) -> None:
    limit = service.config.max_message_bytes
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            REFUSED.labels("binary").inc()
            await websocket.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
            return
        try:
            service.check_rate(session_id, address)
            frame = parse_client_frame(text, limit)
        except RateLimited as exc:
            outbox.push_all([error_frame("rate_limited", exc.message, round(exc.retry_after, 1)), TURN_END])
            continue
        except FrameError as exc:
            REFUSED.labels(exc.code).inc()
            outbox.push_all([error_frame(exc.code, exc.message), TURN_END])
            continue
        try:
            # The frames of the turn reach this socket (and the session's other tabs) through the hub.
            await service.send(session_id, frame, transport="ws")
        except UnknownSession:
            outbox.push_all([error_frame("unknown_session", "this conversation no longer exists"), TURN_END])
        except Exception:
            log.exception("chat turn failed")
            outbox.push_all(
                [error_frame("unavailable", "something went wrong on our side; please send that again"), TURN_END]
            )

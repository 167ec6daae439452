"""`WS /agent/ws`: a signed-in agent console. The token comes in `?token=` or in the first frame;
nothing about any customer is sent before it checks out.
"""

from __future__ import annotations

import asyncio
import logging

from fastapi import WebSocket
from pydantic import ValidationError
from pydantic_core import from_json
from starlette.websockets import WebSocketDisconnect

from desk.frames import (
    AuthIn,
    CloseIn,
    DecideIn,
    HandBackIn,
    OpenIn,
    Ready,
    RefreshIn,
    ReplyIn,
    TakeIn,
    console_frame,
    error_frame,
)
from desk.security import token_role
from desk.service import AgentDesk, Console, DeskError, agent_name
from desk.web.metrics import REFUSED
from desk.web.outbox import Outbox
from desk.web.ratelimit import RateLimited
from desk.web.security import client_address, origin_allowed

log = logging.getLogger("frontdesk.desk")

CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
_AUTH_TIMEOUT_S = 30.0


async def agent_socket(websocket: WebSocket, desk: AgentDesk) -> None:
    config = desk.config
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), config):
        REFUSED.labels("origin").inc()
        await websocket.close(CLOSE_POLICY)
        return
    await websocket.accept()
    outbox = Outbox(websocket, config.outbox_frames)
    outbox.start()
    console: Console | None = None
    try:
        desk.admit(client_address(websocket, config))
        token, name = websocket.query_params.get("token"), websocket.query_params.get("name")
        if not token:
            token, name = await _auth_frame(websocket, name)
        role = token_role(token, config)
        if role is None:
            REFUSED.labels("unauthorized").inc()
            outbox.push(error_frame("unauthorized", "the agent token is missing or wrong"))
            await outbox.drain_and_stop()
            await websocket.close(CLOSE_POLICY)
            return
        console = Console(outbox, agent_name(name))
        outbox.push(Ready(agent=console.agent, role=role).model_dump_json())
        desk.attach(console)
        desk.watcher.start()  # hand-offs and lines from other servers on the same store reach this console too
        try:
            outbox.push((await desk.queue()).model_dump_json())
            outbox.push((await desk.approvals()).model_dump_json())
        except Exception:
            log.exception("could not build the console's first snapshot")
            outbox.push(error_frame("unavailable", "the queues could not be loaded; send refresh to try again"))
        await _serve(websocket, console, desk)
    except RateLimited as exc:
        outbox.push(error_frame("rate_limited", exc.message, round(exc.retry_after, 1)))
        await outbox.drain_and_stop()
        await websocket.close(CLOSE_POLICY)
    except WebSocketDisconnect:
        pass
    finally:
        if console is not None:
            desk.detach(console)
        await outbox.drain_and_stop()


async def _auth_frame(websocket: WebSocket, name: str | None) -> tuple[str | None, str | None]:
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), _AUTH_TIMEOUT_S)
        auth = AuthIn.model_validate_json(raw)
    except (TimeoutError, ValidationError, KeyError, RuntimeError):
        return None, name
    return auth.token, auth.name or name


async def _serve(websocket: WebSocket, console: Console, desk: AgentDesk) -> None:
    agent, outbox = console.agent, console.outbox
    # A reply of the maximum size plus its envelope.
    limit = desk.config.max_message_bytes + 1024
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            await websocket.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
            return
        try:
            if len(raw) > limit:
                raise DeskError("too_large", f"frames are limited to {desk.config.max_message_bytes} bytes")
            try:
                # pydantic's parser refuses lone surrogates (text no encoder can write) and deep nesting.
                frame = console_frame.validate_python(from_json(raw, allow_inf_nan=False))
            except (ValueError, ValidationError):
                raise DeskError("bad_frame", "unknown or malformed console frame") from None
            if isinstance(frame, RefreshIn):
                outbox.push((await desk.queue()).model_dump_json())
                outbox.push((await desk.approvals()).model_dump_json())
            elif isinstance(frame, OpenIn):
                outbox.push((await desk.conversation(frame.session_id)).model_dump_json())
            elif isinstance(frame, TakeIn):
                done = await desk.take(frame.session_id, agent)
                outbox.push(done.model_dump_json())
                outbox.push((await desk.conversation(frame.session_id)).model_dump_json())
            elif isinstance(frame, ReplyIn):
                outbox.push((await desk.reply(frame.session_id, agent, frame.text)).model_dump_json())
            elif isinstance(frame, HandBackIn):
                outbox.push((await desk.hand_back(frame.session_id, agent)).model_dump_json())
            elif isinstance(frame, CloseIn):
                outbox.push((await desk.close(frame.session_id, agent)).model_dump_json())
            elif isinstance(frame, DecideIn):
                done = await desk.decide(frame.approval_id, approve=frame.approve, agent=agent, note=frame.note)
                outbox.push(done.model_dump_json())
        except DeskError as exc:
            outbox.push(error_frame(exc.code, exc.message))
        except Exception:
            log.exception("agent console action failed")
            outbox.push(error_frame("unavailable", "that did not go through; try again"))

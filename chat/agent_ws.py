"""`WS /agent/ws`: a signed-in agent console. The token comes in `?token=` or in the first frame;
nothing about any customer is sent before it checks out.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Annotated, Literal

from fastapi import WebSocket
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError
from starlette.websockets import WebSocketDisconnect

from chat.desk import Console, DeskError, agent_name
from chat.frames import error_frame
from chat.hub import Outbox
from chat.metrics import REFUSED
from chat.security import client_address, origin_allowed, token_role
from chat.service import ChatService, RateLimited

log = logging.getLogger("frontdesk.chat")

CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
_AUTH_TIMEOUT_S = 30.0


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AuthIn(_In):
    type: Literal["auth"]
    token: str = Field(max_length=512)
    name: str | None = Field(default=None, max_length=80)


class OpenIn(_In):
    type: Literal["open"]
    session_id: str = Field(max_length=64)


class TakeIn(_In):
    type: Literal["take"]
    session_id: str = Field(max_length=64)


class ReplyIn(_In):
    type: Literal["reply"]
    session_id: str = Field(max_length=64)
    text: str


class HandBackIn(_In):
    type: Literal["hand_back"]
    session_id: str = Field(max_length=64)


class CloseIn(_In):
    type: Literal["close"]
    session_id: str = Field(max_length=64)


class DecideIn(_In):
    type: Literal["decide"]
    approval_id: str = Field(max_length=64)
    approve: bool
    note: str | None = Field(default=None, max_length=1000)


class RefreshIn(_In):
    type: Literal["refresh"]


ConsoleFrame = Annotated[
    OpenIn | TakeIn | ReplyIn | HandBackIn | CloseIn | DecideIn | RefreshIn, Field(discriminator="type")
]
_console_frame: TypeAdapter = TypeAdapter(ConsoleFrame)


class Ready(BaseModel):
    type: Literal["ready"] = "ready"
    agent: str
    role: str


async def agent_socket(websocket: WebSocket, service: ChatService) -> None:
    config = service.config
    if not origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host"), config):
        REFUSED.labels("origin").inc()
        await websocket.close(CLOSE_POLICY)
        return
    await websocket.accept()
    outbox = Outbox(websocket, config.outbox_frames)
    outbox.start()
    console: Console | None = None
    try:
        service.admit(client_address(websocket, config))
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
        service.desk.attach(console)
        service.watch()  # hand-offs and lines from other servers on the same store reach this console too
        try:
            outbox.push((await service.desk.queue()).model_dump_json())
            outbox.push((await service.desk.approvals()).model_dump_json())
        except Exception:
            log.exception("could not build the console's first snapshot")
            outbox.push(error_frame("unavailable", "the queues could not be loaded; send refresh to try again"))
        await _serve(websocket, console, service)
    except RateLimited as exc:
        outbox.push(error_frame("rate_limited", exc.message, round(exc.retry_after, 1)))
        await outbox.drain_and_stop()
        await websocket.close(CLOSE_POLICY)
    except WebSocketDisconnect:
        pass
    finally:
        if console is not None:
            service.desk.detach(console)
        await outbox.drain_and_stop()


async def _auth_frame(websocket: WebSocket, name: str | None) -> tuple[str | None, str | None]:
    try:
        raw = await asyncio.wait_for(websocket.receive_text(), _AUTH_TIMEOUT_S)
        auth = AuthIn.model_validate_json(raw)
    except (TimeoutError, ValidationError, KeyError, RuntimeError):
        return None, name
    return auth.token, auth.name or name


async def _serve(websocket: WebSocket, console: Console, service: ChatService) -> None:
    desk, agent, outbox = service.desk, console.agent, console.outbox
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        raw = message.get("text")
        if raw is None:
            await websocket.close(CLOSE_UNSUPPORTED, "binary frames are not supported")
            return
        try:
            if len(raw) > config_limit(service):
                raise DeskError("too_large", f"frames are limited to {service.config.max_message_bytes} bytes")
            try:
                frame = _console_frame.validate_python(json.loads(raw))
            except (ValueError, RecursionError, ValidationError):
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


def config_limit(service: ChatService) -> int:
    # A reply of the maximum size plus its envelope.
    return service.config.max_message_bytes + 1024

"""The REST routes: the customer conversation (`/chat/sessions...`) and the agent console's API
(`/agent/api/...`, Bearer agent token). Bad bodies get a 4xx with a message, never a 5xx.
"""

from __future__ import annotations

import json
import logging
from typing import Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chat.desk import ApprovalsFrame, Conversation, DeskError, Done, QueueFrame, agent_name
from chat.frames import (
    ChoiceIn,
    MessageBody,
    MessageView,
    SessionAnswer,
    StartAnswer,
    StartBody,
    TextIn,
    TranscriptLine,
    TurnAnswer,
    state_json,
)
from chat.metrics import REFUSED
from chat.security import client_address, origin_allowed, require_agent
from chat.service import ChatService, RateLimited
from dialogue.api import UnknownSession

log = logging.getLogger("frontdesk.chat")

_MAX_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse({"detail": self.message, "code": self.code}, self.status, headers=self.headers)


async def _body(request: Request, model: type[M]) -> M:
    raw = await request.body()
    if len(raw) > _MAX_BODY:
        raise ApiError(413, "too_large", f"request bodies are limited to {_MAX_BODY} bytes")
    try:
        data: Any = json.loads(raw) if raw.strip() else {}
    except (ValueError, RecursionError):  # deeply nested arrays exhaust the parser's stack
        raise ApiError(400, "bad_body", "the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise ApiError(400, "bad_body", "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors())
        raise ApiError(422, "bad_body", problems) from None


def _documented(model: type[BaseModel], *, required: bool = False) -> dict[str, Any]:
    """The OpenAPI entry of a JSON body: bodies are read by hand (to answer 4xx, never 5xx), so
    FastAPI cannot see them; clients and schema-driven tests learn the shape from this."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


def _cors(request: Request, response: Response, service: ChatService) -> Response:
    """Sites that embed the widget may read their visitor's conversation (its id is the key)."""
    origin = request.headers.get("origin")
    if origin and origin_allowed(origin, request.headers.get("host"), service.config):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Vary"] = "Origin"
    return response


def customer_router(service: ChatService) -> APIRouter:
    router = APIRouter(tags=["chat"])
    config = service.config

    async def answer(request: Request, work) -> Response:
        try:
            payload = await work()
            response: Response = JSONResponse(payload.model_dump(mode="json"))
        except ApiError as exc:
            REFUSED.labels(exc.code).inc()
            response = exc.response()
        except UnknownSession:
            response = ApiError(404, "unknown_session", "no conversation has this id").response()
        except Exception:
            log.exception("chat request failed")
            response = ApiError(503, "unavailable", "something went wrong on our side; try again").response()
        return _cors(request, response, service)

    @router.options("/chat/sessions")
    @router.options("/chat/sessions/{session_id}")
    @router.options("/chat/sessions/{session_id}/messages")
    async def preflight(request: Request) -> Response:
        return _cors(request, Response(status_code=204), service)

    @router.post("/chat/sessions", response_model=StartAnswer, openapi_extra=_documented(StartBody))
    async def start_session(request: Request) -> Response:
        async def work() -> StartAnswer:
            body = await _body(request, StartBody)
            _admit(service, request)
            result = await service.start("rest", body.language)
            return StartAnswer(
                session_id=result.session_id,
                messages=[MessageView.of(m) for m in result.messages],
                state=state_json(result.state),
            )

        return await answer(request, work)

    @router.post(
        "/chat/sessions/{session_id}/messages",
        response_model=TurnAnswer,
        openapi_extra=_documented(MessageBody, required=True),
    )
    async def post_message(session_id: str, request: Request) -> Response:
        async def work() -> TurnAnswer:
            body = await _body(request, MessageBody)
            if (body.text is None) == (body.choice is None):
                raise ApiError(422, "bad_body", 'send exactly one of {"text": "..."} or {"choice": "..."}')
            if body.text is not None and len(body.text.encode()) > config.max_message_bytes:
                raise ApiError(413, "too_large", f"messages are limited to {config.max_message_bytes} bytes")
            if await service.load(session_id) is None:
                raise UnknownSession(session_id)
            try:
                service.check_rate(session_id, client_address(request, config))
            except RateLimited as exc:
                raise ApiError(
                    429, "rate_limited", exc.message, {"Retry-After": str(max(1, round(exc.retry_after)))}
                ) from None
            frame = (
                TextIn(type="message", text=body.text)
                if body.text is not None
                else ChoiceIn(type="choice", value=body.choice or "")
            )
            result = await service.send(session_id, frame, transport="rest")
            return TurnAnswer(
                messages=[MessageView.of(m) for m in result.messages],
                state=state_json(result.state),
                handoff=result.handoff,
            )

        return await answer(request, work)

    @router.get("/chat/sessions/{session_id}", response_model=SessionAnswer)
    async def get_session(session_id: str, request: Request) -> Response:
        async def work() -> SessionAnswer:
            state = await service.load(session_id)
            if state is None:
                raise UnknownSession(session_id)
            entries = await service.engine.transcript(session_id)
            return SessionAnswer(
                session_id=session_id,
                transcript=[
                    TranscriptLine(turn=e.turn, role=e.role, text=e.text, language=e.language, at=e.at)
                    for e in entries
                ],
                state=state_json(state),
            )

        return await answer(request, work)

    return router


def _admit(service: ChatService, request: Request) -> None:
    try:
        service.admit(client_address(request, service.config))
    except RateLimited as exc:
        raise ApiError(429, "rate_limited", exc.message, {"Retry-After": str(max(1, round(exc.retry_after)))}) from None


# ---------------------------------------------------------------- agent console API


class AgentBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    agent: str | None = Field(default=None, max_length=80)


class ReplyBody(AgentBody):
    text: str = Field(min_length=1)


class DecideBody(AgentBody):
    approve: bool
    note: str | None = Field(default=None, max_length=1000)


def agent_router(service: ChatService) -> APIRouter:
    router = APIRouter(prefix="/agent/api", tags=["agent"], dependencies=[Depends(require_agent(service.config))])
    desk = service.desk

    async def run(work) -> Response:
        try:
            return JSONResponse((await work()).model_dump(mode="json"))
        except ApiError as exc:
            return exc.response()
        except DeskError as exc:
            return ApiError(exc.status, exc.code, exc.message).response()
        except Exception:
            log.exception("agent request failed")
            return ApiError(503, "unavailable", "that did not go through; try again").response()

    @router.get("/queue", response_model=QueueFrame)
    async def queue() -> Response:
        return await run(desk.queue)

    @router.get("/approvals", response_model=ApprovalsFrame)
    async def approvals() -> Response:
        return await run(desk.approvals)

    @router.get("/sessions/{session_id}", response_model=Conversation)
    async def conversation(session_id: str) -> Response:
        return await run(lambda: desk.conversation(session_id))

    @router.post("/sessions/{session_id}/take", response_model=Done, openapi_extra=_documented(AgentBody))
    async def take(session_id: str, request: Request) -> Response:
        async def work() -> Done:
            body = await _body(request, AgentBody)
            return await desk.take(session_id, agent_name(body.agent))

        return await run(work)

    @router.post(
        "/sessions/{session_id}/messages", response_model=Done, openapi_extra=_documented(ReplyBody, required=True)
    )
    async def reply(session_id: str, request: Request) -> Response:
        async def work() -> Done:
            body = await _body(request, ReplyBody)
            return await desk.reply(session_id, agent_name(body.agent), body.text)

        return await run(work)

    @router.post("/sessions/{session_id}/hand_back", response_model=Done, openapi_extra=_documented(AgentBody))
    async def hand_back(session_id: str, request: Request) -> Response:
        async def work() -> Done:
            body = await _body(request, AgentBody)
            return await desk.hand_back(session_id, agent_name(body.agent))

        return await run(work)

    @router.post("/sessions/{session_id}/close", response_model=Done, openapi_extra=_documented(AgentBody))
    async def close(session_id: str, request: Request) -> Response:
        async def work() -> Done:
            body = await _body(request, AgentBody)
            return await desk.close(session_id, agent_name(body.agent))

        return await run(work)

    @router.post("/approvals/{approval_id}", response_model=Done, openapi_extra=_documented(DecideBody, required=True))
    async def decide(approval_id: str, request: Request) -> Response:
        async def work() -> Done:
            body = await _body(request, DecideBody)
            return await desk.decide(approval_id, approve=body.approve, agent=agent_name(body.agent), note=body.note)

        return await run(work)

    return router

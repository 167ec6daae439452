"""`/chat/sessions...`: the customer conversation over REST. Bodies are typed and read strictly
(`desk.web.json_api`); a refusal is a 4xx with `{"detail", "code"}`, never a 5xx."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

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
from chat.service import ChatService
from desk.web.json_api import ApiError, JsonRoute
from desk.web.security import client_address
from dialogue.api import UnknownSession


def customer_router(service: ChatService) -> APIRouter:
    router = APIRouter(tags=["chat"], route_class=JsonRoute)
    config = service.config

    # Browsers' preflights are answered by the widget's CORS middleware (`chat.cors`); a plain OPTIONS
    # is answered here.
    @router.options("/chat/sessions")
    @router.options("/chat/sessions/{session_id}")
    @router.options("/chat/sessions/{session_id}/messages")
    async def preflight() -> Response:
        return Response(status_code=204)

    @router.post("/chat/sessions")
    async def start_session(request: Request, body: StartBody | None = None) -> StartAnswer:
        service.admit(client_address(request, config))
        result = await service.start("rest", body.language if body else None)
        return StartAnswer(
            session_id=result.session_id,
            messages=[MessageView.of(m) for m in result.messages],
            state=state_json(result.state),
        )

    @router.post("/chat/sessions/{session_id}/messages")
    async def post_message(session_id: str, body: MessageBody, request: Request) -> TurnAnswer:
        if body.text is not None and len(body.text.encode()) > config.max_message_bytes:
            raise ApiError(413, "too_large", f"messages are limited to {config.max_message_bytes} bytes")
        if await service.load(session_id) is None:
            raise UnknownSession(session_id)
        service.check_rate(session_id, client_address(request, config))
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

    @router.get("/chat/sessions/{session_id}")
    async def get_session(session_id: str) -> SessionAnswer:
        state = await service.load(session_id)
        if state is None:
            raise UnknownSession(session_id)
        entries = await service.engine.transcript(session_id)
        return SessionAnswer(
            session_id=session_id,
            transcript=[
                TranscriptLine(turn=e.turn, role=e.role, text=e.text, language=e.language, at=e.at) for e in entries
            ],
            state=state_json(state),
        )

    return router

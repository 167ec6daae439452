"""`build_router(engine, config)`: every route of the website chat and the agent console.

| route | for |
| --- | --- |
| `GET /` | the chat page (the widget, open) |
| `GET /widget.js`, `GET /chat/static/{file}` | the embeddable widget and the pages' styles and scripts |
| `WS /chat/ws[?session_id=ID]` | the customer's chat (frames in `chat.frames`) |
| `POST /chat/sessions`, `POST /chat/sessions/{id}/messages`, `GET /chat/sessions/{id}` | the same over REST |
| `GET /agent`, `WS /agent/ws` | the agent console (token in `?token=` or the first frame) |
| `/agent/api/...` | the console's REST API (Bearer agent token) |
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from chat.agent_ws import agent_socket
from chat.config import ChatConfig
from chat.customer_ws import customer_socket
from chat.pages import pages_router
from chat.rest import agent_router, customer_router
from chat.service import ChatService
from dialogue.engine import DialogueEngine


def build_router(engine: DialogueEngine, config: ChatConfig) -> APIRouter:
    service = ChatService(engine, config)
    router = APIRouter()

    @router.websocket("/chat/ws")
    async def chat_socket(websocket: WebSocket) -> None:
        await customer_socket(websocket, service)

    @router.websocket("/agent/ws")
    async def console_socket(websocket: WebSocket) -> None:
        await agent_socket(websocket, service)

    router.include_router(pages_router(config))
    router.include_router(customer_router(service))
    router.include_router(agent_router(service))
    # The app keeps a handle on the service (its limits, hub and desk) as it does on the phone line's.
    router.chat = service  # type: ignore[attr-defined]
    return router

"""`build_router(engine, config, desk)`: every route of the website chat.

| route | for |
| --- | --- |
| `GET /` | the chat page (the widget, open) |
| `GET /widget.js`, `GET /chat/static/{file}` | the embeddable widget and the pages' styles |
| `WS /chat/ws[?session_id=ID]` | the customer's chat (frames in `chat.frames`) |
| `POST /chat/sessions`, `POST /chat/sessions/{id}/messages`, `GET /chat/sessions/{id}` | the same over REST |

The application adds `chat.cors.WidgetCORS` so that sites embedding the widget may call the REST
routes, and `desk.web.json_api.install_json_api` for their error shape.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from chat.config import ChatConfig
from chat.customer_ws import customer_socket
from chat.pages import pages_router
from chat.rest import customer_router
from chat.service import ChatService
from desk.service import AgentDesk
from dialogue.engine import DialogueEngine


def build_router(engine: DialogueEngine, config: ChatConfig, desk: AgentDesk) -> APIRouter:
    service = ChatService(engine, config, desk)
    router = APIRouter()

    @router.websocket("/chat/ws")
    async def chat_socket(websocket: WebSocket) -> None:
        await customer_socket(websocket, service)

    router.include_router(pages_router(config))
    router.include_router(customer_router(service))
    # The app keeps a handle on the service (its limits and hub) as it does on the phone line's.
    router.chat = service  # type: ignore[attr-defined]
    return router

"""`build_router(engine, config)`: every route of the agent desk.

| route | for |
| --- | --- |
| `GET /agent`, `GET /chat/static/agent.{css,js}` | the console's sign-in page and its files (open; no data) |
| `WS /agent/ws` | the console (token in `?token=` or the first frame; frames in `desk.frames`) |
| `/agent/api/...` | the console's REST API (Bearer agent token) |

The router carries the `AgentDesk` as `router.desk`: channels are built over it, so what their
customers say while a person has the conversation reaches the consoles.
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from desk.agent_ws import agent_socket
from desk.config import DeskConfig
from desk.pages import pages_router
from desk.rest import api_router
from desk.service import AgentDesk
from dialogue.engine import DialogueEngine


def build_router(engine: DialogueEngine, config: DeskConfig) -> APIRouter:
    desk = AgentDesk(engine, config)
    router = APIRouter()

    @router.websocket("/agent/ws")
    async def console_socket(websocket: WebSocket) -> None:
        await agent_socket(websocket, desk)

    router.include_router(pages_router(config))
    router.include_router(api_router(desk))
    router.desk = desk  # type: ignore[attr-defined]
    return router

"""CORS for the widget's REST calls: a site that embeds the widget may read its visitor's conversation
(the session id is the key) when its origin is allowed. Starlette's `CORSMiddleware`, over
`/chat/sessions...` only: no other route answers another site's page."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from chat.config import ChatConfig

_PATH = "/chat/sessions"


class WidgetCORS:
    def __init__(self, app: ASGIApp, config: ChatConfig) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=config.allowed_origins,
            allow_methods=("GET", "POST", "OPTIONS"),
            allow_headers=("Content-Type",),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == _PATH or path.startswith(_PATH + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)

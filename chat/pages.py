"""The chat's pages and files: the chat page at `/`, the embeddable `/widget.js`, and the styles and
icon under `/chat/static/` (each file by name; nothing else there is served)."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import Response

from chat.config import ChatConfig
from desk.web.static import WEB_DIR, Asset, content_policy, http_base, load_asset, serve_asset

STATIC_FILES = ("widget.css", "page.css", "favicon.svg")
# Files any site may load: they make up the widget on another site's page.
_EMBEDDED = ("widget.css",)
_BASE_MARK = '"__FRONTDESK_BASE__"'


def pages_router(config: ChatConfig) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    widget = (WEB_DIR / "widget.js").read_text(encoding="utf-8")
    index = load_asset("index.html")
    script = load_asset("widget.js", widget.replace(_BASE_MARK, json.dumps(http_base(config.public_url))).encode())
    policy = content_policy(config.public_url, embeddable=True)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def chat_page(request: Request) -> Response:
        return serve_asset(request, index, policy)

    @router.api_route("/widget.js", methods=["GET", "HEAD"])
    async def widget_script(request: Request) -> Response:
        # Any site may load the script; it still needs its origin allowed to open the chat.
        return serve_asset(request, script, cross_origin=True)

    for name in STATIC_FILES:
        serve = _static(load_asset(name), embedded=name in _EMBEDDED)
        router.add_api_route(f"/chat/static/{name}", serve, methods=["GET", "HEAD"])
    return router


def _static(asset: Asset, *, embedded: bool):
    async def static_file(request: Request) -> Response:
        return serve_asset(request, asset, cross_origin=embedded)

    return static_file

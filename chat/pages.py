"""The pages and static files: the chat page at `/`, the embeddable `/widget.js`, the agent console.

Files come from `assets/web/`, read once, served with an ETag and a strict content policy. The
pages never carry customer data: the widget and the console fetch it over their sockets.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from chat.config import ChatConfig

WEB_DIR = Path(__file__).resolve().parent.parent / "assets" / "web"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Only these are served from /chat/static/: the directory is never listed or walked.
STATIC_FILES = ("widget.css", "agent.css", "agent.js", "page.css", "favicon.svg")
_BASE_MARK = '"__FRONTDESK_BASE__"'


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def _asset(name: str, body: bytes | None = None) -> Asset:
    data = body if body is not None else (WEB_DIR / name).read_bytes()
    return Asset(data, _TYPES[Path(name).suffix], '"' + hashlib.sha256(data).hexdigest()[:20] + '"')


def http_base(public_url: str | None) -> str:
    """The http(s) origin browsers reach this server at, from a public URL that may be ws(s)://."""
    if not public_url:
        return ""
    parts = urlsplit(public_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}" if parts.netloc else ""


def _policy(config: ChatConfig, *, embeddable: bool) -> str:
    connect = ["'self'"]
    base = http_base(config.public_url)
    if base:
        connect += [base, base.replace("http", "ws", 1)]
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            f"connect-src {' '.join(connect)}",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors " + ("*" if embeddable else "'none'"),
        ]
    )


def pages_router(config: ChatConfig) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    widget = (WEB_DIR / "widget.js").read_text(encoding="utf-8")
    assets = {
        "index": _asset("index.html"),
        "agent": _asset("agent.html"),
        "widget.js": _asset("widget.js", widget.replace(_BASE_MARK, json.dumps(http_base(config.public_url))).encode()),
        **{name: _asset(name) for name in STATIC_FILES},
    }
    page_policy = _policy(config, embeddable=True)
    console_policy = _policy(config, embeddable=False)

    def serve(request: Request, asset: Asset, policy: str | None = None) -> Response:
        headers = {
            "ETag": asset.etag,
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        }
        if policy:
            headers["Content-Security-Policy"] = policy
        if request.headers.get("if-none-match") == asset.etag:
            return Response(status_code=304, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)

    @router.api_route("/", methods=["GET", "HEAD"])
    async def chat_page(request: Request) -> Response:
        return serve(request, assets["index"], page_policy)

    @router.api_route("/agent", methods=["GET", "HEAD"])
    async def agent_page(request: Request) -> Response:
        # The same sign-in page with or without a token: the data only ever comes over /agent/ws.
        return serve(request, assets["agent"], console_policy)

    @router.api_route("/widget.js", methods=["GET", "HEAD"])
    async def widget_script(request: Request) -> Response:
        response = serve(request, assets["widget.js"])
        # Any site may load the script; it still needs its origin allowed to open the chat.
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    @router.api_route("/chat/static/{name}", methods=["GET", "HEAD"])
    async def static_file(name: str, request: Request) -> Response:
        if name not in STATIC_FILES:
            raise HTTPException(404, "no such file")
        response = serve(request, assets[name])
        if name == "widget.css":
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
        return response

    return router

"""The pages' files: read once from `assets/web/`, served with an ETag, no-cache revalidation and a
strict content policy. The pages never carry customer data: the widget and the console fetch it over
their sockets."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import Response

WEB_DIR = Path(__file__).resolve().parents[2] / "assets" / "web"
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    etag: str


def load_asset(name: str, body: bytes | None = None) -> Asset:
    """The file `name` of `assets/web/` (or `body` in its stead, for a file filled in at start-up)."""
    data = body if body is not None else (WEB_DIR / name).read_bytes()
    return Asset(data, _TYPES[Path(name).suffix], '"' + hashlib.sha256(data).hexdigest()[:20] + '"')


def http_base(public_url: str | None) -> str:
    """The http(s) origin browsers reach this server at, from a public URL that may be ws(s)://."""
    if not public_url:
        return ""
    parts = urlsplit(public_url)
    scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return f"{scheme}://{parts.netloc}" if parts.netloc else ""


def content_policy(public_url: str | None, *, embeddable: bool) -> str:
    connect = ["'self'"]
    base = http_base(public_url)
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


def serve_asset(request: Request, asset: Asset, policy: str | None = None, *, cross_origin: bool = False) -> Response:
    """`asset` (304 when the browser's copy is current); `cross_origin` lets any site load it."""
    headers = {
        "ETag": asset.etag,
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }
    if policy:
        headers["Content-Security-Policy"] = policy
    if cross_origin:
        headers["Access-Control-Allow-Origin"] = "*"
        headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    if request.headers.get("if-none-match") == asset.etag:
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)

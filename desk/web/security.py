"""Who may reach a socket or a route: WebSocket origin checks, the client's address, and which session
ids are worth looking up at all."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from starlette.requests import HTTPConnection

from desk.web.config import WebConfig

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{8,64}$")


def origin_allowed(origin: str | None, host: str | None, config: WebConfig) -> bool:
    """Browsers always send Origin on a WebSocket; the page's own host is allowed, others only when listed.

    A client that sends no Origin is not a browser page, so no other site's cookies or
    sessions ride along with it; it is let through and meets the same limits as everyone.
    """
    if origin is None:
        return True
    origin = origin.strip().rstrip("/").lower()
    if origin in config.allowed_origins or "*" in config.allowed_origins:
        return True
    if origin == "null" or not host:
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    return parts.netloc == host.strip().lower()


def client_address(conn: HTTPConnection, config: WebConfig) -> str:
    if config.trust_forwarded_for:
        forwarded = conn.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return conn.client.host if conn.client else "unknown"


def plausible_session_id(session_id: str | None) -> bool:
    """Could this be an id the engine gave out? Anything else is unknown without asking the store."""
    return bool(session_id) and _SESSION_ID.match(session_id) is not None

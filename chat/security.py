"""Who may talk to the chat: WebSocket origin checks, agent/admin tokens, the client's address."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from fastapi import HTTPException, Request
from pydantic import SecretStr
from starlette.requests import HTTPConnection

from chat.config import ChatConfig


def origin_allowed(origin: str | None, host: str | None, config: ChatConfig) -> bool:
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


def client_address(conn: HTTPConnection, config: ChatConfig) -> str:
    if config.trust_forwarded_for:
        forwarded = conn.headers.get("x-forwarded-for")
        if forwarded:
            return forwarded.split(",")[0].strip()
    return conn.client.host if conn.client else "unknown"


def _secret(value: SecretStr | None) -> bytes | None:
    return value.get_secret_value().encode() if value and value.get_secret_value() else None


def token_role(token: str | None, config: ChatConfig) -> str | None:
    """"admin", "agent" or None; compared in constant time so timing says nothing about the token."""
    if not token:
        return None
    given = token.encode()
    role = None
    # Compare against both even after a match so the time taken does not depend on which one it is.
    for name, secret in (("admin", _secret(config.admin_token)), ("agent", _secret(config.agent_token))):
        if secret is not None and hmac.compare_digest(given, secret) and role is None:
            role = name
    return role


def bearer(conn: HTTPConnection) -> str | None:
    header = conn.headers.get("authorization") or ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def require_agent(config: ChatConfig):
    """A FastAPI dependency: the caller must present the agent (or admin) token as a Bearer token."""

    def check(request: Request) -> str:
        role = token_role(bearer(request), config)
        if role is None:
            raise HTTPException(
                401,
                "agent token required: send Authorization: Bearer <FRONTDESK_AGENT_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return role

    return check

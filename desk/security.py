"""The desk's sign-in: agent and admin tokens, compared in constant time, as a Bearer header or a
console's first frame."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Request
from pydantic import SecretStr
from starlette.requests import HTTPConnection

from desk.config import DeskConfig
from desk.web.json_api import ApiError


def _secret(value: SecretStr | None) -> bytes | None:
    return value.get_secret_value().encode() if value and value.get_secret_value() else None


def token_role(token: str | None, config: DeskConfig) -> str | None:
    """The role of `token`: "admin", "agent" or None, compared in constant time (timing tells nothing)."""
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


def require_agent(config: DeskConfig) -> Callable[[Request], str]:
    """A FastAPI dependency: the caller must present the agent (or admin) token as a Bearer token."""

    def check(request: Request) -> str:
        role = token_role(bearer(request), config)
        if role is None:
            raise ApiError(
                401,
                "unauthorized",
                "agent token required: send Authorization: Bearer <FRONTDESK_AGENT_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return role

    return check

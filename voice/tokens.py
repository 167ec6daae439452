"""Short-lived HMAC-signed tokens: who may open a media stream, and what a transfer whisper says.

A token is `base64url(json payload) . base64url(hmac-sha256)`. The payload carries an expiry and a
purpose, so a whisper token can never open a media stream and the reverse.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any


class TokenError(ValueError):
    """The token is malformed, forged, expired, already used, or meant for something else."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs and checks tokens with one secret; remembers used single-use tokens until they expire."""

    def __init__(self, secret: str, ttl_s: float) -> None:
        self._key = secret.encode("utf-8")
        self._ttl_s = ttl_s
        self._used: dict[str, float] = {}

    def sign(self, purpose: str, claims: dict[str, Any], *, ttl_s: float | None = None) -> str:
        payload = {
            **claims,
            "p": purpose,
            "exp": round(time.time() + (ttl_s if ttl_s is not None else self._ttl_s), 3),
            "n": secrets.token_urlsafe(9),
        }
        body = _b64(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str | None, purpose: str, *, single_use: bool = False) -> dict[str, Any]:
        if not token or token.count(".") != 1:
            raise TokenError("missing or malformed token")
        body, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(body)):
            raise TokenError("bad token signature")
        try:
            payload = json.loads(_unb64(body))
        except (ValueError, UnicodeDecodeError) as exc:
            raise TokenError("malformed token payload") from exc
        if not isinstance(payload, dict) or payload.get("p") != purpose:
            raise TokenError("token is not for this purpose")
        now = time.time()
        if not isinstance(payload.get("exp"), int | float) or payload["exp"] < now:
            raise TokenError("token expired")
        if single_use:
            self._forget_expired(now)
            nonce = str(payload.get("n"))
            if nonce in self._used:
                raise TokenError("token already used")
            self._used[nonce] = payload["exp"]
        return payload

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest())

    def _forget_expired(self, now: float) -> None:
        for nonce in [n for n, exp in self._used.items() if exp < now]:
            del self._used[nonce]

"""Twilio webhook authenticity: X-Twilio-Signature checked with twilio's RequestValidator.

The URL signed is the public address when one is configured (Twilio signs what it called), else
the URL as requested, rebuilt from X-Forwarded-Proto/Host when a proxy sits in front.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request
from twilio.request_validator import RequestValidator


def signed_url(request: Request, public_url: str | None) -> str:
    query = request.url.query
    suffix = request.url.path + (f"?{query}" if query else "")
    if public_url:
        return public_url + suffix
    proto = request.headers.get("x-forwarded-proto", request.url.scheme).split(",")[0].strip()
    host = request.headers.get("x-forwarded-host") or request.headers.get("host") or request.url.netloc
    return f"{proto}://{host.split(',')[0].strip()}{suffix}"


async def form_params(request: Request) -> dict[str, str]:
    """Twilio posts application/x-www-form-urlencoded; anything else carries no parameters."""
    if "application/x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return {}
    body = await request.body()
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError as exc:
        raise HTTPException(status_code=400, detail="form body is not UTF-8") from exc


async def require_twilio_signature(request: Request, auth_token: str | None, public_url: str | None) -> dict:
    """Return the form parameters; raise 403 when a token is configured and the signature is wrong or absent."""
    params = await form_params(request)
    if not auth_token:
        return params
    signature = request.headers.get("x-twilio-signature", "")
    if not signature or not RequestValidator(auth_token).validate(signed_url(request, public_url), params, signature):
        raise HTTPException(status_code=403, detail="invalid Twilio signature")
    return params

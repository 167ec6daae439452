"""JSON over HTTP, one way for every REST route of the application.

Bodies: a route declares its body as a pydantic model and is built with `JsonRoute`, which reads the
body before FastAPI validates it: at most `MAX_BODY_BYTES`, sent as `application/json` (a `+json`
type or parameters such as `; charset=utf-8` too; 415 otherwise), a JSON object in UTF-8 with no
lone surrogate escapes (400 otherwise). An empty body is no body: an optional one takes its default.

Errors: `install_json_api(app)` makes every refusal `{"detail": "...", "code": "..."}` in one place:
HTTP errors (an `ApiError` names its code; other statuses get one from their reason phrase), invalid
bodies (422 `bad_body`), unknown sessions (404 `unknown_session`) and rate limits (429 `rate_limited`
with Retry-After). An error nothing handled is logged with its traceback and answered 503
`unavailable` in the same shape.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.utils import is_body_allowed_for_status_code
from pydantic import BaseModel
from pydantic_core import from_json
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.web.metrics import REFUSED
from desk.web.ratelimit import RateLimited
from dialogue.api import UnknownSession

log = logging.getLogger("frontdesk.web")

MAX_BODY_BYTES = 64 * 1024
_UNREAD: Any = object()


class ApiError(HTTPException):
    """A refusal a client can act on, answered with `status_code` as `{"detail": message, "code": code}`."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, message, headers)
        self.code = code
        self.message = message


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    kind, _, subtype = media.partition("/")
    return kind == "application" and (subtype == "json" or subtype.endswith("+json"))


class _StrictJsonRequest(Request):
    """A request whose body is read up to `MAX_BODY_BYTES` and parsed as strict JSON (FastAPI reads the
    body through `body()` and `json()`)."""

    _received: bytes | None = None
    _parsed: Any = _UNREAD

    async def body(self) -> bytes:
        if self._received is None:
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_BODY_BYTES:
                    raise _too_large()
                chunks.append(chunk)
            raw = b"".join(chunks)
            # Only whitespace is no body, as an empty one is.
            self._received = raw if raw.strip() else b""
        return self._received

    async def json(self) -> Any:
        if self._parsed is _UNREAD:
            try:
                # pydantic's parser, unlike the standard library's, refuses lone surrogates (text no
                # encoder can write) and invalid UTF-8, and has a nesting limit instead of a stack overflow.
                data = from_json(await self.body(), allow_inf_nan=False)
            except ValueError as exc:
                raise ApiError(400, "bad_body", f"the body must be a JSON object in UTF-8: {exc}") from None
            if not isinstance(data, dict):
                raise ApiError(400, "bad_body", "the body must be a JSON object")
            self._parsed = data
        return self._parsed


def _too_large() -> ApiError:
    return ApiError(413, "too_large", f"request bodies are limited to {MAX_BODY_BYTES} bytes")


class Refusal(BaseModel):
    """Every refusal: what was wrong, in words for a person and as a code for a program."""

    detail: str
    code: str


class JsonRoute(APIRoute):
    """A route whose body, when it declares one, must be a JSON object sent as application/json; its
    refusals are documented as what they are (in the place of FastAPI's own validation error shape)."""

    def __init__(
        self, path: str, endpoint: Callable[..., Any], *, responses: dict[int | str, Any] | None = None, **kw: Any
    ) -> None:
        refused = {"4XX": {"model": Refusal, "description": "Refused: `detail` says why, `code` names it"}}
        super().__init__(path, endpoint, responses={**refused, **(responses or {})}, **kw)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if self.body_field is None:
            return handler

        async def strict_json(request: Request) -> Response:
            request = _StrictJsonRequest(request.scope, request.receive)
            # A body in another type may be a form a foreign page posted without a CORS preflight.
            if await request.body() and not _is_json(request.headers.get("content-type")):
                raise ApiError(415, "unsupported_media_type", "send the body as JSON: Content-Type: application/json")
            return await handler(request)

        return strict_json


# ---------------------------------------------------------------- one error shape


def _refusal(status: int, code: str, detail: Any, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status, headers=headers)


def _code_for(status: int) -> str:
    try:
        return HTTPStatus(status).phrase.lower().replace(" ", "_").replace("-", "_")
    except ValueError:
        return f"http_{status}"


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if not is_body_allowed_for_status_code(exc.status_code):
        return Response(status_code=exc.status_code, headers=exc.headers)
    if isinstance(exc, ApiError):
        REFUSED.labels(exc.code).inc()
        return _refusal(exc.status_code, exc.code, exc.detail, exc.headers)
    return _refusal(exc.status_code, _code_for(exc.status_code), exc.detail, exc.headers)


async def _invalid_body(request: Request, exc: RequestValidationError) -> Response:
    REFUSED.labels("bad_body").inc()
    problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
    return _refusal(422, "bad_body", problems or "the request is not valid")


async def _unknown_session(request: Request, exc: UnknownSession) -> Response:
    return _refusal(404, "unknown_session", "no conversation has this id")


async def _rate_limited(request: Request, exc: RateLimited) -> Response:
    return _refusal(429, "rate_limited", exc.message, {"Retry-After": str(max(1, round(exc.retry_after)))})


class _UnexpectedErrors:
    """An error no handler took: logged with its traceback, answered 503 in the same shape (before any
    byte of a response went out; after that the connection can only be dropped)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("%s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            answer = _refusal(503, "unavailable", "something went wrong on our side; try again")
            await answer(scope, receive, send)


def install_json_api(app: FastAPI) -> None:
    """Register the error handling above on `app` (before it serves its first request)."""
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid_body)
    app.add_exception_handler(UnknownSession, _unknown_session)
    app.add_exception_handler(RateLimited, _rate_limited)
    app.add_middleware(_UnexpectedErrors)

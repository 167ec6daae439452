"""The FastAPI application: one process serving the web chat, the agent desk, the Twilio phone
endpoints and the APIs, over one back office and one dialogue engine.

The composition root: the desk is built over the engine, the chat over the desk, the phone line over
the engine; every REST route answers refusals in one JSON shape (`desk.web.json_api`)."""

from __future__ import annotations

import hmac
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from actions.faults import FaultRule, parse_rules
from chat.config import ChatConfig
from chat.cors import WidgetCORS
from chat.routes import build_router as chat_router
from desk.config import DeskConfig
from desk.routes import build_router as desk_router
from desk.web.json_api import ApiError, JsonRoute, install_json_api
from frontdesk.heap import settle_after_startup
from frontdesk.runtime import Runtime
from frontdesk.settings import Settings
from voice.config import VoiceConfig
from voice.routes import build_router as voice_router

_bearer = HTTPBearer(auto_error=False)


class FaultRequest(BaseModel):
    """Rules in the compact syntax (`crm:error,billing.change_plan:timeout:x2`) or as objects."""

    spec: str | None = Field(default=None, max_length=2000)
    rules: list[FaultRule] = Field(default_factory=list, max_length=50)


def voice_config(settings: Settings) -> VoiceConfig:
    values = {
        "public_url": settings.public_url,
        "twilio_account_sid": settings.twilio_account_sid,
        "twilio_auth_token": settings.twilio_auth_token,
        "twilio_api_url": settings.twilio_api_url,
        "handoff_number": settings.handoff_number,
        "deepgram_api_key": settings.deepgram_api_key,
        "deepgram_url": settings.deepgram_url,
        "multilingual": settings.multilingual_stt,
        "languages": settings.languages,
        "recordings_dir": settings.data_dir / "calls" if settings.record_calls else None,
    }
    if settings.stream_token_secret is not None:
        values["stream_token_secret"] = settings.stream_token_secret
    return VoiceConfig(**{k: v for k, v in values.items() if v is not None})


def create_app(settings: Settings | None = None, *, long_running: bool = False) -> FastAPI:
    """The app over `settings`; `long_running` for the server process itself (`frontdesk serve`), whose
    heap is settled once start-up is done (see `frontdesk.heap`)."""
    settings = settings or Settings()
    settings.ensure_tokens()
    runtime = Runtime(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await runtime.open()
        # Speech models load in the background now, so the first call does not wait for them.
        voice.voice.warm_up()
        if long_running:
            settle_after_startup()
        try:
            yield
        finally:
            await runtime.close()

    app = FastAPI(title="Frontdesk", version="0.1.0", lifespan=lifespan)
    install_json_api(app)
    app.state.settings = settings
    app.state.runtime = runtime
    app.state.backoffice = runtime.backoffice
    app.state.engine = runtime.engine

    def require_admin(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        expected = settings.admin_token.get_secret_value() if settings.admin_token else ""
        given = creds.credentials if creds else ""
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise ApiError(
                401,
                "unauthorized",
                "admin token required: send Authorization: Bearer <FRONTDESK_ADMIN_TOKEN>",
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        return {"status": "ok", "systems": request.app.state.backoffice.gateway.health()}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    admin = APIRouter(prefix="/api", dependencies=[Depends(require_admin)], route_class=JsonRoute)

    @admin.get("/backoffice/export")
    async def export_backoffice(request: Request) -> dict:
        return await request.app.state.backoffice.export_data()

    @admin.get("/admin/faults")
    async def list_faults(request: Request) -> dict:
        return {"rules": [r.model_dump() for r in request.app.state.backoffice.faults.rules]}

    @admin.post("/admin/faults")
    async def add_faults(request: Request, body: FaultRequest) -> dict:
        """Make systems fail on purpose (drills, QA, resilience tests): error, timeout, slow, lost response."""
        try:
            rules = [*parse_rules(body.spec), *body.rules]
        except ValueError as exc:
            raise ApiError(422, "bad_body", str(exc)) from None
        request.app.state.backoffice.faults.add(*rules)
        return {"added": len(rules), "rules": [r.model_dump() for r in request.app.state.backoffice.faults.rules]}

    @admin.delete("/admin/faults")
    async def clear_faults(request: Request) -> dict:
        backoffice = request.app.state.backoffice
        backoffice.faults.clear()
        for breaker in backoffice.gateway.breakers.values():
            breaker.reset()
        return {"rules": []}

    app.include_router(admin)
    voice = voice_router(runtime.engine, voice_config(settings))
    app.include_router(voice)
    desk = desk_router(runtime.engine, DeskConfig.model_validate(settings, from_attributes=True))
    app.include_router(desk)
    chat_config = ChatConfig.model_validate(settings, from_attributes=True)
    chat = chat_router(runtime.engine, chat_config, desk.desk)
    app.include_router(chat)
    app.add_middleware(WidgetCORS, config=chat_config)
    app.state.voice = voice.voice
    app.state.desk = desk.desk
    app.state.chat = chat.chat
    return app

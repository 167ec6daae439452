"""The FastAPI application: builds the back office and mounts the channels' routers."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import PlainTextResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from actions.backoffice import Backoffice
from frontdesk.settings import Settings

_bearer = HTTPBearer(auto_error=False)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.ensure_tokens()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        backoffice = Backoffice(
            settings.resolved_db_url(),
            faults=settings.faults,
            timeout_s=settings.system_timeout_s,
        )
        await backoffice.open()
        if settings.data:
            await backoffice.import_file(Path(settings.data))
        app.state.backoffice = backoffice
        try:
            yield
        finally:
            await backoffice.close()

    app = FastAPI(title="Frontdesk", version="0.1.0", lifespan=lifespan)
    app.state.settings = settings

    def require_admin(creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:
        expected = settings.admin_token.get_secret_value() if settings.admin_token else None
        if not creds or not expected or creds.credentials != expected:
            raise HTTPException(401, "admin token required: send Authorization: Bearer <FRONTDESK_ADMIN_TOKEN>")

    @app.get("/healthz")
    async def healthz(request: Request) -> dict:
        bo: Backoffice = request.app.state.backoffice
        return {"status": "ok", "systems": bo.gateway.health()}

    @app.get("/metrics")
    async def metrics() -> PlainTextResponse:
        return PlainTextResponse(generate_latest().decode(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/backoffice/export", dependencies=[Depends(require_admin)])
    async def export_backoffice(request: Request) -> dict:
        return await request.app.state.backoffice.export_data()

    return app

"""The agent console's page at `/agent` and its script and styles under `/chat/static/`. The page is
the same sign-in form with or without a token: the data only ever comes over `/agent/ws`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from desk.config import DeskConfig
from desk.web.static import Asset, content_policy, load_asset, serve_asset

STATIC_FILES = ("agent.css", "agent.js")


def pages_router(config: DeskConfig) -> APIRouter:
    router = APIRouter(include_in_schema=False)
    page = load_asset("agent.html")
    # The console holds customer data: no other site may frame it.
    policy = content_policy(config.public_url, embeddable=False)

    @router.api_route("/agent", methods=["GET", "HEAD"])
    async def agent_page(request: Request) -> Response:
        return serve_asset(request, page, policy)

    for name in STATIC_FILES:
        router.add_api_route(f"/chat/static/{name}", _static(load_asset(name)), methods=["GET", "HEAD"])
    return router


def _static(asset: Asset):
    async def static_file(request: Request) -> Response:
        return serve_asset(request, asset)

    return static_file

"""`/agent/api/...`: the agent console's REST API (Bearer agent or admin token). Bodies are typed and
read strictly (`desk.web.json_api`); a refusal is a 4xx with `{"detail", "code"}`."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from desk.frames import AgentBody, ApprovalsFrame, Conversation, DecideBody, Done, QueueFrame, ReplyBody
from desk.security import require_agent
from desk.service import AgentDesk, agent_name
from desk.web.json_api import JsonRoute


def api_router(desk: AgentDesk) -> APIRouter:
    router = APIRouter(
        prefix="/agent/api",
        tags=["agent"],
        dependencies=[Depends(require_agent(desk.config))],
        route_class=JsonRoute,
    )

    @router.get("/queue")
    async def queue() -> QueueFrame:
        return await desk.queue()

    @router.get("/approvals")
    async def approvals() -> ApprovalsFrame:
        return await desk.approvals()

    @router.get("/sessions/{session_id}")
    async def conversation(session_id: str) -> Conversation:
        return await desk.conversation(session_id)

    @router.post("/sessions/{session_id}/take")
    async def take(session_id: str, body: AgentBody | None = None) -> Done:
        return await desk.take(session_id, agent_name(body.agent if body else None))

    @router.post("/sessions/{session_id}/messages")
    async def reply(session_id: str, body: ReplyBody) -> Done:
        return await desk.reply(session_id, agent_name(body.agent), body.text)

    @router.post("/sessions/{session_id}/hand_back")
    async def hand_back(session_id: str, body: AgentBody | None = None) -> Done:
        return await desk.hand_back(session_id, agent_name(body.agent if body else None))

    @router.post("/sessions/{session_id}/close")
    async def close(session_id: str, body: AgentBody | None = None) -> Done:
        return await desk.close(session_id, agent_name(body.agent if body else None))

    @router.post("/approvals/{approval_id}")
    async def decide(approval_id: str, body: DecideBody) -> Done:
        return await desk.decide(approval_id, approve=body.approve, agent=agent_name(body.agent), note=body.note)

    return router

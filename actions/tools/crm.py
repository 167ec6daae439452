"""Helpdesk tools: the customer's cases, and the hand-off tickets a person takes a conversation over with.

create_handoff_ticket writes without asking the customer (a hand-off is never a risk to them), so
its risk is `routine`; it is still a governed write, verified by reading the ticket back and
checked again by reconcile. Taking and closing a ticket are for support agents only.
"""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from actions import postconditions as post
from actions.errors import AccessDenied
from actions.governance import ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass, utcnow
from actions.systems import crm as store
from actions.tools.common import UserArgs, expect, owner_is_user_arg, require_acting_for

SYSTEM = store.SYSTEM


class CaseRef(BaseModel):
    case_id: str = Field(min_length=1, max_length=40)


class TicketRef(BaseModel):
    ticket_id: str = Field(min_length=1, max_length=40)


class CaseList(BaseModel):
    cases: list[store.Case]


class HandoffTicketArgs(BaseModel):
    reason: str = Field(min_length=1, max_length=300, description="why a person is needed")
    summary: dict[str, Any] = Field(description="the structured hand-off summary (a JSON document)")
    channel: Literal["chat", "voice", "terminal", "replay", "rest"] = "chat"
    session_id: str | None = Field(default=None, max_length=120)
    user_id: str | None = Field(default=None, max_length=80, description="the customer, when they were identified")
    priority: Literal["normal", "high"] = "normal"

    @field_validator("summary")
    @classmethod
    def _json_document(cls, v: dict[str, Any]) -> dict[str, Any]:
        store.check_summary(v)
        return v


class AgentTicketArgs(TicketRef):
    agent: str = Field(min_length=1, max_length=120, description="the support agent's name or id")


# ------------------------------------------------------------------ reads


async def _list_cases(env: ToolEnv, conn, args: UserArgs, ctx: CallContext) -> CaseList:
    return CaseList(cases=await store.list_cases(conn, args.user_id))


async def _get_case(env: ToolEnv, conn, args: CaseRef, ctx: CallContext) -> store.CaseDetail:
    return await store.get_case(conn, args.case_id)


async def _get_ticket(env: ToolEnv, conn, args: TicketRef, ctx: CallContext) -> store.Ticket:
    return await store.get_ticket(conn, args.ticket_id)


async def _case_owner(conn, args: CaseRef) -> str | None:
    return await store.case_owner(conn, args.case_id)


async def _ticket_owner(conn, args: TicketRef) -> str | None:
    return await store.ticket_owner(conn, args.ticket_id)


# ------------------------------------------------------------------ tickets


async def _create_ticket(env: ToolEnv, conn, args: HandoffTicketArgs, ctx: CallContext) -> store.Ticket:
    require_acting_for(ctx, args.user_id)
    if ctx.actor.kind == "customer" and args.user_id and not ctx.actor.user_id:
        raise AccessDenied("a ticket names a customer only once they proved who they are", code="not_owner")
    now = utcnow()
    return await store.create_ticket(
        conn,
        store.Ticket(
            ticket_id="TK-" + secrets.token_hex(5).upper(),
            user_id=args.user_id,
            session_id=args.session_id,
            channel=args.channel,
            reason=args.reason,
            priority=args.priority,
            summary=args.summary,
            created_at=now,
            updated_at=now,
        ),
    )


async def _verify_created(env: ToolEnv, conn, args: HandoffTicketArgs, out: store.Ticket):
    checks: list[str] = []
    ticket = await store.get_ticket(conn, out.ticket_id)
    expect(ticket.summary == args.summary, f"ticket {ticket.ticket_id} holds the hand-off summary", checks)
    expect(
        ticket.user_id == args.user_id,
        f"ticket {ticket.ticket_id} is for {args.user_id or 'an unknown caller'}",
        checks,
    )
    return checks, {"ticket_id": ticket.ticket_id, "status": ticket.status}


def _agents_only(ctx: CallContext) -> None:
    if ctx.actor.kind == "customer":
        raise AccessDenied("only a support agent can take or close a hand-off ticket", code="agents_only")


async def _take(env: ToolEnv, conn, args: AgentTicketArgs, ctx: CallContext) -> store.Ticket:
    _agents_only(ctx)
    return await store.take_ticket(conn, args.ticket_id, args.agent)


async def _verify_taken(env: ToolEnv, conn, args: AgentTicketArgs, out: store.Ticket):
    checks: list[str] = []
    ticket = await store.get_ticket(conn, args.ticket_id)
    expect(
        ticket.status == "taken" and ticket.agent == args.agent,
        f"ticket {ticket.ticket_id} is with {args.agent}",
        checks,
    )
    return checks, {"ticket_id": ticket.ticket_id, "status": ticket.status, "agent": ticket.agent}


async def _close(env: ToolEnv, conn, args: AgentTicketArgs, ctx: CallContext) -> store.Ticket:
    _agents_only(ctx)
    return await store.close_ticket(conn, args.ticket_id, args.agent)


async def _verify_closed(env: ToolEnv, conn, args: AgentTicketArgs, out: store.Ticket):
    checks: list[str] = []
    ticket = await store.get_ticket(conn, args.ticket_id)
    expect(ticket.status == "closed", f"ticket {ticket.ticket_id} is closed", checks)
    return checks, {"ticket_id": ticket.ticket_id, "status": ticket.status}


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "list_cases",
            "The customer's support cases.",
            SYSTEM,
            UserArgs,
            CaseList,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_list_cases,
            owner=owner_is_user_arg,
        ),
        ToolSpec(
            "get_case",
            "One of the customer's support cases, with its notes.",
            SYSTEM,
            CaseRef,
            store.CaseDetail,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_get_case,
            owner=_case_owner,
        ),
        ToolSpec(
            "get_ticket",
            "A hand-off ticket: its status, the agent who took it and the summary.",
            SYSTEM,
            TicketRef,
            store.Ticket,
            write=False,
            identity=IdentityLevel.basic,
            risk=RiskClass.read,
            run=_get_ticket,
            owner=_ticket_owner,
        ),
        ToolSpec(
            "create_handoff_ticket",
            "Hand the conversation to a person: a helpdesk ticket with the structured summary.",
            SYSTEM,
            HandoffTicketArgs,
            store.Ticket,
            write=True,
            identity=IdentityLevel.none,
            risk=RiskClass.routine,
            run=_create_ticket,
            verify=_verify_created,
            confirmation_prefix="TK",
            reconcile=post.ticket_state("open", "taken", "closed"),
        ),
        ToolSpec(
            "take_handoff_ticket",
            "A support agent takes an open hand-off ticket.",
            SYSTEM,
            AgentTicketArgs,
            store.Ticket,
            write=True,
            identity=IdentityLevel.none,
            risk=RiskClass.routine,
            run=_take,
            verify=_verify_taken,
            confirmation_prefix="TT",
            reconcile=post.ticket_state("taken", "closed"),
        ),
        ToolSpec(
            "close_handoff_ticket",
            "A support agent closes a hand-off ticket.",
            SYSTEM,
            AgentTicketArgs,
            store.Ticket,
            write=True,
            identity=IdentityLevel.none,
            risk=RiskClass.routine,
            run=_close,
            verify=_verify_closed,
            confirmation_prefix="TC",
            reconcile=post.ticket_state("closed"),
        ),
    ]

"""The approval queue: high-risk calls wait here until a person approves or denies them.

An approval names one tool and one exact set of arguments; the runner accepts it only for that
call, so an approval for a $120 refund cannot be reused for a $900 one.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime, String, Table, insert, select, update

from actions.db import Database, metadata
from actions.errors import Conflict, NotFound
from actions.idempotency import request_hash
from actions.models import utcnow

approvals = Table(
    "approvals",
    metadata,
    Column("approval_id", String(40), primary_key=True),
    Column("tool", String(80), nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("args_hash", String(64), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("reason", String(500), nullable=False),
    Column("requested_by", JSON, nullable=False),
    Column("session_id", String(80), index=True),
    Column("decided_by", String(120)),
    Column("note", String(1000)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("decided_at", DateTime(timezone=True)),
)

ApprovalStatus = Literal["pending", "approved", "denied"]


class Approval(BaseModel):
    approval_id: str
    tool: str
    arguments: dict[str, Any]
    args_hash: str
    status: ApprovalStatus
    reason: str
    requested_by: dict[str, Any]
    session_id: str | None = None
    decided_by: str | None = None
    note: str | None = None
    created_at: datetime
    decided_at: datetime | None = None


async def request(
    db: Database, tool: str, arguments: dict[str, Any], *, reason: str, requested_by: dict, session_id: str | None
) -> Approval:
    approval = Approval(
        approval_id="AP-" + secrets.token_hex(5).upper(),
        tool=tool,
        arguments=arguments,
        args_hash=request_hash(tool, arguments),
        status="pending",
        reason=reason,
        requested_by=requested_by,
        session_id=session_id,
        created_at=utcnow(),
    )
    async with db.write() as conn:
        await conn.execute(insert(approvals).values(**approval.model_dump()))
    return approval


async def get(db: Database, approval_id: str) -> Approval:
    async with db.read() as conn:
        row = (await conn.execute(select(approvals).where(approvals.c.approval_id == approval_id))).mappings().first()
    if row is None:
        raise NotFound(f"no approval {approval_id!r}", code="approval_not_found")
    return Approval.model_validate(dict(row))


async def decide(db: Database, approval_id: str, *, approve: bool, by: str, note: str | None = None) -> Approval:
    async with db.write() as conn:
        res = await conn.execute(
            update(approvals)
            .where(approvals.c.approval_id == approval_id, approvals.c.status == "pending")
            .values(status="approved" if approve else "denied", decided_by=by, note=note, decided_at=utcnow())
        )
        if res.rowcount != 1:
            exists = (
                await conn.execute(select(approvals.c.status).where(approvals.c.approval_id == approval_id))
            ).scalar()
            if exists is None:
                raise NotFound(f"no approval {approval_id!r}", code="approval_not_found")
            raise Conflict(f"approval {approval_id} was already {exists}", code="approval_decided")
    return await get(db, approval_id)


async def pending(db: Database) -> list[Approval]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    select(approvals).where(approvals.c.status == "pending").order_by(approvals.c.created_at)
                )
            )
            .mappings()
            .all()
        )
    return [Approval.model_validate(dict(r)) for r in rows]


async def all_approvals(db: Database) -> list[Approval]:
    async with db.read() as conn:
        rows = (await conn.execute(select(approvals).order_by(approvals.c.created_at))).mappings().all()
    return [Approval.model_validate(dict(r)) for r in rows]

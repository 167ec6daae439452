"""The audit log: one entry per governed tool call, with its arguments, actor, result and evidence."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, String, Table, insert, select

from actions.db import Database, metadata
from actions.models import utcnow

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("tool", String(80), nullable=False, index=True),
    Column("write", Boolean, nullable=False),
    Column("risk", String(20), nullable=False),
    Column("actor", JSON, nullable=False),
    Column("arguments", JSON, nullable=False),
    Column("idempotency_key", String(200), index=True),
    Column("workflow_id", String(64), index=True),
    Column("status", String(40), nullable=False),
    Column("verified", Boolean, nullable=False, default=False),
    Column("result", JSON),
    Column("verification", JSON),
    Column("error", JSON),
    Column("timings", JSON),
    Column("duration_ms", Float),
)


class AuditEntry(BaseModel):
    id: int | None = None
    at: datetime = Field(default_factory=utcnow)
    tool: str
    write: bool
    risk: str
    actor: dict[str, Any]
    arguments: dict[str, Any]
    idempotency_key: str | None = None
    workflow_id: str | None = None
    status: str
    verified: bool = False
    result: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    duration_ms: float = 0.0


async def record(db: Database, entry: AuditEntry) -> int:
    values = entry.model_dump(exclude={"id"}, mode="json")
    values["at"] = entry.at
    async with db.write() as conn:
        res = await conn.execute(insert(audit_log).values(**values))
        return int(res.inserted_primary_key[0])


async def entries(db: Database, *, tool: str | None = None, writes_only: bool = False) -> list[AuditEntry]:
    stmt = select(audit_log).order_by(audit_log.c.id)
    if tool:
        stmt = stmt.where(audit_log.c.tool == tool)
    if writes_only:
        stmt = stmt.where(audit_log.c.write.is_(True))
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [AuditEntry.model_validate(dict(r)) for r in rows]

"""The audit log: one entry per governed tool call, with its arguments, actor, result and evidence."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Boolean, Column, DateTime, Float, Integer, String, Table, insert, select

from actions.db import BatchedInserts, Database, metadata
from actions.models import RiskClass, utcnow

log = logging.getLogger(__name__)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("call_id", String(40), index=True),
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
    call_id: str | None = None
    tool: str
    write: bool
    risk: RiskClass
    actor: dict[str, Any]
    arguments: dict[str, Any]
    idempotency_key: str | None = None
    # A saga's call: the saga's id; any other call: the conversation's session id, when there is one.
    # Named, like its column and its key in the export, before sagas and sessions had their own words.
    workflow_id: str | None = None
    status: str
    verified: bool = False
    result: dict[str, Any] | None = None
    verification: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    timings: dict[str, float] = Field(default_factory=dict)
    duration_ms: float = 0.0


def _values(entry: AuditEntry) -> dict[str, Any]:
    values = entry.model_dump(exclude={"id"}, mode="json")
    values["at"] = entry.at
    return values


_INSERT = insert(audit_log)


async def record(db: Database, entry: AuditEntry) -> int:
    """Write one entry now, in its own transaction (used for writes: their audit must be durable)."""
    async with db.write() as conn:
        res = await conn.execute(_INSERT, _values(entry))
        return int(res.inserted_primary_key[0])


class BatchedAudit(BatchedInserts):
    """Audit entries of reads: a read's entry need not have its own transaction before the customer
    hears the answer. Anything that queries the log (`entries`) flushes first."""

    def __init__(self, db: Database):
        super().__init__(db, audit_log)
        _WRITERS[id(db)] = self

    def add(self, entry: AuditEntry) -> None:  # type: ignore[override]
        super().add(_values(entry))

    async def close(self) -> None:
        await super().close()
        _WRITERS.pop(id(self.db), None)


_WRITERS: dict[int, BatchedAudit] = {}


async def entries(db: Database, *, tool: str | None = None, writes_only: bool = False) -> list[AuditEntry]:
    writer = _WRITERS.get(id(db))
    if writer is not None:
        await writer.flush()
    stmt = select(audit_log).order_by(audit_log.c.id)
    if tool:
        stmt = stmt.where(audit_log.c.tool == tool)
    if writes_only:
        stmt = stmt.where(audit_log.c.write.is_(True))
    async with db.read() as conn:
        rows = (await conn.execute(stmt)).mappings().all()
    return [AuditEntry.model_validate(dict(r)) for r in rows]

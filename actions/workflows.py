"""Records of multi-system workflows (sagas): which steps ran, how each ended, the final status.

A workflow row is written before its first step and after every step, so a crash leaves a
`running` record that a resume (same idempotency key) continues and `reconcile` reports.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, DateTime, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import Database, metadata
from actions.models import StepRecord, utcnow

workflows = Table(
    "workflows",
    metadata,
    Column("workflow_id", String(64), primary_key=True),
    Column("kind", String(80), nullable=False),
    Column("idempotency_key", String(200), nullable=False, unique=True),
    Column("status", String(40), nullable=False, index=True),
    Column("user_id", String(80), index=True),
    Column("arguments", JSON, nullable=False),
    Column("steps", JSON, nullable=False),
    Column("result", JSON),
    Column("reason", String(1000)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

WorkflowStatus = Literal["running", "completed", "compensated", "needs_reconciliation"]


class WorkflowRecord(BaseModel):
    workflow_id: str
    kind: str
    idempotency_key: str
    status: WorkflowStatus
    user_id: str | None = None
    arguments: dict[str, Any]
    steps: list[StepRecord] = Field(default_factory=list)
    result: dict[str, Any] | None = None
    reason: str | None = None
    created_at: datetime
    updated_at: datetime


async def by_key(conn: AsyncConnection, key: str) -> WorkflowRecord | None:
    row = (await conn.execute(select(workflows).where(workflows.c.idempotency_key == key))).mappings().first()
    return WorkflowRecord.model_validate(dict(row)) if row else None


async def create(conn: AsyncConnection, record: WorkflowRecord) -> None:
    await conn.execute(insert(workflows).values(**record.model_dump(mode="json") | _dates(record)))


async def save(db: Database, record: WorkflowRecord) -> None:
    record.updated_at = utcnow()
    values = record.model_dump(mode="json", exclude={"workflow_id", "created_at"})
    values["updated_at"] = record.updated_at
    async with db.write() as conn:
        await conn.execute(update(workflows).where(workflows.c.workflow_id == record.workflow_id).values(**values))


async def flagged(db: Database) -> list[WorkflowRecord]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    select(workflows)
                    .where(workflows.c.status.in_(("needs_reconciliation", "running")))
                    .order_by(workflows.c.created_at)
                )
            )
            .mappings()
            .all()
        )
    return [WorkflowRecord.model_validate(dict(r)) for r in rows]


async def all_records(db: Database) -> list[WorkflowRecord]:
    async with db.read() as conn:
        rows = (await conn.execute(select(workflows).order_by(workflows.c.created_at))).mappings().all()
    return [WorkflowRecord.model_validate(dict(r)) for r in rows]


def _dates(record: WorkflowRecord) -> dict[str, datetime]:
    return {"created_at": record.created_at, "updated_at": record.updated_at}

"""Records of sagas (writes across several systems): which stages ran, how each ended, the final status.

A saga's row is written before its first stage and after every stage, so a crash leaves a
`running` record that a resume (same idempotency key) continues and `reconcile` reports.

The table, its columns and the record's fields keep the names they were first stored under
("workflows", "workflow_id", "steps"): databases already hold them and the export's
`workflows` key, which outside tools read, carries the records field by field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Column, DateTime, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import Database, metadata
from actions.models import StageRecord, utcnow

sagas = Table(
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

SagaStatus = Literal["running", "completed", "compensated", "needs_reconciliation"]


class SagaRecord(BaseModel):
    workflow_id: str  # the saga's id
    kind: str  # the tool the saga carries out
    idempotency_key: str
    status: SagaStatus
    user_id: str | None = None
    arguments: dict[str, Any]
    steps: list[StageRecord] = Field(default_factory=list)  # its stages, as each ended
    result: dict[str, Any] | None = None
    reason: str | None = None
    created_at: datetime
    updated_at: datetime


async def by_key(conn: AsyncConnection, key: str) -> SagaRecord | None:
    row = (await conn.execute(select(sagas).where(sagas.c.idempotency_key == key))).mappings().first()
    return SagaRecord.model_validate(dict(row)) if row else None


async def create(conn: AsyncConnection, record: SagaRecord) -> None:
    await conn.execute(insert(sagas).values(**record.model_dump(mode="json") | _dates(record)))


async def save(db: Database, record: SagaRecord) -> None:
    record.updated_at = utcnow()
    values = record.model_dump(mode="json", exclude={"workflow_id", "created_at"})
    values["updated_at"] = record.updated_at
    async with db.write() as conn:
        await conn.execute(update(sagas).where(sagas.c.workflow_id == record.workflow_id).values(**values))


async def flagged(db: Database) -> list[SagaRecord]:
    async with db.read() as conn:
        rows = (
            (
                await conn.execute(
                    select(sagas)
                    .where(sagas.c.status.in_(("needs_reconciliation", "running")))
                    .order_by(sagas.c.created_at)
                )
            )
            .mappings()
            .all()
        )
    return [SagaRecord.model_validate(dict(r)) for r in rows]


async def all_records(db: Database) -> list[SagaRecord]:
    async with db.read() as conn:
        rows = (await conn.execute(select(sagas).order_by(sagas.c.created_at))).mappings().all()
    return [SagaRecord.model_validate(dict(r)) for r in rows]


def _dates(record: SagaRecord) -> dict[str, datetime]:
    return {"created_at": record.created_at, "updated_at": record.updated_at}

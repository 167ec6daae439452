"""Import and export of what governance keeps: approvals, saga records, the audit log, idempotency keys.

They travel with the systems' data so that an exported back office, imported elsewhere, still
answers a repeated request with its first result and can still be reconciled.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.approvals import Approval, approvals
from actions.audit import AuditEntry, audit_log
from actions.idempotency import idempotency_keys
from actions.sagas import SagaRecord, sagas
from actions.systems.records import UtcDatetime, insert_all, records

# The runner's own records, reached through the gateway like a system (fault rules, breaker, /healthz).
SYSTEM = "governance"
# "workflows" holds the saga records: the export shape named them so, and outside tools read it.
EXPORT_KEYS = ("approvals", "workflows", "audit_log", "idempotency_keys")


class IdempotencyRecord(BaseModel):
    key: str
    tool: str
    request_hash: str
    result: dict[str, Any]
    created_at: UtcDatetime


def _dated(model: BaseModel) -> dict[str, Any]:
    # Python mode keeps datetimes as datetimes for the DateTime columns; JSON columns get JSON values.
    values = model.model_dump(mode="json")
    for name, value in model:
        if isinstance(value, datetime):
            values[name] = value if value.tzinfo else value.replace(tzinfo=UTC)
    return values


def _exported(model: BaseModel) -> dict[str, Any]:
    # SQLite hands timestamps back without a zone; they are UTC, and the export says so on every backend.
    naive = {
        name: value.replace(tzinfo=UTC) for name, value in model if isinstance(value, datetime) and not value.tzinfo
    }
    return model.model_copy(update=naive).model_dump(mode="json")


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    appr = [Approval.model_validate(v | {"approval_id": k}) for k, v in (data.get("approvals") or {}).items()]
    saga_records = [SagaRecord.model_validate(v | {"workflow_id": k}) for k, v in (data.get("workflows") or {}).items()]
    entries = [AuditEntry.model_validate(v) for v in data.get("audit_log") or []]
    keys = [IdempotencyRecord.model_validate(v | {"key": k}) for k, v in (data.get("idempotency_keys") or {}).items()]
    await insert_all(conn, approvals, [_dated(a) for a in appr])
    await insert_all(conn, sagas, [_dated(w) for w in saga_records])
    await insert_all(conn, audit_log, [_dated(e) for e in entries])
    await insert_all(conn, idempotency_keys, [_dated(k) for k in keys])
    if entries and conn.dialect.name == "postgresql":
        # Explicit ids do not move the sequence: later entries must continue after the imported ones.
        top = (await conn.execute(select(func.max(audit_log.c.id)))).scalar()
        await conn.execute(text("SELECT setval(pg_get_serial_sequence('audit_log', 'id'), :top)"), {"top": top})
    return {"audit_log": len(entries), "workflows": len(saga_records)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    appr = records(Approval, (await conn.execute(select(approvals).order_by(approvals.c.approval_id))).all())
    saga_records = records(SagaRecord, (await conn.execute(select(sagas).order_by(sagas.c.workflow_id))).all())
    entries = records(AuditEntry, (await conn.execute(select(audit_log).order_by(audit_log.c.id))).all())
    keys = records(
        IdempotencyRecord, (await conn.execute(select(idempotency_keys).order_by(idempotency_keys.c.key))).all()
    )
    return {
        "approvals": {a.approval_id: _exported(a) for a in appr},
        "workflows": {w.workflow_id: _exported(w) for w in saga_records},
        "audit_log": [_exported(e) for e in entries],
        "idempotency_keys": {k.key: _exported(k) for k in keys},
    }

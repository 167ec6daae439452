"""Payments ledger: the refunds money actually moved for, and their reversals.

A refund to a gift card settles at once; every other method settles in 5-7 business days, so
its ledger entry stays `pending` until then. A reversal never deletes the entry: it marks it
`reversed` with a reason, so the ledger always shows what was done and undone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import Column, DateTime, Float, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import Conflict, InvalidArguments, NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import (
    UtcDatetime,
    cents,
    insert_all,
    record,
    records,
    row_values,
)

SYSTEM = "payments"
EXPORT_KEY = "payments_ledger"

SETTLES_NOW = "immediately"
SETTLES_LATER = "5-7 business days"

refunds = Table(
    "payments_refunds",
    metadata,
    Column("refund_id", String(40), primary_key=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("amount", Float, nullable=False),
    Column("payment_method_id", String(80), nullable=False),
    Column("method_kind", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("settles", String(40), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("reference", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("reversed_at", DateTime(timezone=True)),
    Column("reversal_reason", String(300)),
)

RefundStatus = Literal["settled", "pending", "reversed"]


class Refund(BaseModel):
    refund_id: str
    order_id: str
    user_id: str
    amount: float = Field(gt=0)
    payment_method_id: str
    method_kind: str
    status: RefundStatus
    settles: str
    reason: str
    reference: str | None = None
    created_at: UtcDatetime
    reversed_at: UtcDatetime | None = None
    reversal_reason: str | None = None


def settles_for(method_kind: str) -> str:
    return SETTLES_NOW if method_kind == "gift_card" else SETTLES_LATER


async def issue_refund(
    conn: AsyncConnection,
    *,
    refund_id: str,
    order_id: str,
    user_id: str,
    amount: float,
    payment_method_id: str,
    method_kind: str,
    reason: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> Refund:
    amount = float(cents(amount))
    if amount <= 0:
        raise InvalidArguments(f"a refund must be a positive amount, not {amount:.2f}", code="bad_amount")
    if await _find(conn, refund_id) is not None:
        raise Conflict(f"refund {refund_id} already exists", code="refund_exists")
    settles = settles_for(method_kind)
    refund = Refund(
        refund_id=refund_id,
        order_id=order_id,
        user_id=user_id,
        amount=amount,
        payment_method_id=payment_method_id,
        method_kind=method_kind,
        status="settled" if settles == SETTLES_NOW else "pending",
        settles=settles,
        reason=reason,
        reference=reference,
        created_at=now or utcnow(),
    )
    await insert_all(conn, refunds, [row_values(refund)])
    return refund


async def _find(conn: AsyncConnection, refund_id: str) -> Refund | None:
    row = (await conn.execute(select(refunds).where(refunds.c.refund_id == refund_id))).first()
    return record(Refund, row) if row else None


async def get_refund(conn: AsyncConnection, refund_id: str) -> Refund:
    refund = await _find(conn, refund_id)
    if refund is None:
        raise NotFound(f"no refund {refund_id} in the payments ledger", code="refund_not_found")
    return refund


async def refunds_for_order(conn: AsyncConnection, order_id: str) -> list[Refund]:
    rows = (
        await conn.execute(select(refunds).where(refunds.c.order_id == order_id).order_by(refunds.c.created_at))
    ).all()
    return records(Refund, rows)


async def all_refunds(conn: AsyncConnection) -> list[Refund]:
    rows = (await conn.execute(select(refunds).order_by(refunds.c.created_at, refunds.c.refund_id))).all()
    return records(Refund, rows)


async def reverse_refund(conn: AsyncConnection, refund_id: str, *, reason: str, now: datetime | None = None) -> Refund:
    refund = await get_refund(conn, refund_id)
    if refund.status == "reversed":
        raise PreconditionFailed(f"refund {refund_id} was already reversed", code="already_reversed")
    await conn.execute(
        update(refunds)
        .where(refunds.c.refund_id == refund_id)
        .values(status="reversed", reversed_at=now or utcnow(), reversal_reason=reason)
    )
    return await get_refund(conn, refund_id)


# ---------------------------------------------------------------- import / export


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    items = [Refund.model_validate(v | {"refund_id": k}) for k, v in (data.get(EXPORT_KEY) or {}).items()]
    await insert_all(conn, refunds, [row_values(r) for r in items])
    return {EXPORT_KEY: len(items)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    return {EXPORT_KEY: {r.refund_id: r.model_dump(mode="json") for r in await all_refunds(conn)}}

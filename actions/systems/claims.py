"""Package claims, kept by the orders (retail) system: a missing or damaged delivery and how it was settled.

A claim belongs to the order it is about, so it lives with the orders and fails with them: the
eligibility check (the order's status and tracking) and the claim are one retail transaction,
and a replacement never has to touch the payments system. An order has at most one live claim;
a withdrawn claim (an undone saga) frees it again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import JSON, Column, DateTime, Float, Index, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import UtcDatetime, insert_all, record, records, row_values

# Kept by the retail system (see the system registry): calls to claims go through retail.
SYSTEM = "claims"
EXPORT_KEY = "claims"

claims = Table(
    "retail_claims",
    metadata,
    Column("claim_id", String(40), primary_key=True),
    Column("order_id", String(32), nullable=False, index=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("kind", String(20), nullable=False),
    Column("item_ids", JSON, nullable=False),
    Column("resolution", String(20), nullable=False),
    Column("amount", Float, nullable=False),
    Column("refund_method_id", String(80)),
    Column("status", String(20), nullable=False),
    Column("refund_id", String(40)),
    Column("replacement_order_id", String(32)),
    Column("note", String(1000)),
    Column("reference", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
# One live claim per order, enforced by the database as well as by the check before the insert.
Index(
    "retail_claims_one_live_per_order",
    claims.c.order_id,
    unique=True,
    sqlite_where=claims.c.status != "withdrawn",
    postgresql_where=claims.c.status != "withdrawn",
)

ClaimStatus = Literal["open", "refunded", "replaced", "withdrawn"]


class Claim(BaseModel):
    claim_id: str
    order_id: str
    user_id: str
    kind: Literal["missing", "damaged"]
    item_ids: list[str]
    resolution: Literal["refund", "replacement"]
    amount: float
    refund_method_id: str | None = None
    status: ClaimStatus
    refund_id: str | None = None
    replacement_order_id: str | None = None
    note: str | None = None
    reference: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


async def live_claim(conn: AsyncConnection, order_id: str) -> Claim | None:
    row = (
        await conn.execute(select(claims).where(claims.c.order_id == order_id, claims.c.status != "withdrawn"))
    ).first()
    return record(Claim, row) if row else None


async def file_claim(conn: AsyncConnection, claim: Claim) -> Claim:
    existing = await live_claim(conn, claim.order_id)
    if existing is not None:
        raise PreconditionFailed(
            f"order {claim.order_id} already has claim {existing.claim_id} ({existing.status})",
            code="already_claimed",
            details={"claim_id": existing.claim_id},
        )
    await insert_all(conn, claims, [row_values(claim)])
    return claim


async def get_claim(conn: AsyncConnection, claim_id: str) -> Claim:
    row = (await conn.execute(select(claims).where(claims.c.claim_id == claim_id))).first()
    if row is None:
        raise NotFound(f"no claim {claim_id}", code="claim_not_found")
    return record(Claim, row)


async def resolve(
    conn: AsyncConnection,
    claim_id: str,
    *,
    status: Literal["refunded", "replaced", "open"],
    refund_id: str | None = None,
    replacement_order_id: str | None = None,
    now: datetime | None = None,
) -> Claim:
    """Record how a claim was settled (or, with `open`, that a settlement was undone)."""
    claim = await get_claim(conn, claim_id)
    if claim.status == "withdrawn":
        raise PreconditionFailed(f"claim {claim_id} was withdrawn", code="claim_withdrawn")
    await conn.execute(
        update(claims)
        .where(claims.c.claim_id == claim_id)
        .values(
            status=status,
            refund_id=refund_id,
            replacement_order_id=replacement_order_id,
            updated_at=now or utcnow(),
        )
    )
    return await get_claim(conn, claim_id)


async def withdraw(conn: AsyncConnection, claim_id: str, *, now: datetime | None = None) -> Claim:
    await get_claim(conn, claim_id)
    await conn.execute(
        update(claims).where(claims.c.claim_id == claim_id).values(status="withdrawn", updated_at=now or utcnow())
    )
    return await get_claim(conn, claim_id)


async def all_claims(conn: AsyncConnection) -> list[Claim]:
    return records(Claim, (await conn.execute(select(claims).order_by(claims.c.created_at, claims.c.claim_id))).all())


# ---------------------------------------------------------------- import / export


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    items = [Claim.model_validate(v | {"claim_id": k}) for k, v in (data.get(EXPORT_KEY) or {}).items()]
    await insert_all(conn, claims, [row_values(c) for c in items])
    return {EXPORT_KEY: len(items)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    return {EXPORT_KEY: {c.claim_id: c.model_dump(mode="json") for c in await all_claims(conn)}}

"""Idempotency records: a repeat of a write with the same key returns the first result.

The record is inserted in the same transaction as the write it describes, so either both land
or neither does: a reply lost after commit is recovered by asking again with the same key.
Two requests with the same key at the same moment are serialised on the key (`lock`), so the
second sees the first's record instead of writing again.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import JSON, Column, DateTime, String, Table, bindparam, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import InvalidArguments
from actions.models import utcnow

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("key", String(200), primary_key=True),
    Column("tool", String(80), nullable=False),
    Column("request_hash", String(64), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)


def request_hash(tool: str, args: dict[str, Any]) -> str:
    body = json.dumps({"tool": tool, "args": args}, sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def confirmation_id(key: str, prefix: str = "FD") -> str:
    """A short id the customer can quote, stable for every replay of the same key."""
    return f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:8].upper()}"


# Built once: every write looks its key up and records it.
_LOOKUP = select(idempotency_keys).where(idempotency_keys.c.key == bindparam("b_key"))
_REMEMBER = insert(idempotency_keys)


async def lock(conn: AsyncConnection, key: str) -> None:
    """Hold the key until the transaction ends. SQLite's writers are serialised already; on
    PostgreSQL a transaction-scoped advisory lock does it without a row to lock yet."""
    if conn.dialect.name == "postgresql":
        lock_id = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)
        await conn.execute(select(func.pg_advisory_xact_lock(lock_id)))


async def lookup(conn: AsyncConnection, key: str, tool: str, req_hash: str) -> dict[str, Any] | None:
    row = (await conn.execute(_LOOKUP, {"b_key": key})).first()
    if row is None:
        return None
    if row.tool != tool or row.request_hash != req_hash:
        raise InvalidArguments(
            f"idempotency key {key!r} was already used for a different request",
            code="idempotency_key_reused",
        )
    return dict(row.result)


async def remember(conn: AsyncConnection, key: str, tool: str, req_hash: str, result: dict[str, Any]) -> None:
    await conn.execute(
        _REMEMBER, {"key": key, "tool": tool, "request_hash": req_hash, "result": result, "created_at": utcnow()}
    )


async def claim(conn: AsyncConnection, key: str, holder: str) -> str:
    """Bind `key` to `holder` on first use and return whoever holds it (the caller compares)."""
    await lock(conn, key)
    row = (await conn.execute(select(idempotency_keys.c.result).where(idempotency_keys.c.key == key))).first()
    if row is not None:
        return str(row.result["holder"])
    await conn.execute(
        insert(idempotency_keys).values(
            key=key,
            tool="claim",
            request_hash=request_hash("claim", {"holder": holder}),
            result={"holder": holder},
            created_at=utcnow(),
        )
    )
    return holder

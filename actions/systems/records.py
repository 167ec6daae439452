"""What the non-retail systems of record share: stable ids, UTC timestamps, money, row <-> record moves.

Every system keeps its records as pydantic models at its boundary; these helpers turn rows into
those models (SQLite hands timestamps back without a zone: they are UTC) and load many records
at once for import.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel
from sqlalchemy import Table, delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

M = TypeVar("M", bound=BaseModel)

_CHUNK = 500
_CENT = Decimal("0.01")


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]


def stable_id(prefix: str, *parts: str, length: int = 10) -> str:
    """An id derived from `parts`: a retried write under the same key names the same record."""
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:length].upper()
    return f"{prefix}-{digest}"


def cents(value: Decimal | float | int) -> Decimal:
    """Round to cents, half up, as the ledgers do (floats go through their shortest repr first)."""
    return Decimal(str(value)).quantize(_CENT, rounding=ROUND_HALF_UP)


def record(model: type[M], row: Any) -> M:
    return model.model_validate(dict(row._mapping))


def records(model: type[M], rows: Any) -> list[M]:
    return [record(model, r) for r in rows]


def row_values(item: BaseModel, *, exclude: set[str] | None = None) -> dict[str, Any]:
    """A record as column values (python mode: datetimes stay datetimes, dates stay dates)."""
    return item.model_dump(exclude=exclude)


async def insert_all(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if chunk:
            await conn.execute(insert(table), chunk)


async def insert_missing(conn: AsyncConnection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose primary key is not there yet and return how many were added.

    Two servers opening on one database insert the same rows at the same moment: a conflicting
    row is skipped by the database (ON CONFLICT DO NOTHING), not read first and raced.
    """
    dialect = {"postgresql": postgresql, "sqlite": sqlite}.get(conn.dialect.name)
    if dialect is None:
        raise RuntimeError(f"inserting missing rows is not supported on {conn.dialect.name}")
    added = 0
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        if chunk:
            result = await conn.execute(dialect.insert(table).values(chunk).on_conflict_do_nothing())
            added += max(result.rowcount, 0)
    return added


async def clear_tables(conn: AsyncConnection, *tables: Table) -> None:
    for table in tables:
        await conn.execute(delete(table))

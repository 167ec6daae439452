"""Scheduler system of record: callback slots and the bookings that take them.

Slots are generated, not entered: every half hour of business hours (9:00-17:00 Eastern,
Monday to Friday) for the 14 days from a given date, with ids made from their local start so
generating the same days twice adds nothing. A slot is booked at most once: the slot row points
at its booking and the database refuses a second live booking of the same slot.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field, computed_field
from sqlalchemy import Column, DateTime, Index, String, Table, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import Conflict, NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import UtcDatetime, insert_all, insert_missing, record, records, row_values

SYSTEM = "scheduler"

BUSINESS_TZ = ZoneInfo("America/New_York")
OPENS = time(9, 0)
CLOSES = time(17, 0)
SLOT_MINUTES = 30
HORIZON_DAYS = 14

slots = Table(
    "scheduler_slots",
    metadata,
    Column("slot_id", String(40), primary_key=True),
    Column("starts_at", DateTime(timezone=True), nullable=False, index=True),
    Column("ends_at", DateTime(timezone=True), nullable=False),
    Column("booking_id", String(40)),
)

bookings = Table(
    "scheduler_bookings",
    metadata,
    Column("booking_id", String(40), primary_key=True),
    Column("slot_id", String(40), nullable=False, index=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("phone", String(20), nullable=False),
    Column("topic", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reference", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("cancelled_at", DateTime(timezone=True)),
)
Index(
    "scheduler_bookings_one_live_per_slot",
    bookings.c.slot_id,
    unique=True,
    sqlite_where=bookings.c.status == "booked",
    postgresql_where=bookings.c.status == "booked",
)


class Slot(BaseModel):
    slot_id: str
    starts_at: UtcDatetime
    ends_at: UtcDatetime
    booking_id: str | None = None

    @computed_field
    @property
    def local_time(self) -> str:
        """The start as the customer hears it, in business time."""
        local = self.starts_at.astimezone(BUSINESS_TZ)
        return local.strftime("%A %d %B %Y, %I:%M %p %Z").replace(" 0", " ")

    @property
    def available(self) -> bool:
        return self.booking_id is None


class Booking(BaseModel):
    booking_id: str
    slot_id: str
    user_id: str
    phone: str
    topic: str = Field(min_length=1, max_length=300)
    status: Literal["booked", "cancelled"] = "booked"
    reference: str | None = None
    created_at: UtcDatetime
    cancelled_at: UtcDatetime | None = None


# ---------------------------------------------------------------- slots


def slots_for(start: date, days: int = HORIZON_DAYS) -> list[Slot]:
    """Every business-hours slot of the `days` days from `start` (deterministic)."""
    out: list[Slot] = []
    step = timedelta(minutes=SLOT_MINUTES)
    for offset in range(days):
        day = start + timedelta(days=offset)
        if day.weekday() >= 5:
            continue
        local = datetime.combine(day, OPENS, tzinfo=BUSINESS_TZ)
        closes = datetime.combine(day, CLOSES, tzinfo=BUSINESS_TZ)
        while local + step <= closes:
            starts = local.astimezone(UTC)
            out.append(
                Slot(slot_id=f"SL-{local:%Y%m%d-%H%M}", starts_at=starts, ends_at=(local + step).astimezone(UTC))
            )
            local += step
    return out


async def ensure_slots(conn: AsyncConnection, start: date, days: int = HORIZON_DAYS) -> int:
    """Add the slots of the `days` days from `start` that are not there yet; returns how many were added."""
    wanted = slots_for(start, days)
    if not wanted:
        return 0
    return await insert_missing(conn, slots, [row_values(s, exclude={"local_time"}) for s in wanted])


async def get_slot(conn: AsyncConnection, slot_id: str) -> Slot:
    row = (await conn.execute(select(slots).where(slots.c.slot_id == slot_id))).first()
    if row is None:
        raise NotFound(f"there is no callback slot {slot_id}", code="slot_not_found")
    return record(Slot, row)


async def available_slots(conn: AsyncConnection, *, after: datetime, until: datetime, limit: int = 20) -> list[Slot]:
    rows = (
        await conn.execute(
            select(slots)
            .where(slots.c.booking_id.is_(None), slots.c.starts_at > after, slots.c.starts_at < until)
            .order_by(slots.c.starts_at)
            .limit(limit)
        )
    ).all()
    return records(Slot, rows)


# ---------------------------------------------------------------- bookings


async def get_booking(conn: AsyncConnection, booking_id: str) -> Booking:
    row = (await conn.execute(select(bookings).where(bookings.c.booking_id == booking_id))).first()
    if row is None:
        raise NotFound(f"no callback booking {booking_id}", code="booking_not_found")
    return record(Booking, row)


async def book(
    conn: AsyncConnection,
    *,
    booking_id: str,
    slot_id: str,
    user_id: str,
    phone: str,
    topic: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> Booking:
    now = now or utcnow()
    slot = await get_slot(conn, slot_id)
    if slot.starts_at <= now:
        raise PreconditionFailed(f"slot {slot.local_time} has already started", code="slot_in_past")
    if slot.booking_id is not None:
        raise Conflict(f"slot {slot.local_time} is already booked; pick another", code="slot_taken")
    taken = await conn.execute(
        update(slots).where(slots.c.slot_id == slot_id, slots.c.booking_id.is_(None)).values(booking_id=booking_id)
    )
    if taken.rowcount != 1:
        raise Conflict(f"slot {slot.local_time} was just booked; pick another", code="slot_taken")
    item = Booking(
        booking_id=booking_id,
        slot_id=slot_id,
        user_id=user_id,
        phone=phone,
        topic=topic,
        reference=reference,
        created_at=now,
    )
    await insert_all(conn, bookings, [row_values(item)])
    return item


async def cancel_booking(conn: AsyncConnection, booking_id: str, *, now: datetime | None = None) -> Booking:
    """Cancel a booking and free its slot (the booking row stays, cancelled)."""
    booking = await get_booking(conn, booking_id)
    if booking.status == "cancelled":
        return booking
    await conn.execute(
        update(bookings)
        .where(bookings.c.booking_id == booking_id)
        .values(status="cancelled", cancelled_at=now or utcnow())
    )
    await conn.execute(update(slots).where(slots.c.booking_id == booking_id).values(booking_id=None))
    return await get_booking(conn, booking_id)


async def all_slots(conn: AsyncConnection) -> list[Slot]:
    return records(Slot, (await conn.execute(select(slots).order_by(slots.c.starts_at))).all())


async def all_bookings(conn: AsyncConnection) -> list[Booking]:
    rows = (await conn.execute(select(bookings).order_by(bookings.c.created_at, bookings.c.booking_id))).all()
    return records(Booking, rows)


# ---------------------------------------------------------------- import / export

EXPORT_KEYS = ("callback_slots", "callback_bookings")


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    slot_items = [Slot.model_validate(v | {"slot_id": k}) for k, v in (data.get("callback_slots") or {}).items()]
    booking_items = [
        Booking.model_validate(v | {"booking_id": k}) for k, v in (data.get("callback_bookings") or {}).items()
    ]
    await insert_all(conn, slots, [row_values(s, exclude={"local_time"}) for s in slot_items])
    await insert_all(conn, bookings, [row_values(b) for b in booking_items])
    return {"callback_slots": len(slot_items), "callback_bookings": len(booking_items)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    return {
        "callback_slots": {s.slot_id: s.model_dump(mode="json") for s in await all_slots(conn)},
        "callback_bookings": {b.booking_id: b.model_dump(mode="json") for b in await all_bookings(conn)},
    }

"""Scheduler: deterministic business-hours slots, and a slot booked at most once."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from actions.errors import Conflict, PreconditionFailed
from actions.models import CallContext, utcnow
from actions.systems import scheduler
from tests import office as office_module
from tests.conftest import customer
from tests.office import account_holder, next_slot

office_template = office_module.office_template
office = office_module.office


def test_slots_cover_weekday_business_hours_in_eastern_time_for_two_weeks():
    monday = date(2024, 6, 3)
    slots = scheduler.slots_for(monday)
    assert slots == scheduler.slots_for(monday)
    local = [s.starts_at.astimezone(scheduler.BUSINESS_TZ) for s in slots]
    assert len(slots) == 10 * 16  # ten weekdays, 9:00 to 17:00 by half hours
    assert {t.weekday() for t in local} == {0, 1, 2, 3, 4}
    assert min(t.time() for t in local).isoformat() == "09:00:00"
    assert max(t.time() for t in local).isoformat() == "16:30:00"
    assert all(s.ends_at - s.starts_at == timedelta(minutes=30) for s in slots)
    assert slots[0].slot_id == "SL-20240603-0900" and slots[0].local_time == "Monday 3 June 2024, 9:00 AM EDT"
    # Winter time is still 9:00 local.
    assert scheduler.slots_for(date(2024, 12, 2))[0].starts_at.hour == 14


async def test_opening_slots_twice_adds_nothing(office):
    start = utcnow().date() + timedelta(days=30)
    async with office.db.write() as conn:
        first = await scheduler.ensure_slots(conn, start)
        second = await scheduler.ensure_slots(conn, start)
    assert first == len(scheduler.slots_for(start)) and second == 0


async def _book(bo, slot_id: str, booking_id: str, user_id: str = "someone"):
    async with bo.db.write() as conn:
        return await scheduler.book(
            conn, booking_id=booking_id, slot_id=slot_id, user_id=user_id, phone="+12125550100", topic="bill"
        )


async def test_a_slot_is_booked_once_and_freed_by_a_cancellation(office):
    slot_id = await next_slot(office)
    await _book(office, slot_id, "BK-1")
    with pytest.raises(Conflict) as taken:
        await _book(office, slot_id, "BK-2")
    assert taken.value.code == "slot_taken"
    async with office.db.write() as conn:
        await scheduler.cancel_booking(conn, "BK-1")
        assert (await scheduler.get_slot(conn, slot_id)).booking_id is None
    booking = await _book(office, slot_id, "BK-3")
    assert booking.status == "booked"


async def test_the_database_refuses_a_second_live_booking_of_a_slot(office):
    slot_id = await next_slot(office)
    booking = await _book(office, slot_id, "BK-4")
    with pytest.raises(IntegrityError):
        async with office.db.write() as conn:
            await conn.execute(insert(scheduler.bookings).values(**booking.model_dump() | {"booking_id": "BK-5"}))


async def test_a_slot_that_has_started_cannot_be_booked(office):
    past = utcnow().date() - timedelta(days=7)
    async with office.db.write() as conn:
        await scheduler.ensure_slots(conn, past, days=7)
    slot_id = scheduler.slots_for(past, days=7)[0].slot_id
    with pytest.raises(PreconditionFailed) as late:
        await _book(office, slot_id, "BK-6")
    assert late.value.code == "slot_in_past"


async def test_open_slots_are_listed_from_now_on_without_booked_ones(office):
    listed = await office.call("list_callback_slots", {"limit": 5}, CallContext())
    assert listed.status == "ok" and len(listed.output["slots"]) == 5
    first = listed.output["slots"][0]["slot_id"]
    await _book(office, first, "BK-7")
    again = await office.call("list_callback_slots", {"limit": 5}, CallContext())
    assert first not in [s["slot_id"] for s in again.output["slots"]]
    too_many = await office.call("list_callback_slots", {"days": 30}, CallContext())
    assert too_many.status == "rejected"


async def test_booking_a_callback_takes_the_slot_opens_a_case_and_texts_the_phone_on_file(office):
    account = await account_holder(office)
    slot_id = await next_slot(office)
    args = {"user_id": account.user_id, "slot_id": slot_id, "topic": "my refund"}
    unconfirmed = await office.call("book_callback", args, customer(account.user_id))
    assert unconfirmed.status == "needs_confirmation"
    result = await office.call("book_callback", args, customer(account.user_id, confirmed=True))
    assert result.status == "ok" and result.verified
    async with office.db.read() as conn:
        booking = await scheduler.get_booking(conn, result.output["booking_id"])
        slot = await scheduler.get_slot(conn, slot_id)
    assert (booking.phone, booking.topic, slot.booking_id) == (account.phone, "my refund", booking.booking_id)
    assert account.phone not in result.model_dump_json()
    other = await account_holder(office, skip=1)
    clash = await office.call(
        "book_callback", args | {"user_id": other.user_id}, customer(other.user_id, confirmed=True)
    )
    assert clash.status == "conflict" and clash.error.code == "slot_taken"

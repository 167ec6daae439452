"""Callback tools: the open slots, and the `book_callback` saga.

book_callback: book the slot (scheduler) -> CRM case with the topic, for the person calling back
-> confirmation by text to the phone on file, by email when there is none (pivot). The number
to call is the one the customer gives, else the one on file.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, Field, field_validator
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import postconditions as post
from actions.errors import PreconditionFailed
from actions.governance import SagaStage, SagaState, ToolEnv, ToolSpec
from actions.models import CallContext, IdentityLevel, RiskClass, utcnow
from actions.systems import identity as identity_store
from actions.systems import notifications as outbox
from actions.systems import scheduler as store
from actions.tools.common import UserArgs, contact_on_file, expect, owner_is_user_arg, stage_id, user_of
from actions.tools.stages import crm_case_stage, notify_stage

SYSTEM = store.SYSTEM


class SlotQuery(BaseModel):
    days: int = Field(default=store.HORIZON_DAYS, ge=1, le=store.HORIZON_DAYS, description="how many days ahead")
    limit: int = Field(default=10, ge=1, le=50)


class SlotOut(BaseModel):
    slot_id: str
    local_time: str
    starts_at: datetime


class SlotList(BaseModel):
    slots: list[SlotOut]


class BookCallbackArgs(UserArgs):
    slot_id: str = Field(min_length=1, max_length=40)
    topic: str = Field(min_length=1, max_length=300, description="what the customer wants to talk about")
    phone: str | None = Field(default=None, description="the number to call, +15551234567 form; default: on file")

    @field_validator("phone")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is None:
            return None
        digits = "".join(ch for ch in v if ch.isdigit() or ch == "+")
        if not outbox.E164.match(digits):
            raise ValueError("a phone number in international form, like +15551234567")
        return digits


class CallbackOut(BaseModel):
    user_id: str
    booking_id: str | None = None
    slot_id: str | None = None
    local_time: str | None = None
    phone: str | None = None
    case_id: str | None = None
    notified: str | None = None


# ------------------------------------------------------------------ reads


async def _list_slots(env: ToolEnv, conn: AsyncConnection, args: SlotQuery, ctx: CallContext) -> SlotList:
    now = utcnow()
    found = await store.available_slots(conn, after=now, until=now + timedelta(days=args.days), limit=args.limit)
    return SlotList(slots=[SlotOut(slot_id=s.slot_id, local_time=s.local_time, starts_at=s.starts_at) for s in found])


# ------------------------------------------------------------------ booking


async def _book(env: ToolEnv, conn: AsyncConnection, state: SagaState) -> dict[str, Any]:
    args: BookCallbackArgs = state.args
    phone = args.phone or (await contact_on_file(conn, args.user_id)).phone
    if not phone:
        raise PreconditionFailed(
            f"there is no phone number on file for {args.user_id}; ask for the number to call", code="no_phone"
        )
    booking = await store.book(
        conn,
        booking_id=stage_id("BK", state, "book"),
        slot_id=args.slot_id,
        user_id=args.user_id,
        phone=phone,
        topic=args.topic,
        reference=state.key,
    )
    slot = await store.get_slot(conn, booking.slot_id)
    return {
        "booking_id": booking.booking_id,
        "slot_id": slot.slot_id,
        "local_time": slot.local_time,
        "phone": identity_store.mask_phone(phone),
    }


async def _verify_book(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> list[str]:
    checks: list[str] = []
    booking = await store.get_booking(conn, stored["booking_id"])
    slot = await store.get_slot(conn, stored["slot_id"])
    expect(booking.status == "booked", f"booking {booking.booking_id} stands", checks)
    expect(
        slot.booking_id == booking.booking_id, f"slot {slot.slot_id} is held by booking {booking.booking_id}", checks
    )
    return checks


async def _cancel_booking(env: ToolEnv, conn: AsyncConnection, state: SagaState, stored: dict) -> dict[str, Any]:
    booking = await store.cancel_booking(conn, stored["booking_id"])
    return {"booking_id": booking.booking_id, "status": booking.status}


def _fields(state: SagaState) -> dict[str, Any]:
    b = state.results["book"]
    return {"phone": b["phone"], "when": b["local_time"], "topic": state.args.topic, "booking_id": b["booking_id"]}


def _finish(state: SagaState) -> CallbackOut:
    b = state.results.get("book", {})
    return CallbackOut(
        user_id=state.args.user_id,
        booking_id=b.get("booking_id"),
        slot_id=b.get("slot_id"),
        local_time=b.get("local_time"),
        phone=b.get("phone"),
        case_id=state.results.get("crm_note", {}).get("case_id"),
        notified=state.results.get("notify", {}).get("to"),
    )


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "list_callback_slots",
            "Open times for a support person to call the customer back.",
            SYSTEM,
            SlotQuery,
            SlotList,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_list_slots,
        ),
        ToolSpec(
            "book_callback",
            "Book a callback from a support person at one of the open times.",
            SYSTEM,
            BookCallbackArgs,
            CallbackOut,
            write=True,
            identity=IdentityLevel.basic,
            risk=RiskClass.confirm,
            owner=owner_is_user_arg,
            stages=[
                SagaStage("book", SYSTEM, _book, _verify_book, _cancel_booking),
                crm_case_stage(
                    subject=lambda s: f"Callback: {s.args.topic}",
                    note=lambda s: (
                        f"Call {s.results['book']['phone']} on {s.results['book']['local_time']} "
                        f"(booking {s.results['book']['booking_id']}) about: {s.args.topic}"
                    ),
                    tags=lambda s: ["callback"],
                    status="open",
                ),
                notify_stage(template="callback_booked", fields=_fields, channel="sms_or_email"),
            ],
            finish=_finish,
            confirmation_prefix="CB",
            reconcile=post.CALLBACK_BOOKED,
            user_of=user_of,
        ),
    ]

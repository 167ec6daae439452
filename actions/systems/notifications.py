"""Notifications system of record: the outbox of emails and text messages sent to customers.

A row here is the record that the customer was told something: to whom, by which channel,
from which template, with the exact words. Messages are rendered from fixed templates so
every customer-facing sentence is reviewed once, here.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Column, DateTime, String, Table, Text, select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import InvalidArguments, NotFound
from actions.models import utcnow
from actions.systems.records import UtcDatetime, insert_all, record, records, row_values

SYSTEM = "notifications"
EXPORT_KEY = "notifications"

E164 = re.compile(r"^\+[1-9]\d{6,14}$")

outbox = Table(
    "notifications_outbox",
    metadata,
    Column("message_id", String(40), primary_key=True),
    Column("user_id", String(80), index=True),
    Column("to", String(200), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("subject", String(300)),
    Column("body", Text, nullable=False),
    Column("template", String(60), nullable=False),
    Column("status", String(20), nullable=False),
    Column("reference", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

Channel = Literal["email", "sms"]

# template -> (email subject, body). Text messages use the body alone.
TEMPLATES: dict[str, tuple[str, str]] = {
    "one_time_code": (
        "Your verification code",
        "Your verification code is {code}. It expires in {minutes} minutes. We will never ask you to share it.",
    ),
    "password_reset": (
        "Reset your password",
        "Use this link within {minutes} minutes to choose a new password: {link} "
        "If you did not ask for this, you can ignore this message.",
    ),
    "package_refund": (
        "Your refund for order {order_id}",
        "We are sorry your package was {problem}. We refunded {amount} to {method}; "
        "it reaches you {settles}. Your claim number is {claim_id}.",
    ),
    "package_replacement": (
        "A replacement for order {order_id}",
        "We are sorry your package was {problem}. Replacement order {replacement_order_id} is on its way "
        "at no charge. Your claim number is {claim_id}.",
    ),
    "subscription_changed": (
        "Your plan is now {plan}",
        "Your subscription moved from {from_plan} to {plan} today. The prorated adjustment of {total} "
        "is on invoice {invoice_id}.",
    ),
    "subscription_cancelled": (
        "Your subscription is cancelled",
        "Your {plan} subscription is cancelled and will not renew. Its benefits have ended.",
    ),
    "callback_booked": (
        "Your callback is booked",
        "We will call you on {phone} on {when} about {topic}. Your booking reference is {booking_id}.",
    ),
}


class Message(BaseModel):
    message_id: str
    user_id: str | None = None
    to: str
    channel: Channel
    subject: str | None = None
    body: str
    template: str
    status: Literal["sent"] = "sent"
    reference: str | None = None
    created_at: UtcDatetime


def render(template: str, fields: dict[str, Any]) -> tuple[str, str]:
    try:
        subject, body = TEMPLATES[template]
    except KeyError:
        raise InvalidArguments(f"there is no message template {template!r}", code="unknown_template") from None
    try:
        return subject.format(**fields), body.format(**fields)
    except KeyError as exc:
        raise InvalidArguments(f"template {template} needs {exc.args[0]!r}", code="template_field_missing") from None


def check_destination(channel: str, to: str) -> None:
    if channel == "sms" and not E164.match(to or ""):
        raise InvalidArguments(f"{to!r} is not a phone number in +15551234567 form", code="bad_destination")
    if channel == "email" and ("@" not in (to or "") or " " in to):
        raise InvalidArguments(f"{to!r} is not an email address", code="bad_destination")


async def send(
    conn: AsyncConnection,
    *,
    message_id: str,
    user_id: str | None,
    to: str,
    channel: Channel,
    template: str,
    fields: dict[str, Any],
    reference: str | None = None,
    now: datetime | None = None,
) -> Message:
    check_destination(channel, to)
    subject, body = render(template, fields)
    message = Message(
        message_id=message_id,
        user_id=user_id,
        to=to,
        channel=channel,
        subject=subject if channel == "email" else None,
        body=body,
        template=template,
        reference=reference,
        created_at=now or utcnow(),
    )
    await insert_all(conn, outbox, [row_values(message)])
    return message


async def get_message(conn: AsyncConnection, message_id: str) -> Message:
    row = (await conn.execute(select(outbox).where(outbox.c.message_id == message_id))).first()
    if row is None:
        raise NotFound(f"no message {message_id} in the outbox", code="message_not_found")
    return record(Message, row)


async def messages(conn: AsyncConnection, *, user_id: str | None = None, template: str | None = None) -> list[Message]:
    stmt = select(outbox).order_by(outbox.c.created_at, outbox.c.message_id)
    if user_id is not None:
        stmt = stmt.where(outbox.c.user_id == user_id)
    if template is not None:
        stmt = stmt.where(outbox.c.template == template)
    return records(Message, (await conn.execute(stmt)).all())


# ---------------------------------------------------------------- import / export


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    items = [Message.model_validate(v | {"message_id": k}) for k, v in (data.get(EXPORT_KEY) or {}).items()]
    await insert_all(conn, outbox, [row_values(m) for m in items])
    return {EXPORT_KEY: len(items)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    return {EXPORT_KEY: {m.message_id: m.model_dump(mode="json") for m in await messages(conn)}}

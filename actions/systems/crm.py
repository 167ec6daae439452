"""CRM / helpdesk system of record: customer cases with their notes, and hand-off tickets.

A case is what support knows about one matter of one customer (subject, status, tags) and its
notes are the running record. A case an undone saga opened is `withdrawn` and its notes
are marked retracted rather than deleted, so the record shows what was said and taken back.

A hand-off ticket carries the structured summary a person needs to take a conversation over
(a JSON document the caller builds) and moves open -> taken -> closed; only one agent can take it.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import JSON, Boolean, Column, DateTime, String, Table, Text, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import Conflict, InvalidArguments, NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import UtcDatetime, insert_all, record, records, row_values

SYSTEM = "crm"

MAX_SUMMARY_BYTES = 64 * 1024

cases = Table(
    "crm_cases",
    metadata,
    Column("case_id", String(40), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("subject", String(300), nullable=False),
    Column("status", String(20), nullable=False),
    Column("tags", JSON, nullable=False),
    Column("reference", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

notes = Table(
    "crm_notes",
    metadata,
    Column("note_id", String(40), primary_key=True),
    Column("case_id", String(40), nullable=False, index=True),
    Column("author", String(120), nullable=False),
    Column("body", Text, nullable=False),
    Column("reference", String(200)),
    Column("retracted", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

tickets = Table(
    "crm_tickets",
    metadata,
    Column("ticket_id", String(40), primary_key=True),
    Column("user_id", String(80), index=True),
    Column("session_id", String(120), index=True),
    Column("channel", String(20), nullable=False),
    Column("reason", String(300), nullable=False),
    Column("priority", String(10), nullable=False),
    Column("summary", JSON, nullable=False),
    Column("status", String(10), nullable=False, index=True),
    Column("agent", String(120)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("taken_at", DateTime(timezone=True)),
    Column("closed_at", DateTime(timezone=True)),
)

CaseStatus = Literal["open", "resolved", "closed", "withdrawn"]
TicketStatus = Literal["open", "taken", "closed"]


class Note(BaseModel):
    note_id: str
    case_id: str
    author: str
    body: str = Field(min_length=1, max_length=10_000)
    reference: str | None = None
    retracted: bool = False
    created_at: UtcDatetime


class Case(BaseModel):
    case_id: str
    user_id: str
    subject: str = Field(min_length=1, max_length=300)
    status: CaseStatus
    tags: list[str] = Field(default_factory=list)
    reference: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class CaseDetail(Case):
    notes: list[Note] = Field(default_factory=list)


class Ticket(BaseModel):
    ticket_id: str
    user_id: str | None = None
    session_id: str | None = None
    channel: str
    reason: str = Field(min_length=1, max_length=300)
    priority: Literal["normal", "high"] = "normal"
    summary: dict[str, Any]
    status: TicketStatus = "open"
    agent: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    taken_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None


# ---------------------------------------------------------------- cases


async def _case(conn: AsyncConnection, case_id: str) -> Case:
    row = (await conn.execute(select(cases).where(cases.c.case_id == case_id))).first()
    if row is None:
        raise NotFound(f"no case {case_id}", code="case_not_found")
    return record(Case, row)


async def case_owner(conn: AsyncConnection, case_id: str) -> str | None:
    return (await conn.execute(select(cases.c.user_id).where(cases.c.case_id == case_id))).scalar()


async def get_case(conn: AsyncConnection, case_id: str) -> CaseDetail:
    case = await _case(conn, case_id)
    rows = (
        await conn.execute(
            select(notes).where(notes.c.case_id == case_id).order_by(notes.c.created_at, notes.c.note_id)
        )
    ).all()
    return CaseDetail(**case.model_dump(), notes=records(Note, rows))


async def list_cases(conn: AsyncConnection, user_id: str, *, include_withdrawn: bool = False) -> list[Case]:
    stmt = select(cases).where(cases.c.user_id == user_id)
    if not include_withdrawn:
        stmt = stmt.where(cases.c.status != "withdrawn")
    return records(Case, (await conn.execute(stmt.order_by(cases.c.created_at, cases.c.case_id))).all())


async def open_case(conn: AsyncConnection, case: Case, *, first_note: Note | None = None) -> CaseDetail:
    await insert_all(conn, cases, [row_values(case)])
    if first_note is not None:
        await add_note(conn, first_note)
    return await get_case(conn, case.case_id)


async def add_note(conn: AsyncConnection, note: Note) -> Note:
    case = await _case(conn, note.case_id)
    if case.status == "withdrawn":
        raise PreconditionFailed(f"case {case.case_id} was withdrawn", code="case_withdrawn")
    await insert_all(conn, notes, [row_values(note)])
    await conn.execute(update(cases).where(cases.c.case_id == note.case_id).values(updated_at=note.created_at))
    return note


async def set_case_status(
    conn: AsyncConnection, case_id: str, status: CaseStatus, *, now: datetime | None = None
) -> Case:
    await _case(conn, case_id)
    await conn.execute(
        update(cases).where(cases.c.case_id == case_id).values(status=status, updated_at=now or utcnow())
    )
    return await _case(conn, case_id)


async def withdraw_case(conn: AsyncConnection, case_id: str, *, now: datetime | None = None) -> CaseDetail:
    """Take back a case an undone saga opened: it is kept, marked withdrawn, its notes retracted."""
    await set_case_status(conn, case_id, "withdrawn", now=now)
    await conn.execute(update(notes).where(notes.c.case_id == case_id).values(retracted=True))
    return await get_case(conn, case_id)


# ---------------------------------------------------------------- hand-off tickets


def check_summary(summary: dict[str, Any]) -> None:
    try:
        size = len(json.dumps(summary, default=str).encode())
    except (TypeError, ValueError) as exc:
        raise InvalidArguments(f"the hand-off summary is not a JSON document: {exc}") from None
    if size > MAX_SUMMARY_BYTES:
        raise InvalidArguments(f"the hand-off summary is {size} bytes; at most {MAX_SUMMARY_BYTES} are kept")


async def create_ticket(conn: AsyncConnection, ticket: Ticket) -> Ticket:
    check_summary(ticket.summary)
    await insert_all(conn, tickets, [row_values(ticket)])
    return await get_ticket(conn, ticket.ticket_id)


async def get_ticket(conn: AsyncConnection, ticket_id: str) -> Ticket:
    row = (await conn.execute(select(tickets).where(tickets.c.ticket_id == ticket_id))).first()
    if row is None:
        raise NotFound(f"no hand-off ticket {ticket_id}", code="ticket_not_found")
    return record(Ticket, row)


async def ticket_owner(conn: AsyncConnection, ticket_id: str) -> str | None:
    return (await conn.execute(select(tickets.c.user_id).where(tickets.c.ticket_id == ticket_id))).scalar()


async def list_tickets(conn: AsyncConnection, *, status: TicketStatus | None = None) -> list[Ticket]:
    stmt = select(tickets).order_by(tickets.c.created_at, tickets.c.ticket_id)
    if status is not None:
        stmt = stmt.where(tickets.c.status == status)
    return records(Ticket, (await conn.execute(stmt)).all())


async def take_ticket(conn: AsyncConnection, ticket_id: str, agent: str, *, now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    ticket = await get_ticket(conn, ticket_id)
    if ticket.status == "taken" and ticket.agent == agent:
        return ticket
    res = await conn.execute(
        update(tickets)
        .where(tickets.c.ticket_id == ticket_id, tickets.c.status == "open")
        .values(status="taken", agent=agent, taken_at=now, updated_at=now)
    )
    if res.rowcount != 1:
        raise Conflict(
            f"ticket {ticket_id} is {ticket.status}" + (f" by {ticket.agent}" if ticket.agent else ""),
            code="ticket_not_open",
        )
    return await get_ticket(conn, ticket_id)


async def close_ticket(conn: AsyncConnection, ticket_id: str, agent: str, *, now: datetime | None = None) -> Ticket:
    now = now or utcnow()
    ticket = await get_ticket(conn, ticket_id)
    if ticket.status == "closed":
        raise PreconditionFailed(f"ticket {ticket_id} is already closed", code="ticket_closed")
    if ticket.status == "taken" and ticket.agent != agent:
        raise Conflict(f"ticket {ticket_id} was taken by {ticket.agent}", code="ticket_taken_by_other")
    await conn.execute(
        update(tickets)
        .where(tickets.c.ticket_id == ticket_id)
        .values(status="closed", agent=ticket.agent or agent, closed_at=now, updated_at=now)
    )
    return await get_ticket(conn, ticket_id)


# ---------------------------------------------------------------- import / export

EXPORT_KEYS = ("cases", "tickets")


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    details = [CaseDetail.model_validate(v | {"case_id": k}) for k, v in (data.get("cases") or {}).items()]
    ticket_items = [Ticket.model_validate(v | {"ticket_id": k}) for k, v in (data.get("tickets") or {}).items()]
    await insert_all(conn, cases, [row_values(c, exclude={"notes"}) for c in details])
    await insert_all(conn, notes, [row_values(n) for c in details for n in c.notes])
    await insert_all(conn, tickets, [row_values(t) for t in ticket_items])
    return {"cases": len(details), "tickets": len(ticket_items)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    by_case: dict[str, list[Note]] = {}
    for n in records(Note, (await conn.execute(select(notes).order_by(notes.c.created_at, notes.c.note_id))).all()):
        by_case.setdefault(n.case_id, []).append(n)
    out: dict[str, Any] = {"cases": {}, "tickets": {}}
    for c in records(Case, (await conn.execute(select(cases).order_by(cases.c.case_id))).all()):
        detail = CaseDetail(**c.model_dump(), notes=by_case.get(c.case_id, []))
        out["cases"][c.case_id] = detail.model_dump(mode="json")
    for t in records(Ticket, (await conn.execute(select(tickets).order_by(tickets.c.ticket_id))).all()):
        out["tickets"][t.ticket_id] = t.model_dump(mode="json")
    return out

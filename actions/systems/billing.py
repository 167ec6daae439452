"""Billing system of record: the plan catalogue, one subscription per customer, entitlements, invoices.

A plan change is one transaction: the prorated invoice (a credit for the unused part of the old
plan, a charge for the rest of the period on the new one, each rounded to cents), the swap of
entitlements and the new plan on the subscription land together or not at all. Cancelling sets
the subscription `cancelled` and revokes its entitlements in the same transaction. Every change
leaves a billing event, so what was changed and undone stays visible.

A renewing subscription's current period rolls forward month by month from its stored period;
a change first moves the stored period to the one that contains the change date.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    String,
    Table,
    delete,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.db import metadata
from actions.errors import Conflict, NotFound, PreconditionFailed
from actions.models import utcnow
from actions.systems.records import (
    UtcDatetime,
    cents,
    insert_all,
    record,
    records,
    row_values,
    stable_id,
)

SYSTEM = "billing"

plans = Table(
    "billing_plans",
    metadata,
    Column("plan_id", String(40), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("monthly_price", Float, nullable=False),
    Column("entitlements", JSON, nullable=False),
    Column("position", Integer, nullable=False),
)

subscriptions = Table(
    "billing_subscriptions",
    metadata,
    Column("subscription_id", String(40), primary_key=True),
    Column("user_id", String(80), nullable=False, unique=True),
    Column("plan_id", String(40), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("renews", Boolean, nullable=False),
    Column("cancel_reason", String(300)),
    Column("cancelled_at", DateTime(timezone=True)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("version", Integer, nullable=False),
)

entitlements = Table(
    "billing_entitlements",
    metadata,
    Column("user_id", String(80), primary_key=True),
    Column("entitlement", String(80), primary_key=True),
    Column("plan_id", String(40), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
)

invoices = Table(
    "billing_invoices",
    metadata,
    Column("invoice_id", String(40), primary_key=True),
    Column("user_id", String(80), nullable=False, index=True),
    Column("subscription_id", String(40), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("status", String(20), nullable=False),
    Column("total", Float, nullable=False),
    Column("period_start", Date, nullable=False),
    Column("period_end", Date, nullable=False),
    Column("reference", String(200), index=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

invoice_lines = Table(
    "billing_invoice_lines",
    metadata,
    Column("invoice_id", String(40), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("kind", String(20), nullable=False),
    Column("description", String(300), nullable=False),
    Column("plan_id", String(40), nullable=False),
    Column("amount", Float, nullable=False),
    Column("days", Integer),
)

events = Table(
    "billing_events",
    metadata,
    Column("event_id", String(40), primary_key=True),
    Column("subscription_id", String(40), nullable=False, index=True),
    Column("user_id", String(80), nullable=False),
    Column("event", String(20), nullable=False),
    Column("from_plan", String(40)),
    Column("to_plan", String(40)),
    Column("invoice_id", String(40)),
    Column("reference", String(200)),
    Column("at", DateTime(timezone=True), nullable=False),
)


class Plan(BaseModel):
    plan_id: str
    name: str
    monthly_price: float = Field(ge=0)
    entitlements: list[str]
    position: int = 0


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan(plan_id="basic", name="Basic", monthly_price=9.99, entitlements=["member_pricing", "standard_support"]),
    Plan(
        plan_id="plus",
        name="Plus",
        monthly_price=19.99,
        entitlements=["member_pricing", "free_standard_shipping", "extended_returns", "standard_support"],
    ),
    Plan(
        plan_id="premium",
        name="Premium",
        monthly_price=29.99,
        entitlements=["member_pricing", "free_express_shipping", "extended_returns", "priority_support"],
    ),
)


class Subscription(BaseModel):
    subscription_id: str
    user_id: str
    plan_id: str
    status: Literal["active", "cancelled"]
    period_start: date
    period_end: date
    renews: bool
    cancel_reason: str | None = None
    cancelled_at: UtcDatetime | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    version: int = 1


class Entitlement(BaseModel):
    user_id: str
    entitlement: str
    plan_id: str
    granted_at: UtcDatetime


class InvoiceLine(BaseModel):
    position: int
    kind: Literal["charge", "credit"]
    description: str
    plan_id: str
    amount: float
    days: int | None = None


class Invoice(BaseModel):
    invoice_id: str
    user_id: str
    subscription_id: str
    kind: Literal["subscription", "proration", "reversal"]
    status: Literal["open", "paid"]
    total: float
    period_start: date
    period_end: date
    reference: str | None = None
    created_at: UtcDatetime
    lines: list[InvoiceLine] = Field(default_factory=list)


class BillingEvent(BaseModel):
    event_id: str
    subscription_id: str
    user_id: str
    event: Literal["created", "changed", "reverted", "cancelled", "reinstated"]
    from_plan: str | None = None
    to_plan: str | None = None
    invoice_id: str | None = None
    reference: str | None = None
    at: UtcDatetime


class Proration(BaseModel):
    days_total: int
    days_left: int
    credit: float = Field(description="negative: the unused part of the old plan")
    charge: float = Field(description="the new plan for the rest of the period")
    total: float


class PlanChange(BaseModel):
    subscription: Subscription
    from_plan: str
    to_plan: str
    from_name: str
    to_name: str
    direction: Literal["upgrade", "downgrade"]
    invoice: Invoice
    entitlements: list[str]


# ---------------------------------------------------------------- rules


def add_months(day: date, months: int) -> date:
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def current_period(sub: Subscription, today: date) -> tuple[date, date]:
    """The billing period containing `today`: a renewing subscription rolls forward a month at a time."""
    start, end = sub.period_start, sub.period_end
    if sub.status != "active" or not sub.renews:
        return start, end
    months = 0
    while add_months(sub.period_start, months + 1) <= today:
        months += 1
    if months:
        start, end = add_months(sub.period_start, months), add_months(sub.period_start, months + 1)
    return start, end


def prorate(old_price: float, new_price: float, start: date, end: date, today: date) -> Proration:
    """The change day is billed on the new plan; the days before it stay on the old one."""
    days_total = max((end - start).days, 1)
    days_left = min(max((end - today).days, 0), days_total)
    credit = -cents(Decimal(str(old_price)) * days_left / days_total)
    charge = cents(Decimal(str(new_price)) * days_left / days_total)
    return Proration(
        days_total=days_total,
        days_left=days_left,
        credit=float(credit),
        charge=float(charge),
        total=float(charge + credit),
    )


# ---------------------------------------------------------------- reads


async def list_plans(conn: AsyncConnection) -> list[Plan]:
    return records(Plan, (await conn.execute(select(plans).order_by(plans.c.position))).all())


async def get_plan(conn: AsyncConnection, plan_id: str) -> Plan:
    row = (await conn.execute(select(plans).where(plans.c.plan_id == plan_id))).first()
    if row is None:
        raise NotFound(f"there is no plan called {plan_id!r}", code="plan_not_found")
    return record(Plan, row)


async def find_subscription(conn: AsyncConnection, user_id: str) -> Subscription | None:
    row = (await conn.execute(select(subscriptions).where(subscriptions.c.user_id == user_id))).first()
    return record(Subscription, row) if row else None


async def get_subscription(conn: AsyncConnection, user_id: str) -> Subscription:
    sub = await find_subscription(conn, user_id)
    if sub is None:
        raise NotFound(f"customer {user_id} has no subscription", code="no_subscription")
    return sub


async def entitlements_of(conn: AsyncConnection, user_id: str) -> list[str]:
    rows = (
        await conn.execute(
            select(entitlements.c.entitlement)
            .where(entitlements.c.user_id == user_id)
            .order_by(entitlements.c.entitlement)
        )
    ).all()
    return [r.entitlement for r in rows]


async def get_invoice(conn: AsyncConnection, invoice_id: str) -> Invoice:
    row = (await conn.execute(select(invoices).where(invoices.c.invoice_id == invoice_id))).first()
    if row is None:
        raise NotFound(f"no invoice {invoice_id}", code="invoice_not_found")
    lines = (
        await conn.execute(
            select(invoice_lines).where(invoice_lines.c.invoice_id == invoice_id).order_by(invoice_lines.c.position)
        )
    ).all()
    return Invoice.model_validate(dict(row._mapping) | {"lines": [dict(r._mapping) for r in lines]})


async def invoices_for(conn: AsyncConnection, user_id: str, *, limit: int = 10) -> list[Invoice]:
    ids = (
        await conn.execute(
            select(invoices.c.invoice_id)
            .where(invoices.c.user_id == user_id)
            .order_by(invoices.c.created_at.desc(), invoices.c.invoice_id)
            .limit(limit)
        )
    ).scalars()
    return [await get_invoice(conn, i) for i in list(ids)]


async def events_for(conn: AsyncConnection, user_id: str) -> list[BillingEvent]:
    rows = (await conn.execute(select(events).where(events.c.user_id == user_id).order_by(events.c.at))).all()
    return records(BillingEvent, rows)


# ---------------------------------------------------------------- writes


async def _grant(conn: AsyncConnection, user_id: str, plan: Plan, now: datetime) -> list[str]:
    await conn.execute(delete(entitlements).where(entitlements.c.user_id == user_id))
    rows = [
        Entitlement(user_id=user_id, entitlement=e, plan_id=plan.plan_id, granted_at=now).model_dump()
        for e in sorted(set(plan.entitlements))
    ]
    await insert_all(conn, entitlements, rows)
    return sorted(set(plan.entitlements))


async def _save(conn: AsyncConnection, sub: Subscription, **values: Any) -> Subscription:
    res = await conn.execute(
        update(subscriptions)
        .where(subscriptions.c.subscription_id == sub.subscription_id, subscriptions.c.version == sub.version)
        .values(**values, version=sub.version + 1)
    )
    if res.rowcount != 1:
        raise Conflict(
            f"subscription {sub.subscription_id} was changed by another request", code="subscription_conflict"
        )
    return await get_subscription(conn, sub.user_id)


async def _event(
    conn: AsyncConnection, sub: Subscription, event: str, reference: str | None, now: datetime, **kw
) -> None:
    item = BillingEvent(
        event_id=stable_id("EV", sub.subscription_id, event, reference or now.isoformat(), str(sub.version)),
        subscription_id=sub.subscription_id,
        user_id=sub.user_id,
        event=event,
        reference=reference,
        at=now,
        **kw,
    )
    await insert_all(conn, events, [row_values(item)])


async def create_subscription(
    conn: AsyncConnection, sub: Subscription, *, now: datetime | None = None, reference: str | None = None
) -> Subscription:
    if await find_subscription(conn, sub.user_id) is not None:
        raise PreconditionFailed(f"customer {sub.user_id} already has a subscription", code="already_subscribed")
    plan = await get_plan(conn, sub.plan_id)
    now = now or utcnow()
    await insert_all(conn, subscriptions, [row_values(sub)])
    if sub.status == "active":
        await _grant(conn, sub.user_id, plan, now)
    await _event(conn, sub, "created", reference, now, to_plan=sub.plan_id)
    return sub


async def change_plan(
    conn: AsyncConnection,
    user_id: str,
    new_plan_id: str,
    *,
    invoice_id: str,
    reference: str | None = None,
    today: date | None = None,
    now: datetime | None = None,
    reverting: bool = False,
) -> PlanChange:
    """Move an active subscription to another plan: prorated invoice, entitlements and plan together."""
    now = now or utcnow()
    today = today or now.date()
    sub = await get_subscription(conn, user_id)
    if sub.status != "active":
        raise PreconditionFailed(
            f"the subscription of {user_id} is {sub.status}; it cannot change plan", code="subscription_not_active"
        )
    try:
        new = await get_plan(conn, new_plan_id)
    except NotFound as exc:
        raise PreconditionFailed(exc.message, code="plan_not_found") from None
    old = await get_plan(conn, sub.plan_id)
    if new.plan_id == old.plan_id:
        raise PreconditionFailed(f"{user_id} is already on the {old.name} plan", code="same_plan")
    start, end = current_period(sub, today)
    pr = prorate(old.monthly_price, new.monthly_price, start, end, today)
    days = f"{pr.days_left} of {pr.days_total} days"
    invoice = Invoice(
        invoice_id=invoice_id,
        user_id=user_id,
        subscription_id=sub.subscription_id,
        kind="reversal" if reverting else "proration",
        status="open",
        total=pr.total,
        period_start=start,
        period_end=end,
        reference=reference,
        created_at=now,
        lines=[
            InvoiceLine(
                position=1,
                kind="credit",
                description=f"Unused {old.name} plan ({days})",
                plan_id=old.plan_id,
                amount=pr.credit,
                days=pr.days_left,
            ),
            InvoiceLine(
                position=2,
                kind="charge",
                description=f"{new.name} plan for the rest of the period ({days})",
                plan_id=new.plan_id,
                amount=pr.charge,
                days=pr.days_left,
            ),
        ],
    )
    await add_invoice(conn, invoice)
    granted = await _grant(conn, user_id, new, now)
    saved = await _save(conn, sub, plan_id=new.plan_id, period_start=start, period_end=end, updated_at=now)
    await _event(
        conn,
        sub,
        "reverted" if reverting else "changed",
        reference,
        now,
        from_plan=old.plan_id,
        to_plan=new.plan_id,
        invoice_id=invoice_id,
    )
    return PlanChange(
        subscription=saved,
        from_plan=old.plan_id,
        to_plan=new.plan_id,
        from_name=old.name,
        to_name=new.name,
        direction="upgrade" if new.monthly_price > old.monthly_price else "downgrade",
        invoice=invoice,
        entitlements=granted,
    )


async def cancel(
    conn: AsyncConnection,
    user_id: str,
    *,
    reason: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Cancel at once: no renewal, and every entitlement revoked in the same transaction."""
    now = now or utcnow()
    sub = await get_subscription(conn, user_id)
    if sub.status != "active":
        raise PreconditionFailed(f"the subscription of {user_id} is already cancelled", code="already_cancelled")
    await conn.execute(delete(entitlements).where(entitlements.c.user_id == user_id))
    saved = await _save(
        conn, sub, status="cancelled", renews=False, cancel_reason=reason, cancelled_at=now, updated_at=now
    )
    await _event(conn, sub, "cancelled", reference, now, from_plan=sub.plan_id)
    return saved


async def reinstate(
    conn: AsyncConnection,
    user_id: str,
    *,
    plan_id: str,
    reference: str | None = None,
    now: datetime | None = None,
) -> Subscription:
    """Undo a cancellation: the same plan, renewing again, its entitlements granted back."""
    now = now or utcnow()
    sub = await get_subscription(conn, user_id)
    if sub.status != "cancelled" or sub.plan_id != plan_id:
        raise PreconditionFailed(
            f"the subscription of {user_id} is {sub.status} on {sub.plan_id}; it is not the cancellation to undo",
            code="not_reinstatable",
        )
    plan = await get_plan(conn, plan_id)
    await _grant(conn, user_id, plan, now)
    saved = await _save(conn, sub, status="active", renews=True, cancel_reason=None, cancelled_at=None, updated_at=now)
    await _event(conn, sub, "reinstated", reference, now, to_plan=plan_id)
    return saved


async def add_invoice(conn: AsyncConnection, invoice: Invoice) -> Invoice:
    await insert_all(conn, invoices, [row_values(invoice, exclude={"lines"})])
    await insert_all(
        conn, invoice_lines, [line.model_dump() | {"invoice_id": invoice.invoice_id} for line in invoice.lines]
    )
    return invoice


# ---------------------------------------------------------------- import / export

EXPORT_KEYS = ("plans", "subscriptions", "entitlements", "invoices", "billing_events")


async def import_data(conn: AsyncConnection, data: dict[str, Any]) -> dict[str, int]:
    plan_items = [Plan.model_validate(v | {"plan_id": k}) for k, v in (data.get("plans") or {}).items()]
    subs = [
        Subscription.model_validate(v | {"subscription_id": k}) for k, v in (data.get("subscriptions") or {}).items()
    ]
    ents = [
        Entitlement.model_validate(e | {"user_id": uid})
        for uid, items in (data.get("entitlements") or {}).items()
        for e in items
    ]
    invs = [Invoice.model_validate(v | {"invoice_id": k}) for k, v in (data.get("invoices") or {}).items()]
    evs = [BillingEvent.model_validate(v | {"event_id": k}) for k, v in (data.get("billing_events") or {}).items()]
    await insert_all(conn, plans, [row_values(p) for p in plan_items])
    await insert_all(conn, subscriptions, [row_values(s) for s in subs])
    await insert_all(conn, entitlements, [row_values(e) for e in ents])
    await insert_all(conn, invoices, [row_values(i, exclude={"lines"}) for i in invs])
    await insert_all(
        conn, invoice_lines, [line.model_dump() | {"invoice_id": i.invoice_id} for i in invs for line in i.lines]
    )
    await insert_all(conn, events, [row_values(e) for e in evs])
    return {"plans": len(plan_items), "subscriptions": len(subs), "invoices": len(invs)}


async def export_data(conn: AsyncConnection) -> dict[str, Any]:
    out: dict[str, Any] = {key: {} for key in EXPORT_KEYS}
    for p in await list_plans(conn):
        out["plans"][p.plan_id] = p.model_dump(mode="json")
    for row in (await conn.execute(select(subscriptions).order_by(subscriptions.c.subscription_id))).all():
        s = record(Subscription, row)
        out["subscriptions"][s.subscription_id] = s.model_dump(mode="json")
    ent_rows = (
        await conn.execute(select(entitlements).order_by(entitlements.c.user_id, entitlements.c.entitlement))
    ).all()
    for e in records(Entitlement, ent_rows):
        out["entitlements"].setdefault(e.user_id, []).append(e.model_dump(mode="json"))
    lines: dict[str, list[dict]] = {}
    for r in (
        await conn.execute(select(invoice_lines).order_by(invoice_lines.c.invoice_id, invoice_lines.c.position))
    ).all():
        lines.setdefault(r.invoice_id, []).append(InvoiceLine.model_validate(dict(r._mapping)).model_dump(mode="json"))
    for row in (await conn.execute(select(invoices).order_by(invoices.c.invoice_id))).all():
        inv = Invoice.model_validate(dict(row._mapping) | {"lines": lines.get(row.invoice_id, [])})
        out["invoices"][inv.invoice_id] = inv.model_dump(mode="json")
    for row in (await conn.execute(select(events).order_by(events.c.at, events.c.event_id))).all():
        ev = record(BillingEvent, row)
        out["billing_events"][ev.event_id] = ev.model_dump(mode="json")
    return out

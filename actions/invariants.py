"""Cross-system rules reconcile checks whatever was written: each system declares the rules about
its records in the system registry (`SystemSpec.invariants`).

A rule reads the systems as they are now and names every record that breaks it; deciding what to
do about one is a person's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from pydantic import BaseModel
from sqlalchemy import String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions.systems import billing, claims, crm, payments, retail, scheduler


class Violation(BaseModel):
    system: str  # where an operator looks to put it right
    subject: str  # the record, as "kind:id"
    detail: str


Invariant = Callable[[AsyncConnection], Awaitable[list[Violation]]]


async def _order_refunds(conn: AsyncConnection) -> dict[str, str]:
    """Refund id -> order id, for every refund entry in the orders' payment histories."""
    # Only orders whose payment history names a ledger refund can take part; skip decoding the rest.
    history_text = cast(retail.orders.c.payment_history, String)
    rows = (
        await conn.execute(
            select(retail.orders.c.order_id, retail.orders.c.payment_history).where(history_text.like('%"refund_id"%'))
        )
    ).all()
    return {entry["refund_id"]: row.order_id for row in rows for entry in row.payment_history if entry.get("refund_id")}


async def ledger_matches_orders(conn: AsyncConnection) -> list[Violation]:
    """Every live ledger refund is on its order's payment history, and every refund there is in the ledger."""
    found: list[Violation] = []
    ledger = {r.refund_id: r for r in await payments.all_refunds(conn)}
    entries_by_refund = await _order_refunds(conn)
    for refund in ledger.values():
        if refund.status != "reversed" and entries_by_refund.get(refund.refund_id) != refund.order_id:
            found.append(
                Violation(
                    system="payments",
                    subject=f"refund:{refund.refund_id}",
                    detail=f"ledger refund {refund.refund_id} of {refund.amount:.2f} has no refund entry on order "
                    f"{refund.order_id}",
                )
            )
    for refund_id, order_id in entries_by_refund.items():
        refund = ledger.get(refund_id)
        if refund is None or refund.status == "reversed":
            found.append(
                Violation(
                    system="retail",
                    subject=f"order:{order_id}",
                    detail=f"order {order_id} shows refund {refund_id}, which the ledger "
                    + ("reversed" if refund else "does not have"),
                )
            )
    return found


async def claims_are_settled(conn: AsyncConnection) -> list[Violation]:
    """A refunded claim has its ledger refund; a replaced claim has its replacement order."""
    found: list[Violation] = []
    ledger = {r.refund_id for r in await payments.all_refunds(conn)}
    for claim in await claims.all_claims(conn):
        if claim.status == "refunded" and claim.refund_id not in ledger:
            found.append(
                Violation(
                    system="retail",
                    subject=f"claim:{claim.claim_id}",
                    detail=f"claim {claim.claim_id} is refunded but the ledger has no refund",
                )
            )
        if claim.status == "replaced" and await retail.order_owner(conn, claim.replacement_order_id or "") is None:
            found.append(
                Violation(
                    system="retail",
                    subject=f"claim:{claim.claim_id}",
                    detail=f"claim {claim.claim_id} names a replacement order that is not there",
                )
            )
    return found


async def entitlements_match_plans(conn: AsyncConnection) -> list[Violation]:
    """An active subscription holds exactly its plan's entitlements; nobody else holds any."""
    found: list[Violation] = []
    plans = {p.plan_id: sorted(set(p.entitlements)) for p in await billing.list_plans(conn)}
    held: dict[str, list[str]] = defaultdict(list)
    ent_rows = await conn.execute(select(billing.entitlements.c.user_id, billing.entitlements.c.entitlement))
    for row in ent_rows.all():
        held[row.user_id].append(row.entitlement)
    sub_rows = await conn.execute(
        select(billing.subscriptions.c.user_id, billing.subscriptions.c.status, billing.subscriptions.c.plan_id)
    )
    subs = {r.user_id: (r.status, r.plan_id) for r in sub_rows.all()}
    for user_id in sorted(held):
        status, _ = subs.get(user_id, (None, None))
        if status is None:
            found.append(
                Violation(
                    system="billing",
                    subject=f"subscription:{user_id}",
                    detail=f"{user_id} has entitlements but no subscription",
                )
            )
        elif status == "cancelled":
            found.append(
                Violation(
                    system="billing",
                    subject=f"subscription:{user_id}",
                    detail=f"the cancelled subscription of {user_id} still has entitlements",
                )
            )
    for user_id, (status, plan_id) in sorted(subs.items()):
        have = sorted(held.get(user_id, []))
        if status == "active" and have != plans.get(plan_id, []):
            found.append(
                Violation(
                    system="billing",
                    subject=f"subscription:{user_id}",
                    detail=f"{user_id} is on {plan_id} but holds {', '.join(have) or 'no entitlements'}",
                )
            )
    return found


async def slots_match_bookings(conn: AsyncConnection) -> list[Violation]:
    """A booked slot names its live booking, and a live booking holds its slot."""
    found: list[Violation] = []
    bookings = {b.booking_id: b for b in await scheduler.all_bookings(conn)}
    # Only slots that hold a booking, or that a live booking claims, can break the rule.
    claimed = {b.slot_id for b in bookings.values() if b.status == "booked"}
    rows = await conn.execute(
        select(scheduler.slots).where(
            or_(scheduler.slots.c.booking_id.is_not(None), scheduler.slots.c.slot_id.in_(sorted(claimed)))
        )
    )
    slots = {s.slot_id: s for s in (scheduler.Slot.model_validate(dict(r._mapping)) for r in rows.all())}
    for slot in slots.values():
        if slot.booking_id is None:
            continue
        booking = bookings.get(slot.booking_id)
        if booking is None or booking.status != "booked" or booking.slot_id != slot.slot_id:
            found.append(
                Violation(
                    system="scheduler",
                    subject=f"slot:{slot.slot_id}",
                    detail=f"slot {slot.slot_id} is booked without its booking {slot.booking_id}",
                )
            )
    for booking in bookings.values():
        slot = slots.get(booking.slot_id)
        if booking.status == "booked" and (slot is None or slot.booking_id != booking.booking_id):
            found.append(
                Violation(
                    system="scheduler",
                    subject=f"booking:{booking.booking_id}",
                    detail=f"booking {booking.booking_id} does not hold its slot {booking.slot_id}",
                )
            )
    return found


async def taken_tickets_have_an_agent(conn: AsyncConnection) -> list[Violation]:
    return [
        Violation(system="crm", subject=f"ticket:{t.ticket_id}", detail=f"ticket {t.ticket_id} is taken by nobody")
        for t in await crm.list_tickets(conn, status="taken")
        if not t.agent
    ]

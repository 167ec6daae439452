"""What reconcile expects still to hold after a verified write: one `PostCondition` per write tool.

A write tool declares its post-condition on its `ToolSpec` (`reconcile=`). Reconcile reads it
back against the audit entry of every write that was done and verified, and lists the writes
whose effect no longer holds and that no later audited write on the same records explains
(`subjects` names those records).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from actions.audit import AuditEntry
from actions.errors import InvalidArguments, NotFound
from actions.systems import billing, claims, crm, identity, payments, retail, scheduler

HoldsFn = Callable[[AsyncConnection, AuditEntry], Awaitable[list[str]]]
SubjectsFn = Callable[[AuditEntry], list[str]]

_ADDRESS = ("address1", "address2", "city", "country", "state", "zip")


@dataclass(frozen=True)
class PostCondition:
    subjects: SubjectsFn  # the records the write changed, as "kind:id"
    holds: HoldsFn  # what is wrong with them now; nothing when the write's effect still holds


# ------------------------------------------------------------------ subjects


def _order_id(entry: AuditEntry) -> str:
    try:
        return retail.normalise_order_id(str(entry.arguments.get("order_id", "")))
    except InvalidArguments:
        return ""


def _order_subject(entry: AuditEntry) -> list[str]:
    return [f"order:{_order_id(entry)}"]


def _user_subject(prefix: str) -> SubjectsFn:
    return lambda entry: [f"{prefix}:{entry.arguments.get('user_id')}"]


def _package_subjects(entry: AuditEntry) -> list[str]:
    return [*_order_subject(entry), f"claim:{(entry.result or {}).get('claim_id')}"]


def _booking_subjects(entry: AuditEntry) -> list[str]:
    return [f"slot:{entry.arguments.get('slot_id')}", f"booking:{(entry.result or {}).get('booking_id')}"]


def _ticket_subject(entry: AuditEntry) -> list[str]:
    return [f"ticket:{(entry.result or {}).get('ticket_id')}"]


# ------------------------------------------------------------------ retail


async def _order(conn: AsyncConnection, entry: AuditEntry) -> dict | None:
    try:
        order, _ = await retail.get_order(conn, _order_id(entry))
    except (NotFound, InvalidArguments):
        return None
    return order


def order_status(want: str) -> PostCondition:
    """The order the write changed is still in status `want`."""

    async def holds(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
        order = await _order(conn, entry)
        if order is None:
            return [f"order {_order_id(entry)} is gone"]
        if order["status"] != want:
            return [f"order {order['order_id']} is {order['status']!r}, not {want!r}"]
        return []

    return PostCondition(_order_subject, holds)


async def _order_address(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    order = await _order(conn, entry)
    if order is None:
        return [f"order {_order_id(entry)} is gone"]
    want = {k: entry.arguments.get(k, "") for k in _ADDRESS}
    return [] if order["address"] == want else [f"order {order['order_id']} no longer ships to the address set"]


async def _order_payment(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    order = await _order(conn, entry)
    if order is None:
        return [f"order {_order_id(entry)} is gone"]
    pm = entry.arguments.get("payment_method_id")
    paid = any(p["transaction_type"] == "payment" and p["payment_method_id"] == pm for p in order["payment_history"])
    return [] if paid else [f"order {order['order_id']} shows no payment with {pm}"]


async def _user_address(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    user_id = entry.arguments.get("user_id")
    try:
        user = await retail.get_user(conn, user_id)
    except NotFound:
        return [f"user {user_id} is gone"]
    want = {k: entry.arguments.get(k, "") for k in _ADDRESS}
    return [] if user["address"] == want else [f"user {user_id} no longer has the address set"]


async def _package(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    out = entry.result or {}
    problems: list[str] = []
    try:
        claim = await claims.get_claim(conn, out.get("claim_id") or "")
    except NotFound:
        return [f"claim {out.get('claim_id')} is gone"]
    if claim.status == "withdrawn":
        problems.append(f"claim {claim.claim_id} was withdrawn")
    if out.get("refund_id"):
        try:
            refund = await payments.get_refund(conn, out["refund_id"])
            if refund.status == "reversed":
                problems.append(f"ledger refund {refund.refund_id} was reversed")
        except NotFound:
            problems.append(f"ledger refund {out['refund_id']} is gone")
        order = await _order(conn, entry)
        if order is None or not any(p.get("refund_id") == out["refund_id"] for p in order["payment_history"]):
            problems.append(f"order {_order_id(entry)} no longer shows refund {out['refund_id']}")
    if out.get("replacement_order_id"):
        try:
            await retail.get_order(conn, out["replacement_order_id"])
        except NotFound:
            problems.append(f"replacement order {out['replacement_order_id']} is gone")
    return problems


ORDER_ADDRESS = PostCondition(_order_subject, _order_address)
ORDER_PAYMENT = PostCondition(_order_subject, _order_payment)
USER_ADDRESS = PostCondition(_user_subject("user"), _user_address)
# The claim stands, and the refund (ledger and order) or the replacement order is still there.
PACKAGE_SETTLED = PostCondition(_package_subjects, _package)


# ------------------------------------------------------------------ billing, identity, scheduler, crm


async def _subscription_plan(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    user_id = entry.arguments.get("user_id")
    sub = await billing.find_subscription(conn, user_id)
    want = (entry.result or {}).get("to_plan")
    if sub is None:
        return [f"the subscription of {user_id} is gone"]
    if sub.status != "active" or sub.plan_id != want:
        return [f"the subscription of {user_id} is {sub.status} on {sub.plan_id}, not active on {want}"]
    return []


async def _subscription_cancelled(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    user_id = entry.arguments.get("user_id")
    sub = await billing.find_subscription(conn, user_id)
    if sub is None:
        return [f"the subscription of {user_id} is gone"]
    return [] if sub.status == "cancelled" else [f"the subscription of {user_id} is {sub.status} again"]


async def _reset_link(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    link_id = (entry.result or {}).get("link_id")
    try:
        link = await identity.get_reset_link(conn, link_id or "")
    except NotFound:
        return [f"reset link {link_id} is gone"]
    return [f"reset link {link_id} was revoked"] if link.revoked else []


async def _booking(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
    booking_id = (entry.result or {}).get("booking_id")
    try:
        booking = await scheduler.get_booking(conn, booking_id or "")
        slot = await scheduler.get_slot(conn, booking.slot_id)
    except NotFound:
        return [f"booking {booking_id} or its slot is gone"]
    if booking.status != "booked":
        return [f"booking {booking_id} is {booking.status}"]
    return [] if slot.booking_id == booking_id else [f"slot {slot.slot_id} no longer holds booking {booking_id}"]


def ticket_state(*allowed: str) -> PostCondition:
    """The ticket the write created or moved is in one of the `allowed` states."""

    async def holds(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
        ticket_id = (entry.result or {}).get("ticket_id")
        try:
            ticket = await crm.get_ticket(conn, ticket_id or "")
        except NotFound:
            return [f"ticket {ticket_id} is gone"]
        return [] if ticket.status in allowed else [f"ticket {ticket_id} is {ticket.status}"]

    return PostCondition(_ticket_subject, holds)


SUBSCRIPTION_PLAN = PostCondition(_user_subject("subscription"), _subscription_plan)
SUBSCRIPTION_CANCELLED = PostCondition(_user_subject("subscription"), _subscription_cancelled)
RESET_LINK_LIVE = PostCondition(_user_subject("reset"), _reset_link)
CALLBACK_BOOKED = PostCondition(_booking_subjects, _booking)

"""Reconcile: compare what the audit log says was done with what the systems of record hold now.

It lists every mismatch an operator has to look at:

- postcondition_broken: a write audited as done and verified whose effect no longer holds, and
  that no later audited write on the same record explains;
- landed_not_ok: a write that landed (its idempotency record is there) but whose audit entry
  says it did not succeed, or a stage of an undone saga that landed and was never undone;
- invariant: a cross-system rule broken (a ledger refund without its refund entry on the order,
  a cancelled subscription that still has entitlements, a booked slot without its booking, ...);
- workflow: every saga left `needs_reconciliation`, or still `running` (the report's JSON keeps
  the word its readers know: kind `workflow`, subject `workflow:<id>`, `workflow_id`).

It only reads; deciding what to do about a finding is a person's job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy import String, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from actions import audit, sagas
from actions.audit import AuditEntry
from actions.db import Database
from actions.errors import InvalidArguments, NotFound
from actions.idempotency import idempotency_keys
from actions.systems import billing, claims, crm, identity, payments, retail, scheduler

FindingKind = Literal["postcondition_broken", "landed_not_ok", "invariant", "workflow"]

# Audit statuses after which something may have been written (and so may explain a later state).
_MAY_HAVE_WRITTEN = {"ok", "unverified", "failed", "needs_reconciliation"}
_ADDRESS = ("address1", "address2", "city", "country", "state", "zip")


class Finding(BaseModel):
    kind: FindingKind
    system: str
    subject: str
    detail: str
    tool: str | None = None
    audit_id: int | None = None
    workflow_id: str | None = None  # the saga, or the conversation, the write was part of


class ReconcileReport(BaseModel):
    findings: list[Finding] = Field(default_factory=list)
    checked_writes: int = 0
    checked_workflows: int = 0  # saga records

    @property
    def clean(self) -> bool:
        return not self.findings

    def about(self, *, workflow_id: str | None = None, kind: FindingKind | None = None) -> list[Finding]:
        return [
            f
            for f in self.findings
            if (workflow_id is None or f.workflow_id == workflow_id) and (kind is None or f.kind == kind)
        ]


# ------------------------------------------------------------------ post-conditions per tool

CheckFn = Callable[[AsyncConnection, AuditEntry], Awaitable[list[str]]]


@dataclass
class Check:
    system: str
    subjects: Callable[[AuditEntry], list[str]]
    holds: CheckFn


def _order_id(entry: AuditEntry) -> str:
    try:
        return retail.normalise_order_id(str(entry.arguments.get("order_id", "")))
    except InvalidArguments:
        return ""


def _order_subject(entry: AuditEntry) -> list[str]:
    return [f"order:{_order_id(entry)}"]


def _user_subject(prefix: str) -> Callable[[AuditEntry], list[str]]:
    return lambda entry: [f"{prefix}:{entry.arguments.get('user_id')}"]


async def _order(conn: AsyncConnection, entry: AuditEntry) -> dict | None:
    try:
        order, _ = await retail.get_order(conn, _order_id(entry))
    except (NotFound, InvalidArguments):
        return None
    return order


def _order_status(want: str) -> CheckFn:
    async def holds(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
        order = await _order(conn, entry)
        if order is None:
            return [f"order {_order_id(entry)} is gone"]
        if order["status"] != want:
            return [f"order {order['order_id']} is {order['status']!r}, not {want!r}"]
        return []

    return holds


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


def _package_subjects(entry: AuditEntry) -> list[str]:
    return [*_order_subject(entry), f"claim:{(entry.result or {}).get('claim_id')}"]


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


def _booking_subjects(entry: AuditEntry) -> list[str]:
    return [f"slot:{entry.arguments.get('slot_id')}", f"booking:{(entry.result or {}).get('booking_id')}"]


def _ticket_state(*allowed: str) -> CheckFn:
    async def holds(conn: AsyncConnection, entry: AuditEntry) -> list[str]:
        ticket_id = (entry.result or {}).get("ticket_id")
        try:
            ticket = await crm.get_ticket(conn, ticket_id or "")
        except NotFound:
            return [f"ticket {ticket_id} is gone"]
        return [] if ticket.status in allowed else [f"ticket {ticket_id} is {ticket.status}"]

    return holds


def _ticket_subject(entry: AuditEntry) -> list[str]:
    return [f"ticket:{(entry.result or {}).get('ticket_id')}"]


CHECKS: dict[str, Check] = {
    "cancel_pending_order": Check("retail", _order_subject, _order_status("cancelled")),
    "modify_pending_order_address": Check("retail", _order_subject, _order_address),
    "modify_pending_order_payment": Check("retail", _order_subject, _order_payment),
    "modify_pending_order_items": Check("retail", _order_subject, _order_status("pending (item modified)")),
    "return_delivered_order_items": Check("retail", _order_subject, _order_status("return requested")),
    "exchange_delivered_order_items": Check("retail", _order_subject, _order_status("exchange requested")),
    "modify_user_address": Check("retail", _user_subject("user"), _user_address),
    "refund_package": Check("retail", _package_subjects, _package),
    "change_subscription": Check("billing", _user_subject("subscription"), _subscription_plan),
    "cancel_subscription": Check("billing", _user_subject("subscription"), _subscription_cancelled),
    "reset_password": Check("identity", _user_subject("reset"), _reset_link),
    "book_callback": Check("scheduler", _booking_subjects, _booking),
    "create_handoff_ticket": Check("crm", _ticket_subject, _ticket_state("open", "taken", "closed")),
    "take_handoff_ticket": Check("crm", _ticket_subject, _ticket_state("taken", "closed")),
    "close_handoff_ticket": Check("crm", _ticket_subject, _ticket_state("closed")),
}


async def _postconditions(conn: AsyncConnection, entries: list[AuditEntry]) -> tuple[list[Finding], int]:
    findings: list[Finding] = []
    later: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        check = CHECKS.get(entry.tool)
        if check is not None and entry.status in _MAY_HAVE_WRITTEN:
            for subject in check.subjects(entry):
                later[subject].append(entry)
    checked = 0
    for entry in entries:
        check = CHECKS.get(entry.tool)
        if check is None or entry.status != "ok" or not entry.verified:
            continue
        checked += 1
        problems = await check.holds(conn, entry)
        if not problems:
            continue
        subjects = check.subjects(entry)
        explained = any(
            other.id > entry.id and other.idempotency_key != entry.idempotency_key
            for subject in subjects
            for other in later[subject]
        )
        if explained:
            continue
        findings.append(
            Finding(
                kind="postcondition_broken",
                system=check.system,
                subject=subjects[0],
                detail="; ".join(problems),
                tool=entry.tool,
                audit_id=entry.id,
                workflow_id=entry.workflow_id,
            )
        )
    return findings, checked


# ------------------------------------------------------------------ writes that landed unreported


def _landed_not_ok(
    entries: list[AuditEntry], saga_records: list[sagas.SagaRecord], keys: dict[str, str]
) -> list[Finding]:
    findings: list[Finding] = []
    saga_kinds = {w.kind for w in saga_records}
    saga_ids = {w.workflow_id for w in saga_records}
    by_key: dict[str, list[AuditEntry]] = defaultdict(list)
    for entry in entries:
        # Sagas are judged by their saga record below. Any other write counts here, including the
        # dialogue's, whose audit entries carry the conversation's session id in the same field.
        if entry.idempotency_key and entry.workflow_id not in saga_ids and entry.tool not in saga_kinds:
            by_key[entry.idempotency_key].append(entry)
    for key, group in by_key.items():
        if any(e.status == "ok" for e in group) or keys.get(key) != group[0].tool:
            continue
        last = group[-1]
        findings.append(
            Finding(
                kind="landed_not_ok",
                system=CHECKS[last.tool].system if last.tool in CHECKS else "unknown",
                subject=f"key:{key}",
                detail=f"{last.tool} was applied (its idempotency record is there) but was audited as {last.status}",
                tool=last.tool,
                audit_id=last.id,
            )
        )
    for saga in saga_records:
        if saga.status != "compensated":
            continue
        for stage in saga.steps:
            stage_key = f"{saga.idempotency_key}:{stage.name}"
            if stage_key in keys and f"{stage_key}:undo" not in keys:
                findings.append(
                    Finding(
                        kind="landed_not_ok",
                        system=stage.system,
                        subject=f"workflow:{saga.workflow_id}",
                        detail=f"step {stage.name} of {saga.kind} landed but the workflow was undone without it",
                        tool=saga.kind,
                        workflow_id=saga.workflow_id,
                    )
                )
    return findings


# ------------------------------------------------------------------ cross-system invariants


def _invariant(system: str, subject: str, detail: str) -> Finding:
    return Finding(kind="invariant", system=system, subject=subject, detail=detail)


async def _ledger_invariants(conn: AsyncConnection) -> list[Finding]:
    findings: list[Finding] = []
    ledger = {r.refund_id: r for r in await payments.all_refunds(conn)}
    entries_by_refund: dict[str, str] = {}
    # Only orders whose payment history names a ledger refund can take part; skip decoding the rest.
    history_text = cast(retail.orders.c.payment_history, String)
    rows = (
        await conn.execute(
            select(retail.orders.c.order_id, retail.orders.c.payment_history).where(history_text.like('%"refund_id"%'))
        )
    ).all()
    for row in rows:
        for entry in row.payment_history:
            if entry.get("refund_id"):
                entries_by_refund[entry["refund_id"]] = row.order_id
    for refund in ledger.values():
        if refund.status != "reversed" and entries_by_refund.get(refund.refund_id) != refund.order_id:
            findings.append(
                _invariant(
                    "payments",
                    f"refund:{refund.refund_id}",
                    f"ledger refund {refund.refund_id} of {refund.amount:.2f} has no refund entry on order "
                    f"{refund.order_id}",
                )
            )
    for refund_id, order_id in entries_by_refund.items():
        refund = ledger.get(refund_id)
        if refund is None or refund.status == "reversed":
            findings.append(
                _invariant(
                    "retail",
                    f"order:{order_id}",
                    f"order {order_id} shows refund {refund_id}, which the ledger "
                    + ("reversed" if refund else "does not have"),
                )
            )
    for claim in await claims.all_claims(conn):
        if claim.status == "refunded" and claim.refund_id not in ledger:
            findings.append(
                _invariant(
                    "retail",
                    f"claim:{claim.claim_id}",
                    f"claim {claim.claim_id} is refunded but the ledger has no refund",
                )
            )
        if claim.status == "replaced" and await retail.order_owner(conn, claim.replacement_order_id or "") is None:
            findings.append(
                _invariant(
                    "retail",
                    f"claim:{claim.claim_id}",
                    f"claim {claim.claim_id} names a replacement order that is not there",
                )
            )
    return findings


async def _billing_invariants(conn: AsyncConnection) -> list[Finding]:
    findings: list[Finding] = []
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
            findings.append(
                _invariant("billing", f"subscription:{user_id}", f"{user_id} has entitlements but no subscription")
            )
        elif status == "cancelled":
            findings.append(
                _invariant(
                    "billing",
                    f"subscription:{user_id}",
                    f"the cancelled subscription of {user_id} still has entitlements",
                )
            )
    for user_id, (status, plan_id) in sorted(subs.items()):
        have = sorted(held.get(user_id, []))
        if status == "active" and have != plans.get(plan_id, []):
            findings.append(
                _invariant(
                    "billing",
                    f"subscription:{user_id}",
                    f"{user_id} is on {plan_id} but holds {', '.join(have) or 'no entitlements'}",
                )
            )
    return findings


async def _scheduler_invariants(conn: AsyncConnection) -> list[Finding]:
    findings: list[Finding] = []
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
            findings.append(
                _invariant(
                    "scheduler",
                    f"slot:{slot.slot_id}",
                    f"slot {slot.slot_id} is booked without its booking {slot.booking_id}",
                )
            )
    for booking in bookings.values():
        slot = slots.get(booking.slot_id)
        if booking.status == "booked" and (slot is None or slot.booking_id != booking.booking_id):
            findings.append(
                _invariant(
                    "scheduler",
                    f"booking:{booking.booking_id}",
                    f"booking {booking.booking_id} does not hold its slot {booking.slot_id}",
                )
            )
    for ticket in await crm.list_tickets(conn, status="taken"):
        if not ticket.agent:
            findings.append(
                _invariant("crm", f"ticket:{ticket.ticket_id}", f"ticket {ticket.ticket_id} is taken by nobody")
            )
    return findings


async def _invariants(conn: AsyncConnection) -> list[Finding]:
    return [
        *await _ledger_invariants(conn),
        *await _billing_invariants(conn),
        *await _scheduler_invariants(conn),
    ]


# ------------------------------------------------------------------ flagged sagas


def _flagged(saga_records: list[sagas.SagaRecord]) -> list[Finding]:
    findings = []
    for saga in saga_records:
        if saga.status not in ("needs_reconciliation", "running"):
            continue
        failed = [s.name for s in saga.steps if s.status in ("failed", "compensation_failed")]
        detail = saga.reason or ("still running" if saga.status == "running" else saga.status)
        findings.append(
            Finding(
                kind="workflow",
                system=next((s.system for s in saga.steps if s.name in failed), "workflows"),
                subject=f"workflow:{saga.workflow_id}",
                detail=f"{saga.kind} is {saga.status}: {detail}" + (f" (steps: {', '.join(failed)})" if failed else ""),
                tool=saga.kind,
                workflow_id=saga.workflow_id,
            )
        )
    return findings


async def reconcile(db: Database) -> ReconcileReport:
    entries = await audit.entries(db, writes_only=True)
    saga_records = await sagas.all_records(db)
    async with db.read() as conn:
        keys = {
            r.key: r.tool for r in (await conn.execute(select(idempotency_keys.c.key, idempotency_keys.c.tool))).all()
        }
        broken, checked = await _postconditions(conn, entries)
        invariants = await _invariants(conn)
    findings = [*broken, *_landed_not_ok(entries, saga_records, keys), *invariants, *_flagged(saga_records)]
    return ReconcileReport(findings=findings, checked_writes=checked, checked_workflows=len(saga_records))

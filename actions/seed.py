"""Deterministic seed data for the systems beside retail, generated for the retail store's customers.

`generate(users, seed=..., reference=...)` returns the other systems' top-level keys in the
export shape (plans, subscriptions for most customers with their entitlements and invoices, a
login account with a phone number for every customer, a few CRM cases, the callback slots of the
14 days from the reference date). Everything comes from `random.Random(seed)` and the reference
date, never from the clock, so the same seed gives the same data on every run and machine.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from actions.systems import billing, crm, identity, scheduler
from actions.systems.records import stable_id

DEFAULT_SEED = 20240603
REFERENCE_DATE = date(2024, 6, 3)

SUBSCRIBED_SHARE = 0.8
CANCELLED_SHARE = 0.06
PHONE_SHARE = 0.92
LOCKED_SHARE = 0.01
CASES = 25

_PLAN_WEIGHTS = {"basic": 5, "plus": 3, "premium": 2}
# Area codes of the store's cities; 555-01xx numbers are reserved for fiction, so no real person gets a call.
_AREA_CODES = (212, 213, 214, 215, 303, 305, 312, 404, 415, 469, 503, 512, 602, 617, 702, 713, 718, 720, 773, 917)
_CASE_SUBJECTS = (
    ("Question about delivery times", ["shipping"]),
    ("Promo code did not apply", ["pricing"]),
    ("Asked how to update card details", ["payments"]),
    ("Product question before buying", ["product"]),
    ("Complaint about courier", ["shipping", "complaint"]),
    ("Asked about membership benefits", ["subscription"]),
    ("Could not log in", ["account"]),
)


def _at(reference: date, days_before: int, minute_of_day: int) -> datetime:
    return datetime.combine(reference - timedelta(days=days_before), time(0), UTC) + timedelta(minutes=minute_of_day)


def _phone(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = f"+1{rng.choice(_AREA_CODES)}55501{rng.randint(0, 99):02d}"
        if number not in taken:
            taken.add(number)
            return number


def generate(
    users: dict[str, Any], *, seed: int = DEFAULT_SEED, reference: date = REFERENCE_DATE
) -> dict[str, dict[str, Any]]:
    """The seed systems for `users` (the retail `users` mapping), identical for identical inputs."""
    rng = random.Random(seed)
    plans = {p.plan_id: p for p in billing.DEFAULT_PLANS}
    out: dict[str, dict[str, Any]] = {
        "plans": {
            p.plan_id: p.model_copy(update={"position": n}).model_dump(mode="json")
            for n, p in enumerate(plans.values())
        },
        "subscriptions": {},
        "entitlements": {},
        "invoices": {},
        "billing_events": {},
        "accounts": {},
        "cases": {},
        "callback_slots": {},
    }
    phones: set[str] = set()
    user_ids = sorted(users)
    for user_id in user_ids:
        created = _at(reference, rng.randint(30, 900), rng.randint(0, 1439))
        locked = rng.random() < LOCKED_SHARE
        account = identity.Account(
            user_id=user_id,
            email=users[user_id]["email"],
            phone=_phone(rng, phones) if rng.random() < PHONE_SHARE else None,
            # Logins are not part of this data set: a placeholder that no password hashes to.
            password_hash="!placeholder$" + hashlib.sha256(f"{seed}:{user_id}".encode()).hexdigest()[:24],
            locked=locked,
            locked_reason="locked by support after a fraud report" if locked else None,
            created_at=created,
            updated_at=created,
        )
        out["accounts"][user_id] = account.model_dump(mode="json")
        if rng.random() >= SUBSCRIBED_SHARE:
            continue
        plan = plans[rng.choices(list(_PLAN_WEIGHTS), weights=list(_PLAN_WEIGHTS.values()))[0]]
        start = reference - timedelta(days=rng.randint(0, 27))
        cancelled = rng.random() < CANCELLED_SHARE
        since = _at(start, 0, rng.randint(0, 1439))
        sub = billing.Subscription(
            subscription_id=stable_id("SUB", str(seed), user_id),
            user_id=user_id,
            plan_id=plan.plan_id,
            status="cancelled" if cancelled else "active",
            period_start=start,
            period_end=billing.add_months(start, 1),
            renews=not cancelled,
            cancel_reason="customer request" if cancelled else None,
            cancelled_at=since + timedelta(days=1) if cancelled else None,
            created_at=since,
            updated_at=since,
        )
        out["subscriptions"][sub.subscription_id] = sub.model_dump(mode="json")
        if not cancelled:
            out["entitlements"][user_id] = [
                billing.Entitlement(user_id=user_id, entitlement=e, plan_id=plan.plan_id, granted_at=since).model_dump(
                    mode="json"
                )
                for e in sorted(set(plan.entitlements))
            ]
        invoice = billing.Invoice(
            invoice_id=stable_id("INV", str(seed), user_id, start.isoformat()),
            user_id=user_id,
            subscription_id=sub.subscription_id,
            kind="subscription",
            status="paid",
            total=plan.monthly_price,
            period_start=sub.period_start,
            period_end=sub.period_end,
            created_at=since,
            lines=[
                billing.InvoiceLine(
                    position=1,
                    kind="charge",
                    description=f"{plan.name} plan, one month",
                    plan_id=plan.plan_id,
                    amount=plan.monthly_price,
                    days=(sub.period_end - sub.period_start).days,
                )
            ],
        )
        out["invoices"][invoice.invoice_id] = invoice.model_dump(mode="json")
        event = billing.BillingEvent(
            event_id=stable_id("EV", str(seed), sub.subscription_id, "created"),
            subscription_id=sub.subscription_id,
            user_id=user_id,
            event="created",
            to_plan=plan.plan_id,
            at=since,
        )
        out["billing_events"][event.event_id] = event.model_dump(mode="json")
    for n, user_id in enumerate(rng.sample(user_ids, min(CASES, len(user_ids)))):
        subject, tags = _CASE_SUBJECTS[rng.randrange(len(_CASE_SUBJECTS))]
        opened = _at(reference, rng.randint(1, 60), rng.randint(0, 1439))
        case_id = stable_id("CS", str(seed), "seed", str(n))
        note = crm.Note(
            note_id=stable_id("NT", str(seed), "seed", str(n)),
            case_id=case_id,
            author="support",
            body=f"{subject}. Answered and closed on first contact."
            if n % 3
            else f"{subject}. Waiting on the customer.",
            created_at=opened,
        )
        case = crm.CaseDetail(
            case_id=case_id,
            user_id=user_id,
            subject=subject,
            status="open" if n % 3 == 0 else "closed",
            tags=list(tags),
            created_at=opened,
            updated_at=opened,
            notes=[note],
        )
        out["cases"][case_id] = case.model_dump(mode="json")
    for slot in scheduler.slots_for(reference):
        out["callback_slots"][slot.slot_id] = slot.model_dump(mode="json")
    return out

"""Billing: prorated plan changes, entitlements that follow the plan, cancellation, the current period."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from actions.errors import PreconditionFailed
from actions.systems import billing
from tests import office as office_module
from tests.office import subscriber

office_template = office_module.office_template
office = office_module.office

PLANS = {p.plan_id: p for p in billing.DEFAULT_PLANS}


def _cents(x: Decimal) -> float:
    return float(x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def _period_containing(sub: billing.Subscription, today: date) -> tuple[date, date]:
    start = sub.period_start
    while billing.add_months(start, 1) <= today:
        start = billing.add_months(start, 1)
    return start, billing.add_months(start, 1)


@pytest.mark.parametrize(("old", "new"), [("basic", "premium"), ("premium", "plus")])
async def test_a_plan_change_bills_the_rest_of_the_period_prorated(office, old, new):
    user_id = await subscriber(office, plan=old)
    today = date(2024, 6, 17)
    async with office.db.read() as conn:
        before = await billing.get_subscription(conn, user_id)
    start, end = _period_containing(before, today)
    days, left = (end - start).days, (end - today).days
    # The rule: credit the unused part of the old plan, charge the new one for the same days, in cents.
    credit = -_cents(Decimal(str(PLANS[old].monthly_price)) * left / days)
    charge = _cents(Decimal(str(PLANS[new].monthly_price)) * left / days)

    async with office.db.write() as conn:
        change = await billing.change_plan(conn, user_id, new, invoice_id="INV-TEST1", today=today)
    async with office.db.read() as conn:
        sub = await billing.get_subscription(conn, user_id)
        invoice = await billing.get_invoice(conn, "INV-TEST1")
        held = await billing.entitlements_of(conn, user_id)

    assert [(line.kind, line.plan_id, line.amount) for line in invoice.lines] == [
        ("credit", old, credit),
        ("charge", new, charge),
    ]
    assert invoice.total == round(credit + charge, 2)
    assert (invoice.period_start, invoice.period_end) == (start, end)
    assert change.direction == ("upgrade" if PLANS[new].monthly_price > PLANS[old].monthly_price else "downgrade")
    assert (sub.plan_id, sub.status, sub.version) == (new, "active", before.version + 1)
    assert held == sorted(PLANS[new].entitlements)


async def test_a_failed_plan_change_leaves_plan_entitlements_and_invoices_as_they_were(office):
    user_id = await subscriber(office, plan="basic")
    async with office.db.read() as conn:
        before = (await billing.get_subscription(conn, user_id), await billing.entitlements_of(conn, user_id))
        taken = (await billing.invoices_for(conn, user_id))[0].invoice_id
    # The invoice id is already used: the insert fails after the proration was computed.
    with pytest.raises(IntegrityError):
        async with office.db.write() as conn:
            await billing.change_plan(conn, user_id, "premium", invoice_id=taken)
    for plan_id in ("basic", "nonexistent"):
        with pytest.raises(PreconditionFailed) as refused:
            async with office.db.write() as conn:
                await billing.change_plan(conn, user_id, plan_id, invoice_id="INV-NEW")
        assert refused.value.code == ("same_plan" if plan_id == "basic" else "plan_not_found")
    async with office.db.read() as conn:
        after = (await billing.get_subscription(conn, user_id), await billing.entitlements_of(conn, user_id))
        invoices = await billing.invoices_for(conn, user_id)
    assert after == before
    assert [i.invoice_id for i in invoices] == [taken]


async def test_cancelling_revokes_every_entitlement_and_stops_renewal(office):
    user_id = await subscriber(office, plan="premium")
    async with office.db.write() as conn:
        sub = await billing.cancel(conn, user_id, reason="moving abroad")
    async with office.db.read() as conn:
        held = await billing.entitlements_of(conn, user_id)
    assert (sub.status, sub.renews, sub.cancel_reason) == ("cancelled", False, "moving abroad")
    assert held == []
    with pytest.raises(PreconditionFailed) as again:
        async with office.db.write() as conn:
            await billing.cancel(conn, user_id, reason="twice")
    assert again.value.code == "already_cancelled"
    with pytest.raises(PreconditionFailed) as change:
        async with office.db.write() as conn:
            await billing.change_plan(conn, user_id, "basic", invoice_id="INV-X")
    assert change.value.code == "subscription_not_active"


async def test_reinstating_a_cancellation_gives_the_plan_and_its_entitlements_back(office):
    user_id = await subscriber(office, plan="plus")
    async with office.db.write() as conn:
        await billing.cancel(conn, user_id, reason="test")
        sub = await billing.reinstate(conn, user_id, plan_id="plus")
    async with office.db.read() as conn:
        held = await billing.entitlements_of(conn, user_id)
        events = [e.event for e in await billing.events_for(conn, user_id)]
    assert (sub.status, sub.renews, sub.cancel_reason) == ("active", True, None)
    assert held == sorted(PLANS["plus"].entitlements)
    assert events == ["created", "cancelled", "reinstated"]


def test_a_renewing_subscription_rolls_its_period_forward_to_the_one_containing_today():
    now = datetime(2024, 1, 1, tzinfo=UTC)
    sub = billing.Subscription(
        subscription_id="SUB-1",
        user_id="u",
        plan_id="basic",
        status="active",
        period_start=date(2024, 1, 31),
        period_end=date(2024, 2, 29),
        renews=True,
        created_at=now,
        updated_at=now,
    )
    assert billing.current_period(sub, date(2024, 2, 10)) == (date(2024, 1, 31), date(2024, 2, 29))
    assert billing.current_period(sub, date(2024, 4, 30)) == (date(2024, 4, 30), date(2024, 5, 31))
    ended = sub.model_copy(update={"renews": False})
    assert billing.current_period(ended, date(2024, 4, 30)) == (date(2024, 1, 31), date(2024, 2, 29))


def test_proration_on_the_last_day_and_past_the_period_charges_nothing_more():
    full = billing.prorate(9.99, 29.99, date(2024, 6, 1), date(2024, 7, 1), date(2024, 6, 1))
    assert (full.credit, full.charge, full.total) == (-9.99, 29.99, 20.0)
    after = billing.prorate(9.99, 29.99, date(2024, 6, 1), date(2024, 7, 1), date(2024, 7, 5))
    assert (after.credit, after.charge, after.total) == (0.0, 0.0, 0.0)


async def test_every_active_subscription_holds_exactly_its_plan_entitlements(office):
    async with office.db.read() as conn:
        subs = (await conn.execute(select(billing.subscriptions))).all()
        for row in subs[:40]:
            held = await billing.entitlements_of(conn, row.user_id)
            expected = sorted(PLANS[row.plan_id].entitlements) if row.status == "active" else []
            assert held == expected, row.user_id

"""Conversations across the other systems: subscriptions, account access with a one-time code,
missing or damaged packages (with a person's approval above the threshold), callbacks, and
requests Frontdesk may never carry out."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from actions import audit
from actions.faults import parse_rules
from actions.systems import billing, notifications
from tests.dialogue_support import Chat, confirmation_ids, make_engine
from tests.office import delivered_order, subscriber


async def email_of(bo, user_id: str) -> str:
    export = await bo.export_data()
    return export["users"][user_id]["email"]


async def subscription_of(bo, user_id: str) -> dict:
    async with bo.db.read() as conn:
        stmt = select(billing.subscriptions).where(billing.subscriptions.c.user_id == user_id)
        row = (await conn.execute(stmt)).first()
    return dict(row._mapping)


async def last_code_sent_to(bo, user_id: str) -> str:
    """What the customer reads in their inbox: the code in the newest message of the outbox."""
    async with bo.db.read() as conn:
        rows = (
            (
                await conn.execute(
                    select(notifications.outbox)
                    .where(notifications.outbox.c.user_id == user_id)
                    .order_by(notifications.outbox.c.created_at.desc())
                )
            )
            .mappings()
            .all()
        )
    for row in rows:
        found = re.search(r"\b(\d{6})\b", row["body"])
        if found:
            return found.group(1)
    raise AssertionError("no code in the customer's messages")


@pytest.fixture
async def chat(office) -> Chat:
    c = Chat(await make_engine(office))
    await c.start()
    return c


async def test_subscription_upgrade_with_prorated_invoice(chat, office):
    user_id = await subscriber(office, plan="basic")
    await chat.script("I'd like to upgrade my subscription", await email_of(office, user_id))
    assert chat.state.expects == "plan_id", chat.text
    await chat.say("premium please")
    assert chat.state.expects == "confirmation" and "Premium" in chat.text
    assert (await subscription_of(office, user_id))["plan_id"] == "basic"
    await chat.say("yes")
    assert (await subscription_of(office, user_id))["plan_id"] == "premium"
    assert "Premium" in chat.text and confirmation_ids(chat.text)
    assert re.search(r"prorated invoice INV-\w+ of \$\d", chat.text)


async def test_subscription_cancel_revokes_benefits(chat, office):
    user_id = await subscriber(office, plan="plus")
    await chat.script("cancel my subscription", await email_of(office, user_id))
    assert chat.state.expects == "confirmation" and "won't renew" in chat.text
    await chat.say("yes")
    sub = await subscription_of(office, user_id)
    assert sub["status"] == "cancelled"
    assert "cancelled" in chat.text and chat.state.actions[-1].verified


async def test_password_reset_needs_a_one_time_code(chat, office):
    user_id = await subscriber(office)
    await chat.script("I forgot my password and can't log in", await email_of(office, user_id))
    assert chat.state.expects == "otp_code" and "six-digit code" in chat.text
    assert chat.state.identity.level.value == "basic"
    await chat.say("it's 000000")
    assert "doesn't match" in chat.text and chat.state.identity.level.value == "basic"
    code = await last_code_sent_to(office, user_id)
    await chat.say(" ".join(code))
    assert chat.state.identity.level.value == "strong"
    assert chat.state.expects == "confirmation"
    await chat.say("yes")
    assert "reset link" in chat.text and chat.state.actions[-1].verified
    transcript = await chat.engine.transcript(chat.session_id)
    assert all(code not in t.text and " ".join(code) not in t.text for t in transcript), "codes are masked"


async def test_missing_package_refund_under_threshold(chat, office):
    skip = 0
    order = await delivered_order(office, under=100.0)
    while len(order["items"]) > 1 or order["payment_history"][0]["amount"] >= 100:
        skip += 1
        order = await delivered_order(office, under=100.0, skip=skip)
    await chat.script("my package never arrived", await email_of(office, order["user_id"]))
    if chat.state.expects == "order_id":
        await chat.say(choice=order["order_id"])
    await chat.say("a refund please")
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("yes")
    assert chat.state.actions[-1].verified and confirmation_ids(chat.text)
    export = await office.export_data()
    refunds = [e for e in export["orders"][order["order_id"]]["payment_history"] if e["transaction_type"] == "refund"]
    assert refunds, "the refund is recorded on the order"


async def test_large_refund_waits_for_a_person_then_reports_verified_result(chat, office):
    order = await delivered_order(office, over=150.0)
    await chat.script("my package never arrived", await email_of(office, order["user_id"]))
    if chat.state.expects == "order_id":
        await chat.say(choice=order["order_id"])
    await chat.say("I want my money back")
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("yes")
    assert "supervisor's approval" in chat.text and "Nothing has been changed" in chat.text
    assert chat.state.outcome == "pending_approval"
    before = await office.export_data()
    assert before["orders"][order["order_id"]] == (await office.export_data())["orders"][order["order_id"]]
    pending = await chat.engine.pending_approvals()
    assert len(pending) == 1 and pending[0].tool == "refund_package"
    result = await chat.engine.decide_approval(pending[0].approval_id, approve=True, by="agent.ana")
    said = " ".join(m.text for m in result.messages)
    assert "approved" in said and confirmation_ids(said)
    assert result.state.actions[-1].verified and result.state.outcome in ("resolved", "in_progress")


async def test_denied_approval_changes_nothing(chat, office):
    order = await delivered_order(office, over=150.0)
    await chat.script("my package never arrived", await email_of(office, order["user_id"]))
    if chat.state.expects == "order_id":
        await chat.say(choice=order["order_id"])
    await chat.script("refund", "yes")
    before = await office.export_data()
    pending = await chat.engine.pending_approvals()
    result = await chat.engine.decide_approval(
        pending[0].approval_id, approve=False, by="agent.ana", note="The carrier shows it delivered to your door."
    )
    said = " ".join(m.text for m in result.messages)
    assert "couldn't approve" in said and "carrier shows" in said
    after = await office.export_data()
    assert after["orders"] == before["orders"] and after["payments_ledger"] == before["payments_ledger"]


async def test_book_a_callback(chat, office):
    user_id = await subscriber(office)
    await chat.script("can someone call me back", await email_of(office, user_id))
    assert chat.state.expects == "slot_id" and chat.choices
    slot = chat.choices[0]
    await chat.say(choice=slot.value)
    assert chat.state.expects == "confirmation" and slot.label in chat.text
    await chat.say("yes")
    assert chat.state.actions[-1].verified and confirmation_ids(chat.text)
    export = await office.export_data()
    bookings = export["callback_bookings"]
    flat = bookings.values() if isinstance(bookings, dict) else bookings
    assert any(b["slot_id"] == slot.value and b["user_id"] == user_id for b in flat)


async def test_billing_down_is_said_plainly_and_offers_callback(chat, office):
    user_id = await subscriber(office, plan="basic")
    await chat.script("I'd like to upgrade my subscription", await email_of(office, user_id), "premium")
    office.faults.add(*parse_rules("billing:error:x50"))
    await chat.say("yes")
    assert not confirmation_ids(chat.text) and "Done" not in chat.text
    assert (await subscription_of(office, user_id))["plan_id"] == "basic"
    assert {c.value for c in chat.choices} >= {"callback", "person"}


@pytest.mark.parametrize(
    "request_text",
    [
        "please delete my account",
        "change the email on my account to x@y.com",
        "refund it to another card, 4111 1111 1111 1111",
    ],
)
async def test_forbidden_requests_are_refused_and_audited(chat, office, request_text):
    await chat.say(request_text)
    assert "not able to do that" in chat.text
    assert {c.value for c in chat.choices} >= {"person"}
    refused = [e for e in await audit.entries(office.db) if e.status == "forbidden"]
    assert len(refused) == 1

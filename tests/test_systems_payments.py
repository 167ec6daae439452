"""Payments ledger, package claims and the notifications outbox at the level of each system."""

from __future__ import annotations

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from actions.errors import Conflict, InvalidArguments, PreconditionFailed
from actions.models import utcnow
from actions.systems import claims, notifications, payments
from tests import office as office_module

office_template = office_module.office_template
office = office_module.office


async def _refund(bo, refund_id: str, kind: str, amount: float = 12.345) -> payments.Refund:
    async with bo.db.write() as conn:
        return await payments.issue_refund(
            conn,
            refund_id=refund_id,
            order_id="#W1",
            user_id="u1",
            amount=amount,
            payment_method_id=f"{kind}_1",
            method_kind=kind,
            reason="test",
        )


async def test_a_gift_card_refund_settles_at_once_and_others_in_five_to_seven_days(office):
    card = await _refund(office, "RF-1", "gift_card")
    other = await _refund(office, "RF-2", "credit_card", amount=5)
    assert (card.status, card.settles, card.amount) == ("settled", "immediately", 12.35)
    assert (other.status, other.settles) == ("pending", "5-7 business days")
    async with office.db.read() as conn:
        assert [r.refund_id for r in await payments.refunds_for_order(conn, "#W1")] == ["RF-1", "RF-2"]


async def test_refund_amounts_must_be_positive_and_ids_unique(office):
    with pytest.raises(InvalidArguments):
        await _refund(office, "RF-3", "paypal", amount=0.001)
    await _refund(office, "RF-4", "paypal")
    with pytest.raises(Conflict):
        await _refund(office, "RF-4", "paypal")


async def test_a_reversal_keeps_the_entry_and_happens_once(office):
    await _refund(office, "RF-5", "paypal")
    async with office.db.write() as conn:
        reversed_ = await payments.reverse_refund(conn, "RF-5", reason="sent twice")
    assert (reversed_.status, reversed_.reversal_reason) == ("reversed", "sent twice")
    with pytest.raises(PreconditionFailed):
        async with office.db.write() as conn:
            await payments.reverse_refund(conn, "RF-5", reason="again")


def _claim(claim_id: str, status: str = "open") -> claims.Claim:
    now = utcnow()
    return claims.Claim(
        claim_id=claim_id,
        order_id="#W2",
        user_id="u1",
        kind="missing",
        item_ids=["1"],
        resolution="refund",
        amount=10.0,
        status=status,
        created_at=now,
        updated_at=now,
    )


async def test_an_order_has_one_live_claim_at_a_time(office):
    async with office.db.write() as conn:
        await claims.file_claim(conn, _claim("CLM-1"))
    with pytest.raises(PreconditionFailed) as again:
        async with office.db.write() as conn:
            await claims.file_claim(conn, _claim("CLM-2"))
    assert again.value.code == "already_claimed"
    with pytest.raises(IntegrityError):
        async with office.db.write() as conn:
            await conn.execute(insert(claims.claims).values(**_claim("CLM-3").model_dump()))
    async with office.db.write() as conn:
        await claims.withdraw(conn, "CLM-1")
        await claims.file_claim(conn, _claim("CLM-4"))
        assert (await claims.live_claim(conn, "#W2")).claim_id == "CLM-4"


async def test_messages_go_only_to_well_formed_addresses_with_a_known_template(office):
    async def send(**kw):
        args = {"message_id": "MSG-1", "user_id": "u1", "template": "callback_booked", "reference": "r"}
        args["fields"] = {"phone": "***0100", "when": "Monday", "topic": "bill", "booking_id": "BK-1"}
        async with office.db.write() as conn:
            return await notifications.send(conn, **(args | kw))

    for channel, to in (("sms", "555-0100"), ("email", "not an address")):
        with pytest.raises(InvalidArguments) as bad:
            await send(channel=channel, to=to)
        assert bad.value.code == "bad_destination"
    with pytest.raises(InvalidArguments) as unknown:
        await send(channel="sms", to="+12125550100", template="free_text")
    assert unknown.value.code == "unknown_template"
    with pytest.raises(InvalidArguments) as missing:
        await send(channel="sms", to="+12125550100", fields={"phone": "x"})
    assert missing.value.code == "template_field_missing"
    sent = await send(channel="sms", to="+12125550100")
    assert sent.subject is None
    assert sent.body == "We will call you on ***0100 on Monday about bill. Your booking reference is BK-1."
    async with office.db.read() as conn:
        assert await notifications.messages(conn, user_id="u1") == [sent]

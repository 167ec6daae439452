"""Where is my refund? The order's refunds as the back office holds them: the refunds on its payment
history (a cancellation, a return) and the payments ledger's (a package claim), each once, with the
method it went to and when it arrives; only after identity, and only for the customer's own orders."""

from __future__ import annotations

import re

import pytest

from tests import retail_reference as ref
from tests.dialogue_support import Chat, make_engine
from tests.office import delivered_order


@pytest.fixture
async def chat(office) -> Chat:
    c = Chat(await make_engine(office))
    await c.start()
    return c


async def email_of(bo, user_id: str) -> str:
    return (await bo.export_data())["users"][user_id]["email"]


def pending_card_order(data: dict) -> dict:
    return ref.pick(
        data, "pending, paid once by card", status="pending",
        where=lambda o: len(o["payment_history"]) == 1
        and o["payment_history"][0]["payment_method_id"].startswith("credit_card"),
    )  # fmt: skip


async def test_it_needs_identity_and_says_so_when_there_is_no_refund(chat, office, data):
    order = pending_card_order(data)
    await chat.say(f"where is my refund for order {order['order_id']}")
    assert chat.state.expects == "identity" and order["order_id"] not in chat.text
    await chat.say(await email_of(office, order["user_id"]))
    assert f"don't see a refund on order {order['order_id']}" in chat.text
    assert chat.state.actions == [] and chat.last.state.intents[0].intent == "refund_status"


async def test_a_cancellation_refund_is_told_with_its_method_and_timing(chat, office, data):
    order = pending_card_order(data)
    amount = order["payment_history"][0]["amount"]
    await chat.script(
        f"cancel order {order['order_id']}", await email_of(office, order["user_id"]), "ordered by mistake"
    )
    await chat.say("yes")
    assert chat.state.actions[-1].verified
    await chat.say(f"has my refund for order {order['order_id']} been processed?")
    assert f"${amount:,.2f}" in chat.text and "ending in" in chat.text and "5 to 7 business days" in chat.text, (
        chat.text
    )


async def test_a_claim_refund_is_told_once_with_its_date_and_state(chat, office):
    order = await delivered_order(office, under=100.0)
    skip = 0
    while len(order["items"]) > 1 or order["payment_history"][0]["amount"] >= 100:
        skip += 1
        order = await delivered_order(office, under=100.0, skip=skip)
    await chat.script("my package never arrived", await email_of(office, order["user_id"]))
    if chat.state.expects == "order_id":
        await chat.say(choice=order["order_id"])
    await chat.script("a refund please", "yes")
    assert chat.state.actions[-1].verified, chat.text
    await chat.say(f"where is my refund for order {order['order_id']}")
    amount = f"${order['payment_history'][0]['amount']:,.2f}"
    assert chat.text.count(amount) == 1, chat.text  # the ledger's refund and the order's entry are one refund
    month = r"(January|February|March|April|May|June|July|August|September|October|November|December) \d+"
    assert re.search(month, chat.text) and ("already back" in chat.text or "arriving" in chat.text), chat.text


async def test_another_customers_order_is_not_looked_into(chat, office, data):
    mine = pending_card_order(data)
    theirs = ref.pick(data, "someone else's", where=lambda o: o["user_id"] != mine["user_id"])
    await chat.script(await email_of(office, mine["user_id"]), f"where is my refund for order {theirs['order_id']}")
    # Asked which of their own orders it is about; nothing of the other customer's is read or said.
    assert chat.state.expects == "order_id" and theirs["order_id"] not in [c.value for c in chat.choices]
    assert not any(e.name == "get_order_refunds" for e in await chat.engine.store.events(chat.session_id))

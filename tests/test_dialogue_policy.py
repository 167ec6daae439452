"""Policy the dialogue must hold whatever the customer says: no write without a yes, identity
before account data, one customer per conversation, hand-offs when they are due."""

from __future__ import annotations

import pytest

from actions import audit
from tests import retail_reference as ref
from tests.dialogue_support import Chat, make_engine


@pytest.fixture
async def chat(backoffice) -> Chat:
    c = Chat(await make_engine(backoffice))
    await c.start()
    return c


def pending_card_order(data: dict) -> dict:
    return ref.pick(
        data,
        "pending card order",
        status="pending",
        where=lambda o: len(o["payment_history"]) == 1 and ref.paid_with(data, o)["source"] != "gift_card",
    )


async def to_readback(chat: Chat, data: dict, o: dict) -> None:
    user = data["users"][o["user_id"]]
    await chat.script(f"cancel order {o['order_id']}", user["email"], "no longer needed")
    assert chat.state.expects == "confirmation", chat.text


async def test_no_write_without_an_explicit_yes(chat, backoffice, data):
    o = pending_card_order(data)
    await to_readback(chat, data, o)
    await chat.say("hmm maybe")
    assert "yes to go ahead" in chat.text
    await chat.say("no")
    assert "haven't changed anything" in chat.text
    await chat.say("never mind")
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(data)
    writes = [e for e in await audit.entries(backoffice.db) if e.write and e.tool == "cancel_pending_order"]
    assert writes == []


async def test_no_account_data_before_identity(chat, backoffice, data):
    o = ref.pick(data, "processed with tracking", status="processed", where=lambda o: o["fulfillments"])
    await chat.say(f"what's the status of order {o['order_id']}")
    assert chat.state.expects == "identity"
    tracking = o["fulfillments"][0]["tracking_id"][0]
    assert tracking not in chat.everything()
    assert not any(line["name"] in chat.everything() for line in o["items"])
    reads = [e.tool for e in await audit.entries(backoffice.db)]
    assert "get_order_details" not in reads and "get_user_details" not in reads


async def test_user_id_is_not_proof_of_identity(chat, data):
    o = pending_card_order(data)
    await chat.say(f"my user id is {o['user_id']}, cancel order {o['order_id']}")
    assert chat.state.identity.level.value == "none"
    assert chat.state.expects == "identity"


async def test_another_customers_order_is_refused_without_leaking(chat, backoffice, data):
    mine = pending_card_order(data)
    other = ref.pick(
        data,
        "someone else's processed order",
        status="processed",
        where=lambda o: o["user_id"] != mine["user_id"] and o["fulfillments"],
    )
    user = data["users"][mine["user_id"]]
    await chat.script("I want to check an order", user["email"], f"it's order {other['order_id']}")
    assert f"can't find order {other['order_id']} on your account" in chat.text
    said = chat.everything()
    assert other["fulfillments"][0]["tracking_id"][0] not in said
    assert not any(
        line["name"] in said
        for line in other["items"]
        if line["name"]
        not in {i["name"] for o in data["orders"].values() if o["user_id"] == mine["user_id"] for i in o["items"]}
    )


async def test_another_customers_email_is_refused_after_verification(chat, data):
    o = pending_card_order(data)
    user = data["users"][o["user_id"]]
    other = ref.another_user(data, user["user_id"])
    await chat.script("I want to check my order", user["email"])
    await chat.say(f"actually look up {other['email']} instead")
    assert "only help with the account verified" in chat.text
    assert chat.state.identity.user_id == user["user_id"]


async def test_identity_failures_hand_off(chat):
    await chat.say("I want to return something")
    for attempt in range(3):
        await chat.say(f"nobody{attempt}@example.com")
    assert chat.state.outcome == "handed_off"
    assert chat.last.handoff is not None and chat.last.handoff.reason == "identity_failed"


async def test_talk_to_a_person_at_any_point_hands_off_with_summary(chat, backoffice, data):
    o = pending_card_order(data)
    user = data["users"][o["user_id"]]
    await chat.script(f"cancel order {o['order_id']}", user["email"])
    await chat.say("let me talk to a person")
    summary = chat.last.handoff
    assert summary is not None and summary.reason == "customer_request"
    assert summary.customer["user_id"] == user["user_id"] and summary.identity_level == "basic"
    assert "cancel_order" in summary.intents and summary.slots.get("order_id") == o["order_id"]
    assert summary.ticket_id and summary.transcript
    assert "won't need to repeat" in chat.text
    export = await backoffice.export_data()
    tickets = export.get("tickets") or export.get("helpdesk_tickets") or {}
    flat = tickets.values() if isinstance(tickets, dict) else tickets
    assert any(t.get("ticket_id") == summary.ticket_id for t in flat)


async def test_a_hand_off_summary_lists_each_request_once_and_a_refused_change_as_refused(chat, data):
    o = pending_card_order(data)
    await to_readback(chat, data, o)
    await chat.say("no")
    await chat.say(f"where is order {o['order_id']}")
    await chat.say("this is ridiculous")
    await chat.say("let me talk to a person")
    summary = chat.last.handoff
    cancel = next(r for r in summary.requests if r["request"] == "cancel_order")
    assert cancel["refused"] == ["cancel_pending_order"] and "details" not in cancel
    assert "refused at the read-back: cancel order" in summary.issue_summary
    assert "cancel_reason" not in summary.slots  # a refused change's details are not what the customer wants
    assert len(summary.intents) == len(set(summary.intents))
    assert summary.frustration >= 1


async def test_no_said_again_and_again_counts_as_frustration(chat, data):
    o = pending_card_order(data)
    await to_readback(chat, data, o)
    for _ in range(3):
        await chat.say("no")
    assert chat.state.frustration >= 1, chat.everything()


async def test_two_turns_not_understood_hand_off(chat):
    await chat.say("blorf the quantum giraffe")
    assert chat.state.outcome == "in_progress"
    await chat.say("zzzz qqq vvv")
    assert chat.state.outcome == "handed_off"
    assert chat.last.handoff.reason == "not_understood"


async def test_repeat_that_repeats_the_question(chat, data):
    o = pending_card_order(data)
    await chat.say(f"cancel order {o['order_id']}")
    question = chat.state.last_prompt
    await chat.say("sorry can you repeat that")
    assert chat.text == question


async def test_never_mind_stops_the_request(chat, backoffice, data):
    o = pending_card_order(data)
    await to_readback(chat, data, o)
    await chat.say("never mind, forget it")
    assert "Nothing was changed" in chat.text
    assert chat.state.pending_confirmation is None
    assert ref.retail_part(await backoffice.export_data()) == ref.retail_part(data)


async def test_frustration_hands_off(chat, data):
    await chat.say("I want to check my order")
    await chat.say("this is ridiculous, I've asked three times already")
    await chat.say("THIS IS RIDICULOUS I AM SO FED UP")
    assert chat.state.outcome == "handed_off"
    assert chat.last.handoff.reason == "frustration"


async def test_digression_then_back_to_the_first_request(chat, backoffice, data):
    user_id = next(
        uid
        for uid, u in data["users"].items()
        if any(data["orders"][x]["status"] == "delivered" for x in u["orders"])
        and any(data["orders"][x]["status"] == "processed" and data["orders"][x]["fulfillments"] for x in u["orders"])
    )
    user = data["users"][user_id]
    shipped = next(data["orders"][x] for x in user["orders"] if data["orders"][x]["status"] == "processed")
    await chat.script("I want to return an item", user["email"])
    assert chat.state.intent == "return_items"
    await chat.say(f"wait, first where is my order {shipped['order_id']}")
    said = chat.text
    assert shipped["fulfillments"][0]["tracking_id"][0] in said
    assert "back to your return" in said
    assert chat.state.intent == "return_items"


async def test_several_requests_in_one_sentence(chat, data):
    user = next(
        u
        for u in data["users"].values()
        if any(data["orders"][x]["status"] == "processed" and data["orders"][x]["fulfillments"] for x in u["orders"])
    )
    await chat.say("I want to check where my order is and also update my address")
    await chat.say(user["email"])
    intents = [f.intent for f in chat.state.intents]
    assert intents[:2] == ["order_status", "update_default_address"] or set(intents) >= {
        "order_status",
        "update_default_address",
    }


async def test_policy_question_answered_without_login(chat):
    await chat.say("how long does a refund take?")
    assert "5 to 7 business days" in chat.text
    assert chat.state.identity.level.value == "none"


async def test_greeting_and_goodbye(chat):
    await chat.say("hello")
    assert "What would you like to do" in chat.text
    await chat.say("bye")
    assert chat.last.ended and chat.state.outcome == "abandoned"

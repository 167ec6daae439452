"""Whole conversations for every retail workflow, typed, as speech recognition writes them, and in
Spanish, against the real back office loaded from db.json.

Each test drives the dialogue the way a customer would (answering whatever the bot asks), then
checks the back office against the retail rules applied to db.json by the reference model, and
checks that what the customer was told quotes the verified result.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import retail_reference as ref
from tests.dialogue_support import Chat, confirmation_ids, make_engine, spoken_email, spoken_order

Reply = str | dict | Callable[[Chat], str | dict]


async def drive(chat: Chat, answers: dict[str, Reply], *, max_turns: int = 14) -> None:
    """Answer each question the bot asks from `answers` (keyed by what it expects) until it asks
    something not in the table (typically the yes/no read-back)."""
    for _ in range(max_turns):
        expects = chat.state.expects
        if expects not in answers:
            return
        reply = answers[expects]
        if callable(reply):
            reply = reply(chat)
        if isinstance(reply, dict):
            await chat.say(**reply)
        else:
            await chat.say(reply)
    raise AssertionError(f"the conversation did not settle; last bot turn: {chat.text}")


def pick_choice(predicate: Callable[[str], bool]) -> Callable[[Chat], dict]:
    def choose(chat: Chat) -> dict:
        for choice in chat.choices:
            if predicate(choice.value):
                return {"choice": choice.value}
        raise AssertionError(f"no quick reply fits; offered {[c.value for c in chat.choices]}")

    return choose


async def retail_export(backoffice) -> dict:
    return ref.retail_part(await backoffice.export_data())


def single_payment(o: dict) -> bool:
    return len(o["payment_history"]) == 1 and o["payment_history"][0]["transaction_type"] == "payment"


@pytest.fixture
async def chat(backoffice) -> Chat:
    c = Chat(await make_engine(backoffice))
    await c.start()
    return c


# ---------------------------------------------------------------------------------------------- cancel


@pytest.mark.parametrize("style", ["typed", "asr"])
async def test_cancel_pending_order_card(chat, backoffice, data, style):
    o = ref.pick(
        data,
        "pending, paid once by card or paypal",
        status="pending",
        where=lambda o: single_payment(o) and not ref.paid_with(data, o)["source"] == "gift_card",
    )
    user = data["users"][o["user_id"]]
    if style == "typed":
        await chat.say(f"Hi, I want to cancel order {o['order_id']}")
    else:
        await chat.say(f"uh hi yeah i want to cancel order number {spoken_order(o['order_id'])}")
    # Identity comes before any account data: nothing about the order has been said yet.
    assert chat.state.expects == "identity"
    assert not any(line["name"] in chat.text for line in o["items"])
    await chat.say(user["email"] if style == "typed" else spoken_email(user["email"]))
    await drive(chat, {"reason": "i ordered it by mistake", "order_id": {"choice": o["order_id"]}})
    assert chat.state.expects == "confirmation"
    assert o["order_id"] in chat.text and f"{o['payment_history'][0]['amount']:,.2f}" in chat.text
    before = await retail_export(backoffice)
    assert before == ref.retail_part(data), "nothing may be written before the yes"

    await chat.say("yes please" if style == "typed" else "yeah go ahead")
    expected = ref.clone(data)
    ref.cancel(expected, o["order_id"], "ordered by mistake")
    assert await retail_export(backoffice) == ref.retail_part(expected)
    action = chat.state.actions[-1]
    assert action.tool == "cancel_pending_order" and action.verified and action.status == "ok"
    assert action.confirmation_id in chat.text and "cancelled" in chat.text
    assert "5 to 7 business days" in chat.text
    assert chat.state.outcome == "resolved"


async def test_cancel_gift_card_order_refunds_at_once(chat, backoffice, data):
    o = ref.pick(
        data,
        "pending, paid by gift card",
        status="pending",
        where=lambda o: single_payment(o) and ref.paid_with(data, o)["source"] == "gift_card",
    )
    user = data["users"][o["user_id"]]
    await chat.script("I need to cancel an order", user["email"])
    await drive(chat, {"order_id": {"choice": o["order_id"]}, "reason": "I don't need it anymore"})
    await chat.say("yes")
    expected = ref.clone(data)
    ref.cancel(expected, o["order_id"], "no longer needed")
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert "right away" in chat.text and "gift card" in chat.text


async def test_cancel_refused_for_a_delivered_order(chat, backoffice, data):
    o = ref.pick(data, "delivered", status="delivered")
    user = data["users"][o["user_id"]]
    await chat.script(f"cancel order {o['order_id']}", user["email"])
    assert "can't be cancelled" in chat.everything()
    assert await retail_export(backoffice) == ref.retail_part(data)


# ---------------------------------------------------------------------------------------------- returns


@pytest.mark.parametrize("style", ["typed", "asr"])
async def test_return_one_item_to_original_method(chat, backoffice, data, style):
    o = ref.pick(
        data,
        "delivered with two differently named items",
        status="delivered",
        where=lambda o: len({i["name"] for i in o["items"]}) == len(o["items"]) == 2,
    )
    user = data["users"][o["user_id"]]
    item = o["items"][0]
    original = ref.first_payment_method(o)
    await chat.say("i'd like to return something" if style == "typed" else "um i wanna return something")
    name = user["name"]
    await chat.say(f"my name is {name['first_name']} {name['last_name']} and my zip is {user['address']['zip']}")
    await drive(
        chat,
        {
            "order_id": {"choice": o["order_id"]},
            "item_ids": lambda c: f"the {item['name'].lower()}" if not c.state.slots.get("item_ids") else "that's all",
            "payment_method_id": {"choice": original},
        },
    )
    assert chat.state.expects == "confirmation"
    await chat.say("yes")
    expected = ref.clone(data)
    ref.return_items(expected, o["order_id"], [item["item_id"]], original)
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert "return" in chat.text and confirmation_ids(chat.text)


# ---------------------------------------------------------------------------------------------- exchange


def _exchangeable(data: dict, o: dict) -> bool:
    return any(ref.alternatives(data, line) for line in o["items"])


async def test_exchange_item_for_variant_described_in_words(chat, backoffice, data):
    o = ref.pick(
        data,
        "delivered, single item with alternatives",
        status="delivered",
        where=lambda o: len(o["items"]) == 1 and _exchangeable(data, o),
    )
    user = data["users"][o["user_id"]]
    line = o["items"][0]
    target = ref.alternatives(data, line)[0]
    await chat.say(f"I want to exchange the {line['name'].lower()} from my order")
    await chat.say(user["email"])
    await drive(
        chat,
        {
            "order_id": {"choice": o["order_id"]},
            "new_item_ids": lambda c: " ".join(str(v) for v in target["options"].values()),
            "payment_method_id": {"choice": ref.first_payment_method(o)},
        },
    )
    assert chat.state.expects == "confirmation", chat.text
    # The read-back names each option that changes, with its old and new value.
    changed = {k: v for k, v in target["options"].items() if str(line["options"].get(k)) != str(v)}
    assert changed and all(f"{k} {line['options'][k]} to {v}" in chat.text for k, v in changed.items()), chat.text
    await chat.say("yes")
    expected = ref.clone(data)
    ref.exchange(expected, o["order_id"], [line["item_id"]], [target["item_id"]], ref.first_payment_method(o))
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert "exchange" in chat.text.lower() and confirmation_ids(chat.text)


async def test_exchange_correction_during_readback(chat, backoffice, data):
    o = ref.pick(
        data,
        "delivered single item with two alternatives",
        status="delivered",
        where=lambda o: len(o["items"]) == 1 and len(ref.alternatives(data, o["items"][0])) >= 2,
    )
    user = data["users"][o["user_id"]]
    line = o["items"][0]
    first, second = ref.alternatives(data, line)[:2]
    await chat.script(f"exchange order {o['order_id']}", user["email"])
    await drive(
        chat,
        {"new_item_ids": {"choice": first["item_id"]}, "payment_method_id": {"choice": ref.first_payment_method(o)}},
    )
    assert chat.state.expects == "confirmation"
    await chat.say("no, make it " + " ".join(str(v) for v in second["options"].values()))
    assert chat.state.expects == "confirmation"
    assert chat.state.pending_confirmation.arguments["new_item_ids"] == [second["item_id"]]
    assert await retail_export(backoffice) == ref.retail_part(data)
    await chat.say("yes")
    expected = ref.clone(data)
    ref.exchange(expected, o["order_id"], [line["item_id"]], [second["item_id"]], ref.first_payment_method(o))
    assert await retail_export(backoffice) == ref.retail_part(expected)


# ---------------------------------------------------------------------------------------------- modify


async def test_modify_pending_order_address(chat, backoffice, data):
    o = ref.pick(data, "pending", status="pending")
    user = data["users"][o["user_id"]]
    new = ref.an_address(data, user["user_id"])
    spoken = f"{new['address1']} {new['address2']} {new['city']} {new['state']} {new['zip']}".replace("  ", " ")
    await chat.script(f"I need to change the shipping address on order {o['order_id']}", user["email"])
    await drive(chat, {"address": spoken})
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("yes")
    expected = ref.clone(data)
    ref.modify_address(expected, o["order_id"], new | {"country": "USA"})
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert new["address1"] in chat.text


async def test_modify_payment_to_gift_card(chat, backoffice, data):
    def fits(o):
        if not single_payment(o):
            return False
        cards = ref.user_methods(
            data,
            o["user_id"],
            lambda pm: (
                pm["source"] == "gift_card"
                and pm["balance"] >= o["payment_history"][0]["amount"]
                and pm["id"] != o["payment_history"][0]["payment_method_id"]
            ),
        )
        return bool(cards)

    o = ref.pick(data, "pending, a gift card covering it", status="pending", where=fits)
    user = data["users"][o["user_id"]]
    card = next(pm for pm in user["payment_methods"].values() if pm["source"] == "gift_card")
    await chat.script(f"can I pay for order {o['order_id']} with a different payment method", user["email"])
    await drive(chat, {"payment_method_id": "use my gift card"})
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("yes")
    expected = ref.clone(data)
    ref.modify_payment(expected, o["order_id"], card["id"])
    assert await retail_export(backoffice) == ref.retail_part(expected)


async def test_modify_items_reminds_list_complete_and_changes_once(chat, backoffice, data):
    o = ref.pick(
        data,
        "pending with a swappable item",
        status="pending",
        where=lambda o: len(o["items"]) >= 2 and ref.alternatives(data, o["items"][0]),
    )
    user = data["users"][o["user_id"]]
    line = o["items"][0]
    target = ref.alternatives(data, line)[0]
    method = ref.first_payment_method(o)
    await chat.script(f"I want to change an item in order {o['order_id']}", user["email"])
    await drive(
        chat,
        {
            "item_ids": lambda c: (
                {"choice": line["item_id"]} if not c.state.slots.get("item_ids") else "that's everything"
            ),
            "new_item_ids": {"choice": target["item_id"]},
            "payment_method_id": {"choice": method},
        },
    )
    assert "list is complete" in chat.everything()
    assert chat.state.expects == "confirmation"
    assert "only be changed once" in chat.text
    await chat.say("yes")
    expected = ref.clone(data)
    ref.modify_items(expected, o["order_id"], [line["item_id"]], [target["item_id"]], method)
    assert await retail_export(backoffice) == ref.retail_part(expected)


async def test_update_default_address(chat, backoffice, data):
    user = next(iter(data["users"].values()))
    new = ref.an_address(data, user["user_id"])
    await chat.script("I moved, please update my address", user["email"])
    await drive(chat, {"address": f"{new['address1']}, {new['city']}, {new['state']} {new['zip']}"})
    assert chat.state.expects == "confirmation"
    await chat.say("yes")
    expected = ref.clone(data)
    ref.modify_user_address(expected, user["user_id"], new | {"address2": "", "country": "USA"})
    assert await retail_export(backoffice) == ref.retail_part(expected)


# ---------------------------------------------------------------------------------------------- reads


async def test_order_status_with_tracking(chat, data):
    o = ref.pick(data, "processed with tracking", status="processed", where=lambda o: o["fulfillments"])
    user = data["users"][o["user_id"]]
    await chat.script(f"where is my order {o['order_id']}", user["email"])
    assert o["fulfillments"][0]["tracking_id"][0] in chat.text
    assert "shipped" in chat.text


async def test_product_question_needs_no_login(chat, data):
    product = next(p for p in data["products"].values() if p["name"] == "Mechanical Keyboard")
    available = [v for v in product["variants"].values() if v["available"]]
    await chat.say("what options does the mechanical keyboard come in")
    assert chat.state.identity.level.value == "none"
    assert f"{len(available)} available options" in chat.text
    assert "clicky" in chat.text


async def test_the_cheapest_option_of_a_product_is_named_with_its_options(chat, data):
    product = next(p for p in data["products"].values() if p["name"] == "Mechanical Keyboard")
    cheapest = min((v for v in product["variants"].values() if v["available"]), key=lambda v: v["price"])
    await chat.say("what's the cheapest mechanical keyboard you have right now?")
    told = chat.text.split("cheapest")[-1]
    assert f"${cheapest['price']:,.2f}" in told
    assert all(str(value) in told for value in cheapest["options"].values())


# ---------------------------------------------------------------------------------------------- Spanish


async def test_spanish_cancel(backoffice, data):
    chat = Chat(await make_engine(backoffice))
    await chat.start(language="es")
    o = ref.pick(
        data,
        "pending card order",
        status="pending",
        where=lambda o: single_payment(o) and ref.paid_with(data, o)["source"] != "gift_card",
    )
    user = data["users"][o["user_id"]]
    await chat.say(f"hola, quiero cancelar mi pedido {o['order_id']}")
    assert chat.state.language == "es" and "correo" in chat.text
    await chat.say(f"mi correo es {user['email']}")
    await drive(chat, {"reason": "lo pedí por error", "order_id": {"choice": o["order_id"]}})
    assert chat.state.expects == "confirmation" and "Para confirmar" in chat.text
    await chat.say("sí, adelante")
    expected = ref.clone(data)
    ref.cancel(expected, o["order_id"], "ordered by mistake")
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert "cancelado" in chat.text and "días hábiles" in chat.text


async def test_spanish_return(backoffice, data):
    chat = Chat(await make_engine(backoffice))
    await chat.start()
    o = ref.pick(data, "delivered single item", status="delivered", where=lambda o: len(o["items"]) == 1)
    user = data["users"][o["user_id"]]
    await chat.say("quiero devolver un artículo")
    assert chat.state.language == "es"
    await chat.say(f"mi correo es {user['email']}")
    await drive(
        chat, {"order_id": {"choice": o["order_id"]}, "payment_method_id": {"choice": ref.first_payment_method(o)}}
    )
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("sí")
    expected = ref.clone(data)
    ref.return_items(expected, o["order_id"], [o["items"][0]["item_id"]], ref.first_payment_method(o))
    assert await retail_export(backoffice) == ref.retail_part(expected)
    assert "devolución" in chat.text

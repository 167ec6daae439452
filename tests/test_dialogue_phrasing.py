"""Customers as they type: a long opening with identity, order, items, options and payment in one
go; "swap" or "replace" whatever the order's status; two items of the same name; "no, just those"
beside an item whose option is "no"; an address with "in" and "zip code"; a typo in the verb; and
requests Frontdesk has no flow for, which never start a write."""

from __future__ import annotations

import pytest

from tests import retail_reference as ref
from tests.dialogue_support import Chat, make_engine


@pytest.fixture
async def chat(office) -> Chat:
    c = Chat(await make_engine(office))
    await c.start()
    return c


def name_and_zip(data: dict, order: dict) -> str:
    user = data["users"][order["user_id"]]
    return f"{user['name']['first_name']} {user['name']['last_name']}, zip {user['address']['zip']}"


async def answered_from_knowledge(chat: Chat) -> list[str]:
    """The knowledge-base entries the conversation has answered from so far."""
    events = await chat.engine.store.events(chat.session_id)
    return [e.data["entry"] for e in events if e.name == "knowledge_answer"]


def twin_items_order(data: dict, status: str) -> tuple[dict, str]:
    """An order with two different variants of one product, and that product's name."""
    for o in ref.orders(data, status=status):
        names = [i["name"] for i in o["items"]]
        for name in names:
            ids = {i["item_id"] for i in o["items"] if i["name"] == name}
            if names.count(name) == 2 and len(ids) == 2 and len(set(names)) > 2:
                return o, name
    raise LookupError("no such order")


async def test_swapping_items_of_a_delivered_order_becomes_an_exchange_with_what_was_said(chat, office, data):
    order = next(o for o in ref.orders(data, status="delivered") if len(o["items"]) > 1)
    item = order["items"][0]
    await chat.say(f"Hi, I'd like to swap the {item['name'].lower()} in order {order['order_id']}.")
    await chat.say(name_and_zip(data, order))
    assert "has been delivered, so I'll set this up as an exchange" in chat.text, chat.text
    frame = chat.state.active
    assert frame.intent == "exchange_items" and frame.value("order_id") == order["order_id"]
    assert item["item_id"] in (frame.value("item_ids") or []), chat.text  # the item said at first is kept
    assert [f.intent for f in chat.state.intents] == ["modify_order_items", "exchange_items"]


async def test_exchanging_items_of_a_pending_order_changes_the_order_itself(chat, data):
    order = next(o for o in ref.orders(data, status="pending") if len(o["items"]) > 1)
    await chat.say(f"I want to exchange an item from order {order['order_id']}")
    await chat.say(name_and_zip(data, order))
    assert "hasn't shipped yet, so I'll change the items on the order itself" in chat.text, chat.text
    assert chat.state.active.intent == "modify_order_items"


async def test_identity_and_a_long_request_in_one_opening_keep_the_request(chat, data):
    order = next(o for o in ref.orders(data, status="pending") if len(o["items"]) > 1)
    item = order["items"][0]
    user = data["users"][order["user_id"]]
    await chat.say(
        f"Hi, I'm {user['name']['first_name']} {user['name']['last_name']}, {user['address']['zip']}. "
        f"I'd like to change the {item['name']} for one with a different option in {order['order_id']}, "
        "any difference can go on my card."
    )
    assert chat.state.identity.user_id == user["user_id"]
    assert chat.state.active is not None and chat.state.active.intent == "modify_order_items", chat.text
    assert "What would you like to do" not in chat.text


async def test_two_items_of_one_name_are_told_apart_and_both_means_those_two(chat, data):
    order, name = twin_items_order(data, "delivered")
    twins = [i["item_id"] for i in order["items"] if i["name"] == name]
    await chat.say(f"I want to return the {name.lower()} from order {order['order_id']}")
    await chat.say(name_and_zip(data, order))
    assert "more than one of those" in chat.text and chat.state.expects == "item_ids", chat.text
    assert sorted(c.value for c in chat.last.messages[-1].choices) == sorted(twins)
    await chat.say("both")
    assert sorted(chat.state.active.value("item_ids")) == sorted(twins)  # not every item of the order


async def test_no_just_those_adds_no_item_whose_option_is_no(chat, data):
    def has_no_option(o: dict) -> bool:
        return any("no" in i["options"].values() for i in o["items"][1:]) and len(o["items"]) > 2

    order = next(o for o in ref.orders(data, status="delivered") if has_no_option(o))
    first = order["items"][0]
    await chat.say(f"I'd like to return the {first['name'].lower()} from order {order['order_id']}")
    await chat.say(name_and_zip(data, order))
    assert chat.state.active.value("item_ids") == [first["item_id"]], chat.text
    await chat.say("no, just those")
    assert chat.state.active.value("item_ids") == [first["item_id"]], chat.text


async def test_an_address_typed_with_in_and_zip_code(chat, office, data):
    order = next(o for o in ref.orders(data, status="pending"))
    await chat.say(f"please change the shipping address of order {order['order_id']}")
    await chat.say(name_and_zip(data, order))
    await chat.say("101 Highway in New York, NY, zip code 10001")
    assert chat.state.pending_confirmation is not None, chat.text
    assert "101 Highway, New York, NY 10001" in chat.text, chat.text


@pytest.mark.parametrize(
    ("words", "intent"),
    [
        ("can you canecl my order?", "cancel_order"),
        ("i want to retrun the lamp i got", "return_items"),
        ("I want to replace the desk lamp in my order", "modify_order_items"),
    ],
)
async def test_typos_and_other_verbs_reach_the_request(chat, words, intent):
    await chat.say(words)
    assert chat.state.active is not None and chat.state.active.intent == intent, chat.text


@pytest.mark.parametrize(
    "words",
    [
        "unsubscribe me from your newsletter",
        "delete my account",
        "send me an invoice for my order",
        "Can you place an order for me? I'd like two of the hiking boots in size 10.",
    ],
)
async def test_requests_without_a_flow_start_none(chat, words):
    await chat.say(words)
    assert chat.state.active is None and chat.state.pending_confirmation is None, chat.text


async def test_which_card_paid_an_order_is_answered_not_turned_into_a_change(chat, data):
    order = next(o for o in ref.orders(data, status="pending") if len(o["payment_history"]) == 1)
    paid = order["payment_history"][0]
    method = data["users"][order["user_id"]]["payment_methods"][paid["payment_method_id"]]
    await chat.say(f"Which card did I use to pay for order {order['order_id']}?")
    await chat.say(name_and_zip(data, order))
    assert chat.state.pending_confirmation is None and "Shall I go ahead" not in chat.text, chat.text
    assert f"${paid['amount']:,.2f}" in chat.text, chat.text
    if method["source"] == "credit_card":
        assert f"ending in {method['last_four']}" in chat.text, chat.text


async def test_payment_details_after_the_request_are_details_not_a_request(chat, data):
    def with_card(o: dict) -> bool:
        methods = data["users"][o["user_id"]]["payment_methods"].values()
        return len(o["items"]) > 1 and any(m["source"] == "credit_card" for m in methods)

    order = next(o for o in ref.orders(data, status="pending") if with_card(o))
    card = next(m for m in data["users"][order["user_id"]]["payment_methods"].values() if m["source"] == "credit_card")
    item = order["items"][0]
    await chat.say(
        f"I'd like to switch the {item['name'].lower()} to another color in {order['order_id']}. "
        f"Any difference can go on my {card['brand']} card."
    )
    await chat.say(name_and_zip(data, order))
    assert chat.state.active is not None and chat.state.active.intent == "modify_order_items", chat.text
    assert [f.intent for f in chat.state.intents] == ["modify_order_items"], chat.text


def twins_told_by_a_switch(data: dict) -> tuple[dict, str, str, dict[str, str]]:
    """A delivered order with two items of one product that differ in a yes/no option: (order,
    product name, option, item id by value)."""
    for o in ref.orders(data, status="delivered"):
        for a in o["items"]:
            for b in o["items"]:
                if a["name"] != b["name"] or a["item_id"] >= b["item_id"]:
                    continue
                for option, value in a["options"].items():
                    other = b["options"].get(option)
                    if {str(value).lower(), str(other).lower()} == {"yes", "no"}:
                        ids = {str(value).lower(): a["item_id"], str(other).lower(): b["item_id"]}
                        return o, a["name"], option, ids
    raise LookupError("no such order")


async def test_my_most_recent_order_is_the_newest_on_the_account(chat, data):
    user = next(u for u in data["users"].values() if len(u["orders"]) >= 3)
    newest = data["orders"][user["orders"][-1]]
    paid = sum(p["amount"] for p in newest["payment_history"] if p["transaction_type"] == "payment")
    await chat.say(f"my email is {user['email']}")
    await chat.say("how much did I pay for my most recent order?")
    assert newest["order_id"] in chat.text and f"${paid:,.2f}" in chat.text, chat.text
    assert chat.state.pending_confirmation is None


@pytest.mark.parametrize(("words", "value"), [("the one without {option}", "no"), ("the one with {option}", "yes")])
async def test_twin_items_told_apart_by_a_yes_no_option(chat, data, words, value):
    order, name, option, ids = twins_told_by_a_switch(data)
    await chat.say(f"I want to return the {name.lower()} from order {order['order_id']}")
    await chat.say(name_and_zip(data, order))
    assert "more than one of those" in chat.text, chat.text
    await chat.say(words.format(option=option))
    assert chat.state.active.value("item_ids") == [ids[value]], chat.text


async def test_a_gift_card_balance_is_told_from_the_account_after_identity(chat, data):
    user = next(
        u for u in data["users"].values() if any(m["source"] == "gift_card" for m in u["payment_methods"].values())
    )
    card = next(m for m in user["payment_methods"].values() if m["source"] == "gift_card")
    await chat.say("How much balance is left on my gift card?")
    assert chat.state.expects == "identity" and f"{card['balance']:,.2f}" not in chat.text
    await chat.say(f"{user['name']['first_name']} {user['name']['last_name']}, {user['address']['zip']}")
    assert f"${card['balance']:,.2f} left" in chat.text, chat.text
    assert chat.state.pending_confirmation is None


@pytest.mark.parametrize(
    "words",
    ["unsubscribe me from your newsletter", "please sign me up for your weekly deals", "i need a copy of my invoice"],
)
async def test_a_request_without_a_flow_is_said_so_and_a_person_offered(chat, words):
    await chat.say(words)
    assert "not something I can do" in chat.text and "connect you with a person" in chat.text, chat.text
    assert chat.state.active is None and chat.state.outcome != "resolved"
    await chat.say("yes please, a person")
    assert chat.state.mode == "agent" or chat.state.handoff_ticket_id, chat.text


async def test_a_greeting_and_thanks_around_a_request_leave_the_request(chat):
    await chat.say("Hi there! We ordered the same thing twice, so could you cancel one of our orders? Thanks so much.")
    assert chat.state.active is not None and chat.state.active.intent == "cancel_order", chat.text


async def test_an_order_refused_for_its_status_is_said_once(chat, data):
    order = next(o for o in ref.orders(data, status="delivered"))
    await chat.say(f"my email is {data['users'][order['user_id']]['email']}")
    await chat.say(f"cancel order {order['order_id']}")
    assert chat.text.count("can't be cancelled") == 1, chat.text
    assert chat.state.expects == "order_id"


async def test_a_payment_method_said_while_items_are_listed_starts_no_payment_change(chat, data):
    order = next(o for o in ref.orders(data, status="delivered") if len(o["items"]) > 2)
    user = data["users"][order["user_id"]]
    method = next(iter(user["payment_methods"].values()))
    named = {"credit_card": "credit card", "paypal": "paypal", "gift_card": "gift card"}[method["source"]]
    await chat.say(f"my email is {user['email']}")
    await chat.say(f"I want to exchange the {order['items'][0]['name'].lower()} in order {order['order_id']}")
    await chat.say(f"the {named}")
    assert [f.intent for f in chat.state.intents] == ["exchange_items"], chat.text


@pytest.mark.parametrize(
    ("words", "entry"),
    [
        ("is there a fee if I cancel my order?", "cancel_fee"),
        ("do you do next day delivery?", "shipping"),
        ("Which cards are accepted on your website?", "payment_methods"),
    ],
)
async def test_policy_questions_are_answered_by_meaning(chat, office, words, entry):
    await chat.say(words)
    assert await answered_from_knowledge(chat) == [entry], chat.text
    assert chat.state.active is None


async def test_options_not_named_stay_as_the_item_has_them_and_the_read_back_names_each_change(chat, data):
    order = data["orders"]["#W2378156"]
    keyboard = next(i for i in order["items"] if i["name"] == "Mechanical Keyboard")
    await chat.say(f"my email is {data['users'][order['user_id']]['email']}")
    await chat.say(f"I want to exchange the mechanical keyboard in order {order['order_id']}")
    await chat.say("that's all")
    await chat.say("clicky switches and no backlight")  # clicky, no backlight comes in two sizes
    await chat.say("the credit card")
    assert chat.state.expects == "confirmation", chat.text
    assert f"switch type {keyboard['options']['switch type']} to clicky" in chat.text, chat.text
    assert f"backlight {keyboard['options']['backlight']} to none" in chat.text, chat.text
    assert "size" not in chat.text.split("Shall I")[0].split(":", 2)[-1], chat.text  # the size stays


async def _keyboard_and_thermostat(chat, data) -> dict:
    order = data["orders"]["#W2378156"]
    await chat.say("Hi! I'd like to exchange a couple of items from an order I received.")
    await chat.say("Sure, my name is Yusuf Rossi and my zip code is 19122.")
    await chat.say("It's order #W2378156.")
    await chat.say("The mechanical keyboard and the smart thermostat.")
    await chat.say("That's all.")
    return order


async def test_a_second_choice_an_old_value_and_the_original_method_as_people_say_them(chat, data):
    order = await _keyboard_and_thermostat(chat, data)
    # Clicky, RGB and full size is out of stock: the second choice is taken.
    await chat.say("For the keyboard I'd like clicky switches, with RGB backlight and full size if possible; "
                   "if not, no backlight is fine.")  # fmt: skip
    await chat.say("The thermostat should be compatible with Google Home instead of Apple HomeKit.")
    await chat.say("Please use the original payment method for any difference.")
    assert chat.state.expects == "confirmation", chat.text
    paid = order["payment_history"][0]["payment_method_id"]
    assert chat.state.pending_confirmation.arguments["payment_method_id"] == paid
    assert "backlight RGB to none" in chat.text and "Apple HomeKit to Google Assistant" in chat.text, chat.text


async def test_new_options_for_two_items_in_one_turn(chat, data):
    await _keyboard_and_thermostat(chat, data)
    await chat.say(
        "The thermostat should be compatible with Google Home, and the keyboard should be clicky with no backlight."
    )
    assert chat.state.expects == "payment_method_id", chat.text


async def test_a_name_and_zip_code_without_a_cue_in_the_opening_identify(chat, data):
    order = data["orders"]["#W2692684"]
    user = data["users"][order["user_id"]]
    name = f"{user['name']['first_name']} {user['name']['last_name']}"
    await chat.say(f"Hi, {name} {user['address']['zip']}. I'd like to return everything from {order['order_id']}")
    assert chat.state.identity.user_id == user["user_id"], chat.text


async def test_forget_it_and_another_request_drops_the_first_and_keeps_its_order(chat, data):
    order = next(o for o in ref.orders(data, status="pending"))
    await chat.say(f"my email is {data['users'][order['user_id']]['email']}")
    await chat.say(f"change the shipping address of order {order['order_id']} to 101 Highway, New York, NY 10001")
    assert chat.state.expects == "confirmation", chat.text
    await chat.say("ok forget it, I'd rather just cancel that order")
    assert "Nothing was changed" not in chat.text or "dropped" in chat.text, chat.text
    assert chat.state.active.intent == "cancel_order" and chat.state.active.value("order_id") == order["order_id"]
    assert [f.status for f in chat.state.intents] == ["cancelled", "active"]
    assert chat.state.pending_confirmation is None  # nothing of the address change is waiting for a yes


async def test_an_unhappy_first_turn_is_offered_a_person_and_a_request_after_it_is_taken(chat):
    await chat.say("this is unacceptable, worst store ever")
    assert "sorry" in chat.text.lower() and "connect you with a person" in chat.text, chat.text
    await chat.say("no, just check my order")
    assert chat.state.active is not None and chat.state.active.intent == "order_status", chat.text


async def test_an_item_is_taken_off_the_list_before_it_is_complete(chat, data):
    order = next(o for o in ref.orders(data, status="pending") if len({i["name"] for i in o["items"]}) >= 3)
    first, second = list(dict.fromkeys(i["name"] for i in order["items"]))[:2]
    await chat.say(f"my email is {data['users'][order['user_id']]['email']}")
    await chat.say(f"I want to change the {first.lower()} and the {second.lower()} in order {order['order_id']}")
    await chat.say(f"actually take the {first.lower()} off the list")
    assert "taken" in chat.text and "off the list" in chat.text, chat.text
    kept = chat.state.active.value("item_ids")
    assert [i["name"] for i in order["items"] if i["item_id"] in kept] == [second], chat.text


async def test_that_order_is_the_order_just_talked_about(chat, data):
    user = next(u for u in data["users"].values() if len(u["orders"]) > 1)
    order = data["orders"][user["orders"][-1]]
    paid = sum(p["amount"] for p in order["payment_history"] if p["transaction_type"] == "payment")
    await chat.say(f"my email is {user['email']}")
    await chat.say(f"what's the status of order {order['order_id']}?")
    await chat.say("how much did I pay for that order?")
    assert f"${paid:,.2f}" in chat.text and order["order_id"] in chat.text, chat.text


async def test_a_verified_customer_asking_about_a_product_hears_about_their_own(chat, data):
    user = data["users"]["noah_brown_6181"]
    line = next(i for i in data["orders"][user["orders"][0]]["items"] if i["name"] == "Backpack")
    await chat.say("what options does the backpack come in?")
    assert chat.text.startswith("The Backpack") and "Yours" not in chat.text, (
        chat.text
    )  # no account data before identity
    await chat.say(f"my email is {user['email']}")
    await chat.say("how much did the backpack cost?")
    assert f"${line['price']:,.2f}" in chat.text and user["orders"][0] in chat.text, chat.text


@pytest.mark.parametrize(
    "words",
    [
        "hello yeah I'd like to cancel my account with you guys permanently",
        "i need to change the email address on my account, I don't use the old one anymore",
        "i'd like to order 2 of the white t-shirts in size M",
        "can i cancel the newsletter subscription",
        "my employer needs an invoice with the VAT shown for order W2378156, can you send one",
        "I want to open an account so that I can see all my orders in one place",
        "update account info",
    ],
)
async def test_what_no_flow_does_is_out_of_scope_however_much_it_sounds_like_a_flow(chat, words):
    await chat.say(words)
    assert "not something I can do" in chat.text, chat.text
    assert chat.state.active is None and not chat.state.intents, chat.text


async def test_a_request_beside_an_out_of_scope_word_is_still_taken(chat, data):
    order = next(o for o in ref.orders(data, status="pending"))
    await chat.say(f"please cancel order {order['order_id']}, and no, I don't want your newsletter")
    assert chat.state.active is not None and chat.state.active.intent == "cancel_order", chat.text


@pytest.mark.parametrize(
    ("words", "entry"),
    [
        ("my order already shipped, is it still possible to cancel it without penalty?", "cancel_"),
        ("Hi! I want to know your return policy before I buy anything.", "return_rules"),
    ],
)
async def test_a_question_about_the_rules_is_answered_not_turned_into_the_request(chat, words, entry):
    await chat.say(words)
    answered = await answered_from_knowledge(chat)
    assert len(answered) == 1 and answered[0].startswith(entry), chat.text
    assert chat.state.active is None and not chat.state.intents, chat.text


async def test_a_polite_request_with_a_rule_word_and_a_detail_sentence_starts_the_request(chat, data):
    order = next(o for o in ref.orders(data, status="pending"))
    await chat.say(
        f"Can you change the payment on order {order['order_id']} to my store credit card? "
        "Any difference can go on my paypal."
    )
    assert not await answered_from_knowledge(chat), chat.text
    assert chat.state.active is not None and chat.state.active.intent == "modify_order_payment", chat.text


async def test_a_request_about_the_rules_the_knowledge_base_cannot_answer_still_starts(chat, data):
    order = next(o for o in ref.orders(data, status="pending"))
    await chat.say(f"cancel order {order['order_id']} please, whatever your policy says")
    assert chat.state.active is not None and chat.state.active.intent == "cancel_order", chat.text


@pytest.mark.parametrize(
    "words", ["I need to raise a complaint about a bad experience with your support team", "how do i file a complaint"]
)
async def test_a_complaint_without_a_request_is_offered_a_person(chat, words):
    await chat.say(words)
    assert "sorry" in chat.text.lower() and "connect you with a person" in chat.text, chat.text
    assert chat.state.active is None


async def test_a_policy_question_nothing_answers_is_said_so_and_kept_for_review(chat):
    await chat.say("what is your policy on price matching?")
    assert not await answered_from_knowledge(chat), chat.text
    events = await chat.engine.store.events(chat.session_id)
    kept = [e.data for e in events if e.name == "unanswered_question"]
    assert kept and kept[0]["text"] == "what is your policy on price matching?", chat.text
    assert "person" in chat.text, chat.text


async def test_what_a_return_would_refund_is_told_from_the_order_and_nothing_is_proposed(chat, data):
    order = next(o for o in ref.orders(data, status="delivered") if len({i["name"] for i in o["items"]}) > 2)
    item = order["items"][1]
    user = data["users"][order["user_id"]]
    await chat.say(f"my email is {user['email']}")
    name, order_id = item["name"].lower(), order["order_id"]
    await chat.say(f"how much would I get back if I returned the {name} from order {order_id}?")
    assert f"would refund ${item['price']:,.2f}" in chat.text and "Nothing has been changed" in chat.text, chat.text
    assert chat.state.pending_confirmation is None and chat.state.active is None
    await chat.say("ok, return it then")
    frame = chat.state.active
    assert frame.intent == "return_items" and frame.value("item_ids") == [item["item_id"]], chat.text


async def test_what_a_cancellation_would_refund_is_its_total(chat, data):
    order = next(o for o in ref.orders(data, status="pending"))
    user = data["users"][order["user_id"]]
    paid = sum(p["amount"] for p in order["payment_history"] if p["transaction_type"] == "payment")
    await chat.say(f"if I cancel order {order['order_id']}, how much would I get back?")
    await chat.say(f"{user['email']}")
    assert f"would refund its full total, ${paid:,.2f}" in chat.text, chat.text
    assert chat.state.pending_confirmation is None and not any(f.intent == "cancel_order" for f in chat.state.intents)

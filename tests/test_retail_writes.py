"""Every retail write against real orders of db.json: the whole store after it equals the rules' result.

Each test picks its order by the properties it needs, applies the retail semantics to its own
copy of the store with the reference model, makes the same change through the governed tool as
the authenticated, confirming customer, and compares the back office's whole export with it.
"""

from __future__ import annotations

import pytest

from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_rejected, assert_store, call

NEW_ADDRESS = {
    "address1": "12 Harbour Lane",
    "address2": "Apt 3",
    "city": "Portland",
    "country": "USA",
    "state": "ME",
    "zip": "04101",
}


def _first(found, what: str):
    for hit in found:
        return hit
    raise LookupError(f"db.json has no {what}")


def _swaps(db_json, *, status: str, better):
    """(order, line, new variant) for every available other variant `better(new, line)` accepts."""
    for o in R.orders(db_json, status=status):
        for line in o["items"]:
            for v in R.alternatives(db_json, line):
                if better(v, line):
                    yield o, line, v


# ------------------------------------------------------------------ cancel


@pytest.mark.parametrize("reason", R.CANCEL_REASONS)
async def test_cancel_card_paid_order_appends_refunds(retail_office, db_json, reason):
    o = R.pick(
        db_json,
        "pending and paid by card",
        status="pending",
        where=lambda o: not R.is_gift_card(R.paid_with(db_json, o)),
    )
    R.cancel(db_json, o["order_id"], reason)

    result = await call(
        retail_office, "cancel_pending_order", {"order_id": o["order_id"], "reason": reason}, o["user_id"]
    )

    assert_ok(result)
    assert result.output["order"]["status"] == "cancelled"
    assert result.output["gift_card_balances"] == {}
    await assert_store(retail_office, db_json)


async def test_cancel_gift_card_paid_order_restores_the_balance_at_once(retail_office, db_json):
    o = R.pick(
        db_json,
        "pending and paid by gift card",
        status="pending",
        where=lambda o: R.is_gift_card(R.paid_with(db_json, o)),
    )
    card = R.paid_with(db_json, o)
    before = card["balance"]
    R.cancel(db_json, o["order_id"], "ordered by mistake")
    assert card["balance"] > before  # the rule moved money back onto the card

    result = await call(
        retail_office, "cancel_pending_order", {"order_id": o["order_id"], "reason": "ordered by mistake"}, o["user_id"]
    )

    assert_ok(result)
    assert result.output["gift_card_balances"] == {card["id"]: card["balance"]}
    assert [e["transaction_type"] for e in result.output["order"]["payment_history"]] == ["payment", "refund"]
    await assert_store(retail_office, db_json)


async def test_order_id_is_accepted_without_its_hash(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    R.cancel(db_json, o["order_id"], "no longer needed")

    spoken = o["order_id"].lstrip("#").lower()
    result = await call(
        retail_office, "cancel_pending_order", {"order_id": spoken, "reason": "no longer needed"}, o["user_id"]
    )

    assert_ok(result)
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ modify address


async def test_modify_pending_order_address(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    R.modify_address(db_json, o["order_id"], NEW_ADDRESS)

    result = await call(
        retail_office, "modify_pending_order_address", {"order_id": o["order_id"], **NEW_ADDRESS}, o["user_id"]
    )

    assert_ok(result)
    assert result.output["order"]["address"] == NEW_ADDRESS
    await assert_store(retail_office, db_json)


async def test_address_of_an_item_modified_order_can_still_change(retail_office, db_json):
    o, line, v = _first(_swaps(db_json, status="pending", better=lambda v, line: True), "pending order with a variant")
    pm_id = R.first_payment_method(o)
    items = {"order_id": o["order_id"], "item_ids": [line["item_id"]], "new_item_ids": [v["item_id"]]}
    R.modify_items(db_json, o["order_id"], [line["item_id"]], [v["item_id"]], pm_id)
    R.modify_address(db_json, o["order_id"], NEW_ADDRESS)
    assert db_json["orders"][o["order_id"]]["status"] == "pending (item modified)"

    first = await call(retail_office, "modify_pending_order_items", items | {"payment_method_id": pm_id}, o["user_id"])
    second = await call(
        retail_office, "modify_pending_order_address", {"order_id": o["order_id"], **NEW_ADDRESS}, o["user_id"]
    )

    assert_ok(first)
    assert_ok(second)
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ modify payment


async def test_modify_payment_to_a_gift_card_with_enough_balance(retail_office, db_json):
    def fits(o):
        amount = o["payment_history"][0]["amount"]
        return not R.is_gift_card(R.paid_with(db_json, o)) and any(
            pm["balance"] >= amount for pm in R.user_methods(db_json, o["user_id"], R.is_gift_card)
        )

    o = R.pick(db_json, "paid by card, its customer holding a gift card that covers it", status="pending", where=fits)
    amount = o["payment_history"][0]["amount"]
    card = next(pm for pm in R.user_methods(db_json, o["user_id"], R.is_gift_card) if pm["balance"] >= amount)
    R.modify_payment(db_json, o["order_id"], card["id"])

    result = await call(
        retail_office,
        "modify_pending_order_payment",
        {"order_id": o["order_id"], "payment_method_id": card["id"]},
        o["user_id"],
    )

    assert_ok(result)
    assert result.output["gift_card_balances"] == {card["id"]: card["balance"]}
    await assert_store(retail_office, db_json)


async def test_modify_payment_away_from_a_gift_card_refunds_it(retail_office, db_json):
    def fits(o):
        return R.is_gift_card(R.paid_with(db_json, o)) and R.user_methods(
            db_json, o["user_id"], lambda pm: not R.is_gift_card(pm)
        )

    o = R.pick(db_json, "paid by gift card, its customer holding a card too", status="pending", where=fits)
    old = R.paid_with(db_json, o)
    new = R.user_methods(db_json, o["user_id"], lambda pm: not R.is_gift_card(pm))[0]
    before = old["balance"]
    R.modify_payment(db_json, o["order_id"], new["id"])
    assert old["balance"] == R.money(before + o["payment_history"][0]["amount"])

    result = await call(
        retail_office,
        "modify_pending_order_payment",
        {"order_id": o["order_id"], "payment_method_id": new["id"]},
        o["user_id"],
    )

    assert_ok(result)
    await assert_store(retail_office, db_json)


async def test_modify_payment_between_two_cards_moves_no_balance(retail_office, db_json):
    def others(o):
        return [
            pm
            for pm in R.user_methods(db_json, o["user_id"], lambda pm: not R.is_gift_card(pm))
            if pm["id"] != R.first_payment_method(o)
        ]

    o = R.pick(
        db_json,
        "paid by card, its customer holding another card",
        status="pending",
        where=lambda o: not R.is_gift_card(R.paid_with(db_json, o)) and others(o),
    )
    new = others(o)[0]
    R.modify_payment(db_json, o["order_id"], new["id"])

    result = await call(
        retail_office,
        "modify_pending_order_payment",
        {"order_id": o["order_id"], "payment_method_id": new["id"]},
        o["user_id"],
    )

    assert_ok(result)
    assert result.output["gift_card_balances"] == {}
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ modify items


async def _modify_items(retail_office, db_json, o, item_ids, new_item_ids, pm_id):
    diff = R.modify_items(db_json, o["order_id"], item_ids, new_item_ids, pm_id)
    args = {"order_id": o["order_id"], "item_ids": item_ids, "new_item_ids": new_item_ids, "payment_method_id": pm_id}
    result = await call(retail_office, "modify_pending_order_items", args, o["user_id"])
    assert_ok(result)
    assert result.output["price_difference"] == diff
    await assert_store(retail_office, db_json)
    return diff


async def test_modify_items_to_a_dearer_variant_charges_the_difference(retail_office, db_json):
    o, line, v = _first(
        _swaps(db_json, status="pending", better=lambda v, line: v["price"] > line["price"]),
        "pending order with a dearer available variant",
    )
    diff = await _modify_items(retail_office, db_json, o, [line["item_id"]], [v["item_id"]], R.first_payment_method(o))
    assert diff > 0
    assert db_json["orders"][o["order_id"]]["payment_history"][-1]["transaction_type"] == "payment"


async def test_modify_items_to_a_cheaper_variant_refunds_the_difference(retail_office, db_json):
    o, line, v = _first(
        _swaps(db_json, status="pending", better=lambda v, line: v["price"] < line["price"]),
        "pending order with a cheaper available variant",
    )
    diff = await _modify_items(retail_office, db_json, o, [line["item_id"]], [v["item_id"]], R.first_payment_method(o))
    assert diff < 0
    assert db_json["orders"][o["order_id"]]["payment_history"][-1]["transaction_type"] == "refund"


async def test_modify_items_paid_from_a_gift_card_that_covers_the_difference(retail_office, db_json):
    def covered():
        for o, line, v in _swaps(db_json, status="pending", better=lambda v, line: v["price"] > line["price"]):
            for card in R.user_methods(db_json, o["user_id"], R.is_gift_card):
                if card["balance"] >= R.money(v["price"] - line["price"]):
                    yield o, line, v, card

    o, line, v, card = _first(covered(), "dearer variant a gift card of the customer covers")
    before = card["balance"]
    diff = await _modify_items(retail_office, db_json, o, [line["item_id"]], [v["item_id"]], card["id"])
    assert card["balance"] == R.money(before - diff)


async def test_modify_items_refund_goes_onto_a_gift_card(retail_office, db_json):
    def refundable():
        for o, line, v in _swaps(db_json, status="pending", better=lambda v, line: v["price"] < line["price"]):
            for card in R.user_methods(db_json, o["user_id"], R.is_gift_card):
                yield o, line, v, card

    o, line, v, card = _first(refundable(), "cheaper variant and a gift card to refund to")
    before = card["balance"]
    diff = await _modify_items(retail_office, db_json, o, [line["item_id"]], [v["item_id"]], card["id"])
    assert card["balance"] == R.money(before - diff) > before


async def test_modify_items_of_an_order_holding_the_same_item_twice(retail_office, db_json):
    def twice(o):
        ids = [line["item_id"] for line in o["items"]]
        return any(ids.count(i) > 1 and len(R.alternatives(db_json, o["items"][ids.index(i)])) >= 2 for i in ids)

    o = R.pick(db_json, "pending with one item listed twice", status="pending", where=twice)
    ids = [line["item_id"] for line in o["items"]]
    item = next(i for i in ids if ids.count(i) > 1)
    first, second = R.alternatives(db_json, o["items"][ids.index(item)])[:2]
    await _modify_items(
        retail_office, db_json, o, [item, item], [first["item_id"], second["item_id"]], R.first_payment_method(o)
    )

    changed = [line["item_id"] for line in db_json["orders"][o["order_id"]]["items"]]
    assert item not in changed and {first["item_id"], second["item_id"]} <= set(changed)


async def test_modify_items_swapping_two_variants_of_one_product_in_the_order(retail_office, db_json):
    def pairs():
        for o in R.orders(db_json, status="pending"):
            for a in o["items"]:
                for b in o["items"]:
                    if a["product_id"] == b["product_id"] and a["item_id"] != b["item_id"]:
                        va = db_json["products"][a["product_id"]]["variants"][a["item_id"]]
                        vb = db_json["products"][b["product_id"]]["variants"][b["item_id"]]
                        if va["available"] and vb["available"]:
                            yield o, a["item_id"], b["item_id"]

    o, a, b = _first(pairs(), "pending order with two available variants of one product")
    before = [line["item_id"] for line in o["items"]]
    await _modify_items(retail_office, db_json, o, [a, b], [b, a], R.first_payment_method(o))
    after = [line["item_id"] for line in db_json["orders"][o["order_id"]]["items"]]
    assert after == [{a: b, b: a}.get(i, i) for i in before]


async def test_modify_items_happens_once_then_no_cancel_and_no_second_change(retail_office, db_json):
    o, line, v = _first(_swaps(db_json, status="pending", better=lambda v, line: True), "pending order with a variant")
    pm_id = R.first_payment_method(o)
    await _modify_items(retail_office, db_json, o, [line["item_id"]], [v["item_id"]], pm_id)

    again = await call(
        retail_office,
        "modify_pending_order_items",
        {
            "order_id": o["order_id"],
            "item_ids": [v["item_id"]],
            "new_item_ids": [line["item_id"]],
            "payment_method_id": pm_id,
        },
        o["user_id"],
    )
    cancel = await call(
        retail_office, "cancel_pending_order", {"order_id": o["order_id"], "reason": "no longer needed"}, o["user_id"]
    )

    assert_rejected(again, "wrong_status", "pending (item modified)", "'pending'")
    assert_rejected(cancel, "wrong_status", "pending (item modified)", "'pending'")
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ return


async def test_return_to_the_original_payment_method(retail_office, db_json):
    o = R.pick(db_json, "delivered", status="delivered")
    items = [line["item_id"] for line in o["items"]][::-1]
    R.return_items(db_json, o["order_id"], items, R.first_payment_method(o))

    result = await call(
        retail_office,
        "return_delivered_order_items",
        {"order_id": o["order_id"], "item_ids": items, "payment_method_id": R.first_payment_method(o)},
        o["user_id"],
    )

    assert_ok(result)
    assert db_json["orders"][o["order_id"]]["return_items"] == sorted(items)
    await assert_store(retail_office, db_json)


async def test_return_to_another_gift_card_of_the_customer(retail_office, db_json):
    def cards(o):
        return [
            pm for pm in R.user_methods(db_json, o["user_id"], R.is_gift_card) if pm["id"] != R.first_payment_method(o)
        ]

    o = R.pick(
        db_json, "delivered, its customer holding a gift card it was not paid with", status="delivered", where=cards
    )
    card = cards(o)[0]
    item = o["items"][0]["item_id"]
    R.return_items(db_json, o["order_id"], [item], card["id"])

    result = await call(
        retail_office,
        "return_delivered_order_items",
        {"order_id": o["order_id"], "item_ids": [item], "payment_method_id": card["id"]},
        o["user_id"],
    )

    assert_ok(result)
    await assert_store(retail_office, db_json)  # no payment entry, no balance moves yet


async def test_return_of_an_item_listed_twice(retail_office, db_json):
    def twice(o):
        ids = [line["item_id"] for line in o["items"]]
        return any(ids.count(i) > 1 for i in ids)

    o = R.pick(db_json, "delivered with one item listed twice", status="delivered", where=twice)
    ids = [line["item_id"] for line in o["items"]]
    item = next(i for i in ids if ids.count(i) > 1)
    R.return_items(db_json, o["order_id"], [item, item], R.first_payment_method(o))

    result = await call(
        retail_office,
        "return_delivered_order_items",
        {"order_id": o["order_id"], "item_ids": [item, item], "payment_method_id": R.first_payment_method(o)},
        o["user_id"],
    )

    assert_ok(result)
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ exchange


async def test_exchange_records_the_price_difference_and_nothing_else(retail_office, db_json):
    o, line, v = _first(
        _swaps(db_json, status="delivered", better=lambda v, line: v["price"] != line["price"]),
        "delivered order with an available variant at another price",
    )
    pm_id = R.first_payment_method(o)
    diff = R.exchange(db_json, o["order_id"], [line["item_id"]], [v["item_id"]], pm_id)
    assert diff == R.money(v["price"] - line["price"]) != 0

    result = await call(
        retail_office,
        "exchange_delivered_order_items",
        {
            "order_id": o["order_id"],
            "item_ids": [line["item_id"]],
            "new_item_ids": [v["item_id"]],
            "payment_method_id": pm_id,
        },
        o["user_id"],
    )

    assert_ok(result)
    assert result.output["order"]["exchange_price_difference"] == diff
    await assert_store(retail_office, db_json)


async def test_exchange_paid_by_a_gift_card_that_covers_it_moves_no_balance(retail_office, db_json):
    def covered():
        for o, line, v in _swaps(db_json, status="delivered", better=lambda v, line: v["price"] > line["price"]):
            for card in R.user_methods(db_json, o["user_id"], R.is_gift_card):
                if card["balance"] >= R.money(v["price"] - line["price"]):
                    yield o, line, v, card

    o, line, v, card = _first(covered(), "delivered order, dearer variant, gift card that covers it")
    before = card["balance"]
    R.exchange(db_json, o["order_id"], [line["item_id"]], [v["item_id"]], card["id"])
    assert card["balance"] == before

    result = await call(
        retail_office,
        "exchange_delivered_order_items",
        {
            "order_id": o["order_id"],
            "item_ids": [line["item_id"]],
            "new_item_ids": [v["item_id"]],
            "payment_method_id": card["id"],
        },
        o["user_id"],
    )

    assert_ok(result)
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ user address


async def test_modify_user_address_then_name_and_new_zip_find_the_user(retail_office, db_json):
    user = next(u for u in db_json["users"].values() if u["address"]["zip"] != NEW_ADDRESS["zip"])
    name = user["name"]
    old_zip = user["address"]["zip"]
    R.modify_user_address(db_json, user["user_id"], NEW_ADDRESS)

    result = await call(
        retail_office, "modify_user_address", {"user_id": user["user_id"], **NEW_ADDRESS}, user["user_id"]
    )
    assert_ok(result)
    await assert_store(retail_office, db_json)

    lookup = {"first_name": name["first_name"].upper(), "last_name": name["last_name"].lower()}
    found = await retail_office.call("find_user_id_by_name_zip", lookup | {"zip": NEW_ADDRESS["zip"]})
    stale = await retail_office.call("find_user_id_by_name_zip", lookup | {"zip": old_zip})
    assert found.status == "ok" and found.output == {"user_id": user["user_id"]}
    assert stale.status == "rejected" and stale.error.code == "user_not_found"

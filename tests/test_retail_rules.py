"""Every precondition of the retail semantics: a write that breaks it is refused, names the rule,
and changes nothing in the store.

For each case the reference model first confirms that the rule in question is the one broken,
so the test cannot pass on a different refusal.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_rejected, assert_store, call


async def refused(
    retail_office, db_json, tool: str, args: dict, user_id: str, model: Callable[[dict], object], code: str, *words
):
    with pytest.raises(R.Rejected) as broken:
        model(R.clone(db_json))
    assert broken.value.code == code, "the reference model says another rule is broken"
    result = await call(retail_office, tool, args, user_id)
    assert_rejected(result, code, *words)
    await assert_store(retail_office, db_json)
    return result


def _not_in(db_json, o) -> str:
    """A real item id that this order does not hold."""
    held = {line["item_id"] for line in o["items"]}
    return next(
        i for other in db_json["orders"].values() for i in (x["item_id"] for x in other["items"]) if i not in held
    )


def _card_short_of(db_json, o, amount: float) -> dict | None:
    return next((pm for pm in R.user_methods(db_json, o["user_id"], R.is_gift_card) if pm["balance"] < amount), None)


def _with_variant(db_json, status: str, where=lambda v, line: True):
    for o in R.orders(db_json, status=status):
        for line in o["items"]:
            for v in R.alternatives(db_json, line, available=None):
                if where(v, line):
                    return o, line, v
    raise LookupError(f"db.json has no {status} order with such a variant")


# ------------------------------------------------------------------ cancel


@pytest.mark.parametrize("status", ["processed", "delivered", "cancelled"])
async def test_cancel_needs_a_pending_order(retail_office, db_json, status):
    o = R.pick(db_json, status, status=status)
    await refused(
        retail_office,
        db_json,
        "cancel_pending_order",
        {"order_id": o["order_id"], "reason": "no longer needed"},
        o["user_id"],
        lambda d: R.cancel(d, o["order_id"], "no longer needed"),
        "wrong_status",
        f"is '{status}'",
        "must be 'pending'",
    )


async def test_cancel_takes_only_the_two_reasons(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    result = await refused(
        retail_office,
        db_json,
        "cancel_pending_order",
        {"order_id": o["order_id"], "reason": "found it cheaper elsewhere"},
        o["user_id"],
        lambda d: R.cancel(d, o["order_id"], "found it cheaper elsewhere"),
        "invalid_arguments",
        "reason",
    )
    assert "no longer needed" in result.error.message and "ordered by mistake" in result.error.message


# ------------------------------------------------------------------ modify address


@pytest.mark.parametrize("status", ["processed", "delivered", "cancelled"])
async def test_address_change_needs_a_pending_order(retail_office, db_json, status):
    o = R.pick(db_json, status, status=status)
    address = R.an_address(db_json, o["user_id"])
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_address",
        {"order_id": o["order_id"], **address},
        o["user_id"],
        lambda d: R.modify_address(d, o["order_id"], address),
        "wrong_status",
        f"is '{status}'",
        "pending",
    )


# ------------------------------------------------------------------ modify payment


def _payment(o, pm_id):
    return {"order_id": o["order_id"], "payment_method_id": pm_id}


async def test_payment_change_needs_a_pending_order(retail_office, db_json):
    o = R.pick(
        db_json,
        "delivered with a second method",
        status="delivered",
        where=lambda o: len(R.user_methods(db_json, o["user_id"], lambda pm: True)) > 1,
    )
    other = next(
        pm["id"] for pm in R.user_methods(db_json, o["user_id"], lambda pm: pm["id"] != R.first_payment_method(o))
    )
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_payment",
        _payment(o, other),
        o["user_id"],
        lambda d: R.modify_payment(d, o["order_id"], other),
        "wrong_status",
        "'delivered'",
        "pending",
    )


async def test_payment_change_needs_a_single_payment_entry(retail_office, db_json):
    def fits(o):
        others = R.user_methods(db_json, o["user_id"], lambda pm: pm["id"] != R.first_payment_method(o))
        paid_by_card = not R.is_gift_card(R.paid_with(db_json, o))
        return paid_by_card and others and any(R.alternatives(db_json, line) for line in o["items"])

    o = R.pick(
        db_json, "pending and paid by card, another method, a variant to switch to", status="pending", where=fits
    )
    line = next(line for line in o["items"] if R.alternatives(db_json, line))
    args = _swap(o, [line["item_id"]], [R.alternatives(db_json, line)[0]["item_id"]])
    pm_id = args["payment_method_id"]
    _model(R.modify_items, o, args)(db_json)
    assert_ok(await call(retail_office, "modify_pending_order_items", args, o["user_id"]))
    other = R.user_methods(db_json, o["user_id"], lambda pm: pm["id"] != pm_id)[0]["id"]
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_payment",
        _payment(o, other),
        o["user_id"],
        lambda d: R.modify_payment(d, o["order_id"], other),
        "payment_history_not_single",
        "more than one payment",
    )


async def test_payment_change_needs_a_method_of_the_customer(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    foreign = next(iter(R.another_user(db_json, o["user_id"])["payment_methods"]))
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_payment",
        _payment(o, foreign),
        o["user_id"],
        lambda d: R.modify_payment(d, o["order_id"], foreign),
        "payment_method_not_found",
        foreign,
        "not one of the customer's",
    )


async def test_payment_change_needs_a_different_method(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    same = R.first_payment_method(o)
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_payment",
        _payment(o, same),
        o["user_id"],
        lambda d: R.modify_payment(d, o["order_id"], same),
        "same_payment_method",
        "already used",
    )


async def test_payment_change_to_a_gift_card_needs_enough_balance(retail_office, db_json):
    def fits(o):
        return _card_short_of(db_json, o, o["payment_history"][0]["amount"]) and not R.is_gift_card(
            R.paid_with(db_json, o)
        )

    o = R.pick(db_json, "pending, customer's gift card short of the amount", status="pending", where=fits)
    card = _card_short_of(db_json, o, o["payment_history"][0]["amount"])
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_payment",
        _payment(o, card["id"]),
        o["user_id"],
        lambda d: R.modify_payment(d, o["order_id"], card["id"]),
        "insufficient_gift_card_balance",
        card["id"],
        "not enough",
    )


# ------------------------------------------------------------------ modify items and exchange


def _swap(o, item_ids, new_item_ids, pm_id=None):
    return {
        "order_id": o["order_id"],
        "item_ids": item_ids,
        "new_item_ids": new_item_ids,
        "payment_method_id": pm_id or R.first_payment_method(o),
    }


SWAPS = {
    "modify_pending_order_items": ("pending", R.modify_items),
    "exchange_delivered_order_items": ("delivered", R.exchange),
}


def _model(fn, o, args):
    return lambda d: fn(d, o["order_id"], args["item_ids"], args["new_item_ids"], args["payment_method_id"])


@pytest.mark.parametrize(
    ("tool", "wrong"),
    [
        ("modify_pending_order_items", "processed"),
        ("modify_pending_order_items", "delivered"),
        ("exchange_delivered_order_items", "pending"),
        ("exchange_delivered_order_items", "cancelled"),
    ],
)
async def test_swaps_need_their_status(retail_office, db_json, tool, wrong):
    required, fn = SWAPS[tool]
    o, line, v = _with_variant(db_json, wrong, lambda v, line: v["available"])
    args = _swap(o, [line["item_id"]], [v["item_id"]])
    await refused(
        retail_office, db_json, tool, args, o["user_id"], _model(fn, o, args), "wrong_status", f"is '{wrong}'", required
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_need_items_that_are_in_the_order(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o, _, v = _with_variant(db_json, status, lambda v, line: v["available"])
    stranger = _not_in(db_json, o)
    args = _swap(o, [stranger], [v["item_id"]])
    await refused(
        retail_office,
        db_json,
        tool,
        args,
        o["user_id"],
        _model(fn, o, args),
        "item_not_in_order",
        stranger,
        "not in order",
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_count_an_item_as_often_as_the_order_holds_it(retail_office, db_json, tool):
    status, fn = SWAPS[tool]

    def once(o):
        ids = [line["item_id"] for line in o["items"]]
        return any(ids.count(i) == 1 and R.alternatives(db_json, o["items"][ids.index(i)]) for i in ids)

    o = R.pick(db_json, f"{status} with an item listed once", status=status, where=once)
    ids = [line["item_id"] for line in o["items"]]
    line = next(
        o["items"][n] for n, i in enumerate(ids) if ids.count(i) == 1 and R.alternatives(db_json, o["items"][n])
    )
    v = R.alternatives(db_json, line)[0]
    args = _swap(o, [line["item_id"]] * 2, [v["item_id"]] * 2)
    await refused(
        retail_office, db_json, tool, args, o["user_id"], _model(fn, o, args), "item_not_in_order", line["item_id"]
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_need_as_many_new_items_as_old(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o, line, v = _with_variant(db_json, status, lambda v, line: v["available"])
    args = _swap(o, [line["item_id"]], [v["item_id"], v["item_id"]])
    await refused(
        retail_office, db_json, tool, args, o["user_id"], _model(fn, o, args), "item_count_mismatch", "number of"
    )


async def test_modify_items_needs_a_different_item(retail_office, db_json):
    o = R.pick(db_json, "pending", status="pending")
    item = o["items"][0]["item_id"]
    args = _swap(o, [item], [item])
    await refused(
        retail_office,
        db_json,
        "modify_pending_order_items",
        args,
        o["user_id"],
        _model(R.modify_items, o, args),
        "same_item",
        "same item",
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_stay_within_the_product(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o = R.pick(db_json, status, status=status)
    line = o["items"][0]
    other = next(
        v["item_id"]
        for pid, p in db_json["products"].items()
        if pid != line["product_id"]
        for v in p["variants"].values()
        if v["available"]
    )
    args = _swap(o, [line["item_id"]], [other])
    await refused(
        retail_office,
        db_json,
        tool,
        args,
        o["user_id"],
        _model(fn, o, args),
        "different_product",
        "not a variant",
        line["name"],
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_need_an_available_variant(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o, line, v = _with_variant(db_json, status, lambda v, line: not v["available"])
    args = _swap(o, [line["item_id"]], [v["item_id"]])
    await refused(
        retail_office,
        db_json,
        tool,
        args,
        o["user_id"],
        _model(fn, o, args),
        "item_unavailable",
        v["item_id"],
        "not available",
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_need_a_real_new_item(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o = R.pick(db_json, status, status=status)
    known = {i for p in db_json["products"].values() for i in p["variants"]}
    ghost = next(str(n) for n in range(10**9, 10**10) if str(n) not in known)
    args = _swap(o, [o["items"][0]["item_id"]], [ghost])
    await refused(retail_office, db_json, tool, args, o["user_id"], _model(fn, o, args), "item_not_found", ghost)


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_paid_by_gift_card_need_enough_balance(retail_office, db_json, tool):
    status, fn = SWAPS[tool]

    def short():
        for o in R.orders(db_json, status=status):
            for line in o["items"]:
                for v in R.alternatives(db_json, line):
                    card = _card_short_of(db_json, o, R.money(v["price"] - line["price"]))
                    if v["price"] > line["price"] and card:
                        yield o, line, v, card

    o, line, v, card = next(short())
    args = _swap(o, [line["item_id"]], [v["item_id"]], card["id"])
    await refused(
        retail_office,
        db_json,
        tool,
        args,
        o["user_id"],
        _model(fn, o, args),
        "insufficient_gift_card_balance",
        card["id"],
        "not enough",
    )


@pytest.mark.parametrize("tool", SWAPS)
async def test_swaps_need_a_method_of_the_customer(retail_office, db_json, tool):
    status, fn = SWAPS[tool]
    o, line, v = _with_variant(db_json, status, lambda v, line: v["available"])
    foreign = next(iter(R.another_user(db_json, o["user_id"])["payment_methods"]))
    args = _swap(o, [line["item_id"]], [v["item_id"]], foreign)
    await refused(
        retail_office, db_json, tool, args, o["user_id"], _model(fn, o, args), "payment_method_not_found", foreign
    )


# ------------------------------------------------------------------ return


def _return(o, item_ids, pm_id):
    return {"order_id": o["order_id"], "item_ids": item_ids, "payment_method_id": pm_id}


def _return_model(o, args):
    return lambda d: R.return_items(d, o["order_id"], args["item_ids"], args["payment_method_id"])


@pytest.mark.parametrize("status", ["pending", "processed", "cancelled"])
async def test_return_needs_a_delivered_order(retail_office, db_json, status):
    o = R.pick(db_json, status, status=status)
    args = _return(o, [o["items"][0]["item_id"]], R.first_payment_method(o))
    await refused(
        retail_office,
        db_json,
        "return_delivered_order_items",
        args,
        o["user_id"],
        _return_model(o, args),
        "wrong_status",
        "'delivered'",
    )


async def test_return_refund_goes_to_the_original_method_or_a_gift_card(retail_office, db_json):
    def others(o):
        return [
            pm
            for pm in R.user_methods(db_json, o["user_id"], lambda pm: not R.is_gift_card(pm))
            if pm["id"] != R.first_payment_method(o)
        ]

    o = R.pick(db_json, "delivered, customer with another non-gift-card method", status="delivered", where=others)
    args = _return(o, [o["items"][0]["item_id"]], others(o)[0]["id"])
    await refused(
        retail_office,
        db_json,
        "return_delivered_order_items",
        args,
        o["user_id"],
        _return_model(o, args),
        "refund_method_not_allowed",
        "original payment method",
        "gift card",
    )


async def test_return_needs_items_that_are_in_the_order(retail_office, db_json):
    o = R.pick(db_json, "delivered", status="delivered")
    stranger = _not_in(db_json, o)
    args = _return(o, [stranger], R.first_payment_method(o))
    await refused(
        retail_office,
        db_json,
        "return_delivered_order_items",
        args,
        o["user_id"],
        _return_model(o, args),
        "item_not_in_order",
        stranger,
    )


async def test_return_counts_an_item_as_often_as_the_order_holds_it(retail_office, db_json):
    def once(o):
        ids = [line["item_id"] for line in o["items"]]
        return ids.count(ids[0]) == 1

    o = R.pick(db_json, "delivered with an item listed once", status="delivered", where=once)
    item = o["items"][0]["item_id"]
    args = _return(o, [item, item], R.first_payment_method(o))
    await refused(
        retail_office,
        db_json,
        "return_delivered_order_items",
        args,
        o["user_id"],
        _return_model(o, args),
        "item_not_in_order",
        item,
    )

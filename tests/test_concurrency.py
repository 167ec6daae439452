"""Concurrent writes from separate back-office instances (separate engines, like separate servers)
on one database: exactly one of two racing writes lands, the other is told why, and the store
shows exactly the writes that were reported."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from actions.backoffice import Backoffice
from tests import retail_reference as R
from tests.retail_calls import assert_ok, assert_rejected, assert_store, call


@pytest.fixture
async def offices(retail_url):
    """Two back offices on the same database."""
    pair = [await Backoffice(retail_url, timeout_s=5.0).open() for _ in range(2)]
    try:
        yield pair
    finally:
        for office in pair:
            await office.close()


def gift_card_order(db_json) -> dict:
    return R.pick(
        db_json,
        "pending and paid by gift card",
        status="pending",
        where=lambda o: R.is_gift_card(R.paid_with(db_json, o)),
    )


async def _version(office, o) -> int:
    read = await call(office, "get_order_details", {"order_id": o["order_id"]}, o["user_id"], confirmed=False)
    assert read.status == "ok"
    return read.output["version"]


async def test_two_writes_from_the_same_read_one_lands_the_other_conflicts(offices, db_json):
    a, b = offices
    o = gift_card_order(db_json)
    address = R.an_address(db_json, o["user_id"])
    version = await _version(a, o)
    writes = [
        (
            a,
            "cancel_pending_order",
            {"order_id": o["order_id"], "reason": "no longer needed", "expected_version": version},
            lambda d: R.cancel(d, o["order_id"], "no longer needed"),
        ),
        (
            b,
            "modify_pending_order_address",
            {"order_id": o["order_id"], **address, "expected_version": version},
            lambda d: R.modify_address(d, o["order_id"], address),
        ),
    ]

    results = await asyncio.gather(*(call(office, tool, args, o["user_id"]) for office, tool, args, _ in writes))

    assert sorted(r.status for r in results) == ["conflict", "ok"]
    winner = next(n for n, r in enumerate(results) if r.ok)
    loser = results[1 - winner]
    assert_ok(results[winner])
    assert loser.error.code == "order_conflict"
    assert o["order_id"] in loser.error.message and "read it again" in loser.error.message
    assert loser.output is None and not loser.verified
    writes[winner][3](db_json)
    await assert_store(a, db_json)


async def test_two_cancels_from_the_same_read_credit_the_gift_card_once(offices, db_json):
    a, b = offices
    o = gift_card_order(db_json)
    version = await _version(b, o)
    args = {"order_id": o["order_id"], "reason": "ordered by mistake", "expected_version": version}

    results = await asyncio.gather(
        call(a, "cancel_pending_order", args, o["user_id"]), call(b, "cancel_pending_order", args, o["user_id"])
    )

    assert sorted(r.status for r in results) == ["conflict", "ok"]
    R.cancel(db_json, o["order_id"], "ordered by mistake")
    await assert_store(b, db_json)


async def test_without_a_version_the_second_write_meets_the_rule_it_now_breaks(offices, db_json):
    a, b = offices
    o = gift_card_order(db_json)
    args = {"order_id": o["order_id"], "reason": "no longer needed"}

    results = await asyncio.gather(
        call(a, "cancel_pending_order", args, o["user_id"]), call(b, "cancel_pending_order", args, o["user_id"])
    )

    assert sorted(r.status for r in results) == ["ok", "rejected"]
    loser = next(r for r in results if not r.ok)
    assert_rejected(loser, "wrong_status", "is 'cancelled'", "must be 'pending'")
    R.cancel(db_json, o["order_id"], "no longer needed")
    await assert_store(a, db_json)  # one set of refunds, one balance credit


async def test_the_same_key_at_the_same_moment_writes_once(offices, db_json):
    a, b = offices
    o = gift_card_order(db_json)
    args = {"order_id": o["order_id"], "reason": "no longer needed"}

    results = await asyncio.gather(
        call(a, "cancel_pending_order", args, o["user_id"], key="race-1"),
        call(b, "cancel_pending_order", args, o["user_id"], key="race-1"),
    )

    for result in results:
        assert_ok(result)
    assert sorted(r.replayed for r in results) == [False, True]
    assert results[0].verification.confirmation_id == results[1].verification.confirmation_id
    R.cancel(db_json, o["order_id"], "no longer needed")
    await assert_store(a, db_json)


async def test_cancels_of_orders_sharing_a_gift_card_all_reach_its_balance(offices, db_json):
    by_card: dict[str, list[dict]] = {}
    for o in R.orders(db_json, status="pending", where=lambda o: R.is_gift_card(R.paid_with(db_json, o))):
        by_card.setdefault(R.first_payment_method(o), []).append(o)
    shared = next(orders for orders in by_card.values() if len(orders) >= 2)
    for o in shared:
        R.cancel(db_json, o["order_id"], "no longer needed")

    results = await asyncio.gather(
        *(
            call(
                office, "cancel_pending_order", {"order_id": o["order_id"], "reason": "no longer needed"}, o["user_id"]
            )
            for office, o in zip(itertools.cycle(offices), shared)
        )
    )

    for result in results:
        assert_ok(result)
    await assert_store(offices[0], db_json)


async def test_two_changes_a_gift_card_can_cover_only_one_of(offices, db_json):
    def candidates():
        for user in db_json["users"].values():
            pending = [
                db_json["orders"][oid] for oid in user["orders"] if db_json["orders"][oid]["status"] == "pending"
            ]
            for card in R.user_methods(db_json, user["user_id"], R.is_gift_card):
                dearer = []
                for o in pending:
                    for line in o["items"]:
                        for v in R.alternatives(db_json, line):
                            diff = R.money(v["price"] - line["price"])
                            if 0 < diff <= card["balance"]:
                                dearer.append((o, line["item_id"], v["item_id"], diff))
                for x, y in itertools.combinations(dearer, 2):
                    if x[0] is not y[0] and x[3] + y[3] > card["balance"]:
                        yield card, x, y

    card, *swaps = next(candidates())
    a, b = offices

    results = await asyncio.gather(
        *(
            call(
                office,
                "modify_pending_order_items",
                {"order_id": o["order_id"], "item_ids": [old], "new_item_ids": [new], "payment_method_id": card["id"]},
                o["user_id"],
            )
            for office, (o, old, new, _) in zip((a, b), swaps, strict=True)
        )
    )

    assert sorted(r.status for r in results) == ["ok", "rejected"]
    winner = next(n for n, r in enumerate(results) if r.ok)
    assert_rejected(results[1 - winner], "insufficient_gift_card_balance", card["id"], "not enough")
    o, old, new, _ = swaps[winner]
    R.modify_items(db_json, o["order_id"], [old], [new], card["id"])
    assert card["balance"] >= 0
    await assert_store(a, db_json)


async def test_sixteen_writers_on_sixteen_orders_all_land(offices, db_json):
    chosen = list(R.orders(db_json, status="pending"))[:16]
    for o in chosen:
        R.cancel(db_json, o["order_id"], "ordered by mistake")

    results = await asyncio.gather(
        *(
            call(
                office,
                "cancel_pending_order",
                {"order_id": o["order_id"], "reason": "ordered by mistake"},
                o["user_id"],
            )
            for office, o in zip(itertools.cycle(offices), chosen)
        )
    )

    for result in results:
        assert_ok(result)
    await assert_store(offices[1], db_json)

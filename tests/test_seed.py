"""Seed data (deterministic), the default store, and whole-back-office export/import round trips."""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest

from actions import seed
from actions.backoffice import RETAIL_KEYS, Backoffice
from actions.models import Actor, CallContext
from actions.systems import scheduler
from tests import office as office_module
from tests.conftest import customer, retail_data
from tests.office import account_holder, delivered_order, next_slot, subscriber

office_template = office_module.office_template
office = office_module.office


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data():
    users = retail_data()["users"]
    first = seed.generate(users)
    shuffled = dict(reversed(list(users.items())))
    assert json.dumps(first, sort_keys=True) == json.dumps(seed.generate(shuffled), sort_keys=True)
    other = seed.generate(users, seed=seed.DEFAULT_SEED + 1)
    assert other["plans"] == first["plans"] and other["callback_slots"] == first["callback_slots"]
    assert other["subscriptions"] != first["subscriptions"] and other["accounts"] != first["accounts"]


def test_the_seed_gives_every_customer_an_account_and_most_a_subscription():
    users = retail_data()["users"]
    data = seed.generate(users)
    accounts = data["accounts"]
    assert set(accounts) == set(users)
    assert all(accounts[u]["email"] == users[u]["email"] for u in users)
    phones = [a["phone"] for a in accounts.values() if a["phone"]]
    assert len(phones) == len(set(phones)) > 0.85 * len(users)
    assert all(p.startswith("+1") and p[5:10] == "55501" for p in phones)
    subscribed = {s["user_id"] for s in data["subscriptions"].values()}
    assert 0.7 * len(users) < len(subscribed) < 0.9 * len(users)
    active = [s for s in data["subscriptions"].values() if s["status"] == "active"]
    assert {s["user_id"] for s in active} == set(data["entitlements"])
    assert 10 <= len(data["cases"]) <= 30
    slots = data["callback_slots"].values()
    days = {datetime.fromisoformat(s["starts_at"]).astimezone(scheduler.BUSINESS_TZ).date() for s in slots}
    assert days and all(d.weekday() < 5 and 0 <= (d - seed.REFERENCE_DATE).days < 14 for d in days)


async def test_an_empty_back_office_gets_the_shipped_store_and_the_seed(db_url):
    bo = await Backoffice(db_url).open()
    try:
        counts = await bo.ensure_default_store()
        assert counts["users"] == 500 and counts["accounts"] == 500 and counts["subscriptions"] > 0
        exported = await bo.export_data()
        assert {k: exported[k] for k in RETAIL_KEYS} == retail_data()
        today = datetime.now(scheduler.BUSINESS_TZ).date()
        assert max(exported["callback_slots"]) >= f"SL-{today:%Y%m%d}"
        # A second start finds the data and leaves it alone.
        assert await bo.ensure_default_store() is None
        assert await bo.export_data() == exported
    finally:
        await bo.close()


async def _busy(bo: Backoffice) -> None:
    """Leave a record in every system: a refund, a plan change, a callback, a code, a ticket."""
    order = await delivered_order(bo, under=90)
    line = order["items"][0]
    claim = {
        "order_id": order["order_id"],
        "kind": "damaged",
        "item_ids": [line["item_id"]],
        "resolution": "refund",
        "amount": line["price"],
    }
    assert (await bo.call("refund_package", claim, customer(order["user_id"], confirmed=True))).ok
    user_id = await subscriber(bo)
    change = {"user_id": user_id, "plan_id": "plus"}
    assert (await bo.call("change_subscription", change, customer(user_id, confirmed=True))).ok
    account = await account_holder(bo)
    booking = {"user_id": account.user_id, "slot_id": await next_slot(bo), "topic": "bill"}
    assert (await bo.call("book_callback", booking, customer(account.user_id, confirmed=True))).ok
    assert (await bo.call("send_one_time_code", {"user_id": account.user_id}, CallContext())).ok
    ticket = {"reason": "asked", "summary": {"issue": "x"}}
    assert (await bo.call("create_handoff_ticket", ticket, CallContext(actor=Actor(kind="agent")))).ok
    big = await delivered_order(bo, over=bo.policy.refund_approval_threshold)
    big_claim = claim | {"order_id": big["order_id"], "item_ids": [big["items"][0]["item_id"]]}
    big_claim["amount"] = big["items"][0]["price"]
    assert (await bo.call("refund_package", big_claim, customer(big["user_id"], confirmed=True))).status == (
        "needs_approval"
    )


async def test_an_export_imported_elsewhere_exports_the_same_again(office, tmp_path):
    await _busy(office)
    exported = await office.export_data()
    for key in ("claims", "payments_ledger", "invoices", "callback_bookings", "one_time_codes", "tickets"):
        assert exported[key], key
    assert exported["notifications"] and exported["workflows"] and exported["audit_log"]
    elsewhere = await Backoffice(f"sqlite:///{tmp_path / 'elsewhere.sqlite3'}").open()
    try:
        text = json.dumps(exported)
        counts = await elsewhere.import_data(json.loads(text))
        assert counts["audit_log"] == len(exported["audit_log"])
        assert await elsewhere.export_data() == exported
        # The imported idempotency records still answer a repeat with the first result.
        first = next(e for e in exported["audit_log"] if e["tool"] == "change_subscription")
        repeat = await elsewhere.call(
            "change_subscription",
            first["arguments"],
            customer(first["arguments"]["user_id"], confirmed=True, key=first["idempotency_key"]),
        )
        assert repeat.replayed and repeat.status == "ok"
        # New audit entries continue after the imported ones.
        later = await elsewhere.call(
            "create_handoff_ticket", {"reason": "asked", "summary": {}}, CallContext(actor=Actor(kind="agent"))
        )
        assert later.ok and later.audit_id > max(e["id"] for e in exported["audit_log"])
    finally:
        await elsewhere.close()


async def test_an_import_without_the_other_systems_leaves_them_empty(office):
    await _busy(office)
    await office.import_data(retail_data())
    exported = await office.export_data()
    assert {k: exported[k] for k in RETAIL_KEYS} == retail_data()
    assert all(not exported[k] for k in exported if k not in RETAIL_KEYS)
    counts = await office.seed(reference=date(2024, 9, 2))
    assert counts["accounts"] == 500
    async with office.db.read() as conn:
        assert (await scheduler.all_slots(conn))[0].slot_id == "SL-20240902-0900"


@pytest.mark.parametrize(
    ("key", "bad"),
    [
        ("subscriptions", {"SUB-X": {"user_id": "u", "plan_id": "basic", "status": "paused"}}),
        ("callback_slots", {"SL-X": {"starts_at": "tomorrow"}}),
    ],
)
async def test_a_bad_record_of_another_system_is_refused_and_nothing_is_lost(office, key, bad):
    before = await office.export_data()
    with pytest.raises(ValueError):
        await office.import_data(retail_data() | {key: bad})
    assert await office.export_data() == before

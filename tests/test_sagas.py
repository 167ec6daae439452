"""The sagas (writes across several systems) through the governed runner: what they change, and what they refuse."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from actions import approvals, audit
from actions.models import Actor, CallContext, IdentityLevel
from actions.systems import billing, claims, crm, notifications, payments, retail
from actions.tools.packages import PackageClaimArgs
from tests import office as office_module
from tests.conftest import customer
from tests.office import account_holder, delivered_order, subscriber

office_template = office_module.office_template
office = office_module.office


async def _count(bo, table) -> int:
    async with bo.db.read() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


async def _written(bo) -> dict[str, int]:
    """How many records the sagas' systems hold."""
    tables = {
        "claims": claims.claims,
        "refunds": payments.refunds,
        "cases": crm.cases,
        "messages": notifications.outbox,
        "invoices": billing.invoices,
        "orders": retail.orders,
    }
    return {name: await _count(bo, table) for name, table in tables.items()}


def _refund_args(order: dict, **kw) -> dict:
    line = order["items"][0]
    return {
        "order_id": order["order_id"].lstrip("#"),
        "kind": "damaged",
        "item_ids": [line["item_id"]],
        "resolution": "refund",
        "amount": line["price"],
    } | kw


async def test_a_refund_needs_the_customers_yes_and_then_moves_the_money_once(office):
    order = await delivered_order(office, method="credit_card", under=90)
    args = _refund_args(order)
    before = await _written(office)
    asked = await office.call("refund_package", args, customer(order["user_id"]))
    assert asked.status == "needs_confirmation"
    assert await _written(office) == before
    ctx = customer(order["user_id"], confirmed=True, key="refund-1")
    done = await office.call("refund_package", args, ctx)
    assert done.status == "ok" and done.verified
    assert done.output["settles"] == "5-7 business days"
    assert [s.name for s in done.steps if s.status == "done"] == [
        "file_claim",
        "refund",
        "record_refund",
        "crm_note",
        "notify",
    ]
    again = await office.call("refund_package", args, ctx)
    assert again.replayed and again.output == done.output
    after = await _written(office)
    assert {k: after[k] - before[k] for k in after} == {
        "claims": 1,
        "refunds": 1,
        "cases": 1,
        "messages": 1,
        "invoices": 0,
        "orders": 0,
    }
    async with office.db.read() as conn:
        stored, _ = await retail.get_order(conn, order["order_id"])
        ledger = await payments.refunds_for_order(conn, order["order_id"])
    assert stored["payment_history"][-1] == {
        "transaction_type": "refund",
        "amount": args["amount"],
        "payment_method_id": order["payment_history"][0]["payment_method_id"],
        "refund_id": ledger[0].refund_id,
    }
    reused = await office.call("refund_package", args | {"kind": "missing"}, ctx)
    assert reused.status == "rejected" and reused.error.code == "idempotency_key_reused"


async def test_a_refund_above_the_threshold_waits_for_a_persons_approval(office):
    order = await delivered_order(office, method="credit_card", over=office.policy.refund_approval_threshold)
    args = _refund_args(order)
    before = await _written(office)
    waiting = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert waiting.status == "needs_approval" and waiting.error.code == "approval_required"
    assert await _written(office) == before
    canonical = PackageClaimArgs.model_validate(args).model_dump(mode="json")
    asked = await approvals.request(
        office.db,
        "refund_package",
        canonical,
        reason="above threshold",
        requested_by={"kind": "system"},
        session_id=None,
    )
    pending = await office.call(
        "refund_package", args, customer(order["user_id"], confirmed=True, approval_id=asked.approval_id)
    )
    assert pending.status == "needs_approval" and pending.error.code == "approval_pending"
    await approvals.decide(office.db, asked.approval_id, approve=True, by="team lead")
    other = await office.call(
        "refund_package",
        args | {"amount": round(args["amount"] + 1, 2)},
        customer(order["user_id"], confirmed=True, approval_id=asked.approval_id),
    )
    assert other.status == "needs_approval" and other.error.code == "approval_mismatch"
    assert await _written(office) == before
    approved = await office.call(
        "refund_package", args, customer(order["user_id"], confirmed=True, approval_id=asked.approval_id, key="big")
    )
    assert approved.status == "ok" and approved.verified


async def test_the_amount_must_be_the_one_the_order_is_worth(office):
    order = await delivered_order(office, under=90)
    before = await _written(office)
    wrong = await office.call(
        "refund_package", _refund_args(order, amount=1.0), customer(order["user_id"], confirmed=True)
    )
    assert wrong.status == "rejected" and wrong.error.code == "amount_mismatch"
    assert await _written(office) == before
    quote = await office.call(
        "quote_package_claim",
        {"order_id": order["order_id"], "kind": "damaged", "item_ids": [order["items"][0]["item_id"]]},
        customer(order["user_id"]),
    )
    assert quote.output["eligible"] and quote.output["amount"] == order["items"][0]["price"]
    no_amount = await office.call(
        "refund_package", _refund_args(order, amount=None), customer(order["user_id"], confirmed=True)
    )
    assert no_amount.status == "rejected" and no_amount.error.code == "invalid_arguments"


async def test_only_the_owner_may_claim_a_delivered_order_once(office):
    order = await delivered_order(office, under=90)
    args = _refund_args(order)
    stranger = await office.call("refund_package", args, customer("mia_garcia_4516", confirmed=True))
    assert stranger.status == "rejected" and stranger.error.code == "not_owner"
    first = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert first.status == "ok"
    second = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert second.status == "rejected" and second.error.code == "already_claimed"


async def test_which_orders_can_be_claimed_depends_on_where_the_package_is(office):
    columns = (retail.orders.c.order_id, retail.orders.c.user_id, retail.orders.c.status, retail.orders.c.fulfillments)
    async with office.db.read() as conn:
        rows = (await conn.execute(select(*columns).order_by(retail.orders.c.position))).all()
    by_status: dict[str, dict] = {}
    for row in rows:
        tracked = any(f["tracking_id"] for f in row.fulfillments)
        by_status.setdefault(f"{row.status}:{tracked}", {"order_id": row.order_id, "user_id": row.user_id})
    cases = [
        ("pending:False", "missing", False),
        ("processed:True", "missing", True),
        ("processed:True", "damaged", False),
        ("delivered:True", "damaged", True),
    ]
    for key, kind, eligible in cases:
        order = by_status[key]
        quote = await office.call(
            "quote_package_claim", {"order_id": order["order_id"], "kind": kind}, customer(order["user_id"])
        )
        assert quote.output["eligible"] is eligible, (key, kind, quote.output)
        if not eligible:
            assert quote.output["code"] == "wrong_status"


async def test_a_refund_may_go_to_one_of_the_customers_gift_cards_but_never_elsewhere(office):
    async with office.db.read() as conn:
        for row in (await conn.execute(select(retail.users.c.user_id))).all():
            user = await retail.get_user(conn, row.user_id)
            cards = [pm for pm in user["payment_methods"].values() if pm["source"] == "gift_card"]
            if not cards:
                continue
            orders = [(await retail.get_order(conn, o))[0] for o in user["orders"]]
            fit = [
                o
                for o in orders
                if o["status"] == "delivered" and o["payment_history"][0]["payment_method_id"] != cards[0]["id"]
            ]
            if fit:
                order, card = fit[0], cards[0]
                break
    args = _refund_args(order, payment_method_id=card["id"])
    if args["amount"] > office.policy.refund_approval_threshold:
        office.policy.refund_approval_threshold = args["amount"]
    result = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert result.status == "ok" and result.output["settles"] == "immediately"
    async with office.db.read() as conn:
        balance = (await retail.get_payment_method(conn, order["user_id"], card["id"]))["balance"]
    assert balance == round(card["balance"] + args["amount"], 2)
    other = await delivered_order(office, method="credit_card", under=90, skip=3)
    foreign = await office.call(
        "refund_package", _refund_args(other, payment_method_id=card["id"]), customer(other["user_id"], confirmed=True)
    )
    assert foreign.status == "rejected" and foreign.error.code == "payment_method_not_found"


async def _delivered_by_availability(bo) -> tuple[dict, dict]:
    """A delivered order whose items are all still sold, and one with an item no longer sold."""
    whole = partly = None
    async with bo.db.read() as conn:
        rows = (await conn.execute(select(retail.orders.c.order_id).where(retail.orders.c.status == "delivered"))).all()
        for row in rows:
            order, _ = await retail.get_order(conn, row.order_id)
            sold = [(await retail.get_variant(conn, i["item_id"]))["available"] for i in order["items"]]
            if all(sold) and whole is None:
                whole = order
            if not all(sold) and partly is None:
                partly = order
            if whole and partly:
                return whole, partly
    raise LookupError("the store has no such pair of orders")


async def test_a_replacement_is_a_free_new_order_of_the_same_items(office):
    order, unsold = await _delivered_by_availability(office)
    args = {"order_id": order["order_id"], "kind": "missing", "resolution": "replacement"}
    result = await office.call("refund_package", args, customer(order["user_id"], confirmed=True))
    assert result.status == "ok" and result.output["refund_id"] is None
    async with office.db.read() as conn:
        new, _ = await retail.get_order(conn, result.output["replacement_order_id"])
        claim = await claims.live_claim(conn, order["order_id"])
        user = await retail.get_user(conn, order["user_id"])
    assert [i["item_id"] for i in new["items"]] == [i["item_id"] for i in order["items"]]
    assert (new["status"], new["payment_history"], new["replacement_for"]) == ("pending", [], order["order_id"])
    assert (claim.status, claim.replacement_order_id) == ("replaced", new["order_id"])
    assert user["orders"][-1] == new["order_id"]
    refused = await office.call(
        "refund_package", args | {"order_id": unsold["order_id"]}, customer(unsold["user_id"], confirmed=True)
    )
    assert refused.status == "rejected" and refused.error.code == "item_unavailable"


async def test_subscription_workflows_change_and_cancel_with_a_record_and_a_message(office):
    user_id = await subscriber(office, plan="basic")
    plans = await office.call("list_plans", {}, CallContext())
    assert [p["plan_id"] for p in plans.output["plans"]] == ["basic", "plus", "premium"]
    changed = await office.call(
        "change_subscription", {"user_id": user_id, "plan_id": "premium"}, customer(user_id, confirmed=True)
    )
    assert changed.status == "ok" and changed.output["direction"] == "upgrade"
    seen = await office.call("get_subscription", {"user_id": user_id}, customer(user_id))
    assert seen.output["plan"]["plan_id"] == "premium"
    assert seen.output["invoices"][0]["invoice_id"] == changed.output["invoice_id"]
    same = await office.call(
        "change_subscription", {"user_id": user_id, "plan_id": "premium"}, customer(user_id, confirmed=True)
    )
    assert same.status == "rejected" and same.error.code == "same_plan"
    cancelled = await office.call("cancel_subscription", {"user_id": user_id}, customer(user_id, confirmed=True))
    assert cancelled.status == "ok"
    seen = await office.call("get_subscription", {"user_id": user_id}, customer(user_id))
    assert (seen.output["subscription"]["status"], seen.output["entitlements"]) == ("cancelled", [])
    async with office.db.read() as conn:
        sent = await notifications.messages(conn, user_id=user_id)
    assert [m.template for m in sent] == ["subscription_changed", "subscription_cancelled"]
    other = await subscriber(office, plan="plus")
    assert (await office.call("get_subscription", {"user_id": other}, customer(user_id))).error.code == "not_owner"


async def test_forbidden_requests_are_refused_by_name_and_audited(office):
    strong = CallContext(
        actor=Actor(kind="customer", user_id="u1", identity_level=IdentityLevel.strong), confirmed=True
    )
    for tool, args in (
        ("delete_account", {"user_id": "u1"}),
        ("change_account_email", {"user_id": "u1", "new_email": "me@new.test"}),
        ("refund_to_new_card", {"order_id": "#W1", "card_number": "4111111111111111", "amount": 10}),
    ):
        result = await office.call(tool, args, strong)
        assert result.status == "forbidden", tool
    logged = [e.status for e in await audit.entries(office.db) if e.tool in ("delete_account", "refund_to_new_card")]
    assert logged == ["forbidden", "forbidden"]


async def test_the_audit_log_names_the_session_of_a_call_and_the_saga_of_a_saga(office):
    account = await account_holder(office)
    in_chat = CallContext(actor=Actor(kind="agent"), session_id="S-42")
    ticket = await office.call("create_handoff_ticket", {"reason": "asked", "summary": {"issue": "x"}}, in_chat)
    code = await office.call("send_one_time_code", {"user_id": account.user_id}, CallContext(session_id="S-42"))
    assert ticket.ok and code.ok and code.workflow_id and code.workflow_id.startswith("WF-")
    by_tool = {e.tool: e for e in await audit.entries(office.db, writes_only=True)}
    assert by_tool["create_handoff_ticket"].workflow_id == "S-42"
    assert by_tool["send_one_time_code"].workflow_id == code.workflow_id


def test_a_call_context_refuses_a_field_it_does_not_have():
    with pytest.raises(ValidationError, match="workflow_id"):
        CallContext(workflow_id="S-1")

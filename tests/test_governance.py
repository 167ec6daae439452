"""Governance of every tool call: confirmation, identity, ownership, risk classes, approvals, audit.

The retail tools are exercised on real records; the risk classes the retail tools do not use
(forbidden, approve, strong identity) are exercised with small tools registered by the tests on
the same runner, writing to the same real db_json.
"""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel, Field

from actions import approvals, audit
from actions.governance import ToolSpec, VerificationFailed
from actions.models import Actor, CallContext, IdentityLevel, RiskClass
from actions.systems import retail as retail_store
from tests import retail_reference as R
from tests.retail_calls import as_customer, assert_ok, assert_store, call

WRITES = [
    "cancel_pending_order",
    "modify_pending_order_address",
    "modify_pending_order_payment",
    "modify_pending_order_items",
    "return_delivered_order_items",
    "exchange_delivered_order_items",
    "modify_user_address",
]


def valid_write(db_json: dict, tool: str) -> tuple[dict, str, object]:
    """Arguments that the rules accept for `tool` on a real record, its owner, and the change."""
    card_paid = {"where": lambda o: not R.is_gift_card(R.paid_with(db_json, o))}
    if tool == "cancel_pending_order":
        o = R.pick(db_json, "pending", status="pending")
        args = {"order_id": o["order_id"], "reason": "no longer needed"}
        return args, o["user_id"], lambda d: R.cancel(d, o["order_id"], "no longer needed")
    if tool == "modify_pending_order_address":
        o = R.pick(db_json, "pending", status="pending")
        address = R.an_address(db_json, o["user_id"])
        return (
            {"order_id": o["order_id"], **address},
            o["user_id"],
            lambda d: R.modify_address(d, o["order_id"], address),
        )
    if tool == "modify_pending_order_payment":

        def others(o):
            return R.user_methods(
                db_json, o["user_id"], lambda pm: pm["id"] != R.first_payment_method(o) and not R.is_gift_card(pm)
            )

        o = R.pick(db_json, "pending with another card", status="pending", where=others)
        pm_id = others(o)[0]["id"]
        args = {"order_id": o["order_id"], "payment_method_id": pm_id}
        return args, o["user_id"], lambda d: R.modify_payment(d, o["order_id"], pm_id)
    if tool == "modify_user_address":
        user = next(iter(db_json["users"].values()))
        address = R.an_address(db_json, user["user_id"])
        args = {"user_id": user["user_id"], **address}
        return args, user["user_id"], lambda d: R.modify_user_address(d, user["user_id"], address)
    status = "pending" if tool == "modify_pending_order_items" else "delivered"
    o = R.pick(
        db_json, status, status=status, where=lambda o: card_paid["where"](o) and R.alternatives(db_json, o["items"][0])
    )
    line, pm_id = o["items"][0], R.first_payment_method(o)
    if tool == "return_delivered_order_items":
        args = {"order_id": o["order_id"], "item_ids": [line["item_id"]], "payment_method_id": pm_id}
        return args, o["user_id"], lambda d: R.return_items(d, o["order_id"], [line["item_id"]], pm_id)
    new = R.alternatives(db_json, line)[0]["item_id"]
    old = line["item_id"]
    args = {"order_id": o["order_id"], "item_ids": [old], "new_item_ids": [new], "payment_method_id": pm_id}
    fn = R.modify_items if tool == "modify_pending_order_items" else R.exchange
    return args, o["user_id"], lambda d: fn(d, o["order_id"], [old], [new], pm_id)


# ------------------------------------------------------------------ confirmation


@pytest.mark.parametrize("tool", WRITES)
async def test_no_write_without_an_explicit_yes(retail_office, db_json, tool):
    args, user_id, change = valid_write(db_json, tool)

    asked = await call(retail_office, tool, args, user_id, confirmed=False)

    assert asked.status == "needs_confirmation"
    assert asked.error.code == "confirmation_required"
    assert asked.output is None and not asked.verified
    await assert_store(retail_office, db_json)

    # The same call with the customer's yes goes through: the refusal was only about the yes.
    change(db_json)
    assert_ok(await call(retail_office, tool, args, user_id, confirmed=True))
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ identity


@pytest.mark.parametrize("tool", ["get_order_details", "cancel_pending_order", "modify_user_address"])
async def test_identity_below_the_tools_requirement_is_refused(retail_office, db_json, tool):
    if tool == "get_order_details":
        o = R.pick(db_json, "pending", status="pending")
        args, user_id = {"order_id": o["order_id"]}, o["user_id"]
    else:
        args, user_id, _ = valid_write(db_json, tool)

    result = await call(retail_office, tool, args, user_id, level=IdentityLevel.none)

    assert result.status == "rejected"
    assert result.error.code == "identity_required"
    assert result.error.details == {"required": "basic"}
    assert result.output is None
    await assert_store(retail_office, db_json)


async def test_look_ups_need_no_identity_and_find_the_right_customer(retail_office, db_json):
    user = list(db_json["users"].values())[7]
    by_email = await retail_office.call("find_user_id_by_email", {"email": user["email"]})
    by_name = await retail_office.call(
        "find_user_id_by_name_zip",
        {
            "first_name": user["name"]["first_name"],
            "last_name": user["name"]["last_name"],
            "zip": user["address"]["zip"],
        },
    )
    unknown = await retail_office.call("find_user_id_by_email", {"email": "nobody@example.invalid"})

    assert by_email.output == by_name.output == {"user_id": user["user_id"]}
    assert unknown.status == "rejected" and unknown.error.code == "user_not_found" and unknown.output is None


# ------------------------------------------------------------------ ownership


def _leaks(result, other: dict, their_orders: list[dict]) -> list[str]:
    text = json.dumps(result.model_dump(mode="json"))
    secrets = [other["user_id"], other["email"], other["address"]["address1"], other["name"]["last_name"]]
    secrets += list(other["payment_methods"])
    for o in their_orders:
        secrets += [o["address"]["address1"]] + [line["item_id"] for line in o["items"]]
    return [s for s in secrets if s in text]


@pytest.mark.parametrize("tool", ["get_order_details", "cancel_pending_order", "modify_pending_order_address"])
async def test_another_customers_order_is_refused_and_nothing_leaks(retail_office, db_json, tool):
    victim = R.pick(db_json, "pending", status="pending")
    owner = db_json["users"][victim["user_id"]]
    intruder = R.another_user(db_json, victim["user_id"])
    if tool == "get_order_details":
        args = {"order_id": victim["order_id"]}
    else:
        args, _, _ = valid_write(db_json, tool)
        assert args["order_id"] == victim["order_id"]

    result = await call(retail_office, tool, args, intruder["user_id"])

    assert result.status == "rejected"
    assert result.error.code == "not_owner"
    assert result.output is None and result.verification is None
    assert _leaks(result, owner, [victim]) == []
    entry = (await audit.entries(retail_office.db, tool=tool))[-1]
    assert entry.status == "rejected" and entry.result is None
    await assert_store(retail_office, db_json)


async def test_another_customers_profile_and_address_are_refused(retail_office, db_json):
    owner, intruder = list(db_json["users"].values())[:2]
    read = await call(retail_office, "get_user_details", {"user_id": owner["user_id"]}, intruder["user_id"])
    address = R.an_address(db_json, owner["user_id"])
    write = await call(
        retail_office, "modify_user_address", {"user_id": owner["user_id"], **address}, intruder["user_id"]
    )

    for result in (read, write):
        assert result.status == "rejected" and result.error.code == "not_owner"
        assert _leaks(result, owner, [db_json["orders"][oid] for oid in owner["orders"]]) == []
    await assert_store(retail_office, db_json)


async def test_an_unknown_order_is_not_found(retail_office, db_json):
    user = next(iter(db_json["users"].values()))
    result = await call(
        retail_office, "cancel_pending_order", {"order_id": "#W0000000", "reason": "no longer needed"}, user["user_id"]
    )
    assert result.status == "rejected" and result.error.code == "not_found"
    await assert_store(retail_office, db_json)


async def test_own_order_is_shown(retail_office, db_json):
    o = R.pick(db_json, "delivered", status="delivered")
    result = await call(retail_office, "get_order_details", {"order_id": o["order_id"]}, o["user_id"], confirmed=False)
    assert result.status == "ok"
    assert result.output["order"] == o


# ------------------------------------------------------------------ test-only tools: risk classes


class Credit(BaseModel):
    user_id: str
    gift_card_id: str
    amount: float = Field(gt=0)


class Balance(BaseModel):
    gift_card_id: str
    balance: float


class NoteIn(BaseModel):
    user_id: str


class NoteOut(BaseModel):
    user_id: str
    email: str


async def _credit(env, conn, args: Credit, ctx) -> Balance:
    await retail_store.lock_user(conn, args.user_id)
    await retail_store.get_payment_method(conn, args.user_id, args.gift_card_id)
    return Balance(
        gift_card_id=args.gift_card_id,
        balance=await retail_store.adjust_gift_card(conn, args.gift_card_id, args.amount),
    )


async def _verify_credit(env, conn, args: Credit, out: Balance):
    pm = await retail_store.get_payment_method(conn, args.user_id, args.gift_card_id)
    if pm["balance"] != out.balance:
        raise VerificationFailed(f"gift card {args.gift_card_id} holds {pm['balance']}, not {out.balance}")
    return [f"gift card {args.gift_card_id} holds {out.balance:.2f}"], {"balance": pm["balance"]}


def _credit_risk(args: Credit, policy) -> RiskClass:
    return RiskClass.approve if args.amount > policy.refund_approval_threshold else RiskClass.confirm


async def _email(env, conn, args: NoteIn, ctx) -> NoteOut:
    user = await retail_store.get_user(conn, args.user_id)
    return NoteOut(user_id=args.user_id, email=user["email"])


async def _owner_is_the_user(conn, args) -> str:
    return args.user_id


def credit_tool(risk=_credit_risk, name: str = "grant_goodwill_credit") -> ToolSpec:
    return ToolSpec(
        name,
        "Add a goodwill credit to a customer's gift card.",
        "retail",
        Credit,
        Balance,
        write=True,
        identity=IdentityLevel.basic,
        risk=risk,
        run=_credit,
        verify=_verify_credit,
    )


def _agent() -> Actor:
    return Actor(kind="agent", name="supervisor-1", identity_level=IdentityLevel.strong)


def _a_gift_card(db_json) -> tuple[str, dict]:
    user = next(u for u in db_json["users"].values() if R.user_methods(db_json, u["user_id"], R.is_gift_card))
    return user["user_id"], R.user_methods(db_json, user["user_id"], R.is_gift_card)[0]


async def test_forbidden_tools_never_run_for_anyone(retail_office, db_json):
    retail_office.registry.add(credit_tool(risk=RiskClass.forbidden, name="print_money"))
    user_id, card = _a_gift_card(db_json)
    args = {"user_id": user_id, "gift_card_id": card["id"], "amount": 10.0}
    contexts = [
        as_customer(user_id, level=IdentityLevel.strong),
        CallContext(actor=_agent(), confirmed=True),
        CallContext(actor=Actor.system()),
    ]
    for ctx in contexts:
        result = await retail_office.call("print_money", args, ctx)
        assert result.status == "forbidden" and result.error.code == "forbidden"
        assert result.output is None
    await assert_store(retail_office, db_json)


async def test_a_strong_identity_tool_refuses_a_basic_one(retail_office, db_json):
    retail_office.registry.add(
        ToolSpec(
            "reveal_email",
            "The customer's email (needs a one-time code).",
            "retail",
            NoteIn,
            NoteOut,
            write=False,
            identity=IdentityLevel.strong,
            risk=RiskClass.read,
            run=_email,
            owner=_owner_is_the_user,
        )
    )
    user = next(iter(db_json["users"].values()))
    basic = await call(retail_office, "reveal_email", {"user_id": user["user_id"]}, user["user_id"])
    strong = await call(
        retail_office, "reveal_email", {"user_id": user["user_id"]}, user["user_id"], level=IdentityLevel.strong
    )

    assert basic.status == "rejected" and basic.error.code == "identity_required"
    assert basic.error.details == {"required": "strong"} and basic.output is None
    assert strong.status == "ok" and strong.output == {"user_id": user["user_id"], "email": user["email"]}


# ------------------------------------------------------------------ approvals


async def test_approval_is_needed_and_binds_exactly_those_arguments(retail_office, db_json):
    retail_office.registry.add(credit_tool())
    user_id, card = _a_gift_card(db_json)
    amount = retail_office.policy.refund_approval_threshold + 20
    args = {"user_id": user_id, "gift_card_id": card["id"], "amount": amount}

    def agent(approval_id=None, key="credit-1"):
        return CallContext(actor=_agent(), approval_id=approval_id, idempotency_key=key)

    missing = await retail_office.call("grant_goodwill_credit", args, agent())
    assert (missing.status, missing.error.code) == ("needs_approval", "approval_required")

    asked = await approvals.request(
        retail_office.db,
        "grant_goodwill_credit",
        args,
        reason="goodwill",
        requested_by=_agent().model_dump(),
        session_id=None,
    )
    pending = await retail_office.call("grant_goodwill_credit", args, agent(asked.approval_id))
    assert (pending.status, pending.error.code) == ("needs_approval", "approval_pending")

    denied = await approvals.request(
        retail_office.db,
        "grant_goodwill_credit",
        args,
        reason="goodwill",
        requested_by=_agent().model_dump(),
        session_id=None,
    )
    await approvals.decide(retail_office.db, denied.approval_id, approve=False, by="lead")
    refused = await retail_office.call("grant_goodwill_credit", args, agent(denied.approval_id))
    assert (refused.status, refused.error.code) == ("needs_approval", "approval_denied")

    await approvals.decide(retail_office.db, asked.approval_id, approve=True, by="lead")
    bigger = await retail_office.call("grant_goodwill_credit", args | {"amount": amount * 9}, agent(asked.approval_id))
    other_card = await retail_office.call(
        "grant_goodwill_credit", args | {"user_id": "someone_else"}, agent(asked.approval_id)
    )
    for result in (bigger, other_card):
        assert (result.status, result.error.code) == ("needs_approval", "approval_mismatch")
    await assert_store(retail_office, db_json)  # nothing moved so far

    granted = await retail_office.call("grant_goodwill_credit", args, agent(asked.approval_id))
    assert_ok(granted)
    card["balance"] = R.money(card["balance"] + amount)
    assert granted.output == {"gift_card_id": card["id"], "balance": card["balance"]}

    again = await retail_office.call("grant_goodwill_credit", args, agent(asked.approval_id))
    reused = await retail_office.call("grant_goodwill_credit", args, agent(asked.approval_id, key="credit-2"))
    assert again.status == "ok" and again.replayed
    assert (reused.status, reused.error.code) == ("needs_approval", "approval_used")
    await assert_store(retail_office, db_json)  # exactly one credit


async def test_below_the_threshold_the_same_tool_needs_a_yes_not_an_approval(retail_office, db_json):
    retail_office.registry.add(credit_tool())
    user_id, card = _a_gift_card(db_json)
    args = {
        "user_id": user_id,
        "gift_card_id": card["id"],
        "amount": retail_office.policy.refund_approval_threshold / 4,
    }

    unconfirmed = await call(retail_office, "grant_goodwill_credit", args, user_id, confirmed=False)
    confirmed = await call(retail_office, "grant_goodwill_credit", args, user_id)

    assert unconfirmed.status == "needs_confirmation" and unconfirmed.risk is RiskClass.confirm
    assert_ok(confirmed)
    card["balance"] = R.money(card["balance"] + args["amount"])
    await assert_store(retail_office, db_json)


# ------------------------------------------------------------------ audit log


async def test_every_call_leaves_an_audit_entry(retail_office, db_json):
    mine = R.pick(db_json, "pending", status="pending")
    theirs = R.pick(db_json, "someone else's", where=lambda o: o["user_id"] != mine["user_id"])
    user_id = mine["user_id"]
    calls = [
        ("get_order_details", {"order_id": mine["order_id"]}, {"confirmed": False}),
        ("cancel_pending_order", {"order_id": mine["order_id"], "reason": "ordered by mistake"}, {"confirmed": False}),
        ("cancel_pending_order", {"order_id": mine["order_id"], "reason": "ordered by mistake"}, {"key": "audit-1"}),
        ("cancel_pending_order", {"order_id": mine["order_id"], "reason": "ordered by mistake"}, {"key": "audit-2"}),
        ("get_order_details", {"order_id": theirs["order_id"]}, {}),
    ]
    results = [await call(retail_office, tool, args, user_id, **ctx) for tool, args, ctx in calls]
    assert [r.status for r in results] == ["ok", "needs_confirmation", "ok", "rejected", "rejected"]

    entries = await audit.entries(retail_office.db)
    assert len(entries) == len(calls)
    by_call = {e.call_id: e for e in entries}
    entries = [by_call[r.call_id] for r in results]
    for (tool, args, _), result, entry in zip(calls, results, entries, strict=True):
        assert entry.call_id == result.call_id
        assert entry.id == result.audit_id or (not entry.write and result.audit_id is None)
        assert entry.tool == tool and entry.arguments == args and entry.status == result.status
        assert entry.actor["kind"] == "customer" and entry.actor["user_id"] == user_id
        assert entry.actor["identity_level"] == "basic"
        assert entry.risk == result.risk.value and entry.write == result.write
        assert entry.timings["total_ms"] == entry.duration_ms == result.duration_ms
        assert entry.error == (result.error.model_dump(mode="json") if result.error else None)

    write = entries[2]
    assert write.verified and write.idempotency_key == "audit-1"
    assert write.verification["verified"] and write.verification["confirmation_id"]
    assert write.verification["checks"] and write.verification["evidence"]["order"]["status"] == "cancelled"
    assert {"run_ms", "verify_ms", "ownership_ms", "total_ms"} <= set(write.timings)
    assert entries[3].error["code"] == "wrong_status" and not entries[3].verified
    assert entries[4].error["code"] == "not_owner" and entries[4].result is None
    assert [e.tool for e in await audit.entries(retail_office.db, writes_only=True)] == ["cancel_pending_order"] * 3

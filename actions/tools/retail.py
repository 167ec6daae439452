"""Retail tools: look-ups and the writes of the retail semantics, each with its verification read.

Every write re-checks its preconditions inside the write transaction (never trusting an earlier
read), applies exactly the effects the retail semantics name, and is followed by a read of the
order that proves the post-condition.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from actions import postconditions as post
from actions.errors import Conflict, NotFound, PreconditionFailed
from actions.governance import ToolEnv, ToolSpec, VerificationFailed
from actions.models import CallContext, IdentityLevel, RiskClass
from actions.systems import retail as store
from actions.systems.retail import money
from actions.tools.retail_models import (
    CancelOrder,
    ExchangeItems,
    FindByEmail,
    FindByNameZip,
    ModifyOrderAddress,
    ModifyOrderItems,
    ModifyOrderPayment,
    ModifyUserAddress,
    NoArgs,
    OrderChange,
    OrderOut,
    OrderRef,
    ProductList,
    ProductOut,
    ProductRef,
    ReturnItems,
    UserChange,
    UserIdOut,
    UserOut,
    UserRef,
)

SYSTEM = store.SYSTEM


# ------------------------------------------------------------------ shared checks


async def _order_for_write(conn: AsyncConnection, args) -> tuple[dict[str, Any], int]:
    """The order to change, locked (customer first, then order) and checked against the version read."""
    owner = await store.order_owner(conn, args.order_id)
    if owner is None:
        raise NotFound(f"no order with id {args.order_id}", code="order_not_found")
    await store.lock_user(conn, owner)
    order, version = await store.get_order(conn, args.order_id, lock=True)
    if args.expected_version is not None and args.expected_version != version:
        raise Conflict(
            f"order {order['order_id']} changed since it was read back to the customer; read it again",
            code="order_conflict",
        )
    return order, version


def _require_status(order: dict, *, exactly: str | None = None, contains: str | None = None, action: str) -> None:
    status = order["status"]
    if exactly is not None and status != exactly:
        raise PreconditionFailed(
            f"cannot {action}: order {order['order_id']} is {status!r}, it must be {exactly!r}",
            code="wrong_status",
            details={"status": status, "required": exactly},
        )
    if contains is not None and contains not in status:
        raise PreconditionFailed(
            f"cannot {action}: order {order['order_id']} is {status!r}, it must be {contains}",
            code="wrong_status",
            details={"status": status, "required": contains},
        )


def _require_items_in_order(order: dict, item_ids: list[str]) -> None:
    have = Counter(i["item_id"] for i in order["items"])
    want = Counter(item_ids)
    for item_id, count in want.items():
        if have[item_id] < count:
            raise PreconditionFailed(
                f"item {item_id} is not in order {order['order_id']}"
                + (f" {count} times" if count > 1 and have[item_id] else ""),
                code="item_not_in_order",
                details={"item_id": item_id},
            )


async def _user_payment_method(conn: AsyncConnection, user_id: str, pm_id: str) -> dict:
    try:
        return await store.get_payment_method(conn, user_id, pm_id)
    except NotFound:
        raise PreconditionFailed(
            f"payment method {pm_id} is not one of the customer's payment methods",
            code="payment_method_not_found",
        ) from None


async def _price_difference(
    conn: AsyncConnection, order: dict, item_ids: list[str], new_item_ids: list[str], *, must_differ: bool
) -> tuple[float, list[dict]]:
    if len(item_ids) != len(new_item_ids):
        raise PreconditionFailed(
            "the number of items to change and the number of new items differ", code="item_count_mismatch"
        )
    diff = 0.0
    variants = []
    for line, new_item_id in zip(_lines_for(order, item_ids), new_item_ids, strict=True):
        item_id = line["item_id"]
        if must_differ and new_item_id == item_id:
            raise PreconditionFailed(f"the new item for {item_id} is the same item", code="same_item")
        try:
            variant = await store.get_variant(conn, new_item_id)
        except NotFound:
            raise PreconditionFailed(f"new item {new_item_id} does not exist", code="item_not_found") from None
        if variant["product_id"] != line["product_id"]:
            raise PreconditionFailed(
                f"new item {new_item_id} is not a variant of {line['name']} (product {line['product_id']})",
                code="different_product",
            )
        if not variant["available"]:
            raise PreconditionFailed(f"new item {new_item_id} is not available", code="item_unavailable")
        diff += variant["price"] - line["price"]
        variants.append(variant)
    return money(diff), variants


def _lines_for(order: dict, item_ids: list[str]) -> list[dict]:
    """The order lines the item ids name, in order: each id takes the first line with that id not
    already taken, so an item listed twice names both of its lines."""
    taken: set[int] = set()
    lines = []
    for item_id in item_ids:
        index = next(n for n, line in enumerate(order["items"]) if line["item_id"] == item_id and n not in taken)
        taken.add(index)
        lines.append(order["items"][index])
    return lines


def _require_gift_card_covers(pm: dict, amount: float) -> None:
    if pm["source"] == "gift_card" and amount > 0 and (pm.get("balance") or 0.0) < amount:
        raise PreconditionFailed(
            f"gift card {pm['id']} has {pm.get('balance', 0.0):.2f}, not enough to cover {amount:.2f}",
            code="insufficient_gift_card_balance",
        )


async def _balances(conn: AsyncConnection, user_id: str, pm_ids: set[str]) -> dict[str, float]:
    out = {}
    for pm_id in sorted(pm_ids):
        try:
            pm = await store.get_payment_method(conn, user_id, pm_id)
        except NotFound:
            continue
        if pm["source"] == "gift_card":
            out[pm_id] = pm["balance"]
    return out


async def _reread(conn: AsyncConnection, order_id: str) -> tuple[dict, int]:
    return await store.get_order(conn, order_id)


def _expect(cond: bool, message: str, checks: list[str]) -> None:
    if not cond:
        raise VerificationFailed(f"post-condition failed: {message}")
    checks.append(message)


# ------------------------------------------------------------------ reads


async def _find_by_email(env: ToolEnv, conn, args: FindByEmail, ctx) -> UserIdOut:
    user_id = await store.find_user_by_email(conn, args.email)
    if user_id is None:
        raise NotFound("no customer with that email", code="user_not_found")
    return UserIdOut(user_id=user_id)


async def _find_by_name_zip(env: ToolEnv, conn, args: FindByNameZip, ctx) -> UserIdOut:
    user_id = await store.find_user_by_name_zip(conn, args.first_name, args.last_name, args.zip)
    if user_id is None:
        raise NotFound("no customer with that name and zip code", code="user_not_found")
    return UserIdOut(user_id=user_id)


async def _get_user(env: ToolEnv, conn, args: UserRef, ctx) -> UserOut:
    return UserOut(user=await store.get_user(conn, args.user_id), version=await store.user_version(conn, args.user_id))


async def _get_order(env: ToolEnv, conn, args: OrderRef, ctx) -> OrderOut:
    order, version = await store.get_order(conn, args.order_id)
    return OrderOut(order=order, version=version)


async def _get_product(env: ToolEnv, conn, args: ProductRef, ctx) -> ProductOut:
    return ProductOut(product=await store.get_product(conn, args.product_id))


async def _list_products(env: ToolEnv, conn, args: NoArgs, ctx) -> ProductList:
    return ProductList(products=await store.list_products(conn))


async def _owner_of_order(conn, args) -> str | None:
    return await store.order_owner(conn, args.order_id)


async def _owner_of_user(conn, args) -> str | None:
    try:
        await store.user_version(conn, args.user_id)
    except NotFound:
        return None
    return args.user_id


# ------------------------------------------------------------------ cancel


async def _cancel(env: ToolEnv, conn, args: CancelOrder, ctx: CallContext) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, exactly="pending", action="cancel")
    refunds = []
    touched = set()
    for entry in order["payment_history"]:
        refunds.append(
            {"transaction_type": "refund", "amount": entry["amount"], "payment_method_id": entry["payment_method_id"]}
        )
        pm = await _user_payment_method(conn, order["user_id"], entry["payment_method_id"])
        if pm["source"] == "gift_card":
            await store.adjust_gift_card(conn, pm["id"], entry["amount"])
            touched.add(pm["id"])
    order["payment_history"].extend(refunds)
    order["status"] = "cancelled"
    order["cancel_reason"] = args.reason
    new_version = await store.save_order(conn, order, version)
    return OrderChange(
        order=order, version=new_version, gift_card_balances=await _balances(conn, order["user_id"], touched)
    )


async def _verify_cancel(env: ToolEnv, conn, args: CancelOrder, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    _expect(order["status"] == "cancelled", f"order {order['order_id']} status is cancelled", checks)
    _expect(order.get("cancel_reason") == args.reason, f"cancel reason is {args.reason!r}", checks)
    written = [p.model_dump() for p in out.order.payment_history]
    _expect(order["payment_history"] == written, "a refund entry stands for every payment", checks)
    # Gift-card balances moved in the same transaction as these entries, so the entries prove them;
    # the balances themselves are evidence only: another order's write may have moved them since.
    balances = await _balances(conn, order["user_id"], set(out.gift_card_balances))
    return checks, {"order": order, "version": version, "gift_card_balances": balances}


# ------------------------------------------------------------------ modify pending order


async def _modify_address(env: ToolEnv, conn, args: ModifyOrderAddress, ctx) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, contains="pending", action="change the address of")
    order["address"] = args.as_address()
    return OrderChange(order=order, version=await store.save_order(conn, order, version))


async def _verify_address(env: ToolEnv, conn, args: ModifyOrderAddress, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    _expect(order["address"] == args.as_address(), f"order {order['order_id']} ships to the new address", checks)
    return checks, {"order": order, "version": version}


async def _modify_payment(env: ToolEnv, conn, args: ModifyOrderPayment, ctx) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, contains="pending", action="change the payment of")
    history = order["payment_history"]
    if len(history) != 1 or history[0]["transaction_type"] != "payment":
        raise PreconditionFailed(
            f"order {order['order_id']} has more than one payment entry; its payment cannot be changed",
            code="payment_history_not_single",
        )
    old = history[0]
    new_pm = await _user_payment_method(conn, order["user_id"], args.payment_method_id)
    if new_pm["id"] == old["payment_method_id"]:
        raise PreconditionFailed("the new payment method is the one already used", code="same_payment_method")
    amount = old["amount"]
    _require_gift_card_covers(new_pm, amount)
    history.append({"transaction_type": "payment", "amount": amount, "payment_method_id": new_pm["id"]})
    history.append({"transaction_type": "refund", "amount": amount, "payment_method_id": old["payment_method_id"]})
    touched = set()
    if new_pm["source"] == "gift_card":
        await store.adjust_gift_card(conn, new_pm["id"], -amount)
        touched.add(new_pm["id"])
    old_pm = await _user_payment_method(conn, order["user_id"], old["payment_method_id"])
    if old_pm["source"] == "gift_card":
        await store.adjust_gift_card(conn, old_pm["id"], amount)
        touched.add(old_pm["id"])
    new_version = await store.save_order(conn, order, version)
    return OrderChange(
        order=order, version=new_version, gift_card_balances=await _balances(conn, order["user_id"], touched)
    )


async def _verify_payment(env: ToolEnv, conn, args: ModifyOrderPayment, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    written = [p.model_dump() for p in out.order.payment_history]
    _expect(
        order["payment_history"] == written and written[-2]["payment_method_id"] == args.payment_method_id,
        f"order {order['order_id']} is paid with {args.payment_method_id}",
        checks,
    )
    # Gift-card balances moved in the same transaction as these entries, so the entries prove them;
    # the balances themselves are evidence only: another order's write may have moved them since.
    balances = await _balances(conn, order["user_id"], set(out.gift_card_balances))
    return checks, {"order": order, "version": version, "gift_card_balances": balances}


async def _modify_items(env: ToolEnv, conn, args: ModifyOrderItems, ctx) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, exactly="pending", action="change the items of")
    _require_items_in_order(order, args.item_ids)
    diff, variants = await _price_difference(conn, order, args.item_ids, args.new_item_ids, must_differ=True)
    pm = await _user_payment_method(conn, order["user_id"], args.payment_method_id)
    _require_gift_card_covers(pm, diff)
    order["payment_history"].append(
        {
            "transaction_type": "payment" if diff > 0 else "refund",
            "amount": money(abs(diff)),
            "payment_method_id": pm["id"],
        }
    )
    touched = set()
    if pm["source"] == "gift_card":
        await store.adjust_gift_card(conn, pm["id"], -diff)
        touched.add(pm["id"])
    for line, variant in zip(_lines_for(order, args.item_ids), variants, strict=True):
        line["item_id"] = variant["item_id"]
        line["price"] = variant["price"]
        line["options"] = variant["options"]
    order["status"] = "pending (item modified)"
    new_version = await store.save_order(conn, order, version)
    return OrderChange(
        order=order,
        version=new_version,
        price_difference=diff,
        gift_card_balances=await _balances(conn, order["user_id"], touched),
    )


async def _verify_items(env: ToolEnv, conn, args: ModifyOrderItems, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    _expect(
        order["status"] == "pending (item modified)", f"order {order['order_id']} is pending (item modified)", checks
    )
    have = Counter(i["item_id"] for i in order["items"])
    for new_id, count in Counter(args.new_item_ids).items():
        _expect(have[new_id] >= count, f"item {new_id} is in the order", checks)
    return checks, {"order": order, "version": version}


# ------------------------------------------------------------------ delivered orders


async def _return(env: ToolEnv, conn, args: ReturnItems, ctx) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, exactly="delivered", action="return items of")
    pm = await _user_payment_method(conn, order["user_id"], args.payment_method_id)
    original = next(
        (p["payment_method_id"] for p in order["payment_history"] if p["transaction_type"] == "payment"), None
    )
    if pm["id"] != original and pm["source"] != "gift_card":
        raise PreconditionFailed(
            "a refund must go to the order's original payment method or to one of the customer's gift cards",
            code="refund_method_not_allowed",
        )
    _require_items_in_order(order, args.item_ids)
    order["status"] = "return requested"
    order["return_items"] = sorted(args.item_ids)
    order["return_payment_method_id"] = pm["id"]
    return OrderChange(order=order, version=await store.save_order(conn, order, version))


async def _verify_return(env: ToolEnv, conn, args: ReturnItems, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    _expect(order["status"] == "return requested", f"order {order['order_id']} is return requested", checks)
    _expect(order.get("return_items") == sorted(args.item_ids), "the returned items are recorded", checks)
    _expect(order.get("return_payment_method_id") == args.payment_method_id, "the refund method is recorded", checks)
    return checks, {"order": order, "version": version}


async def _exchange(env: ToolEnv, conn, args: ExchangeItems, ctx) -> OrderChange:
    order, version = await _order_for_write(conn, args)
    _require_status(order, exactly="delivered", action="exchange items of")
    _require_items_in_order(order, args.item_ids)
    diff, _ = await _price_difference(conn, order, args.item_ids, args.new_item_ids, must_differ=False)
    pm = await _user_payment_method(conn, order["user_id"], args.payment_method_id)
    _require_gift_card_covers(pm, diff)
    order["status"] = "exchange requested"
    order["exchange_items"] = sorted(args.item_ids)
    order["exchange_new_items"] = sorted(args.new_item_ids)
    order["exchange_payment_method_id"] = pm["id"]
    order["exchange_price_difference"] = money(diff)
    return OrderChange(order=order, version=await store.save_order(conn, order, version), price_difference=diff)


async def _verify_exchange(env: ToolEnv, conn, args: ExchangeItems, out: OrderChange):
    order, version = await _reread(conn, args.order_id)
    checks: list[str] = []
    _expect(order["status"] == "exchange requested", f"order {order['order_id']} is exchange requested", checks)
    _expect(order.get("exchange_new_items") == sorted(args.new_item_ids), "the new items are recorded", checks)
    _expect(
        order.get("exchange_price_difference") == out.price_difference,
        f"the price difference is {out.price_difference:.2f}",
        checks,
    )
    return checks, {"order": order, "version": version}


# ------------------------------------------------------------------ user


async def _modify_user_address(env: ToolEnv, conn, args: ModifyUserAddress, ctx) -> UserChange:
    await store.lock_user(conn, args.user_id)
    version = await store.user_version(conn, args.user_id)
    await store.set_user_address(conn, args.user_id, args.as_address(), version)
    return UserChange(user=await store.get_user(conn, args.user_id))


async def _verify_user_address(env: ToolEnv, conn, args: ModifyUserAddress, out: UserChange):
    user = await store.get_user(conn, args.user_id)
    checks: list[str] = []
    _expect(user["address"] == args.as_address(), f"user {args.user_id} default address is the new one", checks)
    return checks, {"user_id": args.user_id, "address": user["address"]}


# ------------------------------------------------------------------ registry

_basic = IdentityLevel.basic


def tools() -> list[ToolSpec]:
    return [
        ToolSpec(
            "find_user_id_by_email",
            "Find the customer's user id by their email address.",
            SYSTEM,
            FindByEmail,
            UserIdOut,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_find_by_email,
        ),
        ToolSpec(
            "find_user_id_by_name_zip",
            "Find the customer's user id by first name, last name and zip code.",
            SYSTEM,
            FindByNameZip,
            UserIdOut,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_find_by_name_zip,
        ),
        ToolSpec(
            "get_user_details",
            "The customer's profile: name, address, email, payment methods, orders.",
            SYSTEM,
            UserRef,
            UserOut,
            write=False,
            identity=_basic,
            risk=RiskClass.read,
            run=_get_user,
            owner=_owner_of_user,
        ),
        ToolSpec(
            "get_order_details",
            "An order's status, items, fulfilments and payments.",
            SYSTEM,
            OrderRef,
            OrderOut,
            write=False,
            identity=_basic,
            risk=RiskClass.read,
            run=_get_order,
            owner=_owner_of_order,
        ),
        ToolSpec(
            "get_product_details",
            "A product's variants with options, availability and price.",
            SYSTEM,
            ProductRef,
            ProductOut,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_get_product,
        ),
        ToolSpec(
            "list_all_product_types",
            "Names and ids of every product type the store sells.",
            SYSTEM,
            NoArgs,
            ProductList,
            write=False,
            identity=IdentityLevel.none,
            risk=RiskClass.read,
            run=_list_products,
        ),
        ToolSpec(
            "cancel_pending_order",
            "Cancel a pending order; payments are refunded.",
            SYSTEM,
            CancelOrder,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_cancel,
            verify=_verify_cancel,
            owner=_owner_of_order,
            confirmation_prefix="CX",
            reconcile=post.order_status("cancelled"),
        ),
        ToolSpec(
            "modify_pending_order_address",
            "Change the shipping address of a pending order.",
            SYSTEM,
            ModifyOrderAddress,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_modify_address,
            verify=_verify_address,
            owner=_owner_of_order,
            confirmation_prefix="AD",
            reconcile=post.ORDER_ADDRESS,
        ),
        ToolSpec(
            "modify_pending_order_payment",
            "Pay a pending order with another of the customer's methods.",
            SYSTEM,
            ModifyOrderPayment,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_modify_payment,
            verify=_verify_payment,
            owner=_owner_of_order,
            confirmation_prefix="PM",
            reconcile=post.ORDER_PAYMENT,
        ),
        ToolSpec(
            "modify_pending_order_items",
            "Swap items of a pending order for other variants (once).",
            SYSTEM,
            ModifyOrderItems,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_modify_items,
            verify=_verify_items,
            owner=_owner_of_order,
            confirmation_prefix="IM",
            reconcile=post.order_status("pending (item modified)"),
        ),
        ToolSpec(
            "return_delivered_order_items",
            "Request a return of delivered items.",
            SYSTEM,
            ReturnItems,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_return,
            verify=_verify_return,
            owner=_owner_of_order,
            confirmation_prefix="RT",
            reconcile=post.order_status("return requested"),
        ),
        ToolSpec(
            "exchange_delivered_order_items",
            "Request an exchange of delivered items for other variants.",
            SYSTEM,
            ExchangeItems,
            OrderChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_exchange,
            verify=_verify_exchange,
            owner=_owner_of_order,
            confirmation_prefix="EX",
            reconcile=post.order_status("exchange requested"),
        ),
        ToolSpec(
            "modify_user_address",
            "Change the customer's default address.",
            SYSTEM,
            ModifyUserAddress,
            UserChange,
            write=True,
            identity=_basic,
            risk=RiskClass.confirm,
            run=_modify_user_address,
            verify=_verify_user_address,
            owner=_owner_of_user,
            confirmation_prefix="UA",
            reconcile=post.USER_ADDRESS,
        ),
    ]

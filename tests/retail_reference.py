"""A reference model of the retail write semantics, and pickers of real orders from db.json.

Each write function changes a parsed store (the db.json shape) the way the retail semantics
spell it out, or raises `Rejected(code)` naming the precondition that fails and changes nothing.
Tests apply these to their own copy of db.json and compare the result with the back office's
export. The pickers choose real records by the properties a test needs, so no expectation is
copied from the data by hand.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

Store = dict[str, Any]

CANCEL_REASONS = ("no longer needed", "ordered by mistake")
RETAIL_KEYS = ("products", "users", "orders")


class Rejected(Exception):
    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def clone(value: Any) -> Any:
    """A deep copy of JSON-shaped data (several times faster than `copy.deepcopy` on the store)."""
    kind = type(value)
    if kind is dict:
        return {k: clone(v) for k, v in value.items()}
    if kind is list:
        return [clone(v) for v in value]
    return value


def money(x: float) -> float:
    return round(float(x), 2)


def retail_part(export: Store) -> Store:
    """The retail store in an export (other systems may add their own top-level keys)."""
    return {k: export[k] for k in RETAIL_KEYS}


# ------------------------------------------------------------------ look-ups


def order(store: Store, order_id: str) -> dict:
    return store["orders"][order_id]


def user_of(store: Store, order_id: str) -> dict:
    return store["users"][store["orders"][order_id]["user_id"]]


def method(store: Store, user_id: str, pm_id: str) -> dict:
    """One of the user's payment methods; another customer's method counts as unknown."""
    pm = store["users"][user_id]["payment_methods"].get(pm_id)
    if pm is None:
        raise Rejected("payment_method_not_found")
    return pm


def is_gift_card(pm: dict) -> bool:
    return pm["source"] == "gift_card"


def variant(store: Store, item_id: str) -> tuple[str, dict] | None:
    """(product id, variant) of an item id, searched over the whole catalogue."""
    for pid, product in store["products"].items():
        if item_id in product["variants"]:
            return pid, product["variants"][item_id]
    return None


def first_payment_method(o: dict) -> str:
    return next(e["payment_method_id"] for e in o["payment_history"] if e["transaction_type"] == "payment")


def alternatives(store: Store, line: dict, *, available: bool | None = True) -> list[dict]:
    """Other variants of the line's product (by default only available ones)."""
    variants = store["products"][line["product_id"]]["variants"].values()
    return [
        v for v in variants if v["item_id"] != line["item_id"] and (available is None or v["available"] == available)
    ]


# ------------------------------------------------------------------ shared rules


def _items_in_order(o: dict, item_ids: list[str]) -> None:
    have = Counter(i["item_id"] for i in o["items"])
    for item_id, count in Counter(item_ids).items():
        if have[item_id] < count:
            raise Rejected("item_not_in_order")


def _lines(o: dict, item_ids: list[str]) -> list[dict]:
    """The order lines named by item ids; an id listed twice names two different lines."""
    used: set[int] = set()
    out = []
    for item_id in item_ids:
        n = next(n for n, line in enumerate(o["items"]) if line["item_id"] == item_id and n not in used)
        used.add(n)
        out.append(o["items"][n])
    return out


def _swap(store: Store, o: dict, item_ids: list[str], new_item_ids: list[str], *, must_differ: bool):
    """Check the swap rules; return (lines, new variants, price difference)."""
    _items_in_order(o, item_ids)
    if len(item_ids) != len(new_item_ids):
        raise Rejected("item_count_mismatch")
    lines = _lines(o, item_ids)
    news = []
    diff = 0.0
    for line, new_id in zip(lines, new_item_ids, strict=True):
        if must_differ and new_id == line["item_id"]:
            raise Rejected("same_item")
        found = variant(store, new_id)
        if found is None:
            raise Rejected("item_not_found")
        product_id, v = found
        if product_id != line["product_id"]:
            raise Rejected("different_product")
        if not v["available"]:
            raise Rejected("item_unavailable")
        diff += v["price"] - line["price"]
        news.append(v)
    return lines, news, money(diff)


def _covers(pm: dict, amount: float) -> None:
    if is_gift_card(pm) and amount > 0 and pm["balance"] < amount:
        raise Rejected("insufficient_gift_card_balance")


def _credit(pm: dict, amount: float) -> None:
    if is_gift_card(pm):
        pm["balance"] = money(pm["balance"] + amount)


# ------------------------------------------------------------------ writes


def cancel(store: Store, order_id: str, reason: str) -> None:
    o = order(store, order_id)
    if o["status"] != "pending":
        raise Rejected("wrong_status")
    if reason not in CANCEL_REASONS:
        raise Rejected("invalid_arguments")
    refunds = [
        {"transaction_type": "refund", "amount": e["amount"], "payment_method_id": e["payment_method_id"]}
        for e in o["payment_history"]
    ]
    for refund in refunds:
        _credit(method(store, o["user_id"], refund["payment_method_id"]), refund["amount"])
    o["payment_history"].extend(refunds)
    o["status"] = "cancelled"
    o["cancel_reason"] = reason


def modify_address(store: Store, order_id: str, address: dict) -> None:
    o = order(store, order_id)
    if "pending" not in o["status"]:
        raise Rejected("wrong_status")
    o["address"] = dict(address)


def modify_payment(store: Store, order_id: str, pm_id: str) -> None:
    o = order(store, order_id)
    if "pending" not in o["status"]:
        raise Rejected("wrong_status")
    history = o["payment_history"]
    if len(history) != 1 or history[0]["transaction_type"] != "payment":
        raise Rejected("payment_history_not_single")
    new = method(store, o["user_id"], pm_id)
    old_id, amount = history[0]["payment_method_id"], history[0]["amount"]
    if pm_id == old_id:
        raise Rejected("same_payment_method")
    _covers(new, amount)
    history.append({"transaction_type": "payment", "amount": amount, "payment_method_id": pm_id})
    history.append({"transaction_type": "refund", "amount": amount, "payment_method_id": old_id})
    _credit(new, -amount)
    _credit(method(store, o["user_id"], old_id), amount)


def modify_items(store: Store, order_id: str, item_ids: list[str], new_item_ids: list[str], pm_id: str) -> float:
    o = order(store, order_id)
    if o["status"] != "pending":
        raise Rejected("wrong_status")
    lines, news, diff = _swap(store, o, item_ids, new_item_ids, must_differ=True)
    pm = method(store, o["user_id"], pm_id)
    _covers(pm, diff)
    o["payment_history"].append(
        {
            "transaction_type": "payment" if diff > 0 else "refund",
            "amount": money(abs(diff)),
            "payment_method_id": pm_id,
        }
    )
    _credit(pm, -diff)
    for line, v in zip(lines, news, strict=True):
        line["item_id"] = v["item_id"]
        line["price"] = v["price"]
        line["options"] = clone(v["options"])
    o["status"] = "pending (item modified)"
    return diff


def return_items(store: Store, order_id: str, item_ids: list[str], pm_id: str) -> None:
    o = order(store, order_id)
    if o["status"] != "delivered":
        raise Rejected("wrong_status")
    pm = method(store, o["user_id"], pm_id)
    if pm_id != first_payment_method(o) and not is_gift_card(pm):
        raise Rejected("refund_method_not_allowed")
    _items_in_order(o, item_ids)
    o["status"] = "return requested"
    o["return_items"] = sorted(item_ids)
    o["return_payment_method_id"] = pm_id


def exchange(store: Store, order_id: str, item_ids: list[str], new_item_ids: list[str], pm_id: str) -> float:
    o = order(store, order_id)
    if o["status"] != "delivered":
        raise Rejected("wrong_status")
    _, _, diff = _swap(store, o, item_ids, new_item_ids, must_differ=False)
    pm = method(store, o["user_id"], pm_id)
    _covers(pm, diff)
    o["status"] = "exchange requested"
    o["exchange_items"] = sorted(item_ids)
    o["exchange_new_items"] = sorted(new_item_ids)
    o["exchange_payment_method_id"] = pm_id
    o["exchange_price_difference"] = money(diff)
    return diff


def modify_user_address(store: Store, user_id: str, address: dict) -> None:
    store["users"][user_id]["address"] = dict(address)


# ------------------------------------------------------------------ pickers


def orders(store: Store, *, status: str | None = None, where: Callable[[dict], bool] | None = None) -> Iterator[dict]:
    for o in store["orders"].values():
        if (status is None or o["status"] == status) and (where is None or where(o)):
            yield o


def paid_with(store: Store, o: dict) -> dict:
    """The payment method of the order's first payment."""
    return method(store, o["user_id"], first_payment_method(o))


def pick(store: Store, what: str, **kw) -> dict:
    """The first order with the properties asked for; fail loudly when the data has none."""
    found = next(orders(store, **kw), None)
    if found is None:
        raise LookupError(f"db.json has no order that is {what}")
    return found


def user_methods(store: Store, user_id: str, where: Callable[[dict], bool]) -> list[dict]:
    return [pm for pm in store["users"][user_id]["payment_methods"].values() if where(pm)]


def another_user(store: Store, user_id: str) -> dict:
    return next(u for uid, u in store["users"].items() if uid != user_id)


def an_address(store: Store, not_of_user: str) -> dict:
    """A real address from the data, different from the user's own."""
    own = store["users"][not_of_user]["address"]
    return next(dict(u["address"]) for u in store["users"].values() if u["address"] != own)

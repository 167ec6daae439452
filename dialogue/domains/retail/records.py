"""The verified customer's own records (retail), read through governed tools and cached for the session.

Only the authenticated customer's records are ever read here (the tools enforce ownership as
well). The cache lives in memory beside the session, not in its persisted state: a resume on
another server reads the records again. It is dropped after every write so a read-back never
quotes stale data.
"""

from __future__ import annotations

from typing import Any

from dialogue.kernel.context import TurnContext as Turn


async def user(turn: Turn) -> dict[str, Any] | None:
    state = turn.state
    if not state.identity.user_id:
        return None
    cached = turn.cache.get("user")
    if cached and cached.get("user_id") == state.identity.user_id:
        return cached
    result = await turn.tool("get_user_details", {"user_id": state.identity.user_id})
    if not result.ok:
        return None
    turn.cache["user"] = result.output["user"]
    return turn.cache["user"]


async def orders(turn: Turn) -> dict[str, dict[str, Any]]:
    """The customer's orders by id (newest last, as the store lists them)."""
    cached = turn.cache.get("orders")
    if cached is not None:
        return cached
    profile = await user(turn)
    found: dict[str, dict[str, Any]] = {}
    for order_id in (profile or {}).get("orders", []):
        result = await turn.tool("get_order_details", {"order_id": order_id})
        if result.ok:
            found[order_id] = result.output["order"] | {"_version": result.output["version"]}
    turn.cache["orders"] = found
    return found


async def product(turn: Turn, product_id: str) -> dict[str, Any] | None:
    cache = turn.cache.setdefault("products", {})
    if product_id in cache:
        return cache[product_id]
    result = await turn.tool("get_product_details", {"product_id": product_id})
    if not result.ok:
        return None
    cache[product_id] = result.output["product"]
    return cache[product_id]


async def product_list(turn: Turn) -> list[dict[str, str]]:
    cached = turn.shared.get("product_list")
    if cached is None:
        result = await turn.tool("list_all_product_types", {})
        cached = result.output["products"] if result.ok else []
        if result.ok:
            turn.shared["product_list"] = cached
    return cached


def payment_methods(profile: dict[str, Any] | None) -> list[dict[str, Any]]:
    return list((profile or {}).get("payment_methods", {}).values())


def forget_after_write(turn: Turn) -> None:
    for key in ("user", "orders"):
        turn.cache.pop(key, None)


def order_record(name: str, value: Any) -> Any:
    """An order as a read step saves it: whether it was paid in one payment (only then can its method change)."""
    if name == "order" and isinstance(value, dict):
        history = value.get("payment_history", [])
        value["single_payment"] = len(history) == 1 and history[0]["transaction_type"] == "payment"
    return value

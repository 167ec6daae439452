"""The records a retail customer's words may refer to, for understanding to resolve them against: the
items of the order in focus (or of all their orders while an order is asked for), the variants an
item may become, their payment methods, the plans, the product types. Understanding never looks
anything up itself; these are read through the governed tools and cached for the conversation.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dialogue.domains.retail import records
from dialogue.domains.retail.understanding import ItemRef, PaymentRef, VariantRef
from dialogue.kernel.collectors import Collector
from dialogue.kernel.context import TurnContext
from dialogue.kernel.flow import Flow
from dialogue.kernel.steps.collect import CollectStep
from dialogue.state import IntentFrame

NEW_ITEMS = "new_item_ids"
# Questions while which the customer may be naming a variant: the new variant itself, and a
# read-back or a correction of a change of items.
_VARIANT_QUESTIONS = (NEW_ITEMS, "confirmation", "correction")


class RetailCandidates:
    def __init__(self, flows: Mapping[str, Flow], collectors: Mapping[str, Collector]) -> None:
        self.flows = flows
        self.collectors = collectors

    async def __call__(self, turn: TurnContext) -> dict[str, list[Any]]:
        state = turn.state
        frame = state.active
        items: list[ItemRef] = []
        order = frame.records.get("order") if frame else None
        if order:
            items = [
                ItemRef(
                    item_id=i["item_id"],
                    name=i["name"],
                    product_id=i["product_id"],
                    options=i["options"],
                    price=i["price"],
                )
                for i in order["items"]
            ]
            alike = [i for i in items if i.item_id in frame.shortlist] if state.expects == "item_ids" else []
            if alike:
                items = alike  # "which of those two?": "both" and "the blue one" are among those
        elif state.identity.user_id and state.expects == "order_id":
            for placed in (turn.cache.get("orders") or {}).values():
                items.extend(
                    ItemRef(item_id=i["item_id"], name=i["name"], product_id=i["product_id"], options=i["options"])
                    for i in placed["items"]
                )
        variants: list[VariantRef] = []
        if frame is not None and state.expects in _VARIANT_QUESTIONS:
            for v in await self.variants(turn, frame, every_item=state.expects != NEW_ITEMS):
                variants.append(
                    VariantRef(
                        item_id=v["item_id"],
                        product_id=v["product_id"],
                        name=v["name"],
                        options=v["options"],
                        available=v["available"],
                        price=v["price"],
                    )
                )
        payment = [
            PaymentRef(
                id=m["id"],
                source=m["source"],
                brand=m.get("brand"),
                last_four=m.get("last_four"),
                balance=m.get("balance"),
            )
            for m in records.payment_methods(turn.cache.get("user"))
        ]
        return {
            "item": items,
            "variant": variants,
            "payment_method": payment,
            "plan": list(turn.shared.get("plan_ids", [])),
            "product": await records.product_list(turn),
        }

    async def variants(self, turn: TurnContext, frame: IntentFrame, *, every_item: bool) -> list[dict]:
        """Variants the customer may be choosing: for the item being asked about, or for every item chosen."""
        flow = self.flows.get(frame.intent)
        step = (
            next((s for s in flow.steps if isinstance(s, CollectStep) and s.collect == NEW_ITEMS), None)
            if flow
            else None
        )
        if step is None:
            return []
        if not every_item:
            return await self.collectors["variants"].candidates(turn, frame, step)  # type: ignore[attr-defined]
        lines = {line["item_id"]: line for line in (frame.records.get("order") or {}).get("items", [])}
        out: list[dict] = []
        for item_id in dict.fromkeys(frame.value("item_ids") or []):
            line = lines.get(item_id)
            product = await records.product(turn, line["product_id"]) if line else None
            for v in (product or {}).get("variants", {}).values():
                if v["item_id"] != item_id:
                    out.append(v | {"product_id": line["product_id"], "name": line["name"]})
        return out

"""The retail records a customer may refer to, as `UnderstandingContext.candidates` carries them.

Keyed by entity type: "item" (lines of the order in focus, `ItemRef`), "variant" (variants the
customer might be choosing, `VariantRef`), "payment_method" (their own, `PaymentRef`), "plan"
(plan ids, plain strings) and "product" (catalogue entries, {"product_id", "name"}).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class ItemRef(BaseModel):
    """An item on the order the conversation is about."""

    item_id: str
    name: str
    product_id: str
    options: dict[str, Any] = Field(default_factory=dict)
    price: float | None = None


class VariantRef(BaseModel):
    """A variant the customer might be choosing (same product as an item in focus)."""

    item_id: str
    product_id: str
    name: str
    options: dict[str, Any]
    available: bool = True
    price: float | None = None


class PaymentRef(BaseModel):
    id: str
    source: str  # credit_card | paypal | gift_card
    brand: str | None = None
    last_four: str | None = None
    balance: float | None = None

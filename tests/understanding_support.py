"""Helpers for the understanding tests: contexts built from the real retail data."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from actions.paths import RETAIL_DB
from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.models import (
    ChoiceRef,
    ItemRef,
    PaymentRef,
    Understanding,
    UnderstandingContext,
    VariantRef,
)

# A Sunday, so weekday arithmetic is easy to follow in the tests.
NOW = datetime(2026, 11, 22, 10, 0)


@cache
def db() -> dict:
    return json.loads(RETAIL_DB.read_text(encoding="utf-8"))


@cache
def understander() -> BuiltinUnderstanding:
    return BuiltinUnderstanding(warm=True)


def order_items(order_id: str) -> list[ItemRef]:
    return [
        ItemRef(
            item_id=i["item_id"], name=i["name"], product_id=i["product_id"], options=i["options"], price=i["price"]
        )
        for i in db()["orders"][order_id]["items"]
    ]


def variants(product_name: str) -> list[VariantRef]:
    product = next(p for p in db()["products"].values() if p["name"] == product_name)
    return [
        VariantRef(
            item_id=v["item_id"],
            product_id=product["product_id"],
            name=product["name"],
            options=v["options"],
            available=v["available"],
            price=v["price"],
        )
        for v in product["variants"].values()
    ]


def variant_id(product_name: str, **options: str) -> str:
    wanted = {k.replace("_", " "): v for k, v in options.items()}
    return next(v.item_id for v in variants(product_name) if v.options == wanted)


def payment_methods(user_id: str) -> list[PaymentRef]:
    return [
        PaymentRef(**{k: v for k, v in p.items() if k in PaymentRef.model_fields})
        for p in db()["users"][user_id]["payment_methods"].values()
    ]


def choices(*pairs: tuple[str, str]) -> list[ChoiceRef]:
    return [ChoiceRef(label=label, value=value) for label, value in pairs]


def ctx(**kw) -> UnderstandingContext:
    kw.setdefault("now", NOW)
    return UnderstandingContext(**kw)


def understand(text: str, **kw) -> Understanding:
    return understander().understand_now(text, ctx(**kw))


def values(u: Understanding, kind: str) -> list:
    return [e.value for e in u.all(kind)]

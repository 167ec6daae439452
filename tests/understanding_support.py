"""Helpers for the understanding tests: an understander with the retail pack, and contexts built
from the real retail data (candidates keyed by entity type, the expected entity types)."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache

from actions.paths import RETAIL_DB
from dialogue.domains.retail.understanding import RETAIL_UNDERSTANDING, ItemRef, PaymentRef, VariantRef
from dialogue.understanding.builtin import BuiltinUnderstanding
from dialogue.understanding.models import ChoiceRef, Understanding, UnderstandingContext

# A Sunday, so weekday arithmetic is easy to follow in the tests.
NOW = datetime(2026, 11, 22, 10, 0)
# What an identity question asks for.
IDENTITY = ["email", "person_name", "zip"]


@cache
def db() -> dict:
    return json.loads(RETAIL_DB.read_text(encoding="utf-8"))


@cache
def understander() -> BuiltinUnderstanding:
    return BuiltinUnderstanding(warm=True, packs=[RETAIL_UNDERSTANDING])


def intents() -> tuple[str, ...]:
    """Every intent the understander may answer: the core's and the retail pack's."""
    return understander().pack.intent_names


def entity_types() -> tuple[str, ...]:
    return understander().pack.entity_types


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

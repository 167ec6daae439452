"""Checks the retail entity values an LLM reports, the way the retail parsers would read them.

An order id must have the store's shape; items, variants, payment methods, plans and products
must be among the context's candidates (or be words that the parser resolves to one of them); a
cancel reason must be one of the two the store records. Anything else is dropped.
"""

from __future__ import annotations

import re
from typing import Any

from dialogue.domains.retail.understanding import cancel_reason, items, payment, plan, variants
from dialogue.domains.retail.understanding.models import ItemRef, PaymentRef, VariantRef
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.resolve import reread

_ORDER = re.compile(r"#?\s*w?\s*(\d{7})", re.I)
_RECORD_ID = re.compile(r"\b(?:credit_card|paypal|gift_card)_\d+\b|\d{6,}")
_SOURCES = ("credit_card", "paypal", "gift_card")


def resolve_order_id(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    m = _ORDER.fullmatch(str(value).strip())
    return [f"#W{m.group(1)}"] if m else []


def resolve_payment(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {m.id for m in ctx.candidates_of("payment_method", PaymentRef)}
    if isinstance(value, str):
        if value in ids:
            return [value]
        if _RECORD_ID.search(value):
            return []  # an id that is not one of theirs: never re-read as "a gift card"
        return reread(payment.extract, "payment_method", value, ctx, lang)
    if isinstance(value, dict) and value.get("source") in _SOURCES:
        described = " ".join(str(value.get(k) or "") for k in ("brand", "source", "last_four")).replace("_", " ")
        found = reread(payment.extract, "payment_method", described, ctx, lang)
        if found:
            return found
        return [{k: str(v) for k, v in value.items() if k in ("source", "brand", "last_four") and v}]
    return []


def resolve_item(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {i.item_id for i in ctx.candidates_of("item", ItemRef)}
    if str(value) in ids:
        return [str(value)]
    return reread(items.extract, "item", str(value), ctx, lang) if isinstance(value, str) else []


def resolve_variant(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {v.item_id for v in ctx.candidates_of("variant", VariantRef)}
    if str(value) in ids:
        return [str(value)]
    return reread(variants.extract, "variant", str(value), ctx, lang) if isinstance(value, str) else []


def resolve_option(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if not isinstance(value, dict):
        return []
    name, said = str(value.get("name", "")).strip().lower(), str(value.get("value", "")).strip().lower()
    sources = [
        *(v.options for v in ctx.candidates_of("variant", VariantRef)),
        *(i.options for i in ctx.candidates_of("item", ItemRef)),
    ]
    for source in sources:
        for key, option in source.items():
            if key.lower() == name and str(option).lower() == said:
                return [{"name": key, "value": str(option)}]
    return []


def resolve_cancel_reason(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip().lower()
    if text in cancel_reason.REASONS:
        return [text]
    return reread(cancel_reason.extract, "cancel_reason", text, ctx, lang)


def resolve_plan(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if str(value) in plan.offered(ctx):
        return [str(value)]
    return reread(plan.extract, "plan", str(value), ctx, lang)[:1]


def resolve_product(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {p.get("product_id") or p.get("id") for p in ctx.candidates.get("product", [])}
    if str(value) in ids:
        return [str(value)]
    return reread(items.extract, "product", str(value), ctx, lang) if isinstance(value, str) else []

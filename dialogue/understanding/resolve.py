"""Checks entity values that did not come from our own parsers (an LLM's) and puts them in the
canonical form, resolving references against the context exactly as the built-in parsers do.

A value that is not well formed, or that names a record the customer does not have (an item not
on the order, a payment method that is not theirs, a choice that was not offered), is dropped:
understanding reports what was said, it never invents a record.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from dialogue.understanding.entities import cancel_reason, choice, items, payment, plan, variants
from dialogue.understanding.entities.address import states
from dialogue.understanding.entities.base import Found, titled
from dialogue.understanding.entities.phone import e164
from dialogue.understanding.models import Entity, UnderstandingContext
from dialogue.understanding.normalize import normalize

_ORDER = re.compile(r"#?\s*w?\s*(\d{7})", re.I)
_EMAIL = re.compile(r"[a-z0-9](?:[a-z0-9._%+-]*[a-z0-9])?@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}")
_TIME = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_RECORD_ID = re.compile(r"\b(?:credit_card|paypal|gift_card)_\d+\b|\d{6,}")
_SOURCES = ("credit_card", "paypal", "gift_card")
_ADDRESS_FIELDS = ("address1", "address2", "city", "state", "country", "zip")


def resolve(entity: Entity, ctx: UnderstandingContext, lang: str) -> list[Entity]:
    """The entity in canonical form (possibly several, e.g. an item named by words), or [] to drop it."""
    handler = _HANDLERS.get(entity.type)
    if handler is None:
        return []
    try:
        values = handler(entity.value, ctx, lang)
    except (TypeError, ValueError, AttributeError):
        return []
    return [entity.model_copy(update={"value": v}) for v in values]


def _one(value: Any) -> list[Any]:
    return [] if value is None else [value]


def _by_words(parser: Any, kind: str, text: str, ctx: UnderstandingContext, lang: str, expects: str) -> list[Any]:
    """Read a free-text value ("the blue water bottle") with the built-in parser for that family."""
    doc = normalize(str(text), lang)
    found: list[Found] = parser.extract(doc, ctx, frozenset({expects}))
    return [f.value for f in found if f.type == kind]


def _order_id(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    m = _ORDER.fullmatch(str(value).strip())
    return [f"#W{m.group(1)}"] if m else []


def _email(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip().lower()
    return [text] if _EMAIL.fullmatch(text) else []


def _person_name(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, str):
        words = value.split()
        value = {"first_name": words[0], "last_name": " ".join(words[1:])} if words else {}
    if not isinstance(value, dict):
        return []
    out = {
        k: titled(str(v).strip())
        for k, v in value.items()
        if k in ("first_name", "last_name") and isinstance(v, str) and v.strip()
    }
    ok = all(re.fullmatch(r"[^\W\d_]+(?:[ '\-][^\W\d_]+)*", v) for v in out.values())
    return [out] if out and ok else []


def _zip(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip()
    return [text] if re.fullmatch(r"\d{5}", text) else []


def _address(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if not isinstance(value, dict):
        return []
    out: dict[str, str] = {}
    for key in _ADDRESS_FIELDS:
        raw = value.get(key)
        if not isinstance(raw, str | int) or not str(raw).strip():
            continue
        text = str(raw).strip()
        if key == "state":
            code = states().get(text.lower())
            if code:
                out[key] = code
        elif key == "zip":
            if re.fullmatch(r"\d{5}", text):
                out[key] = text
        else:
            out[key] = text
    return [out] if out else []


def _amount(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, bool):
        return []
    number = float(str(value).replace("$", "").replace(",", "").strip())
    return [round(number, 2)] if math.isfinite(number) and number >= 0 else []


def _date(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    return [date.fromisoformat(str(value).strip()[:10]).isoformat()]


def _time(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    m = _TIME.fullmatch(str(value).strip())
    return [f"{int(m.group(1)):02d}:{m.group(2)}"] if m else []


def _payment(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {m.id for m in ctx.payment_methods}
    if isinstance(value, str):
        if value in ids:
            return [value]
        if _RECORD_ID.search(value):
            return []  # an id that is not one of theirs: never re-read as "a gift card"
        return _by_words(payment, "payment_method", value, ctx, lang, "payment_method")
    if isinstance(value, dict) and value.get("source") in _SOURCES:
        described = " ".join(str(value.get(k) or "") for k in ("brand", "source", "last_four")).replace("_", " ")
        found = _by_words(payment, "payment_method", described, ctx, lang, "payment_method")
        if found:
            return found
        return [{k: str(v) for k, v in value.items() if k in ("source", "brand", "last_four") and v}]
    return []


def _item(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {i.item_id for i in ctx.order_items}
    if str(value) in ids:
        return [str(value)]
    return _by_words(items, "item", str(value), ctx, lang, "item") if isinstance(value, str) else []


def _variant(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {v.item_id for v in ctx.variants}
    if str(value) in ids:
        return [str(value)]
    return _by_words(variants, "variant", str(value), ctx, lang, "variant") if isinstance(value, str) else []


def _option(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if not isinstance(value, dict):
        return []
    name, said = str(value.get("name", "")).strip().lower(), str(value.get("value", "")).strip().lower()
    for source in [*(v.options for v in ctx.variants), *(i.options for i in ctx.order_items)]:
        for key, option in source.items():
            if key.lower() == name and str(option).lower() == said:
                return [{"name": key, "value": str(option)}]
    return []


def _cancel_reason(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = str(value).strip().lower()
    if text in cancel_reason.REASONS:
        return [text]
    return _by_words(cancel_reason, "cancel_reason", text, ctx, lang, "cancel_reason")


def _plan(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if str(value) in ctx.plans:
        return [str(value)]
    return _by_words(plan, "plan", str(value), ctx, lang, "plan")[:1]


def _otp(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    text = re.sub(r"\s", "", str(value))
    return [text] if re.fullmatch(r"\d{6}", text) else []


def _phone(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    digits = re.sub(r"\D", "", str(value))
    return _one(e164(digits)) if 10 <= len(digits) <= 15 else []


def _choice(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    values = [c.value for c in ctx.choices]
    if str(value) in values:
        return [str(value)]
    return _by_words(choice, "choice", str(value), ctx, lang, "choice")[:1]


def _number(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    if isinstance(value, bool):
        return []
    number = float(value)
    if not math.isfinite(number):
        return []
    return [int(number) if number.is_integer() else number]


def _product(value: Any, ctx: UnderstandingContext, lang: str) -> list[Any]:
    ids = {p.get("product_id") or p.get("id") for p in ctx.products}
    if str(value) in ids:
        return [str(value)]
    return _by_words(items, "product", str(value), ctx, lang, "product") if isinstance(value, str) else []


_HANDLERS = {
    "order_id": _order_id,
    "email": _email,
    "person_name": _person_name,
    "zip": _zip,
    "address": _address,
    "amount": _amount,
    "date": _date,
    "time": _time,
    "payment_method": _payment,
    "item": _item,
    "variant": _variant,
    "option": _option,
    "cancel_reason": _cancel_reason,
    "plan": _plan,
    "otp_code": _otp,
    "phone": _phone,
    "choice": _choice,
    "number": _number,
    "product": _product,
}

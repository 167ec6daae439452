"""Speakable descriptions of records: money, orders, items, options, payment methods, addresses.

Used by read-backs and outcomes so that what the customer hears is built from the records the
back office returned, in the customer's language, in short sentences with no markup.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

_AND = {"en": "and", "es": "y"}
_OR = {"en": "or", "es": "o"}


def money(amount: float | None, language: str = "en") -> str:
    amount = float(amount or 0.0)
    if language == "es":
        whole, cents = f"{amount:,.2f}".split(".")
        return f"{whole.replace(',', '.')},{cents} dólares"
    return f"${amount:,.2f}"


def join(words: list[str], language: str = "en", *, conj: str = "and") -> str:
    words = [w for w in words if w]
    word = (_AND if conj == "and" else _OR).get(language, "and")
    if not words:
        return ""
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + f" {word} " + words[-1]


def options_text(options: dict[str, Any]) -> str:
    return ", ".join(str(v) for v in options.values())


def item_label(item: dict[str, Any]) -> str:
    opts = options_text(item.get("options", {}))
    return f"{item['name']} ({opts})" if opts else item["name"]


def items_text(items: list[dict[str, Any]], language: str = "en") -> str:
    counts = Counter(item_label(i) for i in items)
    parts = [label if n == 1 else f"{n} x {label}" for label, n in counts.items()]
    return join(parts, language)


def item_names(items: list[dict[str, Any]], language: str = "en") -> str:
    counts = Counter(i["name"] for i in items)
    return join([n if c == 1 else f"{c} x {n}" for n, c in counts.items()], language)


def payment_text(pm: dict[str, Any] | None, language: str = "en") -> str:
    if not pm:
        return "?"
    source = pm.get("source")
    if source == "credit_card":
        brand = (pm.get("brand") or "card").title()
        return (
            f"{brand} terminada en {pm.get('last_four')}"
            if language == "es"
            else f"{brand} ending in {pm.get('last_four')}"
        )
    if source == "paypal":
        return "PayPal"
    if source == "gift_card":
        return "tarjeta de regalo" if language == "es" else "gift card"
    return str(pm.get("id"))


def payment_label(pm: dict[str, Any], language: str = "en") -> str:
    text = payment_text(pm, language)
    if pm.get("source") == "gift_card" and pm.get("balance") is not None:
        word = "saldo" if language == "es" else "balance"
        text += f" ({word} {money(pm['balance'], language)})"
    return text


def refund_timing(pm: dict[str, Any] | None, language: str = "en") -> str:
    immediate = bool(pm) and pm.get("source") == "gift_card"
    if language == "es":
        return "al instante" if immediate else "en 5 a 7 días hábiles"
    return "right away" if immediate else "in 5 to 7 business days"


def address_text(address: dict[str, Any]) -> str:
    line = address.get("address1", "")
    if address.get("address2"):
        line += f", {address['address2']}"
    return f"{line}, {address.get('city', '')}, {address.get('state', '')} {address.get('zip', '')}".strip(", ")


def order_label(order: dict[str, Any], language: str = "en") -> str:
    return f"{order['order_id']}: {item_names(order.get('items', []), language)}"


def spoken_status(status: str, language: str = "en") -> str:
    if language != "es":
        return status
    return {
        "pending": "pendiente",
        "processed": "procesado y enviado",
        "delivered": "entregado",
        "cancelled": "cancelado",
        "return requested": "con devolución solicitada",
        "exchange requested": "con cambio solicitado",
        "pending (item modified)": "pendiente, con artículos modificados",
    }.get(status, status)


_MONTHS = {
    "en": "January February March April May June July August September October November December".split(),
    "es": "enero febrero marzo abril mayo junio julio agosto septiembre octubre noviembre diciembre".split(),
}


def spoken_date(iso: str, language: str = "en") -> str:
    """ "2026-11-21..." as "November 21" ("21 de noviembre"); anything else as it is."""
    try:
        _, month, day = (int(part) for part in str(iso)[:10].split("-"))
        name = _MONTHS.get(language, _MONTHS["en"])[month - 1]
    except (ValueError, IndexError):
        return str(iso)
    return f"{day} de {name}" if language == "es" else f"{name} {day}"


def mask_email(email: str) -> str:
    name, _, domain = email.partition("@")
    return f"{name[:1]}•••@{domain}" if domain else "•••"

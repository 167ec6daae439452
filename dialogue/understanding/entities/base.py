"""What every entity parser shares: the `Found` record, what the bot's question implies, and helpers.

`expected_types` maps the slot the bot just asked for (`UnderstandingContext.expects`, e.g.
"zip", "otp_code", "order_id", "identity", "item_ids", "payment_method_id", "reason") to the
entity types that question invites, so an ambiguous answer ("80279", "the first one") is read
the way the question meant it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dialogue.understanding.resources import fold

# Types whose words cannot also be another exclusive entity (a digit string is a zip OR an OTP).
EXCLUSIVE = frozenset(
    {"order_id", "email", "person_name", "zip", "address", "amount", "date", "time", "otp_code", "phone", "number"}
)

_EXPECTS: dict[str, frozenset[str]] = {
    "order_id": frozenset({"order_id"}),
    "order": frozenset({"order_id"}),
    "email": frozenset({"email"}),
    "identity": frozenset({"email", "person_name", "zip"}),
    "name": frozenset({"person_name"}),
    "person_name": frozenset({"person_name"}),
    "full_name": frozenset({"person_name"}),
    "first_name": frozenset({"person_name"}),
    "last_name": frozenset({"person_name"}),
    "name_zip": frozenset({"person_name", "zip"}),
    "zip": frozenset({"zip"}),
    "zip_code": frozenset({"zip"}),
    "postal_code": frozenset({"zip"}),
    "otp": frozenset({"otp_code"}),
    "otp_code": frozenset({"otp_code"}),
    "code": frozenset({"otp_code"}),
    "verification_code": frozenset({"otp_code"}),
    "address": frozenset({"address"}),
    "new_address": frozenset({"address"}),
    "amount": frozenset({"amount"}),
    "date": frozenset({"date"}),
    "time": frozenset({"time"}),
    "datetime": frozenset({"date", "time"}),
    "when": frozenset({"date", "time"}),
    "callback_time": frozenset({"date", "time"}),
    "payment_method": frozenset({"payment_method"}),
    "payment_method_id": frozenset({"payment_method"}),
    "payment": frozenset({"payment_method"}),
    "refund_method": frozenset({"payment_method"}),
    "item": frozenset({"item"}),
    "items": frozenset({"item"}),
    "item_ids": frozenset({"item"}),
    "variant": frozenset({"variant", "option"}),
    "new_item": frozenset({"variant", "option"}),
    "new_item_ids": frozenset({"variant", "option"}),
    "option": frozenset({"option", "variant"}),
    "reason": frozenset({"cancel_reason"}),
    "cancel_reason": frozenset({"cancel_reason"}),
    "plan": frozenset({"plan"}),
    "plan_id": frozenset({"plan"}),
    "phone": frozenset({"phone"}),
    "phone_number": frozenset({"phone"}),
    "callback_number": frozenset({"phone"}),
    "choice": frozenset({"choice"}),
    "product": frozenset({"product"}),
    "product_id": frozenset({"product"}),
    "number": frozenset({"number"}),
    "quantity": frozenset({"number"}),
}


def expected_types(expects: str | None) -> frozenset[str]:
    """Entity types the bot's last question asked for (empty when it asked for nothing specific)."""
    if not expects:
        return frozenset()
    key = fold(expects).strip().replace(" ", "_").replace("-", "_")
    if key in _EXPECTS:
        return _EXPECTS[key]
    for name, types in _EXPECTS.items():
        if len(name) > 3 and name in key:
            return types
    return frozenset()


@dataclass
class Found:
    """One entity found in the token span [start, end) of a normalised turn."""

    type: str
    value: Any
    start: int
    end: int
    confidence: float = 1.0
    priority: int = 0  # breaks ties between exclusive readings of the same words

    @property
    def exclusive(self) -> bool:
        return self.type in EXCLUSIVE

    def overlaps(self, other: Found) -> bool:
        return self.start < other.end and other.start < self.end


def near(
    tokens: tuple[str, ...], index: int, words: tuple[str, ...] | frozenset[str], before: int = 4, after: int = 0
) -> bool:
    """Whether one of `words` (single words or phrases) occurs within a window around `index`."""
    window = " " + " ".join(tokens[max(0, index - before) : index + 1 + after]) + " "
    return any(f" {w} " in window for w in words)


def titled(words: list[str] | str) -> str:
    text = words if isinstance(words, str) else " ".join(words)
    return " ".join(part[:1].upper() + part[1:] for part in text.split())

"""Masking of card numbers and one-time codes before anything is stored or logged."""

from __future__ import annotations

import re

_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_CODE = re.compile(r"\b(?:\d[\s-]*){4,8}\b")
_SPOKEN_DIGITS = re.compile(
    r"\b(?:(?:zero|oh|one|two|three|four|five|six|seven|eight|nine|cero|uno|dos|tres|cuatro|cinco|seis|siete|ocho|nueve)"
    r"[\s,-]*){4,}",
    re.IGNORECASE,
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def redact(text: str, *, expecting: str | None = None) -> str:
    """Mask card numbers anywhere, and any code when the customer was asked for a one-time code."""

    def card(match: re.Match) -> str:
        digits = re.sub(r"\D", "", match.group())
        if 13 <= len(digits) <= 19 and _luhn(digits):
            return "•••• " + digits[-4:]
        return match.group()

    text = _CARD.sub(card, text)
    if expecting == "otp_code":
        text = _CODE.sub("••••••", text)
        text = _SPOKEN_DIGITS.sub("•••••• ", text).strip()
    return text

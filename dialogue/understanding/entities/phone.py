"""Phone numbers ("555 123 4567", "five five five ...", "+1 555...") in E.164, validated by phonenumbers."""

from __future__ import annotations

import phonenumbers

from dialogue.understanding.entities.base import Found, near
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import phrases


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    cues = phrases(doc.lang, "phone_cues")
    found = []
    for i, tok in enumerate(doc.tokens):
        if tok.isdigit() and 10 <= len(tok) <= 15:
            phone = e164(tok)
            if phone:
                sure = "phone" in expected or near(doc.tokens, i, cues)
                found.append(Found("phone", phone, i, i + 1, 0.95 if sure else 0.8, priority=2))
    return found


def e164(digits: str) -> str | None:
    """US numbers by default (10 digits, or 11 starting with 1); longer ones as international."""
    candidates = [digits] if len(digits) == 10 or (len(digits) == 11 and digits.startswith("1")) else []
    candidates.append("+" + digits)
    for text in candidates:
        try:
            number = phonenumbers.parse(text, "US")
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_possible_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return None

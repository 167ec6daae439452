"""Money amounts: "$120", "120.50 dollars", "a hundred and twenty dollars", "ciento veinte dólares con
cincuenta centavos", or a bare number when the bot asked for an amount."""

from __future__ import annotations

import re

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import phrases

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    tokens = doc.tokens
    currency = set(phrases(doc.lang, "currency_words")) | set(phrases("en", "currency_words"))
    cents = set(phrases(doc.lang, "cents_words"))
    joiners = set(phrases(doc.lang, "cents_joiners"))
    found: list[Found] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not _NUMBER.fullmatch(tok):
            i += 1
            continue
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if nxt in currency:
            value, end = float(tok), i + 2
            # "120 dollars and 50 cents" / "120 dolares con 50 centavos"
            if (
                end + 2 < len(tokens)
                and tokens[end] in joiners
                and tokens[end + 1].isdigit()
                and tokens[end + 2] in cents
            ):
                value += int(tokens[end + 1]) / 100
                end += 3
            found.append(Found("amount", round(value, 2), i, end, 0.95, priority=3))
            i = end
            continue
        if nxt in cents:
            found.append(Found("amount", round(float(tok) / 100, 2), i, i + 2, 0.9, priority=3))
            i += 2
            continue
        if "amount" in expected:
            found.append(Found("amount", round(float(tok), 2), i, i + 1, 0.8, priority=3))
        i += 1
    return found

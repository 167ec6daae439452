"""Entity extraction: one parser per family, then one reading per stretch of words.

Each parser proposes what it sees; exclusive readings of the same words (a digit string is a zip,
an OTP code, part of an address or an order id, not several) are settled by what the bot asked
(`ctx.expects`), then by how specific and how long the reading is. References to the customer's
records (items, variants, payment methods, choices, plans, products) are always resolved against
the candidates in the context and never invented.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from dialogue.understanding.entities import (
    address,
    amount,
    cancel_reason,
    choice,
    dates,
    email,
    items,
    number,
    order_id,
    otp,
    payment,
    person_name,
    phone,
    plan,
    variants,
    zip_code,
)
from dialogue.understanding.entities.base import Found, expected_types
from dialogue.understanding.models import Entity, UnderstandingContext
from dialogue.understanding.normalize import Doc

log = logging.getLogger(__name__)

Parser = Callable[[Doc, UnderstandingContext, frozenset[str]], list[Found]]

PARSERS: tuple[Parser, ...] = (
    email.extract,
    order_id.extract,
    address.extract,
    amount.extract,
    dates.extract,
    payment.extract,
    phone.extract,
    otp.extract,
    zip_code.extract,
    person_name.extract,
    cancel_reason.extract,
    plan.extract,
    items.extract,
    variants.extract,
    choice.extract,
    number.extract,
)

# Readings that may share words with each other ("tonight" is a date and a time).
_COMPATIBLE = {frozenset({"date", "time"})}
# Non-exclusive readings that make no sense inside these (a colour inside an email address).
_CONTAINERS = frozenset({"email", "person_name"})


def extract(doc: Doc, ctx: UnderstandingContext) -> list[Found]:
    expected = expected_types(ctx.expects)
    proposals: list[Found] = []
    for parser in PARSERS:
        try:
            proposals.extend(parser(doc, ctx, expected))
        except Exception:  # one family failing must not cost the customer the whole turn
            log.exception("entity parser %s failed on a turn", parser.__module__)
    return resolve(proposals, expected)


def resolve(proposals: list[Found], expected: frozenset[str]) -> list[Found]:
    exclusive = sorted(
        (f for f in proposals if f.exclusive),
        key=lambda f: (f.type in expected, f.priority, f.end - f.start, f.confidence),
        reverse=True,
    )
    kept: list[Found] = []
    for f in exclusive:
        if any(f.overlaps(k) and frozenset({f.type, k.type}) not in _COMPATIBLE for k in kept):
            continue
        kept.append(f)
    containers = [k for k in kept if k.type in _CONTAINERS]
    for f in proposals:
        if f.exclusive:
            continue
        if any(c.start <= f.start and f.end <= c.end for c in containers):
            continue
        kept.append(f)
    # A bare number is the last resort: "4" in "the 4K camera" or "9212" in "ending in 9212" is taken.
    kept = [
        f
        for f in kept
        if f.type != "number"
        or not any(k is not f and k.type != "number" and k.start <= f.start and f.end <= k.end for k in kept)
    ]
    return sorted(kept, key=lambda f: (f.start, f.type))


def to_entities(doc: Doc, found: list[Found]) -> list[Entity]:
    return [
        Entity(type=f.type, value=f.value, text=doc.span(f.start, f.end), confidence=round(min(f.confidence, 1.0), 3))
        for f in found
    ]

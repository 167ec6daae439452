"""Entity extraction: one parser per family, then one reading per stretch of words.

Each parser proposes what it sees; exclusive readings of the same words (a digit string is a zip,
an OTP code or part of an address, not several) are settled by what the bot asked
(`ctx.expected`), then by how specific and how long the reading is. References to the customer's
records (the offered choices, a pack's candidates) are always resolved against the context and
never invented. The parsers and which types are exclusive come from the understander's pack
(`extensions`): the core families live in this package, a domain's in its pack.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dialogue.understanding.entities import person_name
from dialogue.understanding.entities.base import Found, Parser
from dialogue.understanding.models import Entity, UnderstandingContext
from dialogue.understanding.normalize import Doc

if TYPE_CHECKING:
    from dialogue.understanding.extensions import UnderstandingPack

__all__ = ["Parser", "extract", "settle", "to_entities"]

log = logging.getLogger(__name__)

# Readings that may share words with each other ("tonight" is a date and a time).
_COMPATIBLE = {frozenset({"date", "time"})}
# Non-exclusive readings that make no sense inside these (a colour inside an email address).
_CONTAINERS = frozenset({"email", "person_name"})


def warm_up(languages: Sequence[str]) -> None:
    """Read the word lists the parsers need once, now rather than on a customer's first turn."""
    for lang in languages:
        person_name.common_words(lang)


def extract(doc: Doc, ctx: UnderstandingContext, pack: UnderstandingPack) -> list[Found]:
    """Every reading of the turn by `pack`'s parsers, one per stretch of words."""
    expected = frozenset(ctx.expected)
    proposals: list[Found] = []
    for parser in pack.parsers:
        try:
            proposals.extend(parser(doc, ctx, expected))
        except Exception:  # one family failing must not cost the customer the whole turn
            log.exception("entity parser %s failed on a turn", parser.__module__)
    return settle(proposals, expected, pack.exclusive_types)


def settle(proposals: list[Found], expected: frozenset[str], exclusive_types: frozenset[str]) -> list[Found]:
    """Keep one exclusive reading per stretch of words, and the other readings that make sense beside them."""
    exclusive = sorted(
        (f for f in proposals if f.type in exclusive_types),
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
        if f.type in exclusive_types:
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

"""US zip codes: five digits, typed or spoken ("eight oh two seven nine"), surest after "zip" or when asked."""

from __future__ import annotations

from dialogue.understanding.entities.base import Found, near
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import phrases


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    cues = phrases(doc.lang, "zip_cues")
    found = []
    for i, tok in enumerate(doc.tokens):
        if len(tok) == 5 and tok.isdigit():
            sure = "zip" in expected or near(doc.tokens, i, cues)
            found.append(Found("zip", tok, i, i + 1, 0.95 if sure else 0.6, priority=2 if sure else 1))
    return found

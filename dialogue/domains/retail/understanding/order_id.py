"""Order ids: "W2378156", "#w2378156", "hash w two three seven...", or bare digits when asked -> "#W2378156"."""

from __future__ import annotations

import re

from dialogue.understanding.entities.base import Found, near
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import phrases

_W = re.compile(r"w(\d{7})")
_DIGITS = re.compile(r"\d{7}")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    cues = phrases(doc.lang, "order_cues")
    found: list[Found] = []
    for i, tok in enumerate(doc.tokens):
        m = _W.fullmatch(tok)
        if m:
            found.append(Found("order_id", f"#W{m.group(1)}", i, i + 1, 0.97, priority=3))
        elif _DIGITS.fullmatch(tok):
            if "order_id" in expected:
                found.append(Found("order_id", f"#W{tok}", i, i + 1, 0.85, priority=3))
            elif near(doc.tokens, i, cues, before=3):
                found.append(Found("order_id", f"#W{tok}", i, i + 1, 0.75, priority=2))
    return found

"""Bare numbers, the reading of last resort when no more specific entity claims the digits."""

from __future__ import annotations

import re

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc

_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    found = []
    for i, tok in enumerate(doc.tokens):
        if _NUMBER.fullmatch(tok):
            value: float | int = float(tok) if "." in tok else int(tok)
            found.append(Found("number", value, i, i + 1, 0.9 if "number" in expected else 0.7, priority=-1))
    return found

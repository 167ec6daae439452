"""What every entity parser shares: the `Found` record, the `Parser` signature, and helpers.

A parser reads one normalised turn with the context and the entity types the bot's question
asks for (`UnderstandingContext.expected`), so an ambiguous answer ("80279", "the first one")
can be read the way the question meant it, and proposes what it sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc


@dataclass
class Found:
    """One entity found in the token span [start, end) of a normalised turn."""

    type: str
    value: Any
    start: int
    end: int
    confidence: float = 1.0
    priority: int = 0  # breaks ties between exclusive readings of the same words

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


# One entity family's reader: (the turn, the context, the expected entity types) -> what it saw.
Parser = Callable[[Doc, UnderstandingContext, frozenset[str]], list[Found]]

"""What one customer turn says about slot values, typed: nothing here is text to parse again.

Understanding fills it (the quick reply picked, keypad digits, dialogue acts, entities, whether
the words also carried a request); collectors read only this.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from dialogue.understanding.models import Act, ActsAndEntities, Entity

CHOICE_CONFIDENCE = 0.6


class Evidence(ActsAndEntities, BaseModel):
    choice: str | None = None  # a quick reply clicked (or keyed)
    dtmf: str | None = None  # keypad digits, as keyed
    acts: list[Act] = Field(default_factory=list)
    entities: list[Entity] = Field(default_factory=list)
    has_request: bool = False  # understanding also found a request in the words
    said_something: bool = False  # there were words at all
    # Values of the question's fixed options whose keywords the words contain ("a refund" -> refund).
    keywords: list[str] = Field(default_factory=list)

    def picked(self, allowed: set[str] | None = None, *, words: bool = True) -> str | None:
        """The value of a quick reply: clicked, or named in words clearly enough ("the second one").

        With `allowed`, only a value among those counts: a choice made for an earlier question is
        not an answer to this one.
        """
        if self.choice and (allowed is None or self.choice in allowed):
            return self.choice
        if not words:
            return None
        matches = [
            e
            for e in self.all("choice")
            if e.confidence >= CHOICE_CONFIDENCE and (allowed is None or str(e.value) in allowed)
        ]
        if not matches:
            return None
        best = max(matches, key=lambda e: e.confidence)
        rivals = {str(e.value) for e in matches if e.confidence >= best.confidence - 0.05}
        return str(best.value) if len(rivals) == 1 else None

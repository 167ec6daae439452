"""Subscription plans matched against the offered ones (candidates "plan", plan ids) by the words of
their ids ("premium_annual")."""

from __future__ import annotations

import re
from functools import cache

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import fold, lexicon


@cache
def _synonyms(lang: str) -> dict[str, str]:
    return {
        fold(str(o)): fold(str(word))
        for word, options in (lexicon(lang).get("plan_words") or {}).items()
        for o in options
    }


def offered(ctx: UnderstandingContext) -> list[str]:
    """The plan ids the customer may pick from."""
    return [str(p) for p in ctx.candidates.get("plan", [])]


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    plans = offered(ctx)
    if not plans:
        return []
    synonyms = _synonyms(doc.lang)
    said = {synonyms.get(t, t): i for i, t in enumerate(doc.tokens)}
    scored: list[tuple[float, str, list[int]]] = []
    for plan in plans:
        words = [w for w in re.split(r"[\s_\-]+", fold(plan)) if w and w != "plan"]
        hits = [said[w] for w in words if w in said]
        if hits:
            scored.append((len(hits) / len(words), plan, hits))
    if not scored:
        return []
    best = max(s for s, _, _ in scored)
    top = [(plan, hits) for s, plan, hits in scored if s == best]
    confidence = round(best * (0.95 if len(top) == 1 else 0.9 / len(top)), 3)
    return [Found("plan", plan, min(hits), max(hits) + 1, confidence) for plan, hits in top]

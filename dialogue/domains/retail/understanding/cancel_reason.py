"""Why an order is cancelled, mapped to exactly "no longer needed" or "ordered by mistake"."""

from __future__ import annotations

from functools import cache

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc, normalize_tokens
from dialogue.understanding.resources import lexicon

REASONS = ("no longer needed", "ordered by mistake")


@cache
def _phrases(lang: str) -> dict[str, str]:
    table = lexicon(lang).get("cancel_reasons") or {}
    options = {" ".join(normalize_tokens(str(p), lang)): reason for reason, ps in table.items() for p in ps}
    unknown = set(options.values()) - set(REASONS)
    if unknown:
        raise ValueError(f"{lang}/lexicon.yaml: unknown cancel reasons {sorted(unknown)}")
    return options


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    options = _phrases(doc.lang)
    hits = doc.find_any(tuple(options))
    reasons = {options[p] for _, _, p in hits}
    if len(reasons) != 1:
        return []  # none, or the customer gave both: let the question be asked again
    start, end = hits[0][0], hits[-1][1]
    confidence = 0.95 if "cancel_reason" in expected or ctx.active_intent == "cancel_order" else 0.8
    return [Found("cancel_reason", reasons.pop(), start, end, confidence)]

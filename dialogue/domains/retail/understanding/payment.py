"""Payment methods matched against the customer's own (candidates "payment_method"): "my visa", "the
mastercard ending in 9212", "the gift card", "paypal", "la tarjeta de regalo". An id when exactly
one method fits; every fitting id (with split confidence) when several do; {"source": ...} when
the customer named a kind of method that is not among theirs."""

from __future__ import annotations

import re
from functools import cache

from dialogue.domains.retail.understanding.models import PaymentRef
from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import UnderstandingContext
from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import fold, lexicon, mapping, phrases

_FOUR = re.compile(r"\d{4}")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    tokens = doc.tokens
    lang = doc.lang
    sources: list[tuple[int, int, str]] = []
    options = _source_words(lang)
    for start, end, phrase in doc.find_any(tuple(options)):
        sources.append((start, end, options[phrase]))
    brands = mapping(lang, "brands")
    brand_hits = doc.find_any(tuple(brands))
    last_four: tuple[int, str] | None = None
    for _start, end, _ in doc.find_any(phrases(lang, "last_four_cues") + phrases("en", "last_four_cues")):
        if end < len(tokens) and _FOUR.fullmatch(tokens[end]):
            last_four = (end, tokens[end])
    if last_four is None and (sources or brand_hits):
        for i, tok in enumerate(tokens):
            if _FOUR.fullmatch(tok):
                last_four = (i, tok)
                break
    if not (sources or brand_hits or (last_four and "payment_method" in expected)):
        return []
    source = sources[0][2] if sources else None
    brand = str(brands[brand_hits[0][2]]) if brand_hits else None
    if brand and source in (None, "credit_card"):
        source = "credit_card"
    spans = [(s, e) for s, e, _ in sources] + [(s, e) for s, e, _ in brand_hits]
    if last_four:
        spans.append((last_four[0], last_four[0] + 1))
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    four = last_four[1] if last_four else None
    fits = [m for m in ctx.candidates_of("payment_method", PaymentRef) if _fits(m, source, brand, four)]
    if fits:
        confidence = 0.95 if len(fits) == 1 else round(0.9 / len(fits), 3)
        return [Found("payment_method", m.id, start, end, confidence, priority=2) for m in fits]
    if source is None:
        return []
    value: dict[str, str] = {"source": source}
    if brand:
        value["brand"] = brand
    if four:
        value["last_four"] = four
    return [Found("payment_method", value, start, end, 0.6, priority=2)]


@cache
def _source_words(lang: str) -> dict[str, str]:
    """ "gift card", "tarjeta de regalo", ... -> payment source (English words count in every language)."""
    options: dict[str, str] = {}
    for source_lang in ("en", lang):
        for source, words in (lexicon(source_lang).get("payment_words") or {}).items():
            options.update({fold(str(w)): source for w in words})
    return options


def _fits(method: PaymentRef, source: str | None, brand: str | None, four: str | None) -> bool:
    if source and method.source != source:
        return False
    if brand and (method.brand or "").lower() != brand:
        return False
    return not (four and method.last_four != four)

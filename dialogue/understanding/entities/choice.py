"""The customer's pick among the offered `ctx.choices`: by value, by position ("the first one",
"the second", "el primero", "option 2", "the last one"), or by the words of a label."""

from __future__ import annotations

import re

from dialogue.understanding.entities.base import Found
from dialogue.understanding.models import ChoiceRef, UnderstandingContext
from dialogue.understanding.normalize import Doc, normalize_tokens
from dialogue.understanding.resources import mapping, phrases

_ORDINAL = re.compile(r"(\d{1,2})(st|nd|rd|th)")


def extract(doc: Doc, ctx: UnderstandingContext, expected: frozenset[str]) -> list[Found]:
    choices = ctx.choices
    if not choices:
        return []
    by_value = _by_value(doc, choices)
    if by_value:
        return by_value
    by_position = _by_position(doc, choices)
    if by_position:
        return [by_position]
    return _by_label(doc, choices)


def _by_value(doc: Doc, choices: list[ChoiceRef]) -> list[Found]:
    for choice in choices:
        key = " ".join(normalize_tokens(choice.value, doc.lang))
        if len(key) >= 2:
            hits = doc.find(key)
            if hits:
                return [Found("choice", choice.value, hits[0], hits[0] + len(key.split()), 0.95)]
    return []


def _by_position(doc: Doc, choices: list[ChoiceRef]) -> Found | None:
    tokens = doc.tokens
    ordinals = mapping(doc.lang, "ordinals")
    last = set(phrases(doc.lang, "choice_last"))
    numbered = set(phrases(doc.lang, "choice_words"))
    small = {w: int(v) for w, v in mapping(doc.lang, "digit_words").items()}
    for i, tok in enumerate(tokens):
        index: int | None = None
        if tok in ordinals:
            index = int(ordinals[tok])
        elif _ORDINAL.fullmatch(tok):
            index = int(_ORDINAL.fullmatch(tok).group(1))
        elif tok in last:
            index = -1
        elif i > 0 and tokens[i - 1] in numbered and (tok.isdigit() or tok in small):
            index = int(tok) if tok.isdigit() else small[tok]
        elif len(tokens) == 1 and tok.isdigit():
            index = int(tok)
        if index is None:
            continue
        if index == -1:
            return Found("choice", choices[-1].value, i, i + 1, 0.85)
        if 1 <= index <= len(choices):
            return Found("choice", choices[index - 1].value, i, i + 1, 0.9)
    return None


def _by_label(doc: Doc, choices: list[ChoiceRef]) -> list[Found]:
    stop = set(phrases(doc.lang, "choice_stop"))
    said = set(doc.tokens)
    scored: list[tuple[float, ChoiceRef, list[int]]] = []
    for choice in choices:
        words = [w for w in normalize_tokens(choice.label, doc.lang) if w not in stop]
        if not words:
            continue
        hits = [w for w in words if w in said]
        if hits:
            positions = [doc.tokens.index(w) for w in hits]
            scored.append((len(set(hits)) / len(set(words)), choice, positions))
    if not scored:
        return []
    if len(scored) == 1:
        # A word only one label has ("the mastercard one") picks it, however long the label.
        score, choice, positions = scored[0]
        return [Found("choice", choice.value, min(positions), max(positions) + 1, round(0.7 + 0.25 * score, 3))]
    best = max(s for s, _, _ in scored)
    if best < 0.5:
        return []
    top = [(c, p) for s, c, p in scored if s == best]
    confidence = round((0.6 + 0.35 * best) / len(top), 3)
    return [Found("choice", c.value, min(p), max(p) + 1, confidence) for c, p in top]

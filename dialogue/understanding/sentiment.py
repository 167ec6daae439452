"""Sentiment (-1..1) and a `frustrated` flag per turn, from a small per-language lexicon.

A VADER-style sum of word weights (intensifiers scale the next word, a negator just before a
word flips it) squashed into -1..1; "frustrated" is raised by explicit cues in
assets/nlu/<lang>/sentiment.yaml ("this is ridiculous", "I've asked three times", "estoy
harto"), by shouting in capitals, or by a strongly negative score.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache

from dialogue.understanding.normalize import Doc
from dialogue.understanding.resources import fold, load

_CAPS_WORD = re.compile(r"\b[A-ZÁÉÍÓÚÑ]{3,}\b")
_LETTER = re.compile(r"[^\W\d_]")
_ALPHA = 15.0  # how quickly the summed weights saturate towards +-1


@dataclass(frozen=True)
class _Lexicon:
    words: dict[str, float]
    intensifiers: dict[str, float]
    negators: frozenset[str]
    frustration: tuple[re.Pattern[str], ...]


@cache
def _lexicon(lang: str) -> _Lexicon:
    data = load(lang, "sentiment")
    return _Lexicon(
        words={fold(k): float(v) for k, v in (data.get("words") or {}).items()},
        intensifiers={fold(k): float(v) for k, v in (data.get("intensifiers") or {}).items()},
        negators=frozenset(fold(str(w)) for w in data.get("negators") or []),
        frustration=tuple(re.compile(p) for p in data.get("frustration") or []),
    )


def shouting(raw: str) -> bool:
    """Most letters in capitals across at least two words of three letters or more."""
    letters = _LETTER.findall(raw)
    if len(letters) < 8:
        return False
    upper = sum(ch.isupper() for ch in letters)
    return upper / len(letters) >= 0.7 and len(_CAPS_WORD.findall(raw)) >= 2


def analyse(doc: Doc) -> tuple[float, bool]:
    """(sentiment in -1..1, frustrated) for one turn."""
    lex = _lexicon(doc.lang)
    total = 0.0
    tokens = doc.tokens
    for i, tok in enumerate(tokens):
        weight = lex.words.get(tok)
        if weight is None:
            continue
        window = tokens[max(0, i - 3) : i]
        if any(w in lex.negators for w in window):
            weight *= -0.6
        if i > 0 and tokens[i - 1] in lex.intensifiers:
            weight *= lex.intensifiers[tokens[i - 1]]
        total += weight
    exclaims = min(doc.raw.count("!"), 3)
    loud = shouting(doc.raw)
    if total and exclaims:
        total += math.copysign(0.3 * exclaims, total)
    if loud:
        total -= 1.5
    score = total / math.sqrt(total * total + _ALPHA) if total else 0.0
    score = max(-1.0, min(1.0, score))
    cue = any(p.search(doc.text) for p in lex.frustration)
    frustrated = cue or loud or score <= -0.75
    if frustrated and score > -0.3:
        score = -0.3 if not cue else min(score, -0.5)
    return round(score, 3), frustrated

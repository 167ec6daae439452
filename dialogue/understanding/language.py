"""Which language a turn is in: py3langid restricted to the session's languages, plus word evidence.

Short or neutral turns ("ok", "no", digits, an email address, a name) carry no evidence, so they
keep the conversation's language; a switch needs either a clear identifier verdict on enough text
or words that only one of the languages uses ("sí", "gracias", "quiero").
"""

from __future__ import annotations

import re
import threading
from functools import cache

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from dialogue.understanding.resources import fold, load

_lock = threading.Lock()
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_STRIP = re.compile(r"\d+|[#$€%@]")
_WORD = re.compile(r"[^\W\d_]+")


@cache
def _base() -> LanguageIdentifier:
    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)


@cache
def _identifier(languages: tuple[str, ...]) -> LanguageIdentifier:
    """An identifier restricted to `languages` (one per set, since set_languages mutates it)."""
    with _lock:
        base = _base()
        ident = LanguageIdentifier(
            base.nb_ptc,
            base.nb_pc,
            base.nb_classes,
            base.tk_nextmove,
            base.tk_output,
            norm_probs=True,
            tk_row=base.tk_row,
        )
        ident.set_languages(list(languages))
        return ident


@cache
def _markers(lang: str) -> frozenset[str]:
    return frozenset(fold(w) for w in load(lang, "language").get("markers", []))


def warm_up(languages: tuple[str, ...]) -> None:
    """Load the identifier model now (about a second) rather than on the first turn."""
    _identifier(tuple(sorted(languages)))


def detect(text: str, default: str, languages: tuple[str, ...]) -> tuple[str, float]:
    """(language, confidence) of `text`; `default` unless the evidence for another language is clear."""
    allowed = tuple(sorted(set(languages))) or (default,)
    if default not in allowed:
        default = allowed[0]
    if len(allowed) == 1:
        return allowed[0], 1.0
    # Only look for emails when there is an "@": the pattern is quadratic on long words without one.
    stripped = _STRIP.sub(" ", _EMAIL.sub(" ", text) if "@" in text else text)
    words = [fold(w) for w in _WORD.findall(stripped)]
    if not words:
        return default, 0.5
    votes = {lang: sum(w in _markers(lang) for w in words) for lang in allowed}
    accented = "es" in allowed and bool(re.search(r"[ñáéíóú¿¡]", text.lower()))
    if accented:
        votes["es"] += 1
    guess, prob = _identifier(allowed).classify(stripped)
    letters = sum(len(w) for w in words)
    ranked = sorted(votes.items(), key=lambda kv: -kv[1])
    top, top_votes = ranked[0]
    runner_votes = ranked[1][1] if len(ranked) > 1 else 0
    if top_votes >= 2 and runner_votes == 0:
        return top, max(prob if guess == top else 0.0, 0.9)
    if top_votes > runner_votes and (guess == top or letters < 12):
        return top, max(prob if guess == top else 0.0, 0.8)
    # The identifier alone decides only where no word says otherwise: "Lucas Santos, zip 80239"
    # reads Spanish to it, but "zip" is an English word and names are no language.
    if len(words) >= 3 and letters >= 12 and prob >= 0.9 and votes.get(guess, 0) >= top_votes:
        return guess, prob
    if guess == default:
        return default, max(prob, 0.5)
    return default, 0.5
